"""A leaderboard manifest: which models, on which benchmarks and splits, next to which
published figures.

Validated like every gf config before any work starts: an unknown key, a missing one or a
value of the wrong kind is a :class:`~gf.common.errors.ConfigError` naming the key and the
file; so is a number out of its range. The layout, with every key, its default and its
range, and where relative paths are taken from: docs/leaderboards.md, "The manifest".
Seed groups (``checkpoints:``, ``seeds:``; their statistics: :mod:`.seed_stats`) and temporal
probes (``probes:``, ``probe_seed:``; their table: :mod:`.probe_table`): docs/leaderboards.md,
"Seed groups" and "Temporal sensitivity".
"""
from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from gf.common.errors import ConfigError
from gf.common.utils import PathLike, check_known_keys
from gf.runners.run_layout import seed_of_folder

__all__ = ["BenchmarkSpec", "EntrySpec", "Manifest", "ReportedFigure", "load_manifest"]

TOP_KEYS = ("name", "output_dir", "run", "statistics", "benchmarks", "entries", "reported")
RUN_KEYS = ("device", "eval_batch_size", "num_workers")
STATISTICS_KEYS = ("confidence", "bootstrap_samples", "seed", "alpha")
BENCHMARK_KEYS = ("config", "dataset", "options", "splits", "probes", "probe_seed")
ENTRY_KEYS = ("name", "config", "options", "checkpoint", "checkpoints", "seeds", "benchmarks", "predictions")
REPORTED_KEYS = ("name", "benchmark", "split", "source", "score", "cells")
#: The largest integer a manifest value may be.
MAX_INTEGER = 2 ** 63 - 1
_PLAIN_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-+")


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    config: str
    dataset: Optional[str]
    options: Tuple[str, ...]
    splits: Tuple[str, ...]
    probes: Tuple[str, ...] = ()   # temporal probes each model entry is also evaluated under
    probe_seed: int = 0            # seeds their per-question draws (gf.probes.question_seed)


@dataclass(frozen=True)
class EntrySpec:
    """A model (config + checkpoint, or a seed group: config + checkpoints, one per seed) or
    a set of existing predictions files."""

    name: str
    config: Optional[str] = None
    options: Tuple[str, ...] = ()
    checkpoint: Optional[str] = None
    benchmarks: Optional[Tuple[str, ...]] = None
    predictions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # benchmark -> split -> file
    checkpoints: Tuple[str, ...] = ()          # a seed group's checkpoints, in the order of ``seeds``
    seeds: Tuple[int, ...] = ()                # ascending
    checkpoints_pattern: Optional[str] = None  # the glob they were found with, if any

    @property
    def kind(self) -> str:
        return "predictions" if self.predictions else "model"

    @property
    def is_group(self) -> bool:
        return bool(self.checkpoints)

    def members(self) -> Tuple[Optional[int], ...]:
        """What each of its results is told apart by: the seeds of a group, else ``(None,)``."""
        return self.seeds if self.is_group else (None,)

    def checkpoint_for(self, seed: Optional[int]) -> str:
        """The checkpoint of one seed of a group (``seed=None``: a single checkpoint's)."""
        if seed is None and not self.is_group:
            return self.checkpoint
        if seed in self.seeds:
            return self.checkpoints[self.seeds.index(seed)]
        raise ConfigError(f"entry {self.name} has no checkpoint for seed {seed!r} (its seeds: "
                          f"{', '.join(map(str, self.seeds)) or 'none, it is a single checkpoint'})")


@dataclass(frozen=True)
class ReportedFigure:
    """A published figure: shown in its table, marked as reported, never compared."""

    name: str
    benchmark: str
    split: str
    source: str
    score: Optional[float]
    cells: Mapping[str, float]


@dataclass
class Manifest:
    name: str
    path: Optional[str]
    output_dir: str
    benchmarks: Dict[str, BenchmarkSpec]
    entries: List[EntrySpec]
    reported: List[ReportedFigure]
    run: Dict[str, Any]
    statistics: Dict[str, Any]
    source: Dict[str, Any] = field(default_factory=dict)  # the data as read, for worker processes

    def work_items(self) -> List[Tuple[str, str, str, Optional[int], Optional[str], Optional[int]]]:
        """Every (entry, benchmark, split, seed, probe, probe_seed) to evaluate, in manifest
        order; the seed is ``None`` but for the members of a seed group, one item per seed;
        the probe is ``None`` for the unperturbed evaluation, which comes first, followed
        by one item per probe of the benchmark (model entries only), so that consecutive
        items share a loaded model."""
        items = []
        for entry in self.entries:
            for bench in self.benchmarks.values():
                if entry.kind == "predictions":
                    for split in bench.splits:
                        if split in entry.predictions.get(bench.name, {}):
                            items.append((entry.name, bench.name, split, None, None, None))
                elif entry.benchmarks is None or bench.name in entry.benchmarks:
                    probes = [(None, None)] + [(p, bench.probe_seed) for p in bench.probes]
                    items.extend((entry.name, bench.name, split, seed, probe, probe_seed) for split in bench.splits
                                 for seed in entry.members() for probe, probe_seed in probes)
        return items

    def entry(self, name: str) -> EntrySpec:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise ConfigError(f"{self.path}: no entry named {name!r}; entries: {', '.join(e.name for e in self.entries)}")

    def to_dict(self) -> Dict[str, Any]:
        """Plain data, saved beside the results so that ``gf leaderboard show`` needs no manifest."""
        return {
            "name": self.name, "path": self.path, "output_dir": self.output_dir, "run": dict(self.run),
            "statistics": dict(self.statistics),
            "benchmarks": {b.name: {"config": b.config, "dataset": b.dataset, "options": list(b.options),
                                    "splits": list(b.splits),
                                    **({"probes": list(b.probes), "probe_seed": b.probe_seed} if b.probes else {})}
                           for b in self.benchmarks.values()},
            "entries": [{"name": e.name, "config": e.config, "options": list(e.options), "checkpoint": e.checkpoint,
                         "benchmarks": list(e.benchmarks) if e.benchmarks is not None else None,
                         "predictions": {b: dict(s) for b, s in e.predictions.items()},
                         **({"checkpoints": list(e.checkpoints), "seeds": list(e.seeds),
                             "checkpoints_pattern": e.checkpoints_pattern} if e.is_group else {})}
                        for e in self.entries],
            "reported": [{"name": r.name, "benchmark": r.benchmark, "split": r.split, "source": r.source,
                          "score": r.score, "cells": dict(r.cells)} for r in self.reported],
        }


DEFAULT_STATISTICS = {"confidence": 0.95, "bootstrap_samples": 1000, "seed": 0, "alpha": 0.05}
DEFAULT_RUN = {"device": "auto", "eval_batch_size": 64, "num_workers": 0}


class _Checker:
    def __init__(self, where: str):
        self.where = where

    def fail(self, key: str, message: str) -> None:
        raise ConfigError(f"{self.where}: {key}: {message}")

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(key, f"must be a mapping, got {type(value).__name__}")
        return value

    def keys(self, value: Mapping[str, Any], known: Sequence[str], key: str) -> None:
        check_known_keys(value, known, owner=f"{self.where}: {key}", error=ConfigError)

    def text(self, value: Any, key: str, *, plain: bool = False) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, got {value!r}")
        if plain and (set(value) - _PLAIN_CHARS or value.startswith(".")):
            self.fail(key, f"{value!r} names a folder of results: use letters, digits and _ . - + "
                           f"(not starting with '.')")
        return value

    def strings(self, value: Any, key: str, *, plain: bool = False) -> Tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, (list, tuple)):
            self.fail(key, f"must be a list of strings, got {type(value).__name__}")
        return tuple(self.text(v, f"{key}[{i}]", plain=plain) for i, v in enumerate(value))

    def once(self, values: Sequence[str], key: str) -> None:
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            self.fail(key, f"lists {', '.join(map(repr, twice))} more than once")

    def number(self, value: Any, key: str, *, low: float, high: Optional[float] = None, integer: bool = False) -> Any:
        """``value`` when it is a finite number (an integer, with ``integer``) in [low, high];
        else a ConfigError naming the key, the value and the range. Integers stop at
        :data:`MAX_INTEGER` (seeds reach torch's generators and name folders)."""
        if integer and high is None:
            high = MAX_INTEGER
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if (isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value))
                or not low <= value <= (math.inf if high is None else high)):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            self.fail(key, f"must be {_range_text(low, high, integer)}, got {shown}")
        return value


def _range_text(low: float, high: Optional[float], integer: bool) -> str:
    """``an integer >= 1``, ``a number in [0.5, 0.999]``: what a numeric key accepts."""
    kind = "an integer" if integer else "a finite number"
    if high is None or (integer and high == MAX_INTEGER):
        return f"{kind} >= {low}" + (" (at most 2**63 - 1)" if integer and high == MAX_INTEGER else "")
    return f"{kind} in [{low}, {high}]"


def load_manifest(path: PathLike) -> Manifest:
    """Read and validate a manifest; every problem is one ``ConfigError`` naming the key."""
    from omegaconf import OmegaConf

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"leaderboard manifest not found: {path}")
    try:
        data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as e:
        raise ConfigError(f"could not read the leaderboard manifest {path}: {e}".replace("\n", " ")) from None
    return manifest_from_dict(data, where=str(path))


def manifest_from_dict(data: Any, *, where: str = "manifest") -> Manifest:
    c = _Checker(where)
    data = c.mapping(data, "<top level>")
    c.keys(data, TOP_KEYS, "<top level>")
    for key in ("name", "benchmarks", "entries"):
        if key not in data:
            c.fail(key, "is required")
    name = c.text(data["name"], "name", plain=True)
    run, stats = _run_and_statistics(c, data)
    benchmarks = _benchmarks(c, data["benchmarks"])
    entries = _entries(c, data["entries"], benchmarks)
    reported = _reported(c, data.get("reported") or [], benchmarks, {e.name for e in entries})
    output_dir = data.get("output_dir") or f"output/leaderboards/{name}"
    return Manifest(name=name, path=where, output_dir=str(c.text(output_dir, "output_dir")), benchmarks=benchmarks,
                    entries=entries, reported=reported, run=run, statistics=stats, source=dict(data))


def _run_and_statistics(c: _Checker, data: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    run = dict(DEFAULT_RUN)
    run.update(c.mapping(data.get("run") or {}, "run"))
    c.keys(run, RUN_KEYS, "run")
    if run["device"] not in ("auto", "cpu", "cuda"):
        c.fail("run.device", f"must be auto, cpu or cuda, got {run['device']!r}")
    c.number(run["eval_batch_size"], "run.eval_batch_size", low=1, integer=True)
    c.number(run["num_workers"], "run.num_workers", low=0, integer=True)

    stats = dict(DEFAULT_STATISTICS)
    stats.update(c.mapping(data.get("statistics") or {}, "statistics"))
    c.keys(stats, STATISTICS_KEYS, "statistics")
    c.number(stats["confidence"], "statistics.confidence", low=0.5, high=0.999)
    c.number(stats["bootstrap_samples"], "statistics.bootstrap_samples", low=100, high=100_000, integer=True)
    c.number(stats["seed"], "statistics.seed", low=0, integer=True)
    c.number(stats["alpha"], "statistics.alpha", low=1e-6, high=0.5)
    return run, stats


def _benchmarks(c: _Checker, raw: Any) -> Dict[str, BenchmarkSpec]:
    benchmarks: Dict[str, BenchmarkSpec] = {}
    raw_benchmarks = c.mapping(raw, "benchmarks")
    if not raw_benchmarks:
        c.fail("benchmarks", "lists no benchmark")
    for bname, spec in raw_benchmarks.items():
        key = f"benchmarks.{bname}"
        c.text(bname, key, plain=True)
        spec = c.mapping(spec, key)
        c.keys(spec, BENCHMARK_KEYS, key)
        if "config" not in spec:
            c.fail(f"{key}.config", "is required (a gf run config whose datasets: section holds the benchmark)")
        if not spec.get("splits"):
            c.fail(f"{key}.splits", "is required: the splits to evaluate, e.g. [val, test]")
        splits = c.strings(spec["splits"], f"{key}.splits", plain=True)
        if len(set(splits)) != len(splits):
            c.fail(f"{key}.splits", f"lists a split twice: {list(splits)}")
        dataset = spec.get("dataset")
        probes, probe_seed = _probes(c, spec, key)
        benchmarks[bname] = BenchmarkSpec(
            name=bname, config=c.text(spec["config"], f"{key}.config"),
            dataset=c.text(dataset, f"{key}.dataset") if dataset is not None else None,
            options=c.strings(spec.get("options"), f"{key}.options"), splits=splits, probes=probes,
            probe_seed=probe_seed)
    return benchmarks


def _probes(c: _Checker, spec: Mapping[str, Any], key: str) -> Tuple[Tuple[str, ...], int]:
    """A benchmark's ``probes:`` (registered probe names, each once) and ``probe_seed:``."""
    if "probe_seed" in spec and not spec.get("probes"):
        c.fail(f"{key}.probe_seed", "is given but probes: lists no probe; add probes: [...] or drop it")
    probe_seed = c.number(spec.get("probe_seed", 0), f"{key}.probe_seed", low=0, integer=True)
    if spec.get("probes") is None:
        return (), probe_seed
    probes = c.strings(spec["probes"], f"{key}.probes")
    if not probes:
        c.fail(f"{key}.probes", "is empty: list probe names (e.g. [shuffle, reverse, static, zeros]) or drop the key")
    from gf.common.utils import did_you_mean
    from gf.probes import probe_names

    known = probe_names()
    for i, probe in enumerate(probes):
        if probe not in known:
            c.fail(f"{key}.probes[{i}]", f"unknown probe {probe!r}.{did_you_mean(probe, known)} Known probes: "
                                         f"{', '.join(known)}")
    c.once(probes, f"{key}.probes")
    for i, probe in enumerate(probes):  # each names a folder of results
        c.text(probe, f"{key}.probes[{i}]", plain=True)
    return probes, probe_seed


def _entries(c: _Checker, raw_entries: Any, benchmarks: Mapping[str, BenchmarkSpec]) -> List[EntrySpec]:
    entries: List[EntrySpec] = []
    if not isinstance(raw_entries, list) or not raw_entries:
        c.fail("entries", "must be a non-empty list of entries")
    seen = set()
    for i, spec in enumerate(raw_entries):
        spec = c.mapping(spec, f"entries[{i}]")
        ename = c.text(spec.get("name"), f"entries[{i}].name", plain=True)
        key = f"entries[{i}] ({ename})"
        c.keys(spec, ENTRY_KEYS, key)
        if ename in seen:
            c.fail(f"{key}.name", "is used by two entries; names must be unique")
        seen.add(ename)
        has_model = any(k in spec for k in ("checkpoint", "checkpoints", "config"))
        if has_model == ("predictions" in spec):
            c.fail(key, "give either config + checkpoint (a model to evaluate), config + checkpoints (a seed "
                        "group) or predictions (files to score)")
        entries.append((_model_entry if has_model else _predictions_entry)(c, spec, key, ename, benchmarks))
    return entries


def _model_entry(c: _Checker, spec: Mapping[str, Any], key: str, name: str,
                 benchmarks: Mapping[str, BenchmarkSpec]) -> EntrySpec:
    if not spec.get("config"):
        c.fail(f"{key}.config", "is required for a model entry")
    if "checkpoint" in spec and "checkpoints" in spec:
        c.fail(f"{key}.checkpoints", "and checkpoint: are both given; give checkpoint: (one checkpoint) or "
                                     "checkpoints: (a seed group), not both")
    if "seeds" in spec and "checkpoints" not in spec:
        c.fail(f"{key}.seeds", "is only for a seed group (checkpoints:); a single checkpoint has no seeds")
    wanted = spec.get("benchmarks")
    wanted = c.strings(wanted, f"{key}.benchmarks") if wanted is not None else None
    if wanted is not None and not wanted:
        c.fail(f"{key}.benchmarks", "is empty, so the entry would evaluate nothing; list benchmarks or drop "
                                    "the key (every benchmark)")
    for b in wanted or ():
        if b not in benchmarks:
            c.fail(f"{key}.benchmarks", f"{b!r} is not under benchmarks: ({', '.join(benchmarks)})")
    common = dict(name=name, config=c.text(spec["config"], f"{key}.config"),
                  options=_entry_options(c, spec.get("options"), f"{key}.options"), benchmarks=wanted)
    if "checkpoints" in spec:
        checkpoints, seeds, pattern = _seed_group(c, spec, key)
        return EntrySpec(**common, checkpoints=checkpoints, seeds=seeds, checkpoints_pattern=pattern)
    if not spec.get("checkpoint"):
        c.fail(f"{key}.checkpoint", "is required for a model entry (or checkpoints: for a seed group)")
    return EntrySpec(**common, checkpoint=c.text(spec["checkpoint"], f"{key}.checkpoint"))


#: what an entry's options may set besides ``model.*``: the rest of its config is not read
#: (the data is the benchmark's; device, batch size and workers are the manifest's run:)
ENTRY_OPTION_KEYS = ("plugins", "run.amp")


def _entry_options(c: _Checker, value: Any, key: str) -> Tuple[str, ...]:
    """An entry's options; one that sets what the entry does not use (``datasets.*``, most of
    ``run.*``) would be silently ignored, so it is refused before any work."""
    options = c.strings(value, key)
    for i, option in enumerate(options):
        name = option.split("=", 1)[0].strip()
        if "=" in option and name == "model.checkpoint":  # the entry's checkpoint(s): key is the one scored
            c.fail(f"{key}[{i}]", f"{option!r} would be ignored: the entry's checkpoint: (or checkpoints:) key "
                                  f"names what is scored; set the file there")
        if "=" in option and name not in ENTRY_OPTION_KEYS and name.split(".", 1)[0] != "model":
            c.fail(f"{key}[{i}]", f"{option!r} sets {name}, which an entry does not use: only model.* options, "
                                  f"run.amp and plugins apply to an entry; dataset options belong under "
                                  f"benchmarks.<name>.options, device, eval_batch_size and num_workers under run:")
    return options


def _seed_group(c: _Checker, spec: Mapping[str, Any],
                key: str) -> Tuple[Tuple[str, ...], Tuple[int, ...], Optional[str]]:
    """A group's checkpoints and seeds, ordered by seed (where each seed comes from:
    docs/leaderboards.md, "Seed groups")."""
    raw, pattern = spec["checkpoints"], None
    if isinstance(raw, str):
        pattern = c.text(raw, f"{key}.checkpoints")
        paths = tuple(sorted(glob.glob(os.path.expanduser(pattern), recursive=True)))
        if not paths:
            c.fail(f"{key}.checkpoints", f"the pattern {pattern!r} matches no file (relative to "
                                         f"{os.getcwd()}); train the seeds first, or fix the pattern")
    else:
        paths = c.strings(raw, f"{key}.checkpoints")
        if not paths:
            c.fail(f"{key}.checkpoints", "is empty: list the group's checkpoints, or give a glob pattern")
        c.once(paths, f"{key}.checkpoints")
    if spec.get("seeds") is not None:
        seeds = spec["seeds"]
        if not isinstance(seeds, (list, tuple)):
            c.fail(f"{key}.seeds", f"must be a list of integers, got {type(seeds).__name__}")
        seeds = tuple(c.number(s, f"{key}.seeds[{i}]", low=0, integer=True) for i, s in enumerate(seeds))
        if len(seeds) != len(paths):
            found = f"the pattern {pattern!r} matches" if pattern else "checkpoints: lists"
            c.fail(f"{key}.seeds", f"lists {len(seeds)} seeds but {found} {len(paths)} checkpoints; the lengths "
                                   f"must be equal")
        source = "seeds:"
    else:
        seeds, source = _implied_seeds(paths)
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        clash = [f"{p} (seed {s})" for p, s in zip(paths, seeds) if s in repeated]
        c.fail(f"{key}.seeds", f"seed {', '.join(map(str, repeated))} is given to several checkpoints (seeds from "
                               f"{source}): {', '.join(clash)}; give each its own seed with seeds: [...]")
    order = sorted(range(len(paths)), key=lambda i: seeds[i])
    return tuple(paths[i] for i in order), tuple(int(seeds[i]) for i in order), pattern


def _implied_seeds(paths: Sequence[str]) -> Tuple[Tuple[int, ...], str]:
    """Seeds when ``seeds:`` is not given: the ``seed<N>`` folders, else the checkpoints'
    stored ``run.seed``, else the positions; with where they came from."""
    from_paths = [seed_from_path(p) for p in paths]
    if all(s is not None for s in from_paths):
        return tuple(from_paths), "the seed<N> folders"
    stored = [stored_seed(p) for p in paths]
    if all(s is not None for s in stored):
        return tuple(stored), "the checkpoints' run.seed"
    return tuple(range(len(paths))), "the positions"


def seed_from_path(path: str) -> Optional[int]:
    """N of the innermost ``seed<N>`` folder in ``path`` (``.../seed3/checkpoint_best.pth``: 3),
    named as gf writes it (:func:`gf.runners.run_layout.seed_of_folder`)."""
    seeds = (seed_of_folder(part) for part in reversed(PurePath(path).parts[:-1]))
    return next((seed for seed in seeds if seed is not None), None)


def stored_seed(path: str) -> Optional[int]:
    """``run.seed`` of the config a local gf checkpoint was trained with, or None (not a
    local file, not a gf checkpoint, no seed recorded, unreadable)."""
    if not Path(path).expanduser().is_file():
        return None
    try:
        from gf.models.checkpoint import read_checkpoint

        seed = read_checkpoint(Path(path).expanduser(), mmap=True).run_config["run"]["seed"]
    except Exception:  # any reason not to know: the caller falls back to the positions
        return None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else None


def _predictions_entry(c: _Checker, spec: Mapping[str, Any], key: str, name: str,
                       benchmarks: Mapping[str, BenchmarkSpec]) -> EntrySpec:
    predictions: Dict[str, Dict[str, str]] = {}
    for b, files in c.mapping(spec["predictions"], f"{key}.predictions").items():
        if b not in benchmarks:
            c.fail(f"{key}.predictions", f"{b!r} is not under benchmarks: ({', '.join(benchmarks)})")
        files = c.mapping(files, f"{key}.predictions.{b}")
        for split, file in files.items():
            if split not in benchmarks[b].splits:
                c.fail(f"{key}.predictions.{b}.{split}", f"benchmarks.{b}.splits does not list {split!r} "
                                                         f"({', '.join(benchmarks[b].splits)})")
            c.text(file, f"{key}.predictions.{b}.{split}")
        predictions[b] = dict(files)
    if not any(predictions.values()):
        c.fail(f"{key}.predictions", "names no file")
    return EntrySpec(name=name, predictions=predictions)


def _reported(c: _Checker, raw_reported: Any, benchmarks: Mapping[str, BenchmarkSpec],
              measured: set) -> List[ReportedFigure]:
    reported: List[ReportedFigure] = []
    if not isinstance(raw_reported, list):
        c.fail("reported", "must be a list")
    for i, spec in enumerate(raw_reported):
        key = f"reported[{i}]"
        spec = c.mapping(spec, key)
        c.keys(spec, REPORTED_KEYS, key)
        for needed in ("name", "benchmark", "split", "source"):
            if not spec.get(needed):
                c.fail(f"{key}.{needed}", "is required (a reported figure always says where it comes from)")
        if spec["benchmark"] not in benchmarks:
            c.fail(f"{key}.benchmark", f"{spec['benchmark']!r} is not under benchmarks: ({', '.join(benchmarks)})")
        if spec["split"] not in benchmarks[spec["benchmark"]].splits:
            c.fail(f"{key}.split", f"{spec['split']!r} is not among benchmarks.{spec['benchmark']}.splits")
        if spec["name"] in measured:
            c.fail(f"{key}.name", f"{spec['name']!r} is also a measured entry; a reported figure needs its own name")
        score = spec.get("score")
        if score is not None:
            c.number(score, f"{key}.score", low=0, high=100)
        cells = c.mapping(spec.get("cells") or {}, f"{key}.cells")
        for cell, value in cells.items():
            c.number(value, f"{key}.cells.{cell}", low=0, high=100)
        if score is None and not cells:
            c.fail(key, "gives neither score nor cells")
        reported.append(ReportedFigure(name=c.text(spec["name"], f"{key}.name"), benchmark=spec["benchmark"],
                                       split=spec["split"], source=c.text(spec["source"], f"{key}.source"),
                                       score=None if score is None else float(score),
                                       cells={k: float(v) for k, v in cells.items()}))
    return reported
