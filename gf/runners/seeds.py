"""One config trained over several seeds (``run.seeds``, ``gf train --seeds``), and the
summary of those runs.

Why: one training run is one draw; on the demo benchmark per-type accuracies move by tens of
points between seeds, so a figure worth quoting is a mean with its spread. Each seed is an
ordinary gf run in ``<run.output_dir>/seed<N>/`` (``run.seed=N``), made by the single-run
code path, so everything gf says about a run (config.yaml, checkpoints, reports, resuming,
the output lock) holds for each seed. This module only plans which seeds to run, runs them
one after the other, and summarises the reports they wrote:

* :func:`plan_seeds`: a seed whose folder holds a finished run is reused; one with a run
  that did not finish continues it (``run.resume=auto``); a missing one starts. A seed
  folder is reused or continued only under the config it was made with (a different one
  is refused, naming the keys), so a summary never mixes configs. ``run.overwrite=true``
  trains every seed again.
* :func:`train_seeds`: runs the plan, then writes and prints the summary.
* :func:`summarize`, :func:`write_summary`: ``seeds_summary.json`` / ``seeds_summary.md``
  from the seed folders' own report files (also ``gf summarize-seeds DIR``, e.g. after a
  SLURM array): per split and metric, each seed's figure as its report has it, the mean,
  the sample standard deviation (n - 1; null for a single seed), the minimum and the seed
  that gave it.
"""
from __future__ import annotations

import copy
import json
import os
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from gf.common.errors import ConfigError, EvaluationError
from gf.common.io import atomic_write_json, atomic_write_text, load_json

__all__ = ["SeedRun", "find_seeds", "format_summary", "is_finished", "plan_seeds", "seed_config", "summarize",
           "train_seeds", "write_summary"]

SUMMARY_JSON = "seeds_summary.json"
SUMMARY_MD = "seeds_summary.md"
#: Run settings that may differ between a seed folder's config and the command continuing it
#: (the folder itself may have been moved or copied).
NOT_COMPARED = ("run.output_dir", "run.resume", "run.overwrite", "run.progress", "run.num_workers", "run.seeds")
SD_NOTE = "sample standard deviation (n - 1); null for a single seed"


def seed_folder(output_dir, seed: int) -> Path:
    return Path(output_dir) / f"seed{seed}"


@dataclass
class SeedRun:
    """One seed of the plan: ``action`` is reuse (finished), resume (continue the run in
    ``folder``), new or overwrite (train from scratch)."""

    seed: int
    folder: Path
    action: str


# -- reading a seed folder --------------------------------------------------------------------
@dataclass
class _Layout:
    """Where a run's reports are, from the config.yaml it saved."""

    folder: Path
    datasets: List[str]  # the training dataset first
    run: Dict[str, Any]

    def eval_dir(self, name: str) -> Path:
        return self.folder / "eval" if name == self.datasets[0] else self.folder / "eval" / name

    def label(self, name: str, split: str) -> str:
        return split if name == self.datasets[0] else f"{name}/{split}"  # as Runner.test keys them


def _layout(folder: Path) -> Optional[_Layout]:
    path = folder / "config.yaml"
    if not path.is_file():
        return None
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as e:
        raise ConfigError(f"{path}: could not read the run's config: {e}") from None
    names = list(cfg["datasets"])
    train = cfg["run"].get("train_dataset") or names[0]
    return _Layout(folder, [train] + [n for n in names if n != train], cfg["run"])


def _test_report(layout: _Layout, name: str, split: str) -> Optional[Path]:
    """The report ``Runner.test`` wrote: tag ``best`` (checkpoint_best), else ``last``."""
    for tag in ("best", "last"):
        path = layout.eval_dir(name) / f"{split}_{tag}_report.json"
        if path.is_file():
            return path
    return None


def _training_done(layout: _Layout) -> bool:
    """Without test splits nothing is written at the end: the last epoch record of
    log.jsonl says whether training reached run.epochs or run.max_steps."""
    path = layout.folder / "log.jsonl"
    if not (layout.folder / "checkpoint_last.pth").is_file() or not path.is_file():
        return False
    last = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a kill
            continue
        if record.get("kind") == "epoch":
            last = record
    run = layout.run
    return last is not None and (last["epoch"] >= run["epochs"] - 1
                                 or (run.get("max_steps") is not None and last["step"] >= run["max_steps"]))


def is_finished(folder) -> bool:
    """Whether ``folder`` holds a run that ended: its test report for every dataset and
    ``run.test_splits`` (what the runner writes last), or training done without test splits."""
    layout = _layout(Path(folder))
    if layout is None:
        return False
    tests = layout.run.get("test_splits") or []
    if not tests:
        return _training_done(layout)
    return all(_test_report(layout, name, split) is not None for name in layout.datasets for split in tests)


# -- planning and running -------------------------------------------------------------------------
def seed_config(cfg: DictConfig, seed: int, action: str) -> DictConfig:
    """The single-run config of one seed: ``run.seed``, its folder, and how it treats what
    is there (continue it, or with overwrite start again)."""
    out = copy.deepcopy(cfg)
    out.run.seed = seed
    out.run.output_dir = str(seed_folder(cfg.run.output_dir, seed))  # resolved: interpolations in it are kept
    out.run.seeds = None
    out.run.resume = "auto" if action == "resume" else None
    out.run.overwrite = action == "overwrite"
    return out


def _flatten(tree: Any, prefix: str = "") -> Dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: Dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def check_same_config(folder: Path, cfg: DictConfig) -> None:
    """Refuse to reuse or continue a seed folder made under another config: its figures
    would enter a summary that claims to be this config's."""
    path = folder / "config.yaml"
    if not path.is_file():
        return
    saved = _flatten(OmegaConf.to_container(OmegaConf.load(path), resolve=True))
    wanted = _flatten(OmegaConf.to_container(cfg, resolve=True))
    differ = sorted(k for k in saved.keys() | wanted.keys()
                    if saved.get(k) != wanted.get(k) and not k.startswith(NOT_COMPARED))
    if differ:
        shown = "; ".join(f"{k}: {saved.get(k)!r} there, {wanted.get(k)!r} now" for k in differ[:5])
        more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
        raise ConfigError(f"{folder} holds a run of another config ({shown}{more}). Train these seeds into another "
                          f"run.output_dir, or start them again with run.overwrite=true (deletes their runs).")


def plan_seeds(cfg: DictConfig) -> List[SeedRun]:
    """What to do with each seed of ``run.seeds``, decided before anything is trained, so
    a config mismatch in the last seed's folder stops the command before the first trains."""
    from gf.runners.build import RUN_FILES

    parent = Path(cfg.run.output_dir)
    single = [name for name in RUN_FILES if (parent / name).exists()]
    if single:
        raise ConfigError(f"{parent} holds a single run ({', '.join(single)}); with run.seeds each seed's run goes "
                          f"into {parent}/seed<N>/. Choose another run.output_dir.")
    overwrite = bool(cfg.run.overwrite) and not cfg.run.resume  # as for one run: resume wins
    plan = []
    for seed in cfg.run.seeds:
        folder = seed_folder(parent, seed)
        if overwrite:
            action = "overwrite"
        elif is_finished(folder):
            action = "reuse"
        elif any((folder / name).exists() for name in RUN_FILES):
            action = "resume"  # with no checkpoint yet, resume=auto starts from scratch
        else:
            action = "new"
        if action in ("reuse", "resume"):
            check_same_config(folder, seed_config(cfg, seed, action))
        plan.append(SeedRun(seed, folder, action))
    return plan


def _is_main_process() -> bool:
    """Rank 0 of a torchrun launch (each seed's run leaves the process group when it ends)."""
    return int(os.environ.get("RANK", "0")) == 0


def run_plan(cfg: DictConfig, plan: Sequence[SeedRun], train_one: Callable[[DictConfig], Any]) -> None:
    """Train the seeds that need it, one after the other, each through ``train_one`` (the
    single-run path of ``gf train``). The first failure stops the command: running it again
    reuses the seeds that finished and continues the one that failed."""
    main = _is_main_process()
    words = {"reuse": "reused (finished)", "resume": "continues the run there", "new": "new",
             "overwrite": "trained again (run.overwrite)"}
    for i, item in enumerate(plan, start=1):
        if main:
            print(f"[gf] seed {item.seed} ({i}/{len(plan)}): {item.folder}: {words[item.action]}", flush=True)
        if item.action == "reuse":
            continue
        try:
            train_one(seed_config(cfg, item.seed, item.action))
        except BaseException:
            if main:
                print(f"[gf] seed {item.seed} failed in {item.folder}; the same command continues it and reuses "
                      f"the finished seeds", flush=True)
            raise


def train_seeds(cfg: DictConfig, train_one: Callable[[DictConfig], Any]) -> Optional[Dict[str, Any]]:
    """``gf train`` with ``run.seeds``: plan, train, then write and print the summary of
    these seeds (rank 0). Returns the summary (None on other ranks)."""
    plan = plan_seeds(cfg)
    run_plan(cfg, plan, train_one)
    if not _is_main_process():
        return None
    parent = Path(cfg.run.output_dir)
    summary = summarize(parent, [item.seed for item in plan])
    write_summary(parent, summary)
    print(f"\n{format_summary(summary)}", flush=True)
    return summary


# -- the summary --------------------------------------------------------------------------------
def find_seeds(parent) -> List[int]:
    """The seeds that have a ``seed<N>`` folder in ``parent``, in order."""
    parent = Path(parent)
    if not parent.is_dir():
        raise ConfigError(f"{parent}: no such folder")
    found = [int(m.group(1)) for p in parent.iterdir() if p.is_dir() and (m := re.fullmatch(r"seed(\d+)", p.name))]
    if not found:
        raise ConfigError(f"{parent} holds no seed<N> folder: give the run.output_dir of a gf train --seeds run")
    return sorted(found)


def _best_epoch(layout: _Layout) -> Optional[int]:
    """The epoch ``checkpoint_best`` holds, by the evaluation hook's rule: the first epoch
    whose first valid split's ``run.best_metric`` beats every earlier one (the last epoch
    when none has a value: the test then used the final weights)."""
    valid = layout.run.get("valid_splits") or []
    if not valid:
        return None
    pattern = re.compile(re.escape(valid[0]) + r"_epoch(\d+)_report\.json")
    epochs = sorted((int(m.group(1)), p) for p in layout.eval_dir(layout.datasets[0]).glob("*_report.json")
                    if (m := pattern.fullmatch(p.name)))
    best, best_value = (epochs[-1][0] if epochs else None), None
    for epoch, path in epochs:
        value = load_json(path, what="report").get(layout.run.get("best_metric", "overall"))
        if isinstance(value, (int, float)) and (best_value is None or value > best_value):
            best, best_value = epoch, value
    return best


def seed_reports(folder: Path) -> Dict[str, Dict[str, Path]]:
    """The report files of a finished run: ``{"valid": {label: path}, "test": {label: path}}``,
    valid splits at the epoch of checkpoint_best, test splits as ``Runner.test`` wrote them."""
    layout = _layout(folder)
    out: Dict[str, Dict[str, Path]] = {"valid": {}, "test": {}}
    epoch = _best_epoch(layout)
    for name in layout.datasets:
        for split in layout.run.get("valid_splits") or []:
            path = layout.eval_dir(name) / f"{split}_epoch{epoch}_report.json"
            if epoch is not None and path.is_file():
                out["valid"][layout.label(name, split)] = path
        for split in layout.run.get("test_splits") or []:
            path = _test_report(layout, name, split)
            if path is not None:
                out["test"][layout.label(name, split)] = path
    return out


def report_figures(report: Dict[str, Any]) -> Dict[str, Optional[float]]:
    """The figures a summary keeps from one report: its primary metric, ``overall``, and
    every breakdown cell's accuracy (``<breakdown>/<cell>``), as the report has them."""
    primary = report.get("primary_metric") or "overall"
    figures = {primary: report.get(primary), "overall": report.get("overall")}
    for breakdown, cells in (report.get("breakdowns") or {}).items():
        for cell, values in cells.items():
            figures[f"{breakdown}/{cell}"] = values.get("accuracy")
    return figures


def seed_stats(values: Dict[int, Optional[float]]) -> Dict[str, Any]:
    """Mean, sample sd (n - 1; None for one value), min and the seed that gave it (the first
    such seed), over the seeds with a figure (a cell with no labelled question has none)."""
    present = {seed: v for seed, v in values.items() if v is not None}
    out: Dict[str, Any] = {"values": {str(s): v for s, v in values.items()}, "n": len(present),
                           "mean": None, "sd": None, "min": None, "worst_seed": None}
    if present:
        worst = min(present, key=lambda s: present[s])
        out.update(mean=statistics.fmean(present.values()), min=present[worst], worst_seed=worst,
                   sd=statistics.stdev(present.values()) if len(present) > 1 else None)
    return out


def _summarize_split(parent: Path, files: Dict[int, Path]) -> Dict[str, Any]:
    reports = {seed: load_json(path, what="report") for seed, path in files.items()}
    figures = {seed: report_figures(r) for seed, r in reports.items()}
    metrics = list(dict.fromkeys(m for f in figures.values() for m in f))
    first = next(iter(reports.values()))
    return {"primary_metric": first.get("primary_metric") or "overall",
            "files": {str(seed): str(path.relative_to(parent)) for seed, path in files.items()},
            "metrics": {m: seed_stats({seed: f.get(m) for seed, f in figures.items()}) for m in metrics}}


def summarize(parent, seeds: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    """The summary of the finished runs among ``seeds`` (default: every ``seed<N>`` folder
    in ``parent``), read from their report files; unfinished seeds are listed, not counted."""
    parent = Path(parent)
    seeds = list(seeds) if seeds is not None else find_seeds(parent)
    finished = [s for s in seeds if is_finished(seed_folder(parent, s))]
    if not finished:
        raise EvaluationError(f"{parent}: none of seeds {seeds} has a finished run (seed<N>/ with its test "
                              f"reports) to summarise")
    per_seed = {s: seed_reports(seed_folder(parent, s)) for s in finished}
    summary: Dict[str, Any] = {"output_dir": str(parent), "seeds": finished,
                               "unfinished": [s for s in seeds if s not in finished], "sd": SD_NOTE}
    for kind in ("valid", "test"):
        labels = list(dict.fromkeys(label for r in per_seed.values() for label in r[kind]))
        summary[kind] = {label: _summarize_split(parent, {s: r[kind][label] for s, r in per_seed.items()
                                                          if label in r[kind]}) for label in labels}
    return summary


def _cell(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def format_summary(summary: Dict[str, Any]) -> str:
    """The summary as Markdown: one table per split, one row per figure."""
    seeds = summary["seeds"]
    lines = [f"# Seeds summary: {summary['output_dir']}", "",
             f"Finished seeds: {', '.join(map(str, seeds))}"
             + (f"; not finished (not counted): {', '.join(map(str, summary['unfinished']))}"
                if summary["unfinished"] else "") + f". sd: {summary['sd']}."]
    titles = {"valid": "at the epoch of checkpoint_best, which it picked: optimistic", "test": "test"}
    for kind in ("valid", "test"):
        for label, split in summary[kind].items():
            files = ", ".join(split["files"].values())
            lines += ["", f"## {label} ({titles[kind]})", "", f"Reports: {files}", "",
                      "| figure | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | sd | min | worst seed |",
                      "|---" * (len(seeds) + 5) + "|"]
            for metric, st in split["metrics"].items():
                name = f"{metric} (primary)" if metric == split["primary_metric"] else metric
                cells = [_cell(st["values"].get(str(s))) for s in seeds]
                worst = "n/a" if st["worst_seed"] is None else str(st["worst_seed"])
                lines.append(f"| {name} | " + " | ".join(cells)
                             + f" | {_cell(st['mean'])} | {_cell(st['sd'])} | {_cell(st['min'])} | {worst} |")
    return "\n".join(lines) + "\n"


def write_summary(parent, summary: Dict[str, Any]) -> None:
    """``seeds_summary.json`` and ``seeds_summary.md`` in ``parent``, each written atomically."""
    atomic_write_json(Path(parent) / SUMMARY_JSON, summary, allow_nan=False)
    atomic_write_text(Path(parent) / SUMMARY_MD, format_summary(summary))
