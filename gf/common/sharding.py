"""``--shard I/N``: the option that spreads one command over a scheduler's job array.

Why in ``gf/common``: ``gf leaderboard run --shard`` and ``gf extract --shard`` take the
same option with the same numbering (from 0, as SLURM array task ids are), so a job
array script passes ``${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}`` to either, and
both refuse a bad value with the same words before anything is created.

Also here: which share of a list of webdataset shards the process and DataLoader worker
iterating it reads (:func:`reader_position`, :func:`split_by_rank`, :func:`split_by_worker`),
one rule for gf's streaming dataset and :func:`gf.datasets.webdataset_store.iter_webdataset_features`.
"""
from __future__ import annotations

import itertools
import os
from typing import Any, Optional, Tuple

from gf.common.errors import ConfigError

__all__ = ["check_shard", "every", "parse_shard", "reader_position", "split_by_rank", "split_by_worker"]


def check_shard(shard: Any, text: Optional[str] = None) -> Optional[Tuple[int, int]]:
    """``(I, N)`` with integers N >= 1 and 0 <= I < N, or None (all the work); ``text``: the
    option as given, for the message."""
    if shard is None:
        return None
    shown = repr(text) if text is not None else repr(shard)
    try:
        index, count = shard
    except (TypeError, ValueError):
        raise ConfigError(f"--shard must be a pair (I, N) of integers, 0 <= I < N, got {shown}") from None
    if any(isinstance(x, bool) or not isinstance(x, int) for x in (index, count)):
        raise ConfigError(f"--shard must be a pair (I, N) of integers, 0 <= I < N, got {shown}")
    if count < 1:
        raise ConfigError(f"--shard {shown}: N (the number of shards) must be >= 1")
    if not 0 <= index < count:
        raise ConfigError(f"--shard {shown}: I must be in 0..{count - 1} (0 <= I < N; shards are numbered from 0, "
                          f"as SLURM array ids are)")
    return index, count


def parse_shard(text: str) -> Tuple[int, int]:
    """``"I/N"`` (0 <= I < N) -> (I, N); SLURM arrays count from 0: ``${SLURM_ARRAY_TASK_ID}/N``."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like I/N with integers, 0 <= I < N (e.g. 0/4), got {text!r}") from None
    return check_shard((index, count), text)


def _torchrun_rank() -> Tuple[int, int]:
    """torchrun's ``(RANK, WORLD_SIZE)``, or ``(0, 1)`` where it did not set both; a
    :class:`ConfigError` for values no launcher would set (rather than splitting by them)."""
    text = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    if None in text:
        return 0, 1
    try:
        rank, world = (int(t) for t in text)
    except ValueError:
        rank, world = -1, 0
    if not 0 <= rank < world:
        raise ConfigError(f"environment variables RANK={text[0]!r} WORLD_SIZE={text[1]!r}: streaming splits shards by "
                          f"them (torchrun's), so they must be integers with 0 <= RANK < WORLD_SIZE; unset them or "
                          f"launch with torchrun")
    return rank, world


def reader_position() -> Tuple[int, int, int, int]:
    """``(rank, world, worker, num_workers)`` of the process iterating a stream.

    Why gf decides this rather than webdataset's ``pytorch_worker_info``: that one lets the
    generic ``WORKER`` / ``NUM_WORKERS`` environment variables override the DataLoader's own
    worker numbers (every worker then read the same shards) and ``RANK`` / ``WORLD_SIZE``
    override an initialised process group. Here the rank is torch.distributed's when it is
    initialised, else torchrun's variables (a DataLoader worker started by ``spawn`` has no
    process group), else 0 of 1; the worker is :func:`torch.utils.data.get_worker_info`'s.
    """
    from torch.utils.data import get_worker_info

    from gf.common import dist

    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_dist() else _torchrun_rank()
    info = get_worker_info()
    worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank, world, worker, num_workers


def every(start: int, step: int):
    """A webdataset splitter: items ``start, start + step, ...`` of the shard list."""
    return lambda src: itertools.islice(src, start, None, step)


def split_by_rank(urls):
    """A webdataset ``nodesplitter``: this process's share of ``urls`` by :func:`reader_position`'s rank."""
    rank, world, _, _ = reader_position()
    return every(rank, world)(urls)


def split_by_worker(urls):
    """A webdataset ``workersplitter``: this DataLoader worker's share of ``urls`` by :func:`reader_position`."""
    _, _, worker, num_workers = reader_position()
    return every(worker, num_workers)(urls)
