"""``gf leaderboard run``: evaluate every (entry, benchmark, split) of a manifest, once.

Why the work is organised this way:

* **Cached by what the figures depend on.** Each result is keyed (:mod:`.results`); a
  rerun skips what is done, a killed run resumes with what is not, and a changed
  checkpoint or split is evaluated again.
* **One failure is one failure.** An entry that cannot be evaluated (a missing file, a
  checkpoint made for another config, NaN scores) is recorded in its ``failed.json`` with
  its error; the other results go on, and the command ends non-zero naming the failures.
* **Shared work.** In one process, every entry evaluated on a benchmark uses the same
  built dataset (one feature store, one set of records), and models whose frozen text
  encoder is the same (name and weights) share it and its cache of encoded texts.
* **A seed group is its checkpoints.** Each checkpoint of an entry with ``checkpoints:``
  is its own work item (:attr:`WorkItem.seed`), result folder and cache key, so a seed
  added later is the only thing computed, and ``jobs`` and shards spread the seeds too.
* **A probe is a result of its own.** A benchmark's ``probes:`` add, per model entry (and
  seed), split and probe, an item (:attr:`WorkItem.probe`) that evaluates the split
  wrapped in :class:`gf.probes.ProbedDataset`, with its own folder inside the unperturbed
  result's and its own key (probe and probe seed included). It comes right after the
  unperturbed item of the same checkpoint, so the model is loaded once for all of them. A
  probe a split cannot take (``swap_events`` without events) fails that item only, before
  any model is loaded.
* **Parallel and distributed.** ``jobs`` spreads entries over processes on one machine;
  ``shard=(i, n)`` takes the i-th of n disjoint parts of the work, so a scheduler's job
  array can spread one leaderboard over machines that share the output folder. Each
  result is written under its own lock, atomically.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import time
import traceback
import uuid
from contextlib import contextmanager
from dataclasses import astuple, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from gf.common.errors import ConfigError, EvaluationError, GfError, OutputLockedError
from gf.common.io import atomic_write_json
from gf.common.utils import utc_now
from gf.leaderboards.manifest import Manifest, manifest_from_dict
from gf.leaderboards.prediction_files import read_predictions
from gf.leaderboards.results import ResultPaths, TAG, canonical_hash, read_json_or_none, result_key, split_file
from gf.leaderboards.text_pool import FrozenTextEncoderPool

__all__ = ["RunSummary", "WorkItem", "parse_shard", "plan", "run_leaderboard", "select_shard"]

logger = logging.getLogger("gf.leaderboard")

#: What the board needs from a builder's info() to re-score without the data.
_INFO_KEYS = ("answer_vocab", "answer_vocab_size", "all_reasoning_types")


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

    def as_tuple(self) -> Tuple[Any, ...]:
        """Plain data for another process (``WorkItem(*t)`` gives it back)."""
        return astuple(self)

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

    def merge(self, other: "RunSummary") -> None:
        self.computed += other.computed
        self.cached += other.cached
        self.busy += other.busy
        self.failed.update(other.failed)


def parse_shard(text: str) -> Tuple[int, int]:
    """``"I/N"`` (0 <= I < N) -> (I, N); SLURM arrays count from 0: ``${SLURM_ARRAY_TASK_ID}/N``."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like I/N with integers (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"--shard {text}: need 0 <= I < N (shards are numbered from 0, as SLURM array ids are)")
    return index, count


def plan(manifest: Manifest, only: Optional[Sequence[str]] = None) -> List[WorkItem]:
    items = [WorkItem(*t) for t in manifest.work_items()]
    if only:
        names = [e.name for e in manifest.entries]
        unknown = [o for o in only if o not in names]
        if unknown:
            from gf.common.utils import did_you_mean

            raise ConfigError(f"--only: no entry named {', '.join(map(repr, unknown))} in {manifest.path}."
                              f"{did_you_mean(unknown[0], names)} Entries: {', '.join(names)}.")
        items = [i for i in items if i.entry in only]
    return items


def select_shard(items: Sequence[WorkItem], shard: Optional[Tuple[int, int]]) -> List[WorkItem]:
    """The shard's items: every n-th from i, so each shard gets a similar mix of entries."""
    if shard is None:
        return list(items)
    index, count = shard
    return [item for k, item in enumerate(items) if k % count == index]


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
        self._built: Dict[Tuple[str, str, bool], Any] = {}    # (benchmark, split, features) -> BuiltDataset
        self._fingerprints: Dict[Tuple[str, str, bool], Optional[str]] = {}
        self._sha256: Dict[Tuple[str, int, int], str] = {}
        self._split_records: Dict[Path, Tuple[Tuple[int, int], Dict[str, Any]]] = {}  # file -> (stat, record)
        self._model_key: Optional[Tuple[str, str]] = None
        self._model: Any = None
        self.text_pool = FrozenTextEncoderPool()
        self.builds = 0  # datasets built in this process (measured by the benchmark script)

    # -- data -----------------------------------------------------------------------------
    def benchmark_config(self, name: str):
        if name not in self._benchmark_cfg:
            from gf.common.config import build_config

            spec = self.manifest.benchmarks[name]
            cfg = build_config(spec.config, list(spec.options))
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
            from gf.common.config import to_dict
            from gf.common.registry import registry

            cfg, dataset = self.benchmark_config(name)
            self._builders[name] = registry.get_builder_class(dataset)(to_dict(cfg.datasets[dataset]))
        return self._builders[name]

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
            fp = getattr(self.builder(benchmark), "split_fingerprint", None)
            self._fingerprints[key] = None if fp is None else (fp(split) if features else fp(split, features=False))
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
            from gf.runners.runner_base import BuiltDataset

            builder = self.builder(benchmark)
            _, name = self.benchmark_config(benchmark)
            from torch.utils.data import IterableDataset

            built = builder.build_datasets([split]) if features else builder.build_datasets([split], features=False)
            # a streamed training split is scored by index, every question once
            splits = {name: (ds.dataset if isinstance(ds, IterableDataset) else ds) for name, ds in built.items()}
            self.builds += 1
            self._built[key] = BuiltDataset(name=name, benchmark=builder.benchmark, answer_mode=builder.answer_mode,
                                            info=dict(builder.info() if features else builder.info(features=False)),
                                            splits=dict(splits), features=features,
                                            fingerprint=getattr(builder, "split_fingerprint", None))
            self._save_split(benchmark, split, self._built[key])
        return self._built[key]

    def _save_split(self, benchmark: str, split: str, ds) -> None:
        """What the board needs of the split, once, under the split record's own lock (so a
        write that a kill interrupted is cleaned up by the next writer). Processes of one
        leaderboard write the same content, so one that finds the lock held leaves it."""
        from gf.common.io import output_lock, remove_stale_temp_files

        path = split_file(self.root, benchmark, split)
        try:
            lock = output_lock(path.parent, "gf leaderboard run")
            lock.__enter__()
        except OutputLockedError:
            return
        try:
            remove_stale_temp_files(path.parent)
            existing = read_json_or_none(path, "leaderboard split record") or {}
            annotations = self.fingerprint(benchmark, split, features=False)
            # built without features: the full fingerprint cannot be taken; the one on record stays
            fingerprint = self.fingerprint(benchmark, split) if ds.features else existing.get("fingerprint")
            if (existing.get("fingerprint") == fingerprint and existing.get("annotations_fingerprint") == annotations
                    and annotations is not None):
                return
            info = {k: ds.info[k] for k in _INFO_KEYS if ds.info.get(k) is not None}
            atomic_write_json(path, {"benchmark": benchmark, "split": split, "evaluator": ds.benchmark,
                                     "fingerprint": fingerprint, "annotations_fingerprint": annotations,
                                     "info": info, "videos": ds.splits[split].video_ids()}, indent=None)
        finally:
            lock.__exit__(None, None, None)

    def sha256(self, path: Path) -> str:
        from gf.common.download import sha256sum

        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in self._sha256:
            self._sha256[key] = sha256sum(path)
        return self._sha256[key]

    # -- one item -------------------------------------------------------------------------
    def paths(self, item: WorkItem) -> ResultPaths:
        return ResultPaths(self.root, item.entry, item.benchmark, item.split, seed=item.seed, probe=item.probe,
                           probe_seed=item.probe_seed)

    def entry_config(self, item: WorkItem):
        from gf.common.config import build_config

        entry = self.manifest.entry(item.entry)
        run = self.manifest.run
        options = [*entry.options, f"model.checkpoint={entry.checkpoint_for(item.seed)}",
                   f"run.device={run['device']}", f"run.eval_batch_size={run['eval_batch_size']}",
                   f"run.num_workers={run['num_workers']}", "run.progress=false",
                   f"run.output_dir={self.paths(item).folder}"]
        return build_config(entry.config, options)

    def _source(self, item: WorkItem) -> Tuple[Path, str]:
        entry = self.manifest.entry(item.entry)
        if entry.kind == "predictions":
            path = Path(entry.predictions[item.benchmark][item.split])
            if not path.is_file():
                raise EvaluationError(f"entry {item.entry}: predictions file {path} not found")
            return path, self.sha256(path)
        from gf.models import zoo

        path = Path(zoo.resolve_checkpoint(entry.checkpoint_for(item.seed), progress=False))
        return path, self.sha256(path)

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

    def _split_is_current(self, item: WorkItem, fingerprint: Optional[str], scope: str = "features") -> bool:
        """The saved split record describes the split as it is now (a run on another version
        of the data rewrites it, and results keyed to the old one are then not trusted).
        ``scope``: which of its fingerprints the result was keyed by (``features``, or
        ``annotations`` for a predictions entry scored without the features)."""
        path = split_file(self.root, item.benchmark, item.split)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._split_records.get(path)
        if cached is None or cached[0] != stamp:  # the record lists every question: read it once, not per item
            record = read_json_or_none(path, "leaderboard split record") or {}
            cached = self._split_records[path] = (stamp, {k: record.get(k) for k in RECORD_FINGERPRINTS.values()})
        return cached[1].get(RECORD_FINGERPRINTS[scope]) == fingerprint

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
                source, source_sha = self._source(item)
                config_hash = self._config_hash(item, cfg)
                # scoring a predictions file reads the annotations only: no feature file needed
                features = cfg is not None or not self.scores_without_features(item.benchmark)
                scope = "features" if features else "annotations"
                fingerprint = self.fingerprint(item.benchmark, item.split, features)
                key = result_key(source_sha, fingerprint, config_hash, item.probe, item.probe_seed)
                if paths.is_done(key) and self._split_is_current(item, fingerprint, scope):
                    return "cached"
                paths.clear_done()
                provenance = {"gf_version": _gf_version(), "git_commit": self.commit, "config_hash": config_hash,
                              "split_fingerprint": fingerprint, "split_fingerprint_scope": scope,
                              "date": utc_now(), "host": self.host, "result_key": key}
                self._compute(item, paths, cfg, source, source_sha, provenance)
                return "computed"
            except Exception as error:  # recorded while the lock is held; the caller reports it
                paths.clear_done()
                paths.write_failed({**_describe_failure(error), "key": key, "entry": item.entry, "seed": item.seed,
                                    "benchmark": item.benchmark, "split": item.split,
                                    **self._probe_fields(item), "run_id": self.run_id})
                raise

    @staticmethod
    def _probe_fields(item: WorkItem) -> Dict[str, Any]:
        return {} if item.probe is None else {"probe": item.probe, "probe_seed": item.probe_seed}

    def _probed(self, ds, item: WorkItem):
        """The built split under ``item``'s probe (the shared one is left as it is). A probe the
        split cannot take (``swap_events`` without events) is a ConfigError here, before any
        model is loaded."""
        from gf.probes import ProbedDataset

        probed = ProbedDataset(ds.splits[item.split], item.probe, item.probe_seed)
        return replace(ds, splits={**ds.splits, item.split: probed})

    def _compute(self, item: WorkItem, paths: ResultPaths, cfg, source: Path, source_sha: str,
                 provenance: Dict[str, Any]) -> None:
        """Predict (or read the predictions file), score and save; ``result.json`` last."""
        from gf.tasks.videoqa import VideoQATask

        start = time.perf_counter()
        ds = self.dataset(item.benchmark, item.split, features=provenance["split_fingerprint_scope"] == "features")
        if item.probe is not None:
            ds = self._probed(ds, item)
            provenance.update(ds.splits[item.split].provenance())
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
        split_ds = ds.splits[item.split]
        VideoQATask.evaluate(ds.benchmark, item.split, predictions, ds.info, expected_ids=split_ds.question_ids(),
                             output_dir=paths.folder, tag=TAG, provenance=provenance)
        paths.write_done({"key": provenance["result_key"], "entry": item.entry, "seed": item.seed,
                          "benchmark": item.benchmark, "split": item.split, **self._probe_fields(item),
                          "evaluator": ds.benchmark, "provenance": provenance, "run_id": self.run_id,
                          "computed_at": utc_now(), "seconds": round(time.perf_counter() - start, 3),
                          "predictions": paths.predictions.name, "report": paths.report.name})

    def _predict(self, item: WorkItem, cfg, ds, source: Path, source_sha: str) -> Dict[str, Dict[str, Any]]:
        from gf.common.config import to_dict
        from gf.common.registry import registry
        from gf.runners.build import build_model, model_config_for
        from gf.runners.runner_base import Runner, pick_device

        model_config = model_config_for(to_dict(cfg.model), ds)
        model_key = (item.entry, source_sha, canonical_hash(model_config))
        if self._model_key != model_key:
            self._model = None  # one model in memory at a time
            model, loaded_from = build_model(cfg, model_config, evaluating=True)
            if self.sha256(Path(loaded_from)) != source_sha:  # rewritten since it was hashed (a training still running?)
                raise EvaluationError(f"checkpoint {loaded_from} changed while it was being evaluated (sha256 "
                                      f"{source_sha} when the result's key was made); rerun once it is final")
            self.text_pool.share(model, context=(cfg.run.amp, pick_device(cfg.run.device).type))
            self._model, self._model_key = (model, loaded_from, model_config), model_key
        model, source, model_config = self._model
        task = registry.get_task_class(cfg.run.task)()
        runner = Runner(cfg, task, model, {ds.name: ds}, hooks=[], train_dataset=ds.name,
                        device=pick_device(cfg.run.device), model_config=model_config, weights_source=source)
        return runner.predict_split(item.split, ds.name)


def _gf_version() -> str:
    from gf import __version__

    return __version__


def one_line(message: Optional[str], limit: int = 600) -> str:
    """A failure's message on one line, shortened: enough to act on in a summary."""
    text = " ".join(line.strip() for line in (message or "").splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextmanager
def hold_board(root: Path, wait_s: float = 300.0):
    """Hold the leaderboard folder's own lock (for ``manifest.json`` and the board files;
    every result has its own) and remove what a killed writer left there. Shards take it
    in turn, each briefly, so a busy lock is waited for."""
    from gf.common.io import output_lock, remove_stale_temp_files

    deadline = time.monotonic() + wait_s
    while True:
        lock = output_lock(root, "gf leaderboard")
        try:
            lock.__enter__()
            break
        except OutputLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        remove_stale_temp_files(root, recursive=False)
        remove_stale_temp_files(root / "plots")
        yield
    finally:
        lock.__exit__(None, None, None)


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
        if outcome == "computed":
            summary.computed.append(item)
        elif outcome == "cached":
            summary.cached.append(item)
        elif outcome == "busy":
            summary.busy.append(item)
        else:
            summary.failed[item] = error
        if on_item is not None:
            on_item(item, outcome, error)
    return summary


def _worker(manifest_data: Dict[str, Any], root: str, items: List[Tuple[Any, ...]], run_id: str, queue,
            threads: int, plugins: Sequence[str]) -> None:
    """One ``--jobs`` process: its entries' items, each outcome sent to the parent."""
    import torch

    from gf.common.config import load_plugins

    torch.set_num_threads(max(1, threads))
    load_plugins(plugins)
    manifest = manifest_from_dict(manifest_data["source"], where=manifest_data["path"])
    manifest.output_dir = manifest_data["output_dir"]

    def report(item: WorkItem, outcome: str, error: Optional[str]) -> None:
        queue.put((item.as_tuple(), outcome, error))

    try:
        evaluate_items(manifest, Path(root), [WorkItem(*i) for i in items], run_id, on_item=report)
    finally:
        queue.put(None)


#: The split record's fingerprint for each scope a result can be keyed by.
RECORD_FINGERPRINTS = {"features": "fingerprint", "annotations": "annotations_fingerprint"}

#: What marks ``<output_dir>/manifest.json`` as the leaderboard's own record (replaced on every run).
MANIFEST_RECORD_FORMAT = "gf-leaderboard-manifest"


def _check_manifest_record(path: Path, manifest: Manifest) -> None:
    """``manifest.json`` is replaced only when it is the record a leaderboard run wrote; the
    manifest being run, or any other file of that name, is refused with what to do."""
    from gf.common.io import load_json

    if not path.exists():
        return
    if manifest.path and Path(manifest.path).exists() and os.path.samefile(path, manifest.path):
        raise ConfigError(f"{manifest.path}: output_dir {manifest.output_dir} would put the leaderboard's "
                          f"manifest.json over this manifest itself; choose another output_dir")
    try:
        data = load_json(path, "leaderboard manifest record")
    except GfError:
        data = None
    ours = isinstance(data, dict) and (data.get("format") == MANIFEST_RECORD_FORMAT
                                       or (set(data) == {"manifest", "source"}))  # written before the marker
    if not ours:
        raise ConfigError(f"{path} exists and was not written by gf leaderboard; the leaderboard keeps its own "
                          f"manifest.json there. Move that file, or choose another output_dir in {manifest.path}")


def run_leaderboard(manifest: Manifest, *, jobs: int = 1,
                    only: Optional[Sequence[str]] = None, shard: Optional[Tuple[int, int]] = None,
                    progress: bool = True, plugins: Sequence[str] = ()) -> RunSummary:
    """Evaluate the manifest's work (or its shard / its ``only`` entries).

    With ``jobs`` > 1, entries are spread over that many processes (each process keeps an
    entry's items together, so its model is built once).
    """
    from tqdm.auto import tqdm

    root = Path(manifest.output_dir)
    record = root / "manifest.json"
    # everything that can refuse the run comes before the folder is made: a refused run leaves nothing
    items = select_shard(plan(manifest, only), shard)
    _check_manifest_record(record, manifest)
    root.mkdir(parents=True, exist_ok=True)
    with hold_board(root):
        _check_manifest_record(record, manifest)
        atomic_write_json(record, {"format": MANIFEST_RECORD_FORMAT, "manifest": manifest.to_dict(),
                                   "source": manifest.source})
    run_id = uuid.uuid4().hex
    summary = RunSummary()
    if not items:
        return summary
    bar = tqdm(total=len(items), desc=f"leaderboard {manifest.name}", unit="result", disable=not progress,
               dynamic_ncols=True)
    counts = {"computed": 0, "cached": 0, "failed": 0, "busy": 0}

    def tick(item: WorkItem, outcome: str, error: Optional[str]) -> None:
        counts[outcome] += 1
        bar.set_postfix(counts, refresh=False)
        bar.update(1)
        if outcome == "failed":
            bar.write(f"[gf] {item}: failed: {one_line(error)}")

    try:
        if jobs <= 1:
            summary = evaluate_items(manifest, root, items, run_id, on_item=tick)
        else:
            summary = _run_parallel(manifest, root, items, run_id, jobs, tick, plugins)
    finally:
        bar.close()
    return summary


def _run_parallel(manifest: Manifest, root: Path, items: Sequence[WorkItem], run_id: str,
                  jobs: int, tick, plugins: Sequence[str]) -> RunSummary:
    import multiprocessing as mp

    groups: Dict[str, List[Tuple[Any, ...]]] = {}
    for item in items:  # a seed group's members are different models: spread them too
        groups.setdefault(item.member, []).append(item.as_tuple())
    buckets: List[List[Tuple[Any, ...]]] = [[] for _ in range(min(jobs, len(groups)))]
    for k, entry_items in enumerate(groups.values()):
        buckets[k % len(buckets)].extend(entry_items)
    ctx = mp.get_context("spawn")  # a fresh interpreter: no inherited torch threads or locks
    queue = ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // len(buckets))
    data = {"source": manifest.source, "path": manifest.path, "output_dir": manifest.output_dir}
    procs = [ctx.Process(target=_worker, args=(data, str(root), bucket, run_id, queue, threads, list(plugins)),
                         daemon=False) for bucket in buckets]
    for p in procs:
        p.start()
    summary = RunSummary()
    finished = 0
    try:
        while finished < len(procs):
            try:
                message = queue.get(timeout=1.0)
            except Exception:  # queue.Empty: check that the workers are alive
                if all(p.exitcode is not None for p in procs) and any(p.exitcode != 0 for p in procs):
                    if queue.empty():  # every message of the workers that did report has been read
                        break
                continue
            if message is None:
                finished += 1
                continue
            fields, outcome, error = message
            item = WorkItem(*fields)
            part = RunSummary()
            if outcome == "failed":
                part.failed[item] = error
            else:
                getattr(part, outcome).append(item)
            summary.merge(part)
            tick(item, outcome, error)
    finally:
        for p in procs:
            p.join()
    done = set(summary.computed) | set(summary.cached) | set(summary.busy) | set(summary.failed)
    for item in items:  # a worker that died (killed, out of memory) left its items unreported
        if item not in done:
            summary.failed[item] = "the worker process evaluating it exited before reporting a result " \
                                   f"(exit codes {[p.exitcode for p in procs]})"
    return summary
