"""Evaluating work items in this process: what ``gf leaderboard run`` computes, one item at a time.

:mod:`.engine` plans the work and runs it here (one process) or through :mod:`.parallel`
(``--jobs N``, each process running :func:`evaluate_items`); the reasons for the way the
work is organised are in :mod:`.engine`.
"""
from __future__ import annotations

import logging
import socket
import subprocess
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from gf.common.errors import ConfigError, EvaluationError, GfError, OutputLockedError
from gf.common.io import atomic_write_json
from gf.common.utils import utc_now
from gf.datasets.split_provenance import SplitProvenance
from gf.leaderboards.freshness import (
    SOURCE_ROLES,
    FileHashes,
    file_problems,
    read_done,
    read_result_files,
    result_files,
    spec_hash,
    split_file_states,
)
from gf.leaderboards.manifest import Manifest
from gf.leaderboards.prediction_files import read_predictions
from gf.leaderboards.results import ResultPaths, TAG, canonical_hash, result_key
from gf.leaderboards.split_records import SplitRecords
from gf.leaderboards.text_pool import FrozenTextEncoderPool
from gf.version import __version__

__all__ = ["Evaluation", "RunSummary", "WorkItem", "evaluate_items"]

logger = logging.getLogger("gf.leaderboard")


@dataclass(frozen=True)
class WorkItem:
    """One result to compute: an entry (one seed of it, for a seed group) on one split,
    unperturbed or under one temporal probe."""

    entry: str
    benchmark: str
    split: str
    seed: Optional[int] = None  # a seed group's member; None for a single checkpoint or predictions
    probe: Optional[str] = None       # a probe's name; None: the split as it is
    probe_seed: Optional[int] = None  # the probe's seed (with probe)

    @property
    def member(self) -> str:
        """The entry as the board names this result: ``name`` or ``name (seed N)``."""
        return self.entry if self.seed is None else f"{self.entry} (seed {self.seed})"

    def __str__(self) -> str:
        where = f"{self.member} / {self.benchmark} / {self.split}"
        return where if self.probe is None else f"{where} / probe {self.probe} (seed {self.probe_seed})"


@dataclass
class RunSummary:
    """What one ``gf leaderboard run`` did: counts by outcome and the failures' messages."""

    computed: List[WorkItem] = field(default_factory=list)
    cached: List[WorkItem] = field(default_factory=list)
    busy: List[WorkItem] = field(default_factory=list)       # locked by another process
    failed: Dict[WorkItem, str] = field(default_factory=dict)

    def add(self, item: WorkItem, outcome: str, error: Optional[str] = None) -> None:
        """Count ``item`` under its outcome ("computed", "cached", "busy" or "failed")."""
        if outcome == "failed":
            self.failed[item] = error
        else:
            getattr(self, outcome).append(item)


def _git_commit() -> Optional[str]:
    """The commit of the gf source tree, when gf runs from a git checkout."""
    package_root = Path(__file__).resolve().parents[2]  # the folder holding the gf package
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=package_root, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != package_root:
        return None  # gf installed inside some other repository: its commit says nothing about gf
    return lines[1]


class Evaluation:
    """Evaluates work items in this process, sharing datasets and text encoders between them."""

    def __init__(self, manifest: Manifest, root: Path, run_id: str):
        self.manifest = manifest
        self.root = root
        self.run_id = run_id
        self.commit = _git_commit()
        self.host = socket.gethostname()
        self._benchmark_cfg: Dict[str, Any] = {}
        self._builders: Dict[str, Any] = {}
        self._tasks: Dict[str, Any] = {}
        self._built: Dict[Tuple[str, str, bool], Any] = {}    # (benchmark, split, features) -> BuiltDataset
        self._fingerprints: Dict[Tuple[str, str, bool], Optional[str]] = {}
        self._coverages: Dict[Tuple[Any, ...], Dict[str, Any]] = {}  # see _coverage
        self.hashes = FileHashes()  # each file hashed once, or not at all when its record still fits
        self.splits = SplitRecords(root)
        self._manifest_dict = manifest.to_dict()
        self._model_key: Optional[Tuple[str, str]] = None
        self._model: Any = None
        self.text_pool = FrozenTextEncoderPool()
        self.builds = 0  # datasets built in this process (measured by the benchmark script)

    # -- data -----------------------------------------------------------------------------
    def benchmark_config(self, name: str):
        if name not in self._benchmark_cfg:
            spec = self.manifest.benchmarks[name]
            cfg = self._build_config(spec.config, list(spec.options), f"benchmarks.{name}")
            dataset = spec.dataset
            if dataset is None:
                if len(cfg.datasets) != 1:
                    raise ConfigError(f"{self.manifest.path}: benchmarks.{name}: {spec.config} lists several datasets "
                                      f"({', '.join(cfg.datasets)}); say which with dataset:")
                dataset = next(iter(cfg.datasets))
            elif dataset not in cfg.datasets:
                raise ConfigError(f"{self.manifest.path}: benchmarks.{name}.dataset is {dataset!r}, which is not "
                                  f"under datasets: in {spec.config} ({', '.join(cfg.datasets)})")
            self._benchmark_cfg[name] = (cfg, dataset)
        return self._benchmark_cfg[name]

    def builder(self, name: str):
        if name not in self._builders:
            from gf.common.config import make_builder

            cfg, dataset = self.benchmark_config(name)
            self._builders[name] = make_builder(dataset, cfg.datasets[dataset])
        return self._builders[name]

    def task(self, benchmark: str):
        """The registered task of the benchmark's config (``run.task``), which scores every
        result on it: a plugin's task scores its board as it scores its runs."""
        if benchmark not in self._tasks:
            from gf.common.registry import registry

            cfg, _ = self.benchmark_config(benchmark)
            self._tasks[benchmark] = registry.get_task_class(cfg.run.task)()
        return self._tasks[benchmark]

    def scores_without_features(self, benchmark: str) -> bool:
        """Whether this benchmark's builder can build and fingerprint a split for scoring only
        (gf's builders can; a plugin's may not, and then its predictions entries need the
        features like a model does)."""
        from gf.runners.build import builds_without_features

        builder = self.builder(benchmark)
        return getattr(builder, "split_fingerprint", None) is not None and builds_without_features(builder)

    def fingerprint(self, benchmark: str, split: str, features: bool = True) -> Optional[str]:
        """The split's fingerprint; ``features=False``: of what scoring reads only (its annotations)."""
        features = features or not self.scores_without_features(benchmark)
        key = (benchmark, split, features)
        if key not in self._fingerprints:
            builder = self.builder(benchmark)
            fp = getattr(builder, "split_fingerprint", None)
            # gf's builders hash the text files through this run's cache, which the split's
            # record (split_file_states) then reads instead of hashing each file again
            how = {"sha256": self.hashes.sha256} if isinstance(builder, SplitProvenance) else {}
            self._fingerprints[key] = None if fp is None else fp(split, **({} if features else {"features": False}),
                                                                 **how)
        return self._fingerprints[key]

    def dataset(self, benchmark: str, split: str, features: bool = True):
        """The built split, shared by every entry this process evaluates on it. ``features=False``
        (predictions entries): built without opening the feature store, which scoring does not
        read; a split already built with its features serves as well."""
        features = features or not self.scores_without_features(benchmark)
        if not features and (benchmark, split, True) in self._built:
            return self._built[(benchmark, split, True)]
        key = (benchmark, split, features)
        if key not in self._built:
            from gf.runners.build import build_split_set

            _, name = self.benchmark_config(benchmark)
            self._built[key] = build_split_set(name, self.builder(benchmark), [split], features=features,
                                               indexed=True)
            self.builds += 1
            self._save_split(benchmark, split, self._built[key])
        return self._built[key]

    def _save_split(self, benchmark: str, split: str, ds) -> None:
        """The split's record for the board (built without features: see
        ``split_records._without_features``)."""
        fingerprint = self.fingerprint(benchmark, split) if ds.features else None
        listing = getattr(self.builder(benchmark), "split_data_files", None)
        data_files = None if listing is None else split_file_states(listing(split, features=ds.features), self.hashes)
        self.splits.save(benchmark, split, ds, fingerprint, self.fingerprint(benchmark, split, features=False),
                         data_files=data_files, plugins=list(self.benchmark_config(benchmark)[0].plugins or []))

    # -- one item -------------------------------------------------------------------------
    def paths(self, item: WorkItem) -> ResultPaths:
        return ResultPaths(self.root, item.entry, item.benchmark, item.split, seed=item.seed, probe=item.probe,
                           probe_seed=item.probe_seed)

    def entry_config(self, item: WorkItem):
        entry = self.manifest.entry(item.entry)
        run = self.manifest.run
        # the board's own values are typed values, not option text: a path holding ' #' or
        # '${' is read as that path, as `gf evaluate --checkpoint` reads it
        flags = {"model": {"checkpoint": str(entry.checkpoint_for(item.seed))},
                 "run": {"device": run["device"], "eval_batch_size": run["eval_batch_size"],
                         "num_workers": run["num_workers"], "progress": False,
                         "output_dir": str(self.paths(item).folder)}}
        index = [e.name for e in self.manifest.entries].index(entry.name)
        return self._build_config(entry.config, list(entry.options), f"entries[{index}] ({entry.name})", flags)

    def _build_config(self, path: str, options: List[str], key: str, flags: Optional[Mapping[str, Any]] = None):
        """The config with the manifest's options; an error in them names the manifest and
        ``<key>.options`` (the user never typed --options here). ``flags``: the board's own
        values (the entry's checkpoint, the manifest's run settings), named as the manifest's."""
        from gf.common.config import build_config

        return build_config(path, options, options_name=f"{self.manifest.path}: {key}.options", flags=flags,
                            flags_name=f"{self.manifest.path}: {key}")

    def _source(self, item: WorkItem) -> Tuple[Path, str]:
        """The checkpoint (resolved to a local file) or predictions file, and its sha256, always
        read from the file: it makes the result's key, and a file replaced by another of the
        same size and mtime (``cp -p``, ``rsync -t``) must not keep the old key (the board's
        quick check may trust size and mtime; the key may not). So a run hashes every source,
        kept results included: this comes before ``_kept``, which needs the key."""
        entry = self.manifest.entry(item.entry)
        if entry.kind == "predictions":
            path = Path(entry.predictions[item.benchmark][item.split])
            if not path.is_file():
                raise EvaluationError(f"entry {item.entry}: predictions file {path} not found")
            return path, self.hashes.sha256(path)
        from gf.models import zoo

        path = Path(zoo.resolve_checkpoint(entry.checkpoint_for(item.seed), progress=False))
        return path, self.hashes.sha256(path)

    def _inputs(self, item: WorkItem, source: Path, kept: Optional[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
        """What the result is computed from, as :mod:`.freshness` records it: the source file
        and the config files (the entry's, the benchmark's)."""
        entry = self.manifest.entry(item.entry)
        recorded = (kept or {}).get("inputs") or {}
        files = {SOURCE_ROLES[entry.kind]: source, "benchmark config": self.manifest.benchmarks[item.benchmark].config}
        if entry.config:
            files["config"] = entry.config
        return {role: self.hashes.state(path, recorded.get(role)) for role, path in files.items()}

    def _kept(self, item: WorkItem, paths: ResultPaths, key: str, fingerprint: Optional[str], scope: str,
              kept: Optional[Dict[str, Any]]) -> bool:
        """Whether the kept result is this item's, current and whole: its key, the split it was
        computed on, and its own files as written (else it is computed again, with the reason
        logged)."""
        if not kept or kept.get("key") != key or not self.splits.is_current(item.benchmark, item.split, fingerprint, scope):
            return False
        if "files" in kept:
            problems = file_problems(paths, kept["files"], self.hashes)
        else:  # kept by an older gf: the files are read whole once, then recorded
            _, _, problems = read_result_files(paths, self.splits.question_ids(item.benchmark, item.split))
        if problems:
            logger.warning("%s: %s; computing it again", item, "; ".join(problems))
        return not problems

    def _spec(self, item: WorkItem) -> Optional[str]:
        return spec_hash(self._manifest_dict, item.entry, item.benchmark, item.split, item.seed)

    def _config_hash(self, item: WorkItem, cfg) -> str:
        from gf.common.config import to_dict

        bench_cfg, dataset = self.benchmark_config(item.benchmark)
        what: Dict[str, Any] = {"dataset": dataset, "dataset_config": to_dict(bench_cfg.datasets[dataset])}
        if cfg is not None:
            model = {k: v for k, v in to_dict(cfg.model).items() if k != "checkpoint"}
            from gf.runners.runner_base import pick_device

            # mixed precision (CUDA only) and the device change the figures too
            what.update(model=model, task=cfg.run.task, amp=cfg.run.amp, device=pick_device(cfg.run.device).type)
        else:
            what["predictions"] = True
        return canonical_hash(what)

    def run(self, item: WorkItem) -> str:
        """Evaluate ``item`` unless its result is already done: "computed", "cached" or "busy".

        Everything happens under the result's lock. Once the result is found out of date,
        its old ``result.json`` is removed before anything else is written, so a failed
        recomputation leaves a failure (``failed.json``, with the error and the key), never
        the old figures looking current."""
        from contextlib import ExitStack

        from gf.common.io import output_lock, remove_stale_temp_files

        paths = self.paths(item)
        with ExitStack() as stack:
            try:
                stack.enter_context(output_lock(paths.folder, "gf leaderboard run"))
            except OutputLockedError:
                return "busy"
            remove_stale_temp_files(paths.folder, recursive=False)  # the probe folders below have their own locks
            key = None
            try:
                entry = self.manifest.entry(item.entry)
                if item.probe is not None and entry.kind != "model":
                    raise ConfigError(f"entry {item.entry}: a predictions entry cannot be probed (no model to run)")
                cfg = self.entry_config(item) if entry.kind == "model" else None
                kept, _ = read_done(paths)  # a damaged result.json is a result to compute again
                source, source_sha = self._source(item)
                config_hash = self._config_hash(item, cfg)
                # scoring a predictions file reads the annotations only: no feature file needed
                features = cfg is not None or not self.scores_without_features(item.benchmark)
                scope = "features" if features else "annotations"
                fingerprint = self.fingerprint(item.benchmark, item.split, features)
                key = result_key(source_sha, fingerprint, config_hash, item.probe, item.probe_seed)
                inputs = self._inputs(item, source, kept)
                if self._kept(item, paths, key, fingerprint, scope, kept):
                    self._refresh(item, paths, kept, inputs)
                    return "cached"
                paths.done.unlink(missing_ok=True)  # it no longer describes what this entry would give now
                provenance = {"gf_version": __version__, "git_commit": self.commit, "config_hash": config_hash,
                              "split_fingerprint": fingerprint, "split_fingerprint_scope": scope,
                              "date": utc_now(), "host": self.host, "result_key": key}
                self._compute(item, paths, cfg, source, source_sha, provenance, inputs)
                return "computed"
            except Exception as error:  # recorded while the lock is held; the caller reports it
                # the kept result was removed above once found out of date; a failure before that
                # (a damaged split record, an unreadable config) is not its own: it stays, and
                # the board's freshness checks decide whether it is current
                atomic_write_json(paths.failed, {**_describe_failure(error), "key": key, "entry": item.entry,
                                                 "seed": item.seed, "benchmark": item.benchmark, "split": item.split,
                                                 **self._probe_fields(item), "run_id": self.run_id})
                raise

    def _refresh(self, item: WorkItem, paths: ResultPaths, kept: Dict[str, Any],
                 inputs: Dict[str, Dict[str, Any]]) -> None:
        """Record the inputs of a result found current as they are now (a file touched
        without a change, a manifest reworded to the same work, a result of an older gf), so
        that the next check is a few ``stat`` calls again."""
        fresh = {"inputs": inputs, "files": result_files(paths, self.hashes, kept.get("files")),
                 "spec": self._spec(item)}
        if any(kept.get(k) != v for k, v in fresh.items()):
            paths.write_done({**kept, **fresh})

    @staticmethod
    def _probe_fields(item: WorkItem) -> Dict[str, Any]:
        return {} if item.probe is None else {"probe": item.probe, "probe_seed": item.probe_seed}

    def _coverage(self, probed, item: WorkItem, scope: str) -> Dict[str, Any]:
        """How many questions' clips the probe changed (its figures mean little without it:
        gf.probes.coverage_warning). A pass over the split: made once per split, probe and
        probe seed, since every entry and seed reads the same data."""
        key = (item.benchmark, item.split, scope, item.probe, item.probe_seed)
        if key not in self._coverages:
            coverage = probed.coverage()
            self._coverages[key] = {k: coverage[k] for k in ("questions", "changed", "unchanged", "reasons")}
        return self._coverages[key]

    def _probed(self, ds, item: WorkItem):
        """The built split under ``item``'s probe (the shared one is left as it is). A probe the
        split cannot take (``swap_events`` without events) is a ConfigError here, before any
        model is loaded."""
        from gf.probes import ProbedDataset

        probed = ProbedDataset(ds.splits[item.split], item.probe, item.probe_seed)
        return replace(ds, splits={**ds.splits, item.split: probed})

    def _compute(self, item: WorkItem, paths: ResultPaths, cfg, source: Path, source_sha: str,
                 provenance: Dict[str, Any], inputs: Dict[str, Dict[str, Any]]) -> None:
        """Predict (or read the predictions file), score through the benchmark's registered
        task (``run.task`` of its config) and save; ``result.json`` last."""
        start = time.perf_counter()
        ds = self.dataset(item.benchmark, item.split, features=provenance["split_fingerprint_scope"] == "features")
        if item.probe is not None:
            ds = self._probed(ds, item)
            probed = ds.splits[item.split]
            provenance.update(probed.provenance())
            provenance["probe_coverage"] = self._coverage(probed, item, provenance["split_fingerprint_scope"])
        if cfg is not None:
            provenance.update(checkpoint=self.manifest.entry(item.entry).checkpoint_for(item.seed),
                              checkpoint_sha256=source_sha, predictions_sha256=None)
            if item.seed is not None:
                provenance["seed"] = item.seed
            predictions = self._predict(item, cfg, ds, source, source_sha)
        else:
            provenance.update(checkpoint=None, checkpoint_sha256=None, predictions=str(source),
                              predictions_sha256=source_sha)
            predictions = read_predictions(source, ds, item.benchmark, item.split)
        from gf.datasets.videoqa import skipped_questions

        split_ds = ds.splits[item.split]
        self.task(item.benchmark).evaluate(ds.benchmark, item.split, predictions, ds.info,
                                           expected_ids=split_ds.question_ids(), output_dir=paths.folder, tag=TAG,
                                           provenance=provenance, skipped=skipped_questions(split_ds))
        paths.write_done({"key": provenance["result_key"], "entry": item.entry, "seed": item.seed,
                          "benchmark": item.benchmark, "split": item.split, **self._probe_fields(item),
                          "evaluator": ds.benchmark, "provenance": provenance, "run_id": self.run_id,
                          "computed_at": utc_now(), "seconds": round(time.perf_counter() - start, 3),
                          "predictions": paths.predictions.name, "report": paths.report.name,
                          "inputs": inputs, "files": result_files(paths, self.hashes), "spec": self._spec(item)})

    def _predict(self, item: WorkItem, cfg, ds, source: Path, source_sha: str) -> Dict[str, Dict[str, Any]]:
        from gf.common.config import to_dict
        from gf.runners.build import build_model, model_config_for
        from gf.runners.runner_base import Runner, pick_device

        model_config = model_config_for(to_dict(cfg.model), ds)
        model_key = (item.entry, source_sha, canonical_hash(model_config))
        if self._model_key != model_key:
            self._model = None  # one model in memory at a time
            model, loaded_from = build_model(cfg, model_config, evaluating=True, datasets={ds.name: ds})
            # rewritten since it was hashed (a training still running?)
            if self.hashes.sha256(Path(loaded_from)) != source_sha:
                raise EvaluationError(f"checkpoint {loaded_from} changed while it was being evaluated (sha256 "
                                      f"{source_sha} when the result's key was made); rerun once it is final")
            self.text_pool.share(model, context=(cfg.run.amp, pick_device(cfg.run.device).type))
            self._model, self._model_key = (model, loaded_from, model_config), model_key
        model, source, model_config = self._model
        runner = Runner(cfg, self.task(item.benchmark), model, {ds.name: ds}, hooks=[], train_dataset=ds.name,
                        device=pick_device(cfg.run.device), model_config=model_config, weights_source=source)
        return runner.predict_split(item.split, ds.name)


def _describe_failure(error: BaseException) -> Dict[str, Any]:
    message = str(error).strip() or type(error).__name__
    record = {"error_type": type(error).__name__, "error": f"{type(error).__name__}: {message}", "date": utc_now()}
    if not isinstance(error, GfError):  # gf's own errors say what to do; anything else is a bug to report
        record["traceback"] = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return record


def evaluate_items(manifest: Manifest, root: Path, items: Sequence[WorkItem], run_id: str,
                   on_item: Optional[Callable[[WorkItem, str, Optional[str]], None]] = None,
                   evaluation: Optional[Evaluation] = None) -> RunSummary:
    """Evaluate ``items`` in this process, in order; one item's failure is recorded and the
    rest go on. ``on_item(item, outcome, error)`` is called after each."""
    evaluation = evaluation or Evaluation(manifest, root, run_id)
    summary = RunSummary()
    for item in items:
        try:
            outcome = evaluation.run(item)
            error = None
        except Exception as e:  # one entry's failure must not stop the others (run() recorded it)
            outcome, error = "failed", _describe_failure(e)["error"]
            logger.debug("%s failed", item, exc_info=True)
        summary.add(item, outcome, error)
        if on_item is not None:
            on_item(item, outcome, error)
    return summary
