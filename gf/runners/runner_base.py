"""The training / evaluation loop.

The runner receives what it runs, as in LAVIS; how its parts are assembled and what its
hooks do: README.md, "How gf is built". Everything specific to a benchmark belongs to the
task and the benchmark's evaluator.

The same command runs on one process or under ``torchrun`` (DDP): every question is
evaluated exactly once, and only rank 0 writes files.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import weakref
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset

from gf.common import dist
from gf.common.config import save_config
from gf.common.errors import ConfigError, NonFiniteLossError, TrainingError
from gf.common.registry import registry
from gf.common.utils import describe_ids
from gf.common.workers import gf_worker_errors
from gf.models.checkpoint import (capture_rng_state, check_model_config, load_model_weights, rank_rng_state,
                                     read_checkpoint, restore_rng_state, save_checkpoint, unloadable_value,
                                     weights_sha256)
from gf.runners.resume_check import check_resumed_run, schedule_length

__all__ = ["BuiltDataset", "Runner", "pick_device"]

logger = logging.getLogger("gf.runner")


@dataclass
class BuiltDataset:
    """One entry of the config's ``datasets:``: its splits and what its builder says about it."""

    name: str                                    # the key under datasets: (a registered builder)
    benchmark: str                               # the registered evaluator that scores it
    answer_mode: str                             # "mc" or "oe"
    info: Dict[str, Any]                         # the builder's info(): sizes, vocabulary, ...
    splits: Dict[str, Any] = field(default_factory=dict)
    fingerprint: Optional[Callable[[str], str]] = None  # split -> digest of its annotations and features
    features: bool = True  # False: built for scoring only; ``fingerprint`` then covers the annotations only


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("run.device is cuda but no CUDA device is available; use run.device=cpu or auto")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def _to_device(batch: Mapping[str, Any], device: torch.device) -> Dict[str, Any]:
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            out[k] = v.to(device, non_blocking=True)
        elif isinstance(v, list) and v and torch.is_tensor(v[0]):
            out[k] = [t.to(device, non_blocking=True) for t in v]
        else:
            out[k] = v
    return out


def state_key(hook) -> str:
    """Where a checkpoint keeps ``hook``'s state: the name it was registered and listed under
    (``hook_name``, set by :func:`gf.runners.build.build_hooks`; unique in a run), not its
    class name, which two plugins' hooks may share. A hook built without one: its class name."""
    return getattr(hook, "hook_name", None) or type(hook).__name__


def check_hook_state(hook, state: Any) -> None:
    """Refuse a hook state that ``torch.load(weights_only=True)`` would not read back, before
    the checkpoint holding it is written: every gf command reads checkpoints that way, so the
    run would otherwise go on writing checkpoints that nothing can resume or evaluate from."""
    found = unloadable_value(state)
    if found is not None:
        where, kind = found
        raise ConfigError(f"hook {state_key(hook)!r} ({type(hook).__qualname__}): its state_dict(){where} is a "
                          f"{kind}, which a gf checkpoint cannot hold (gf reads checkpoints with "
                          f"torch.load(weights_only=True)). Return plain values from state_dict(): dict, list, "
                          f"tuple, str, int, float, bool, None and tensors (e.g. float(x), str(path), list(s)).")


@registry.register_runner("runner_base")
class Runner:
    """Trains ``model`` on ``datasets[train_dataset]`` and evaluates every dataset; ``hooks``
    are called in order, and ``model_config`` (the model's resolved config) travels with
    every checkpoint."""

    def __init__(self, cfg: DictConfig, task, model: torch.nn.Module, datasets: Mapping[str, BuiltDataset],
                 hooks: Sequence[Any] = (), *, train_dataset: Optional[str] = None, device=None,
                 model_config: Optional[Mapping[str, Any]] = None, weights_source: Optional[Path] = None,
                 output_lock: Any = None):
        self.cfg = cfg
        self.model_config = dict(model_config or {})
        self.task = task
        self.datasets = dict(datasets)
        if not self.datasets:
            raise ConfigError("the runner needs at least one dataset (datasets: in the config)")
        self.train_dataset = train_dataset or next(iter(self.datasets))
        self.device = device if device is not None else pick_device(cfg.run.device)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.is_main = self.rank == 0
        self.output_dir = Path(cfg.run.output_dir)
        self.model = model.to(self.device)
        self.ddp_model = self.model
        if dist.is_dist():
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.ddp_model = DDP(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.hooks: List[Any] = []
        self.register_hooks(hooks)
        self.optimizer = None
        self.scheduler = None
        self.scaler = None  # fp16 loss scaling (CUDA); a pass-through otherwise
        self.train_loader = None
        self.train_repeats = 0  # questions trained twice per epoch (DistributedSampler's padding)
        self.epoch, self.current_epoch, self.step = -1, -1, 0
        self.improved = False
        self.batch: Optional[Dict[str, Any]] = None
        self.step_output: Optional[Dict[str, Any]] = None
        self.epoch_stats: Dict[str, float] = {}
        self.val_reports: Dict[str, Any] = {}
        self.output_lock = output_lock  # held on rank 0 while the runner writes into output_dir; close() releases it
        self.weights_source = weights_source  # the file the weights were loaded from, while unchanged
        self._provenance_cache: Dict[Any, str] = {}

    # -- parts -------------------------------------------------------------------------------
    def register_hooks(self, hooks: Sequence[Any]) -> None:
        """Add ``hooks``; two with the same state key (:func:`state_key`) are refused, since
        a checkpoint would keep only one of their states and give it to both on resume."""
        for hook in hooks:
            taken = [other for other in self.hooks if state_key(other) == state_key(hook)]
            if taken:
                raise ConfigError(f"hooks {type(taken[0]).__qualname__} and {type(hook).__qualname__} both keep their "
                                  f"resume state under {state_key(hook)!r}; register each under its own name "
                                  f"(registry.register_hook) and list it in run.hooks")
            # a proxy, not a reference: a runner <-> hook cycle would keep the runner (and its
            # DDP wrapper) alive until interpreter shutdown, after the process group is gone
            hook.runner = weakref.proxy(self)
            self.hooks.append(hook)

    @property
    def best(self) -> Optional[float]:
        """The best validation metric so far, as the hook that tracks it (``best``) holds it."""
        return next((hook.best for hook in self.hooks if getattr(hook, "best", None) is not None), None)

    def hook_states(self) -> Dict[str, Any]:
        """Every hook's resume state, by :func:`state_key` (what a checkpoint carries), each
        checked by :func:`check_hook_state` at every save."""
        states = {}
        for hook in self.hooks:
            if hasattr(hook, "state_dict"):
                states[state_key(hook)] = state = hook.state_dict()
                check_hook_state(hook, state)
        return states

    def load_hook_states(self, states: Mapping[str, Any]) -> None:
        """Give each hook its state back by its registered name. A checkpoint without the
        built-in hooks' names ('checkpointer', 'evaluation') is an older one, keyed by class
        name: there a hook its registered name does not find is looked up by its class name."""
        from gf.runners.hooks import DEFAULT_HOOKS

        by_class = not any(name in states for name in DEFAULT_HOOKS)
        for hook in self.hooks:
            key = state_key(hook)
            if key not in states and by_class:
                key = type(hook).__name__
            if key in states and hasattr(hook, "load_state_dict"):
                hook.load_state_dict(states[key])

    def _call(self, point: str, *args) -> None:
        for hook in self.hooks:
            getattr(hook, point)(*args)

    def dataset_names(self) -> List[str]:
        """The training dataset first, then the others in config order."""
        return [self.train_dataset] + [n for n in self.datasets if n != self.train_dataset]

    def _loader(self, dataset, train: bool) -> DataLoader:
        """The DataLoader of a split: training shuffles with a :class:`DistributedSampler`
        seeded by ``run.seed`` (the sampler's ``set_epoch`` reshuffles each epoch); evaluation
        gives every rank its own questions, each exactly once.

        A streamed training split (an ``IterableDataset``, :mod:`gf.datasets.streaming`) has no
        sampler: it orders and splits itself (docs/extraction.md, "Training from shards,
        streaming"). A missing ``epoch_length`` (:class:`ConfigError`) and fewer shards than
        ranks x workers (:class:`DatasetError`) are refused here, where every rank fails alike,
        rather than inside one rank's iterator while the others wait for it.
        """
        from gf.datasets.videoqa import collate_videoqa

        run = self.cfg.run
        if isinstance(dataset, IterableDataset) and not train:
            dataset = dataset.dataset  # a streamed split evaluates by index
        if isinstance(dataset, IterableDataset):
            dataset.check_epoch_length()
            dataset.check_readers(self.world, run.num_workers)
            dataset.set_seed(run.seed)
            dataset.set_batch_size(run.batch_size)
            sampler = None
        elif train:
            sampler = DistributedSampler(dataset, num_replicas=self.world, rank=self.rank, shuffle=True,
                                         seed=run.seed, drop_last=False)
        else:
            # rank r takes indices r, r+W, r+2W...: every index exactly once over all ranks
            # (DistributedSampler pads with repeats, which would count questions twice)
            sampler = range(self.rank, len(dataset), self.world)
        return DataLoader(dataset, batch_size=run.batch_size if train else run.eval_batch_size, sampler=sampler,
                          num_workers=run.num_workers, collate_fn=collate_videoqa, persistent_workers=False,
                          pin_memory=self.device.type == "cuda")

    def _warn_repeats(self) -> None:
        """Say how many questions each epoch trains twice: torch's DistributedSampler pads
        the split to equal shares, as unequal step counts would hang DDP (docs/seeds.md,
        "What is reproducible"). Each padded copy is the last question of its process's epoch."""
        sampler = self.train_loader.sampler
        if isinstance(sampler, DistributedSampler):
            self.train_repeats = sampler.total_size - len(sampler.dataset)
        if self.train_repeats and self.is_main:
            logger.warning("%d of the %d training questions are trained (and counted in train_acc) twice per "
                           "epoch: torch's DistributedSampler pads the split to equal shares of the %d processes. "
                           "A split size divisible by the number of processes avoids it", self.train_repeats,
                           len(sampler.dataset), self.world)

    def _build_optimizer(self, steps_per_epoch: int) -> None:
        run = self.cfg.run
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = registry.get("optimizer", run.optimizer)(params, lr=run.lr, weight_decay=run.weight_decay)
        self.scheduler = registry.get("lr_scheduler", run.lr_sched)(
            self.optimizer, total_steps=schedule_length(run, steps_per_epoch), warmup_steps=run.warmup_steps,
            min_lr_ratio=run.min_lr_ratio)

    def _amp_dtype(self) -> Optional[torch.dtype]:
        """The autocast dtype, or None: mixed precision runs on CUDA only (fp32 on CPU,
        where bf16 is far slower)."""
        amp = self.cfg.run.amp
        if amp == "none" or self.device.type != "cuda":
            return None
        return torch.bfloat16 if amp == "bf16" else torch.float16

    def _autocast(self):
        dtype = self._amp_dtype()
        return nullcontext() if dtype is None else torch.autocast(self.device.type, dtype=dtype)

    # -- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self, name: str) -> None:
        """Rank 0 writes ``output_dir/name``; a collective (it gathers every rank's RNG state),
        so every rank calls it."""
        hook_states = self.hook_states()  # on every rank: a state no checkpoint can hold stops them all alike
        # each rank's own RNG (its dropout masks differ): a resume gives every rank its own back
        rng_per_rank = dist.all_gather_objects(capture_rng_state())
        if not self.is_main:
            return
        ds = self.datasets[self.train_dataset]
        save_checkpoint(self.output_dir / name, model_state=self.model.state_dict(),
                        config=OmegaConf.to_container(self.cfg, resolve=True), optimizer=self.optimizer,
                        scheduler=self.scheduler, scaler=self.scaler, epoch=self.epoch, step=self.step,
                        best_metric=self.best, hook_states=hook_states,
                        extra={"benchmark": ds.benchmark, "dataset": ds.name,
                               "model_config": self.model_config,
                               "world_size": self.world,  # a resume with another is refused (check_resumed_run)
                               # the data trained and validated on: a resume with other data is refused too
                               "steps_per_epoch": len(self.train_loader),
                               "split_contents": self._resume_contents(),
                               # how the training features were made (gf extract's features.json)
                               # and what the event classes are: the checkpoint alone then says
                               # which features it expects and what its event predictions mean
                               "feature_recipe": ds.info.get("feature_recipe"),
                               "class_names": ds.info.get("class_names"),
                               "class_labels": ds.info.get("class_labels"),
                               # an open-ended model answers with an index into it (gf predict)
                               "answer_vocab": ds.info.get("answer_vocab")}, rng_per_rank=rng_per_rank)

    def restore(self, path) -> None:
        """Weights, optimizer, schedule, counters and RNG from a gf checkpoint: the run
        continues exactly where that checkpoint's epoch ended."""
        loaded = read_checkpoint(path).require_gf("a run resumes from its own checkpoint_last.pth")
        ckpt = loaded.content
        check_model_config(loaded, self.model_config, allowed=())
        check_resumed_run(loaded, OmegaConf.to_container(self.cfg.run, resolve=True), len(self.train_loader),
                          world_size=self.world, content=self.split_content)
        load_model_weights(self.model, loaded)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler") and self.scaler is not None and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.step = ckpt["epoch"], ckpt["step"]
        # checkpoints written before hooks kept their own state recorded only the best metric
        self.load_hook_states(ckpt.get("hooks") or {"EvalHook": {"best": ckpt["best_metric"]}})
        if self.world > 1 and not ckpt.get("rng_per_rank") and self.is_main:
            logger.warning("%s holds rank 0's RNG state only (written by an older gf): every rank continues from "
                           "it, so this resume does not match an uninterrupted run exactly", path)
        restore_rng_state(rank_rng_state(ckpt, self.rank))

    # -- training ------------------------------------------------------------------------------
    def train(self) -> Dict[str, Any]:
        """Train on the training dataset; returns the last report of each valid split."""
        run = self.cfg.run
        train_set = self.datasets[self.train_dataset].splits[run.train_split]
        self.train_loader = self._loader(train_set, train=True)
        self._warn_repeats()
        self._build_optimizer(len(self.train_loader))
        self.weights_source = None  # training changes them
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self._amp_dtype() == torch.float16)
        self._call("before_train")  # resumes: a refused resume has written nothing, config.yaml included
        if self.is_main:
            save_config(self.cfg, self.output_dir / "config.yaml")
        max_steps = run.max_steps
        try:
            for epoch in range(self.epoch + 1, run.epochs):
                if max_steps is not None and self.step >= max_steps:
                    break
                self.current_epoch = epoch
                if isinstance(self.train_loader.sampler, DistributedSampler):  # a stream has none
                    self.train_loader.sampler.set_epoch(epoch)
                if hasattr(train_set, "set_epoch"):  # event sampling; a stream's order too
                    train_set.set_epoch(epoch)
                self.ddp_model.train()
                self.epoch_stats = {"loss": 0.0, "correct": 0, "count": 0, "batches": 0}
                self._call("before_epoch")
                with gf_worker_errors():  # a worker's GfError as its own one-line message
                    for batch in self.train_loader:
                        self._run_step(_to_device(batch, self.device))
                        if max_steps is not None and self.step >= max_steps:
                            break
                self.epoch = epoch
                self._call("after_epoch")
                self._call("save_epoch")  # after every after_epoch: the checkpoint holds all it did
        finally:
            self._call("after_train")
        return self.val_reports

    def _run_step(self, batch: Dict[str, Any]) -> None:
        self.batch = batch
        self._call("before_step")
        try:
            with self._autocast():
                self.step_output = self.task.train_step(self.ddp_model, batch)
        except NonFiniteLossError as e:  # raised inside the forward pass (the matcher): say where
            raise NonFiniteLossError(
                f"{e} at epoch {self.current_epoch + 1}, step {self.step + 1}, questions "
                f"{describe_ids(batch['question_id'])}. The last good checkpoint "
                f"({self.output_dir / 'checkpoint_last.pth'}) is untouched. Lower run.lr or enable "
                f"run.grad_clip.") from None
        self._call("after_forward")
        loss = self.step_output["loss"]
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # both scaler calls pass through unless fp16 is on
        if self.cfg.run.grad_clip and self.cfg.run.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.run.grad_clip)
        self.scaler.step(self.optimizer)  # skips the step when fp16 gradients overflowed
        self.scaler.update()
        self.step += 1
        stats = self.epoch_stats
        stats["loss"] += float(loss.detach())
        stats["correct"] += self.step_output["correct"]
        stats["count"] += self.step_output["count"]
        stats["batches"] += 1
        self._call("after_step")

    # -- evaluation ----------------------------------------------------------------------------
    @torch.no_grad()
    def predict_split(self, split: str, dataset: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
        """Prediction records of every question of ``split``, gathered over all processes."""
        from tqdm.auto import tqdm

        loader = self._loader(self.datasets[dataset or self.train_dataset].splits[split], train=False)
        self.model.eval()
        records: Dict[str, Dict[str, Any]] = {}
        bar = tqdm(loader, desc=f"eval {split}", disable=not (self.cfg.run.progress and self.is_main),
                   dynamic_ncols=True, leave=False)
        with gf_worker_errors():  # a worker's GfError as its own one-line message
            for batch in bar:
                batch = _to_device(batch, self.device)
                with self._autocast():
                    records.update(self.task.valid_step(self.model, batch))
        merged: Dict[str, Dict[str, Any]] = {}
        for part in dist.all_gather_objects(records):
            overlap = merged.keys() & part.keys()
            if overlap:
                raise TrainingError(f"question ids predicted twice across processes: {describe_ids(sorted(overlap))}")
            merged.update(part)
        return merged  # completeness is checked by the evaluator against the split's ids

    def evaluate_split(self, split: str, tag: str = "final", dataset: Optional[str] = None) -> Optional[Dict[str, Any]]:
        """Predict, score and (on rank 0) save predictions, the report and whatever the
        benchmark's evaluator writes after an evaluation (STAR: the EvalAI submission), in
        :meth:`eval_dir`."""
        name = dataset or self.train_dataset
        ds = self.datasets[name]
        predictions = self.predict_split(split, name)
        report = None
        if self.is_main:
            out = self.eval_dir(name)
            from gf.datasets.videoqa import skipped_questions

            expected = ds.splits[split].question_ids()  # the questions a skip file left: the report says so
            report = self.task.evaluate(ds.benchmark, split, predictions, ds.info, expected_ids=expected,
                                        output_dir=out, tag=tag, provenance=self.provenance(name, split),
                                        skipped=skipped_questions(ds.splits[split]))
            from gf.evaluation import format_report

            print(f"\n[gf] {name} {split} ({tag})\n{format_report(report)}", flush=True)
        self._call("after_eval", name, split, tag, report)
        return report

    def eval_dir(self, dataset: str) -> Path:
        """Where evaluations of ``dataset`` are written: ``eval/``, or ``eval/<name>/`` for a
        dataset other than the training one."""
        return self.output_dir / "eval" if dataset == self.train_dataset else self.output_dir / "eval" / dataset

    def provenance(self, dataset: str, split: str) -> Dict[str, Any]:
        """What a report's figures were computed from: the weights (their hash, and the
        checkpoint file with its sha256 when they are that file's) and the split's fingerprint."""
        from gf.common.download import sha256sum

        prov: Dict[str, Any] = {"weights_sha256": weights_sha256(self.model.state_dict())}
        cache = self._provenance_cache
        if self.weights_source is not None:
            key = ("file", str(self.weights_source), self.weights_source.stat().st_mtime_ns)
            if key not in cache:
                cache[key] = sha256sum(self.weights_source)
            prov.update(checkpoint=str(self.weights_source), checkpoint_sha256=cache[key])
        from gf.probes.dataset import ProbedDataset

        split_dataset = self.datasets[dataset].splits.get(split)
        if isinstance(split_dataset, ProbedDataset):  # gf evaluate --probe: which probe made the report
            prov.update(split_dataset.provenance())
        fingerprint = self.split_fingerprint(dataset, split)
        if fingerprint is not None:
            prov["split_fingerprint"] = fingerprint
        return prov

    def split_fingerprint(self, dataset: str, split: str) -> Optional[str]:
        """The split's fingerprint (None when its builder gives none), computed once per run:
        reports record it (checkpoints record :meth:`split_content`)."""
        fingerprint = self.datasets[dataset].fingerprint
        key = ("split", dataset, split)
        if fingerprint is not None and key not in self._provenance_cache:
            self._provenance_cache[key] = fingerprint(split)
        return self._provenance_cache.get(key)

    def split_content(self, split: str) -> Optional[str]:
        """A sha256 of the training dataset's split ``split`` as built: its questions, in
        order, every field (None for a dataset without records). Of the content, not of the
        files' paths: a resume on the same data moved or copied elsewhere (a node's scratch
        disk) goes on; one on other questions or labels is refused."""
        key = ("content", split)
        if key not in self._provenance_cache:
            records = getattr(self.datasets[self.train_dataset].splits.get(split), "records", None)
            self._provenance_cache[key] = None if records is None else hashlib.sha256(
                json.dumps(records, sort_keys=True, default=str).encode("utf-8")).hexdigest()
        return self._provenance_cache[key]

    def _resume_contents(self) -> Dict[str, Optional[str]]:
        """:meth:`split_content` of the training split and of the first valid split (whose
        metric picks the best epoch), which a checkpoint records so that a resume on other data
        is refused (:func:`~gf.runners.resume_check.check_resumed_run`)."""
        run = self.cfg.run
        return {split: self.split_content(split) for split in [run.train_split, *list(run.valid_splits or [])[:1]]}

    def test(self) -> Dict[str, Any]:
        """Evaluate ``run.test_splits`` of every dataset with ``checkpoint_best`` (or the
        final weights if there is none). Keys: split, or ``<dataset>/<split>`` for datasets
        other than the training one."""
        best = self.output_dir / "checkpoint_best.pth"
        tag = "last"
        if best.is_file():
            dist.barrier()
            load_model_weights(self.model, best)
            self.weights_source = best
            tag = "best"
        reports = {}
        for name in self.dataset_names():
            for split in self.cfg.run.test_splits:
                key = split if name == self.train_dataset else f"{name}/{split}"
                reports[key] = self.evaluate_split(split, tag=tag, dataset=name)
        return reports

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)

    def close(self, failed: bool = False) -> None:
        """Release DDP, the process group and the output folder; ``failed``: this rank is
        leaving on an error, so it does not wait for the others (who may never come)."""
        self.ddp_model = self.model  # release DDP while its process group still exists
        dist.cleanup(wait=not failed)
        lock, self.output_lock = self.output_lock, None
        if lock is not None:
            lock.release()
