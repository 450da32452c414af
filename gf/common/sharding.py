"""``--shard I/N``: the option that spreads one command over a scheduler's job array.

Why in ``gf/common``: ``gf leaderboard run --shard`` and ``gf extract --shard`` take the
same option with the same numbering (from 0, as SLURM array task ids are), so a job
array script passes ``${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}`` to either, and
both refuse a bad value with the same words before anything is created.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

from gf.common.errors import ConfigError

__all__ = ["check_shard", "parse_shard"]


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
