"""Whether a checkpoint may be resumed under today's config and data.

A resumed run goes on with the checkpoint's optimizer, schedule, random state and sampler
order, from the end of the checkpoint's epoch, while ``config.yaml`` records today's config
as the whole run's. So every setting and every input those were made from must be what they
were (else the new value is ignored, or changes the run midway), and the run's length must
end at or after the checkpoint and continue it from an epoch's end. Light (no torch): the
runner calls :func:`check_resumed_run` before it loads anything from the checkpoint.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional

from gf.common.errors import CheckpointError, ConfigError
from gf.common.registry import registry

__all__ = ["RESUME_KEEPS", "check_resumed_run", "schedule_length"]

#: Run settings a resumed run keeps, those its restored optimizer (kind, learning rate, weight
#: decay), schedule, random state, sampler order and best-so-far metric were made with; and
#: ``valid_splits[0]``, the split whose metric the restored best value is of (:func:`_kept`).
RESUME_KEEPS = ("seed", "batch_size", "optimizer", "lr", "weight_decay", "lr_sched", "warmup_steps", "min_lr_ratio",
                "grad_clip", "amp", "train_dataset", "train_split", "best_metric")


def schedule_length(run: Mapping[str, Any], steps_per_epoch: int) -> int:
    """The optimizer steps the learning-rate schedule spans: run.epochs of them, or run.max_steps if fewer."""
    total = steps_per_epoch * run["epochs"]
    return total if run.get("max_steps") is None else min(run["max_steps"], total)


def _kept(run: Mapping[str, Any]) -> Dict[str, Any]:
    view = {key: run[key] for key in RESUME_KEEPS if key in run}
    if run.get("valid_splits"):
        view["valid_splits[0]"] = run["valid_splits"][0]
    return view


def _data_differing(extra: Mapping[str, Any], steps_per_epoch: int,
                    content: Callable[[str], Optional[str]]) -> List[str]:
    """The training data the checkpoint recorded (``steps_per_epoch`` and the
    ``split_contents`` of the training split and the first valid split) against today's.
    Why: another training split changes the schedule's steps and the sampler's order midway,
    and another valid split makes "best" a comparison of scores on different questions.
    A checkpoint of an older gf recorded neither: nothing to compare."""
    differing = []
    then = extra.get("steps_per_epoch")
    if then is not None and then != steps_per_epoch:
        differing.append(f"steps per epoch: checkpoint {then} -> now {steps_per_epoch}")
    for split, recorded in (extra.get("split_contents") or {}).items():
        now = content(split)
        if recorded is not None and now is not None and now != recorded:
            differing.append(f"split {split!r} of {extra.get('dataset')}: other questions or labels (content "
                             f"checkpoint {recorded[:12]} -> now {now[:12]})")
    return differing


def check_resumed_run(ckpt, run: Mapping[str, Any], steps_per_epoch: int, *, world_size: int,
                      content: Callable[[str], Optional[str]] = lambda split: None) -> None:
    """Refuse to resume ``ckpt`` with run settings that its restored state overrides
    (:data:`RESUME_KEEPS`), with other training or validation data (:func:`_data_differing`;
    ``content``: a split of the training dataset -> its content hash today), with another
    run length under a schedule that spans the run, or with another number of processes (the
    world size: it sets the steps per epoch the restored schedule was built over, the
    effective batch and the sampler's order), naming every differing key with both values (as
    ``check_model_config`` does for the model): a :class:`CheckpointError`. Then a run length
    that does not continue the checkpoint (:func:`_check_run_length`): a :class:`ConfigError`.
    Keys the checkpoint does not record (an older gf) are not compared."""
    recorded = ckpt.run_config.get("run")
    if not isinstance(recorded, Mapping):
        return
    old, new = _kept(recorded), _kept(run)
    differing = [f"run.{key}: checkpoint {old[key]!r} -> config {new.get(key)!r}"
                 for key in old if old[key] != new.get(key)]
    hint = ""
    world_then = ckpt.extra.get("world_size")
    if world_then is not None and world_then != world_size:
        differing.append(f"number of processes (world size): checkpoint {world_then} -> now {world_size}")
        hint = (" Resume on 1 process (without torchrun)." if world_then == 1 else
                f" Resume on {world_then} processes (torchrun --nproc_per_node={world_then}).")
    data = _data_differing(ckpt.extra, steps_per_epoch, content)
    if data:
        differing += data
        hint += (" A resumed run trains and validates on the data its checkpoint was made with (its questions, "
                 "in order, with their labels; the data may have moved).")
    length = ""
    length_free = getattr(registry.get("lr_scheduler", run["lr_sched"]), "length_free", False)
    steps_then = ckpt.extra.get("steps_per_epoch") or steps_per_epoch
    then = schedule_length(recorded, steps_then) if "epochs" in recorded else None
    now = schedule_length(run, steps_per_epoch)
    if not length_free and then is not None and then != now:
        differing += [f"run.{key}: checkpoint {recorded.get(key)!r} -> config {run.get(key)!r}"
                      for key in ("epochs", "max_steps") if recorded.get(key) != run.get(key)]
        length = (f" The {run['lr_sched']} schedule spans the whole run ({then} "
                  f"steps then, {now} now), so a new length would change the "
                  f"learning rate of the steps already done; only a schedule that does not depend on the run's "
                  f"length (lr_sched constant) trains longer on resume.")
    if differing:
        raise CheckpointError(
            f"{ckpt.path} was trained with other run settings{' or data' if data else ''} ({'; '.join(differing)}). "
            f"A resumed run goes on "
            f"with the checkpoint's optimizer, schedule and random state, so these values would be ignored or "
            f"change the run midway.{length}{hint} Resume with the checkpoint's values (its config.yaml: drop the "
            f"differing --options), or start a new run in another run.output_dir (model.checkpoint={ckpt.path} "
            f"starts it from these weights).")
    _check_run_length(ckpt, recorded, run, steps_then)


def _check_run_length(ckpt, recorded: Mapping[str, Any], run: Mapping[str, Any], steps_per_epoch: int) -> None:
    """Refuse a run length that does not continue ``ckpt``: one that ends before the
    checkpoint's step (config.yaml would describe less training than its weights had), and a
    longer one from an epoch that run.max_steps cut short. A resume goes on with the next
    epoch, so the rest of the cut one would be skipped and the weights would not be those of
    the run config.yaml describes. Resuming inside the cut epoch is not done: it would not be
    exact (the random state saved after the epoch's evaluation is not the one its next step
    had), so the longer run is refused instead."""
    epoch, step = ckpt.content["epoch"], ckpt.content["step"]
    planned = schedule_length(run, steps_per_epoch)  # the steps today's config trains in all
    options = f"run.epochs {run['epochs']}, run.max_steps {run.get('max_steps')}"
    restart = (f"start a new run in another run.output_dir (model.checkpoint={ckpt.path} starts it from these "
               f"weights)")
    if planned < step:
        raise ConfigError(
            f"{ckpt.path} has trained {step} steps ({epoch + 1} epochs), but {options} end the run at step {planned}: "
            f"config.yaml would describe a shorter run than its weights had. Resume with run.epochs and "
            f"run.max_steps reaching step {step}, or {restart}.")
    epoch_end = (epoch + 1) * steps_per_epoch
    if step < epoch_end and planned > step:
        raise ConfigError(
            f"{ckpt.path}: run.max_steps {recorded.get('max_steps')} cut epoch {epoch + 1} short at step {step}, "
            f"{epoch_end - step} steps before its end, and a resume goes on with the next epoch, so {options} "
            f"would skip those steps and train other weights than the run config.yaml would describe. Resume "
            f"with run.max_steps={step}, or {restart}.")
