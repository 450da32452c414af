"""Reading one seed's folder: the config.yaml it saved, where its reports are, whether its
run finished.

Why a module of its own: the seed sweep (:mod:`gf.runners.seeds`) plans, trains and
summarises; all three read seed folders the same way, and every value read is checked
where it is read (a damaged config.yaml is a gf error naming the file and key).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from omegaconf import OmegaConf

from gf.common.errors import ConfigError, DataFileError
from gf.evaluation.base import output_file

__all__ = ["SeedLayout", "damaged_config", "is_finished", "log_counter", "log_records", "read_seed_config",
           "seed_folder", "seed_layout", "shown_value", "test_report_of", "training_done"]


def seed_folder(output_dir, seed: int) -> Path:
    return Path(output_dir) / f"seed{seed}"


@dataclass
class SeedLayout:
    """Where a run's reports are, from the config.yaml it saved."""

    folder: Path
    datasets: List[str]  # the training dataset first
    run: Dict[str, Any]

    def eval_dir(self, name: str) -> Path:
        return self.folder / "eval" if name == self.datasets[0] else self.folder / "eval" / name

    def label(self, name: str, split: str) -> str:
        return split if name == self.datasets[0] else f"{name}/{split}"  # as Runner.test keys them


def damaged_config(path: Path, key: str, found: str, wanted: str) -> ConfigError:
    return ConfigError(f"{path}: {key} {found}, not {wanted}. This seed's saved config is damaged: restore it "
                       f"(it is the config the seed was trained with), or delete {path.parent} so that the seed is "
                       f"trained again.")


def shown_value(value: Any) -> str:
    text = repr(value)
    return f"is {text if len(text) <= 60 else text[:57] + '...'}"


def _check_run(path: Path, run: Dict[str, Any], datasets: Dict[str, Any]) -> None:
    """The run keys the summary reads, each of the type gf wrote it as."""
    for key in ("valid_splits", "test_splits"):
        value = run.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(s, str) for s in value)):
            raise damaged_config(path, f"run.{key}", shown_value(value), "a list of split names")
    train = run.get("train_dataset")
    if train is not None and (not isinstance(train, str) or train not in datasets):
        raise damaged_config(path, "run.train_dataset", shown_value(train), f"one of datasets: {', '.join(datasets)}")
    if not isinstance(run.get("best_metric", "overall"), str):
        raise damaged_config(path, "run.best_metric", shown_value(run["best_metric"]), "a metric name")
    for key, optional in (("epochs", False), ("max_steps", True)):
        value = run.get(key)
        if not (optional and value is None) and (not isinstance(value, int) or isinstance(value, bool)):
            raise damaged_config(path, f"run.{key}", "is missing" if key not in run else shown_value(value),
                                  "an integer" + (" or null" if optional else ""))


def read_seed_config(path: Path) -> Dict[str, Any]:
    """A seed's saved config.yaml, checked where the summary reads it (ConfigError naming
    the key otherwise)."""
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as e:
        raise ConfigError(f"{path}: could not read the run's config: {e}") from None
    if not isinstance(cfg, dict) or not cfg:
        raise damaged_config(path, "the file", "is empty" if not cfg else f"holds a {type(cfg).__name__}",
                              "a mapping with model:, datasets: and run: sections")
    datasets, run = cfg.get("datasets"), cfg.get("run")
    if not isinstance(datasets, dict) or not datasets:
        raise damaged_config(path, "datasets", "is missing" if "datasets" not in cfg else shown_value(datasets),
                              "a mapping of dataset names to their settings")
    if not isinstance(run, dict) or not run:
        raise damaged_config(path, "run", "is missing" if "run" not in cfg else shown_value(run),
                              "the mapping of run settings")
    _check_run(path, run, datasets)
    return cfg


def seed_layout(folder: Path) -> Optional[SeedLayout]:
    path = folder / "config.yaml"
    if not path.is_file():
        return None
    cfg = read_seed_config(path)
    names = list(cfg["datasets"])
    train = cfg["run"].get("train_dataset") or names[0]
    return SeedLayout(folder, [train] + [n for n in names if n != train], cfg["run"])


def test_report_of(layout: SeedLayout, name: str, split: str) -> Optional[Path]:
    """The report ``Runner.test`` wrote: tag ``best`` when the run has checkpoint_best.pth
    (a ``last`` report beside it scored other weights than the run's test: it never counts),
    else ``best`` (checkpoint_best since deleted) or ``last``."""
    tags = ("best",) if (layout.folder / "checkpoint_best.pth").is_file() else ("best", "last")
    for tag in tags:
        path = output_file(layout.eval_dir(name), split, tag, "report.json")
        if path.is_file():
            return path
    return None


def log_records(path: Path) -> List[Dict[str, Any]]:
    """The records of a run's log.jsonl (a line cut by a kill, or not a record, is skipped)."""
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _counter(value: Any, path: Path, what: str, holder: str) -> int:
    """``value``, an integer counter (epoch, step) read from a seed's ``holder`` file."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise DataFileError(f"{path}: {what} {shown_value(value)}, not an integer: the {holder} is damaged. "
                            f"Delete {path.parent} and train that seed again.")
    return value


def log_counter(record: Dict[str, Any], key: str, path: Path) -> int:
    return _counter(record.get(key), path, f"a {record.get('kind')!r} record's {key}", "log")


def training_done(layout: SeedLayout) -> bool:
    """Without test splits nothing is written at the end: checkpoint_last.pth, saved once
    everything of its epoch is done, says whether training reached run.epochs or
    run.max_steps. Not log.jsonl: its epoch record precedes the evaluation and the save, so
    a kill in between leaves it claiming an epoch the checkpoint does not hold (a deleted
    checkpoint_last: :func:`_logged_done`)."""
    path = layout.folder / "checkpoint_last.pth"
    if not path.is_file():
        return _logged_done(layout)
    from gf.models.checkpoint import read_checkpoint

    content = read_checkpoint(path, mmap=True).require_gf("its epoch and step say whether the seed's training "
                                                          "is done").content
    epoch, step = (_counter(content.get(key), path, f"its {key!r}", "checkpoint") for key in ("epoch", "step"))
    return _reaches_end(layout.run, epoch, step)


def _reaches_end(run: Mapping[str, Any], epoch: int, step: int) -> bool:
    return epoch >= run["epochs"] - 1 or (run.get("max_steps") is not None and step >= run["max_steps"])


def _logged_done(layout: SeedLayout) -> bool:
    """A run whose checkpoint_last.pth was deleted once it ended (gf allows that: see
    :func:`test_report_of`): log.jsonl's last epoch record says whether training ended. It is
    trusted only beside what a run writes after that epoch's checkpoint_last (checkpoint_best.pth
    or a test report), which a run killed before its first save lacks."""
    log = layout.folder / "log.jsonl"
    tests = layout.run.get("test_splits") or []
    written_after = (layout.folder / "checkpoint_best.pth").is_file() or any(
        test_report_of(layout, name, split) for name in layout.datasets for split in tests)
    if not written_after or not log.is_file():
        return False
    epochs = [r for r in log_records(log) if r.get("kind") == "epoch"]
    return bool(epochs) and _reaches_end(layout.run, log_counter(epochs[-1], "epoch", log),
                                         log_counter(epochs[-1], "step", log))


def is_finished(folder) -> bool:
    """Whether ``folder`` holds a run that ended: training done, and its test report for
    every dataset and ``run.test_splits`` (what the runner writes last). Both: a test report
    alone may come from ``gf evaluate --tag best`` in a run cut short, whose best epoch so far
    is not the run's."""
    layout = seed_layout(Path(folder))
    if layout is None or not training_done(layout):
        return False
    tests = layout.run.get("test_splits") or []
    return all(test_report_of(layout, name, split) is not None for name in layout.datasets for split in tests)
