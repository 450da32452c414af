"""Hooks: everything the training loop does besides the step itself.

The runner owns the loop: data, forward, backward, optimizer step. Everything else is a
hook, so a user changes what happens around the loop by registering a :class:`HookBase`
subclass and naming it under ``run.hooks``, never by editing the runner. The built-in
hooks, the hook points and how to register one: README.md, "How gf is built".

Calling order at each point is the order of the hook list: the built-in hooks
(:data:`DEFAULT_HOOKS`) first, then those of ``run.hooks``. What a hook can read on
``self.runner``: ``cfg``, ``model``, ``optimizer``, ``scheduler``, ``epoch`` (last finished
epoch, -1 before the first), ``current_epoch``, ``step`` (optimizer steps done), ``batch``
and ``step_output`` (the task's ``train_step`` result) during a step, ``epoch_stats``,
``best`` and ``output_dir``.
"""
from __future__ import annotations

import json
import logging
import re
import shutil
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import torch

from gf.common import dist
from gf.common.errors import CheckpointError, CheckpointNotFoundError, ConfigError, NonFiniteLossError
from gf.common.io import atomic_write
from gf.common.registry import registry

__all__ = ["DEFAULT_HOOKS", "HookBase"]

logger = logging.getLogger("gf.runner")

#: The built-in hooks every run gets, in calling order. The checkpointer comes before every
#: hook that writes files: its ``before_train`` resumes, so theirs see where the run continues.
DEFAULT_HOOKS = ("nonfinite_loss", "lr_scheduler", "checkpointer", "progress", "metric_logger", "evaluation")


class HookBase:
    """Base of every hook: override the points you need; each is a no-op here."""

    runner: Any = None
    hook_name: Optional[str] = None  # the registered name it was built under (build_hooks)

    def before_train(self) -> None:
        """After the optimizer is built, before the first epoch. The checkpointer's runs
        first and resumes: later hooks see the restored ``runner.epoch`` and ``runner.step``,
        and what they wrote for later epochs or steps is an abandoned attempt's, which they
        drop here (even when no epoch is left to train)."""

    def before_epoch(self) -> None:
        pass

    def before_step(self) -> None:
        """``runner.batch`` holds the batch, already on the device."""

    def after_forward(self) -> None:
        """``runner.step_output`` holds the loss; nothing has been applied to the weights yet."""

    def after_step(self) -> None:
        """After the optimizer step; ``runner.step`` counts it."""

    def after_epoch(self) -> None:
        """``runner.epoch`` is the epoch just finished."""

    def save_epoch(self) -> None:
        """After every hook's ``after_epoch``: the checkpointer saves here, so a checkpoint
        holds what each hook did in ``after_epoch`` (its state, its log records), and a run
        killed before the save re-runs that whole epoch on resume, hooks included."""

    def after_train(self) -> None:
        pass

    def after_eval(self, dataset: str, split: str, tag: str, report: Optional[Mapping[str, Any]]) -> None:
        """After a split was predicted and scored (``report`` is None on ranks other than 0)."""

    def state_dict(self) -> Dict[str, Any]:
        """What this hook must carry across a resume: saved in every checkpoint under the
        hook's registered name, given back by :meth:`load_state_dict` when the run resumes.
        Plain values and tensors only (dict, list, tuple, str, int, float, bool, None): a
        numpy scalar, a Path or a set is refused at the first save, since gf loads
        checkpoints with ``torch.load(weights_only=True)``. Most hooks keep no state."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned when the checkpoint was written."""


def _metric(report: Optional[Mapping[str, Any]], key: str, where: str) -> Optional[float]:
    """``report[key]`` as a float (None where nothing was scored, or on ranks without a
    report). A key the report lacks is a typo in ``run.best_metric`` (one the config check
    could not see: an evaluator that does not declare its metrics): without this error no
    epoch would ever count as best and the test splits would silently use the last one.
    Every rank raises it, not only the one holding the report, so none waits for the others."""
    problem = None
    if report is not None and key not in report:
        metrics = [k for k, v in report.items() if v is None or isinstance(v, float)]
        problem = (f"run.best_metric {key!r} is not a metric of the {where} report; it has {', '.join(metrics)} (its "
                   f"primary metric is {report.get('primary_metric')!r}). Set run.best_metric to one of them")
    problem = next((p for p in dist.all_gather_objects(problem) if p), None)
    if problem:
        raise ConfigError(problem)
    value = (report or {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


@registry.register_hook("nonfinite_loss")
class NonFiniteLossGuard(HookBase):
    """Stops the run at the first NaN/Inf loss, before it reaches the weights."""

    def after_forward(self) -> None:
        r = self.runner
        loss = r.step_output["loss"]
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"non-finite loss {loss.item()} at epoch {r.current_epoch + 1}, step {r.step + 1}, questions "
                f"{r.batch['question_id']}; parts {r.step_output['losses']}. The last good checkpoint "
                f"({r.output_dir / 'checkpoint_last.pth'}) is untouched. Lower run.lr or enable run.grad_clip.")


@registry.register_hook("lr_scheduler")
class LRSchedulerHook(HookBase):
    """Advances the learning-rate schedule once per optimizer step."""

    def after_step(self) -> None:
        self.runner.scheduler.step()


@registry.register_hook("progress")
class ProgressBarHook(HookBase):
    """A tqdm bar per epoch with the running loss and accuracy (rank 0, ``run.progress``)."""

    def __init__(self):
        self.bar = None

    def before_epoch(self) -> None:
        from tqdm.auto import tqdm

        r = self.runner
        self.bar = tqdm(total=len(r.train_loader), desc=f"epoch {r.current_epoch + 1}/{r.cfg.run.epochs}",
                        disable=not (r.cfg.run.progress and r.is_main), dynamic_ncols=True, leave=False)

    def after_step(self) -> None:
        s = self.runner.epoch_stats
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{s['loss'] / s['batches']:.4f}",
                             acc=f"{100.0 * s['correct'] / max(1, s['count']):.1f}")

    def after_epoch(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    after_train = after_epoch


@registry.register_hook("metric_logger")
class MetricLogger(HookBase):
    """``log.jsonl`` and TensorBoard scalars under ``tb/``: train steps every
    ``run.log_every``, one record per epoch, and each evaluation during training."""

    def __init__(self):
        self._writer = None
        self._training = False
        self._purge_step: Optional[int] = None

    def before_train(self) -> None:
        # Records past the step the run continues from go (HookBase.before_train), so log.jsonl
        # never holds an epoch twice or one that no checkpoint holds. TensorBoard hides its
        # copies from a new event file, opened now.
        self._training = True
        r = self.runner
        self._trim_log(r.step)
        self._purge_step = r.step + 1
        tb = r.output_dir / "tb"
        if r.is_main and tb.is_dir() and any(tb.iterdir()):
            self._tensorboard()

    def after_step(self) -> None:
        r = self.runner
        if r.step % r.cfg.run.log_every == 0:
            # collective (DDP keeps every rank's step count equal): the losses of all processes
            losses = dist.all_reduce_means({"loss": float(r.step_output["loss"].detach()),
                                            **r.step_output["losses"]})
            self.write({"kind": "train", "epoch": r.current_epoch, "step": r.step, "loss": losses.pop("loss"),
                        "lr": r.optimizer.param_groups[0]["lr"], **losses})

    def after_epoch(self) -> None:
        r = self.runner
        s = r.epoch_stats
        # collective: every rank takes part, rank 0 writes
        totals = dist.all_reduce_means({k: s[k] for k in ("loss", "correct", "count")})
        # train_count: the answers train_acc is over, of which train_repeated are DistributedSampler's
        # padded copies (each process's last question, so only in a whole epoch)
        self.write({"kind": "epoch", "epoch": r.epoch, "step": r.step,
                    "train_loss": totals["loss"] / max(1, s["batches"]),
                    "train_acc": 100.0 * totals["correct"] / max(1.0, totals["count"]),
                    "train_count": round(totals["count"] * r.world),
                    "train_repeated": r.train_repeats if s["batches"] == len(r.train_loader) else 0})

    def after_eval(self, dataset, split, tag, report) -> None:
        if not (self._training and report):
            return
        r = self.runner
        kind = f"val_{split}" if dataset == r.train_dataset else f"val_{dataset}_{split}"
        self.write({"kind": kind, "epoch": r.epoch if r.epoch >= 0 else r.current_epoch, "step": r.step,
                    **{k: v for k, v in report.items() if isinstance(v, (int, float))}})

    def after_train(self) -> None:
        self._training = False
        if self._writer:
            self._writer.close()
        self._writer = None

    def _trim_log(self, step: int) -> None:
        r = self.runner
        path = r.output_dir / "log.jsonl"
        if not r.is_main or not path.is_file():
            return
        kept, dropped = [], 0
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill: it is not a record
                dropped += 1
                continue
            if record.get("step", 0) <= step:
                kept.append(line)
            else:
                dropped += 1
        if dropped:
            from gf.common.io import atomic_write_text

            atomic_write_text(path, "".join(k + "\n" for k in kept))
            logger.info("log.jsonl: dropped %d record(s) after step %d (the run continues from there)", dropped, step)

    def write(self, record: Dict[str, Any]) -> None:
        r = self.runner
        if not r.is_main:
            return
        record = {"time": round(time.time(), 3), **record}
        r.output_dir.mkdir(parents=True, exist_ok=True)
        with open(r.output_dir / "log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        writer = self._tensorboard()
        if writer is not None:
            prefix = record.get("kind", "train")
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch", "time"):
                    writer.add_scalar(f"{prefix}/{k}", v, record.get("step", r.step))

    def _tensorboard(self):
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                tb = self.runner.output_dir / "tb"
                # an earlier attempt's events: TensorBoard hides those of the steps re-run from here
                purge = self._purge_step if tb.is_dir() and any(tb.iterdir()) else None
                self._writer = SummaryWriter(log_dir=str(tb), purge_step=purge)
            except Exception as e:  # tensorboard missing or broken: logging continues to JSONL
                logger.warning("TensorBoard disabled: %s", e)
                self._writer = False
        return self._writer or None


#: ``<split>_epoch<N>_<kind>``: a file of the evaluation after epoch N (:meth:`EvalHook.after_epoch`).
EPOCH_FILE = re.compile(r"(.+)_epoch([0-9]+)_[^_]+")


def _epoch_files(r) -> list:
    """The files :meth:`EvalHook.after_epoch` writes: ``<valid split>_epoch<N>_<kind>`` in each
    dataset's eval folder. Only those: ``gf evaluate --tag x_epoch3`` (a name it accepts) writes
    ``<split>_x_epoch3_<kind>`` there, which is the user's, not the run's."""
    valid = set(r.cfg.run.valid_splits or [])
    return [path for name in r.dataset_names() if (folder := r.eval_dir(name)).is_dir()
            for path in sorted(folder.iterdir())
            if (m := EPOCH_FILE.fullmatch(path.name)) and m[1] in valid and path.is_file()]


@registry.register_hook("evaluation")
class EvalHook(HookBase):
    """Evaluates ``run.valid_splits`` of every dataset after each epoch. The first
    valid split of the training dataset decides ``checkpoint_best`` (``run.best_metric``):
    the best value so far is this hook's state, carried across a resume."""

    def __init__(self) -> None:
        self.best: Optional[float] = None

    def state_dict(self) -> Dict[str, Any]:
        return {"best": self.best}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best = state.get("best")

    def before_train(self) -> None:
        """After the checkpointer's resume: the ``epoch<N>`` evaluations of epochs after the
        one the run continues from are an abandoned attempt's (of weights no checkpoint
        holds), so they go; kept, they would pass for this run's, with a better score than
        any checkpoint's. Those of a re-run epoch are written again."""
        r = self.runner
        eval_dir = r.output_dir / "eval"
        if not r.is_main or not eval_dir.is_dir():
            return
        abandoned = [path for path in _epoch_files(r) if int(EPOCH_FILE.fullmatch(path.name)[2]) > r.epoch + 1]
        for path in abandoned:
            path.unlink()
        if abandoned:
            logger.info("removed %d evaluation file(s) of epochs after epoch %d (the run continues from there): %s",
                        len(abandoned), r.epoch + 1, ", ".join(str(p.relative_to(eval_dir)) for p in abandoned))

    def after_epoch(self) -> None:
        r = self.runner
        r.improved = False
        for name in r.dataset_names():
            for split in r.cfg.run.valid_splits:
                report = r.evaluate_split(split, tag=f"epoch{r.epoch + 1}", dataset=name)
                primary = name == r.train_dataset and split == r.cfg.run.valid_splits[0]
                if name == r.train_dataset:
                    r.val_reports[split] = report
                if not primary:  # another dataset's report may not have the metric at all (STAR's mean)
                    continue
                value = _metric(report, r.cfg.run.best_metric, f"{name} {split}")
                if value is not None and (self.best is None or value > self.best):
                    self.best = value
                    r.improved = True


def _refuse_orphaned_run(r, last: Path) -> None:
    """``resume auto`` without checkpoint_last.pth starts from scratch, which is right before
    a run's first save, but would silently overwrite a run whose checkpoint_last was deleted
    (what it writes after that save, checkpoint_best.pth and the test reports, are there)."""
    from gf.evaluation.base import output_file

    found = [p for p in [r.output_dir / "checkpoint_best.pth",
                         *(output_file(r.eval_dir(name), split, tag, "report.json") for name in r.dataset_names()
                           for split in r.cfg.run.test_splits or [] for tag in ("best", "last"))] if p.is_file()]
    if found:
        raise CheckpointError(f"run.resume auto: {last} is missing, but {r.output_dir} holds a run's files "
                              f"({', '.join(str(p.relative_to(r.output_dir)) for p in found)}); starting from "
                              f"scratch would overwrite them. If that run finished, it needs no training. To continue "
                              f"from its best epoch give --resume {r.output_dir / 'checkpoint_best.pth'}; to start "
                              f"again, leave out --resume and set run.overwrite=true (deletes its files), or give "
                              f"another run.output_dir.")


def _copy_to_best(last: Path, output_dir: Path) -> None:
    """``checkpoint_best.pth`` as a copy of ``last`` (written atomically): the best epoch's
    checkpoint is the ``checkpoint_last`` written at its end."""
    with atomic_write(output_dir / "checkpoint_best.pth", "wb") as out, open(last, "rb") as src:
        shutil.copyfileobj(src, out)


@registry.register_hook("checkpointer")
class CheckpointHook(HookBase):
    """Resumes from ``run.resume`` before training; writes ``checkpoint_last.pth`` after every
    epoch and then ``checkpoint_best.pth`` when the evaluation improved (each atomically), at
    :meth:`HookBase.save_epoch`.

    ``checkpoint_last`` comes first and records the best epoch (this hook's state), so a run
    killed between the two writes has no ``checkpoint_best`` from a later epoch than the one it
    resumes from (an abandoned attempt's weights, which a rerun that scores lower, as on a GPU,
    would never replace); the resume completes the missing best from ``checkpoint_last``,
    which then holds the same weights."""

    def __init__(self) -> None:
        self.best_epoch: Optional[int] = None

    def state_dict(self) -> Dict[str, Any]:
        return {"best_epoch": self.best_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best_epoch = state.get("best_epoch")

    def before_train(self) -> None:
        r = self.runner
        resume = r.cfg.run.resume
        if not resume:
            return
        path = r.output_dir / "checkpoint_last.pth" if resume == "auto" else Path(resume)
        if path.is_dir():
            inside = path / "checkpoint_last.pth"
            hint = f"; give its checkpoint, {inside}" if inside.is_file() else "; give a checkpoint file"
            raise CheckpointError(f"run.resume: {path} is a folder, not a checkpoint{hint}.")
        if not path.exists():
            if resume == "auto":
                _refuse_orphaned_run(r, path)
                logger.info("resume auto: no %s yet, starting from scratch", path)
                return
            raise CheckpointNotFoundError(f"run.resume: checkpoint not found: {path}. Use run.resume=auto to start "
                                          f"from scratch when no checkpoint exists yet.")
        r.restore(path)
        if r.is_main:
            if self.best_epoch is not None and self.best_epoch == r.epoch:  # its write may have been cut off
                _copy_to_best(path, r.output_dir)
            print(f"[gf] resumed from {path}: epoch {r.epoch + 1} done, step {r.step}", flush=True)

    def save_epoch(self) -> None:
        r = self.runner
        # rank 0 holds the report that decided it; every rank saves alike (each save gathers the ranks' RNG states)
        improved = dist.all_gather_objects(r.improved)[0]
        if improved:
            self.best_epoch = r.epoch
        r.save_checkpoint("checkpoint_last.pth")
        if improved and r.is_main:  # the same state, so the same file: copied, not serialized again
            _copy_to_best(r.output_dir / "checkpoint_last.pth", r.output_dir)
        dist.barrier()
