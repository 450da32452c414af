"""One config trained over several seeds (``run.seeds``, ``gf train --seeds``), and the
summary of those runs.

Why: one training run is one draw, so a figure worth quoting is a mean with its spread. Each
seed is an ordinary gf run in ``<run.output_dir>/seed<N>/`` (``run.seed=N``), made by the
single-run code path, so everything gf says about a run holds for each seed. This module
only plans which seeds to run (:func:`plan_seeds`), runs them one after the other
(:func:`train_seeds`), and summarises the reports they wrote (:func:`summarize`,
:func:`write_summary`; also ``gf summarize-seeds``). Each seed folder is read by
:mod:`gf.runners.seed_layout`; a damaged config.yaml, checkpoint, report or log is a gf
error naming the file and key, never a figure.

When a seed is reused, continued or trained again, what the summary holds and the checks
each seed folder passes first: docs/seeds.md, "Resuming" and "The summary".
"""
from __future__ import annotations

import copy
import math
import os
import re
import shlex
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from gf.common.config import check_seed_list, escape_interpolations
from gf.common.errors import ConfigError, DataFileError, EvaluationError
from gf.common.io import atomic_write_json, atomic_write_text, load_json
from gf.evaluation.base import output_file
from gf.runners.run_layout import RUN_FILES, RUN_TAGS, SEED_FOLDER, SUMMARY_JSON, SUMMARY_MD, seed_of_folder
from gf.runners.seed_layout import (SeedLayout, is_finished, log_counter, log_records, read_seed_config, seed_folder,
                                    seed_layout, shown_value, test_report_of)

__all__ = ["SeedRun", "find_seeds", "format_summary", "is_finished", "plan_seeds", "seed_config", "summarize",
           "train_seeds", "write_summary"]

#: Run settings that may differ between a seed folder's config and the command continuing it
#: (the folder itself may have been moved or copied).
NOT_COMPARED = ("run.output_dir", "run.resume", "run.overwrite", "run.progress", "run.num_workers", "run.seeds")
SD_NOTE = "sample standard deviation (n - 1); null for a single seed"


@dataclass
class SeedRun:
    """One seed of the plan: ``action`` is reuse (finished), resume (continue the run in
    ``folder``), new or overwrite (train from scratch)."""

    seed: int
    folder: Path
    action: str


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


def config_differences(folder: Path, cfg: DictConfig, where: str = "now") -> str:
    """How the config saved in ``folder`` differs from ``cfg`` (keys, at most 5 shown, with
    ``where`` naming cfg's side; "" when they agree), apart from NOT_COMPARED."""
    path = folder / "config.yaml"
    if not path.is_file():
        return ""
    try:
        saved = _flatten(OmegaConf.to_container(OmegaConf.create(read_seed_config(path)), resolve=True))
    except ConfigError:
        raise
    except Exception as e:  # an interpolation that no longer resolves (gf saves configs resolved)
        raise ConfigError(f"{path}: could not resolve the run's config: {e}. Restore it, or delete {folder} so "
                          f"that the seed is trained again.") from None
    wanted = _flatten(OmegaConf.to_container(cfg, resolve=True))
    differ = sorted(k for k in saved.keys() | wanted.keys()
                    if saved.get(k) != wanted.get(k) and not k.startswith(NOT_COMPARED))
    shown = "; ".join(f"{k}: {saved.get(k)!r} there, {wanted.get(k)!r} {where}" for k in differ[:5])
    return shown + (f" and {len(differ) - 5} more" if len(differ) > 5 else "")


def check_same_config(folder: Path, cfg: DictConfig) -> None:
    """Refuse to reuse or continue a seed folder made under another config: its figures
    would enter a summary that claims to be this config's."""
    differ = config_differences(folder, cfg)
    if differ:
        raise ConfigError(f"{folder} holds a run of another config ({differ}). Train these seeds into another "
                          f"run.output_dir, or start them again with run.overwrite=true (deletes their runs).")


def plan_seeds(cfg: DictConfig) -> List[SeedRun]:
    """What to do with each seed of ``run.seeds``, decided before anything is trained, so
    a config mismatch in the last seed's folder stops the command before the first trains."""
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
    """Rank 0 of a torchrun launch (read from torchrun's environment: no process group is needed)."""
    return int(os.environ.get("RANK", "0")) == 0


def run_plan(cfg: DictConfig, plan: Sequence[SeedRun], train_one: Callable[[DictConfig], Any]) -> None:
    """Train the seeds that need it, one after the other, each through ``train_one`` (the
    single-run path of ``gf train``). The first failure stops the command: running it again
    reuses the seeds that finished and continues the one that failed."""
    main = _is_main_process()
    words = {"reuse": "reused (finished)", "resume": "continues the run there", "new": "new",
             "overwrite": "trained again (run.overwrite)"}
    from gf.common.dist import kept_process_group
    from gf.runners.runner_base import pick_device

    with kept_process_group(pick_device(cfg.run.device)):  # one torchrun group for every seed
        for i, item in enumerate(plan, start=1):
            if main:
                print(f"[gf] seed {item.seed} ({i}/{len(plan)}): {item.folder}: {words[item.action]}", flush=True)
            if item.action == "reuse":
                continue
            try:
                train_one(seed_config(cfg, item.seed, item.action))
            except ConfigError:  # refused (another command trains it, or its folder cannot be used): not failed
                raise
            except BaseException:
                if main:
                    print(f"[gf] seed {item.seed} failed in {item.folder}; the same command continues it and "
                          f"reuses the finished seeds", flush=True)
                raise


def train_seeds(cfg: DictConfig, train_one: Callable[[DictConfig], Any]) -> Optional[Dict[str, Any]]:
    """``gf train`` with ``run.seeds``: plan, train, then write and print the summary of
    these seeds (rank 0). Returns the summary (None on other ranks)."""
    plan = plan_seeds(cfg)
    if _is_main_process() and any(item.action != "reuse" for item in plan):
        _retire_summary(Path(cfg.run.output_dir))
    run_plan(cfg, plan, train_one)
    if not _is_main_process():
        return None
    parent = Path(cfg.run.output_dir)
    summary = summarize(parent, [item.seed for item in plan])
    write_summary(parent, summary)
    print(f"\n{format_summary(summary)}", flush=True)
    return summary


def _retire_summary(parent: Path) -> None:
    """Remove the summary of an earlier sweep before any seed trains again: from then on its
    figures and file names are no longer the seed folders', and a command stopped before the
    new summary is written must not leave the old one to be quoted. The Markdown goes first:
    it is the file people quote."""
    removed = []
    for name in (SUMMARY_MD, SUMMARY_JSON):
        path = parent / name
        if path.is_file():
            path.unlink()
            removed.append(name)
    if removed:
        print(f"[gf] removed {' and '.join(removed)} from {parent}: seeds are trained again, so it no longer "
              f"describes them; it is written again when every seed has finished (or by gf summarize-seeds "
              f"{parent})", flush=True)


# -- the summary --------------------------------------------------------------------------------
def find_seeds(parent) -> List[int]:
    """The seeds that have a ``seed<N>`` folder in ``parent``, in order; a folder named so
    but not as gf writes it (``seed01``) is refused, never read as another seed's."""
    parent = Path(parent)
    if not parent.is_dir():
        raise ConfigError(f"{parent}: no such folder")
    names = sorted(p.name for p in parent.iterdir() if p.is_dir() and SEED_FOLDER.fullmatch(p.name))
    odd = [name for name in names if seed_of_folder(name) is None]
    if odd:  # seed01 would be read as seed 1, beside (or instead of) the real seed1/
        raise ConfigError(f"{parent / odd[0]}: not a seed folder name gf writes (seed<N>, N without leading zeros: "
                          f"seed{int(odd[0][4:])}), so which seed it holds is unclear. Move it out of {parent}, or "
                          f"rename it seed{int(odd[0][4:])} if it holds that seed's run and no such folder exists.")
    if not names:
        raise ConfigError(f"{parent} holds no seed<N> folder: give the run.output_dir of a gf train --seeds run")
    return sorted(seed_of_folder(name) for name in names)


#: What a summary reads of each checkpoint: read once per summary (``records``, keyed by path).
CheckpointRecords = Dict[Path, Dict[str, Any]]


def _checkpoint_record(path: Path, records: CheckpointRecords) -> Dict[str, Any]:
    """A gf checkpoint's ``epoch`` and ``weights_sha256`` (``mmap``: weights mapped, not read;
    nothing pickled runs), read once per summary however many reports name the checkpoint."""
    from gf.models.checkpoint import read_checkpoint

    if path not in records:
        content = read_checkpoint(path, mmap=True).require_gf("the seeds summary reads its epoch and weights "
                                                               "hash").content
        records[path] = {key: content.get(key) for key in ("epoch", "weights_sha256")}
    return records[path]


def _checkpoint_epoch(path: Path, records: CheckpointRecords) -> int:
    """The 0-based epoch a gf checkpoint was saved after."""
    epoch = _checkpoint_record(path, records).get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise DataFileError(f"{path}: its 'epoch' {shown_value(epoch)}, not the index of a finished epoch (an integer "
                            f">= 0), so the epoch of its valid reports is unknown. The checkpoint is damaged: delete "
                            f"{path.parent} and train that seed again.")
    return epoch


def _logged_best_epoch(layout: SeedLayout, valid: str) -> int:
    """Without checkpoint_best.pth (no epoch had a value, so the test used the final weights;
    or the file was deleted): the evaluation hook's rule over the values log.jsonl recorded
    for the first valid split, the first epoch that beat every earlier one, else the last."""
    path = layout.folder / "log.jsonl"
    if not path.is_file():
        raise DataFileError(f"{layout.folder}: neither checkpoint_best.pth nor log.jsonl is there, so the epoch "
                            f"whose {valid} reports the summary should use is unknown. Delete {layout.folder} and "
                            f"train that seed again.")
    metric, best, best_value, last = layout.run.get("best_metric", "overall"), None, None, None
    for record in log_records(path):
        if record.get("kind") == "epoch":
            last = log_counter(record, "epoch", path)
        elif record.get("kind") == f"val_{valid}":
            value = record.get(metric)
            if isinstance(value, (int, float)) and (best_value is None or value > best_value):
                best, best_value = log_counter(record, "epoch", path), value
    if last is None:
        raise DataFileError(f"{path} records no finished epoch, so the epoch whose {valid} reports the summary "
                            f"should use is unknown. Delete {layout.folder} and train that seed again.")
    return (best if best is not None else last) + 1


def _best_epoch(layout: SeedLayout, records: CheckpointRecords) -> Optional[int]:
    """The epoch (counted from 1, as report files are tagged) whose valid reports go into
    the summary: the one ``checkpoint_best.pth`` was saved after, as it records itself;
    without that file, as log.jsonl records it (:func:`_logged_best_epoch`). Never from
    which report files happen to be there: a missing one would silently change the epoch."""
    valid = layout.run.get("valid_splits") or []
    if not valid:
        return None
    best = layout.folder / "checkpoint_best.pth"
    return _checkpoint_epoch(best, records) + 1 if best.is_file() else _logged_best_epoch(layout, valid[0])


def _scored_with(folder: Path, tag: str) -> Path:
    """The checkpoint whose weights a seed's ``<split>_<tag>_report.json`` scored (valid: best)."""
    return folder / ("checkpoint_last.pth" if tag == "last" else "checkpoint_best.pth")


def _recreate(folder: Path, split: str, tag: str) -> str:
    """How to write a seed's ``<split>_<tag>_report.json`` again."""
    checkpoint = _scored_with(folder, tag)
    retrain = f"delete {folder} and train that seed again"
    if not checkpoint.is_file():
        return f"To recreate it, {retrain}."
    # the folder as a quoted YAML value, escaped: as plain option text, ' #' would start a comment and '${' an
    # interpolation; each word quoted for the shell
    output_dir = "run.output_dir='" + escape_interpolations(str(folder)).replace("'", "''") + "'"
    words = ["--cfg-path", folder / "config.yaml", "--checkpoint", checkpoint, "--splits", split, "--tag", tag,
             "--options", output_dir]
    return f"Recreate it with `gf evaluate {shlex.join(map(str, words))}`, or {retrain}."


def seed_reports(folder: Path, records: CheckpointRecords) -> Dict[str, Dict[str, Path]]:
    """The report files of a finished run: ``{"valid": {label: path}, "test": {label: path}}``,
    valid splits at the epoch of checkpoint_best, test splits as ``Runner.test`` wrote them.
    A missing valid report of that epoch is a DataFileError saying how to recreate it."""
    layout = seed_layout(folder)
    out: Dict[str, Dict[str, Path]] = {"valid": {}, "test": {}}
    epoch = _best_epoch(layout, records)
    source = ("the one checkpoint_best.pth was saved after" if (folder / "checkpoint_best.pth").is_file() else
              "the one log.jsonl records as best (the last one when no epoch had a value)")
    for name in layout.datasets:
        for split in layout.run.get("valid_splits") or []:
            path = output_file(layout.eval_dir(name), split, f"epoch{epoch}", "report.json")
            if not path.is_file():
                raise DataFileError(f"{path} is missing: the summary's {layout.label(name, split)} figures come from "
                                    f"epoch {epoch}, {source}, and no other epoch's report may stand in for it. "
                                    f"{_recreate(folder, split, f'epoch{epoch}')}")
            out["valid"][layout.label(name, split)] = path
        for split in layout.run.get("test_splits") or []:
            path = test_report_of(layout, name, split)
            if path is not None:
                out["test"][layout.label(name, split)] = path
    return out


def report_figures(report: Dict[str, Any], where: str = "report", fix: str = "") -> Dict[str, Optional[float]]:
    """The figures a summary keeps from one report: its primary metric, ``overall``, and
    every breakdown cell's accuracy (``<breakdown>/<cell>``), as the report has them.
    A report not shaped so is a DataFileError naming ``where`` and the key (``fix``: what to do)."""
    def bad(key: str, value: Any, wanted: str) -> DataFileError:
        return DataFileError(f"{where}: {key} {shown_value(value)}, not {wanted}: the report is damaged. "
                             f"{fix}".rstrip())

    def figure(key: str, value: Any) -> Optional[float]:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is None or (number and math.isfinite(value)):
            return value
        raise bad(key, value, "a number or null")

    if not isinstance(report, dict):
        raise bad("the file", report, "a JSON object")
    primary = report.get("primary_metric") or "overall"
    if not isinstance(primary, str):
        raise bad("primary_metric", primary, "a metric name")
    figures = {key: figure(key, report.get(key)) for key in (primary, "overall")}
    breakdowns = report.get("breakdowns") or {}
    if not isinstance(breakdowns, dict):
        raise bad("breakdowns", breakdowns, "an object of breakdowns")
    for breakdown, cells in breakdowns.items():
        if not isinstance(cells, dict):
            raise bad(f"breakdowns.{breakdown}", cells, "an object of cells")
        for cell, values in cells.items():
            if not isinstance(values, dict):
                raise bad(f"breakdowns.{breakdown}.{cell}", values, "an object with an accuracy")
            key = f"breakdowns.{breakdown}.{cell}.accuracy"
            figures[f"{breakdown}/{cell}"] = figure(key, values.get("accuracy"))
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


def _split_tag(path: Path) -> Optional[re.Match]:
    return re.fullmatch(rf"(.+)_({RUN_TAGS.pattern})_report\.json", path.name)


def _check_scored_weights(folder: Path, path: Path, report: Any, fix: str, records: CheckpointRecords) -> None:
    """A seed's report counts only if it scored its own folder's weights: ``gf evaluate
    --tag best`` with another seed's checkpoint writes the same file name. The report's
    provenance ``weights_sha256`` must equal the one the checkpoint it stands for records;
    with that checkpoint deleted, the provenance's ``checkpoint``, if any, must be that
    file of a folder of this name (the folder may have been moved). A DataFileError otherwise."""
    m = _split_tag(path)
    if m is None or not isinstance(report, dict):
        return  # a report not shaped so is named by report_figures
    checkpoint = _scored_with(folder, m.group(2))
    provenance = report.get("provenance") if isinstance(report.get("provenance"), dict) else {}
    if checkpoint.is_file():
        wanted, found = _checkpoint_record(checkpoint, records)["weights_sha256"], provenance.get("weights_sha256")
        if found != wanted:
            why = ("is missing, so which weights it scored is unknown" if found is None else
                   f"({str(found)[:12]}...) is not that of {checkpoint} ({str(wanted)[:12]}...): the report scored "
                   f"other weights (gf evaluate --tag {m.group(2)} with another checkpoint?)")
            raise DataFileError(f"{path}: provenance.weights_sha256 {why}; it is not seed {folder.name[4:]}'s. "
                                f"{fix}".rstrip())
    elif not m.group(2).startswith("epoch") and provenance.get("checkpoint") is not None \
            and Path(str(provenance["checkpoint"])).parts[-2:] != (folder.name, checkpoint.name):
        raise DataFileError(f"{path}: provenance.checkpoint is {provenance['checkpoint']!r}, not "
                            f"{folder.name}/{checkpoint.name}: the report scored another checkpoint, so it is not "
                            f"seed {folder.name[4:]}'s. {fix}".rstrip())


def _report_fix(parent: Path, seed: int, path: Path) -> str:
    m = _split_tag(path)
    return _recreate(seed_folder(parent, seed), m.group(1), m.group(2)) if m else ""


def _summarize_split(parent: Path, files: Dict[int, Path], records: CheckpointRecords) -> Dict[str, Any]:
    reports = {seed: load_json(path, what="report") for seed, path in files.items()}
    fixes = {seed: _report_fix(parent, seed, path) for seed, path in files.items()}
    for seed, report in reports.items():
        _check_scored_weights(seed_folder(parent, seed), files[seed], report, fixes[seed], records)
    figures = {seed: report_figures(r, str(files[seed]), fixes[seed]) for seed, r in reports.items()}
    metrics = list(dict.fromkeys(m for f in figures.values() for m in f))
    first = next(iter(reports.values()))
    return {"primary_metric": first.get("primary_metric") or "overall",
            "files": {str(seed): str(path.relative_to(parent)) for seed, path in files.items()},
            "metrics": {m: seed_stats({seed: f.get(m) for seed, f in figures.items()}) for m in metrics}}


def check_one_config(parent: Path, seeds: Sequence[int]) -> None:
    """Each ``seed<N>/`` holds a run with ``run.seed`` N, and all of them the same config
    apart from what ``gf train --seeds`` sets per seed (:func:`config_differences`): a
    folder copied in from another run or config is refused (ConfigError), not averaged."""
    first = seed_folder(parent, seeds[0])
    reference = OmegaConf.create(read_seed_config(first / "config.yaml"))
    for seed in seeds:
        folder = seed_folder(parent, seed)
        saved = seed_layout(folder).run.get("seed")
        if saved != seed:
            raise ConfigError(f"{folder / 'config.yaml'}: run.seed {shown_value(saved)}, not {seed}: {folder} holds a "
                              f"run of another seed, which would be summarised as seed {seed}. Move it out of "
                              f"{parent}, or train seed {seed} into it again (gf train --seeds {seed} with "
                              f"run.overwrite=true).")
        reference.run.seed = seed
        differ = config_differences(folder, reference, f"in {first.name}")
        if differ:
            raise ConfigError(f"{folder} holds a run of another config than {first} ({differ}): a summary averages "
                              f"the seeds of one config. Move one of them out of {parent}, or leave it out with "
                              f"--seeds.")


def summarize(parent, seeds: Optional[Sequence[int]] = None) -> Dict[str, Any]:
    """The summary of the finished runs among ``seeds`` (default: every ``seed<N>`` folder
    in ``parent``), read from their report files; unfinished seeds are listed, not counted."""
    parent = Path(parent)
    if seeds is not None:
        check_seed_list(seeds, "--seeds")  # run.seeds' own rule
    seeds = list(seeds) if seeds is not None else find_seeds(parent)
    finished = [s for s in seeds if is_finished(seed_folder(parent, s))]
    if not finished:
        raise EvaluationError(f"{parent}: none of seeds {seeds} has a finished run (seed<N>/ with its test "
                              f"reports) to summarise")
    check_one_config(parent, finished)
    records: CheckpointRecords = {}
    per_seed = {s: seed_reports(seed_folder(parent, s), records) for s in finished}
    summary: Dict[str, Any] = {"output_dir": str(parent), "seeds": finished,
                               "unfinished": [s for s in seeds if s not in finished], "sd": SD_NOTE}
    for kind in ("valid", "test"):
        labels = list(dict.fromkeys(label for r in per_seed.values() for label in r[kind]))
        summary[kind] = {label: _summarize_split(parent, {s: r[kind][label] for s, r in per_seed.items()
                                                          if label in r[kind]}, records) for label in labels}
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
