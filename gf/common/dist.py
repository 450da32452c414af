"""Distributed helpers that are no-ops on one process (detectron2's habit).

Runs under ``torchrun`` are detected from its environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``); gloo on CPU, NCCL on CUDA. Only what the runner and the losses use lives here.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Mapping

import torch
import torch.distributed as dist


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_dist() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def _launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def init_distributed(device: torch.device) -> bool:
    """Join the process group torchrun set up; returns whether this run is distributed."""
    if not _launched_by_torchrun() or is_dist():
        return is_dist()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    # torch.distributed.nn.functional takes group.WORLD as the default argument of ten
    # functions when it is first imported (transformers imports it as it loads the text
    # encoder). Imported after init_process_group, it holds the process group past
    # destroy_process_group: gloo's threads then live into interpreter shutdown and now and
    # then abort a finished rank at exit (SIGABRT, "terminate called without an active
    # exception"). Imported first, those defaults are None.
    import torch.distributed.nn.functional  # noqa: F401
    dist.init_process_group(backend=backend)
    return True


#: What gloo's failed collectives say (plain RuntimeErrors; NCCL's are DistErrors).
_PEER_GONE = ("gloo/transport", "Connection closed by peer", "Connection reset by peer")


def peer_failure(exc: BaseException):
    """The :class:`~gf.common.errors.DistributedPeerError` standing for ``exc`` when it is a
    collective that failed under torchrun because another process left (gloo or NCCL),
    else None. Decided here, for every collective at once (DDP's inside ``backward``
    included), from what torch raises; the process group may already be gone by then."""
    from gf.common.errors import DistributedPeerError

    if not _launched_by_torchrun() or not isinstance(exc, RuntimeError):
        return None
    text = str(exc)
    if not (isinstance(exc, dist.DistError) or any(mark in text for mark in _PEER_GONE)):
        return None
    reason = text.strip().splitlines()[0].split(". ")[0] if text.strip() else type(exc).__name__
    return DistributedPeerError(f"rank {os.environ.get('RANK', '?')}: another process of this torchrun run failed "
                                f"or stopped answering, so this one cannot go on; its error is above (torch: "
                                f"{reason})")


def barrier() -> None:
    """Wait for every rank; returns at once on one process."""
    if is_dist():
        dist.barrier()


def all_gather_objects(obj: Any) -> List[Any]:
    if not is_dist():
        return [obj]
    out: List[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_means(values: Mapping[str, float]) -> Dict[str, float]:
    """Each value's mean over the processes, in one collective: what a log records must be
    the run's figure, not rank 0's share of it. Every rank calls it with the same keys; on
    one process the values come back as they are."""
    if not is_dist():
        return dict(values)
    keys = sorted(values)  # the same order on every rank
    # NCCL reduces CUDA tensors only (init_distributed set this rank's device).
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    means = dict(zip(keys, (v / get_world_size() for v in t.tolist())))
    return {k: means[k] for k in values}


def sum_over_ranks_mean(total: torch.Tensor, count: Any) -> torch.Tensor:
    """``total`` (this process's sum of a loss) divided by ``count`` summed over the processes
    and divided by the world size, so that DDP's average of the processes' gradients is the
    gradient of the mean over every process's items (DETR's normalisation): per-process means
    would weight one process's few items like another's many. A collective: every process
    calls it, whatever its data. The clamp only matters when no process has any item (then
    every total is 0). On one process: ``total / max(count, 1)``."""
    count = torch.as_tensor(count, dtype=total.dtype, device=total.device).detach().clone()
    if is_dist():
        dist.all_reduce(count)
    return total / (count.clamp(min=1) / get_world_size())


#: How many :func:`kept_process_group` blocks are open: while one is, :func:`cleanup` leaves the group.
_kept = 0


@contextmanager
def kept_process_group(device: torch.device) -> Iterator[None]:
    """Join torchrun's process group for a command that runs several runs one after the
    other (``gf train --seeds``) and leave it once, at the end (at once if this rank
    failed). Why: a process cannot reliably join a second group after leaving the first
    (gloo's rendezvous then reaches the first group's addresses, and the ranks hang or
    fail blaming each other), so each run's own :func:`cleanup` leaves it in place."""
    global _kept
    init_distributed(device)
    _kept += 1
    failed = True
    try:
        yield
        failed = False
    finally:
        _kept -= 1
        cleanup(wait=not failed)


def cleanup(wait: bool = True) -> None:
    """Leave the process group once every rank is done: a rank that tears it down while
    another still finishes its last collective can abort the other (gloo). A rank that
    failed (``wait=False``) leaves at once: the others may never reach the barrier, and
    its exit is what lets torchrun stop them and show its error. Inside
    :func:`kept_process_group` it does nothing: the block leaves the group at its end."""
    if is_dist() and not _kept:
        if wait:
            dist.barrier()
        dist.destroy_process_group()
