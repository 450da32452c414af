"""The event targets of a benchmark: every clip's ``[class, start_s, end_s]`` actions, checked
and packed once (:class:`EventTable`).

Why a module of its own: events come from each benchmark's ``events.json`` in slightly
different shapes (spans in seconds or frames, empty lists, spans past the clip), and the
authors' loaders handled them differently. Reading them is one job, done once per file
by the builder (:meth:`gf.datasets.base.VideoQABuilder.event_table`); the dataset
(:mod:`gf.datasets.videoqa`) only selects a clip's rows.
"""
from __future__ import annotations

import logging
import math
import numbers
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np
import torch

from gf.common.errors import DataFileError, DatasetError

__all__ = ["EventTable", "is_int"]

logger = logging.getLogger(__name__)


def is_int(x: Any) -> bool:
    t = type(x)
    return t is int or (t is not bool and isinstance(x, numbers.Integral))  # fast path first


def is_number(x: Any) -> bool:
    t = type(x)
    return t is float or t is int or (t is not bool and isinstance(x, numbers.Real))


# ---------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------
class _Where:
    """``"<source>: key '<key>'"``, formatted only when an error message needs it."""

    __slots__ = ("source", "key")

    def __init__(self, source: str, key: str):
        self.source, self.key = source, key

    def __format__(self, spec: str) -> str:
        return f"{self.source}: key {self.key!r}"


def _action_row(action: Any, j: int, where: _Where, num_classes: Optional[int]) -> Tuple[float, float, int]:
    """One checked ``[class_idx, start_s, end_s]`` as ``(start, end, class)``; a malformed action
    means the file is not what the builder thinks it is, so it is an error, not a skip."""
    if not isinstance(action, (list, tuple)) or len(action) != 3:
        raise DataFileError(f"{where}: action {j} is {action!r}; expected [class_idx, start_s, end_s]")
    cls_id, start, end = action
    if not is_int(cls_id):
        raise DataFileError(f"{where}: action {j} has class index {cls_id!r}; expected an integer class index")
    if num_classes is not None and not 0 <= cls_id < num_classes:
        raise DataFileError(
            f"{where}: action {j} has class index {cls_id}, outside [0, {num_classes}) "
            f"(the class list has {num_classes} lines). Wrong class list or events file?"
        )
    if num_classes is None and cls_id < 0:
        raise DataFileError(f"{where}: action {j} has negative class index {cls_id}")
    if not (is_number(start) and is_number(end) and math.isfinite(start) and math.isfinite(end)):
        raise DataFileError(f"{where}: action {j} has non-numeric times {start!r}, {end!r}")
    if end < start:
        raise DataFileError(f"{where}: action {j} ends before it starts ({start} > {end}); are start and end swapped?")
    return float(start), float(end), int(cls_id)


def _clip_entry(entry: Any, where: _Where, num_classes: Optional[int]) -> Tuple[Any, List[Tuple[float, float, int]]]:
    """A clip's checked duration and its actions as ``(start, end, class)`` sorted by time
    (stable: ties keep file order). The duration must be positive: spans are divided by it."""
    if not isinstance(entry, Mapping):
        raise DataFileError(f"{where}: expected {{'duration': s, 'actions': [...]}}, got {type(entry).__name__}")
    duration = entry.get("duration")
    if not is_number(duration) or not math.isfinite(duration):
        raise DataFileError(f"{where}: 'duration' must be a number of seconds, got {duration!r}")
    if duration <= 0:
        raise DataFileError(f"{where}: duration {duration!r} <= 0; spans are divided by it, fix the entry")
    actions = entry.get("actions", [])
    if not isinstance(actions, list):
        raise DataFileError(f"{where}: 'actions' must be a list of [class_idx, start_s, end_s], got {type(actions).__name__}")
    rows = [_action_row(action, j, where, num_classes) for j, action in enumerate(actions)]
    rows.sort(key=lambda r: (r[0], r[1]))
    return duration, rows


def _centre_width(norm_xx: List[Tuple[float, float]]) -> np.ndarray:
    """(start, end) -> (centre, width) in float32, in numpy rather than the model's torch
    code: importing gf.models here would pull the model package and scipy into every process
    that imports the dataset, DataLoader workers included. ``norm_xx`` is already divided by
    the duration and clipped to [0, 1]."""
    xx = np.asarray(norm_xx, dtype=np.float32).reshape(-1, 2)
    return np.stack([0.5 * (xx[:, 0] + xx[:, 1]), xx[:, 1] - xx[:, 0]], 1)


class EventTable:
    """Event targets of every clip, packed into two arrays plus an offset per key.

    ``spans[lo:hi]`` are the clip's events as normalised (centre, width) in [0, 1] and
    ``classes[lo:hi]`` their class ids, sorted by start time. Why packed arrays: one table
    serves all splits of a builder, and a dataset pickled to a ``spawn`` DataLoader worker
    carries three objects instead of tens of thousands of small tensors. ``stats`` counts
    what :meth:`from_raw` read, kept and dropped.
    """

    def __init__(self, spans: np.ndarray, classes: np.ndarray, offsets: Dict[str, Tuple[int, int]],
                 stats: Optional[Dict[str, Any]] = None):
        self.spans = np.asarray(spans, dtype=np.float32).reshape(-1, 2)
        self.classes = np.asarray(classes, dtype=np.int64).reshape(-1)
        if len(self.spans) != len(self.classes):
            raise DatasetError(f"EventTable: {len(self.spans)} spans but {len(self.classes)} classes")
        self.offsets = dict(offsets)
        self.stats = dict(stats or {})

    @classmethod
    def empty(cls) -> "EventTable":
        return cls(np.zeros((0, 2), np.float32), np.zeros((0,), np.int64), {}, {"clips": 0, "events": 0})

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], num_classes: Optional[int] = None, source: str = "events") -> "EventTable":
        """Build from the authors' ``events.json`` layout (docs/data_formats.md, "0. What every
        benchmark becomes", Events: clipped, converted to (centre, width), B1).

        An event that is empty after clipping is dropped and counted (a warning names how
        many); the clip and its question stay. Malformed entries (no/negative duration, a
        class outside ``[0, num_classes)``, end before start, non-numbers) are errors naming
        ``source`` and the key, since they mean the file is not what the builder thinks it is.
        """
        if not isinstance(raw, Mapping):
            raise DataFileError(f"{source}: expected a JSON object {{key: {{duration, actions}}}}, got {type(raw).__name__}")
        # Per-clip work is plain Python (validation, clipping, sorting); the conversion to
        # (centre, width) runs once over all events, not once per clip.
        norm_xx: List[Tuple[float, float]] = []
        classes_flat: List[int] = []
        offsets: Dict[str, Tuple[int, int]] = {}
        dropped, dropped_clips, examples = 0, 0, []
        for raw_key, entry in raw.items():
            key = str(raw_key)
            duration, rows = _clip_entry(entry, _Where(source, key), num_classes)
            lo = len(classes_flat)
            n_drop = 0
            for start, end, cls_id in rows:
                s = min(max(start / duration, 0.0), 1.0)
                e = min(max(end / duration, 0.0), 1.0)
                if e > s:
                    norm_xx.append((s, e))
                    classes_flat.append(cls_id)
                else:
                    n_drop += 1
                    if len(examples) < 5:
                        examples.append((key, [cls_id, start, end], float(duration)))
            if n_drop:
                dropped += n_drop
                dropped_clips += 1
            offsets[key] = (lo, len(classes_flat))
        if dropped:
            logger.warning(
                "%s: dropped %d event(s) in %d clip(s) that are empty once clipped to [0, duration] "
                "(zero length or outside the clip); their questions are kept. Examples (key, [class, start, end], duration): %s",
                source, dropped, dropped_clips, examples,
            )
        classes = np.asarray(classes_flat, dtype=np.int64)
        stats = {"clips": len(offsets), "events": len(classes_flat), "dropped_events": dropped,
                 "clips_with_dropped_events": dropped_clips, "dropped_examples": examples}
        return cls(_centre_width(norm_xx), classes, offsets, stats)

    def __len__(self) -> int:
        return len(self.offsets)

    def __contains__(self, key: Any) -> bool:
        return str(key) in self.offsets

    def count(self, key: Any) -> int:
        """Number of (kept) events of a clip; 0 for a clip the file does not list."""
        lo, hi = self.offsets.get(str(key), (0, 0))
        return hi - lo

    def select(self, key: Any, positions: Optional[Iterable[int]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(spans [n, 2], classes [n])`` of a clip, all or the given positions (new tensors)."""
        lo, hi = self.offsets.get(str(key), (0, 0))
        idx = np.arange(lo, hi) if positions is None else lo + np.asarray(list(positions), dtype=np.int64)
        return torch.from_numpy(self.spans[idx].reshape(-1, 2)), torch.from_numpy(self.classes[idx])

    def __repr__(self) -> str:
        return f"EventTable({len(self.offsets)} clips, {len(self.classes)} events)"
