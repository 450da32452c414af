"""Where the clips of a clip-level backbone lie: frame indices per clip, and the seconds each covers.

Why a pure function on frame times: the time a feature row covers is what aligns it with
the questions (STAR's windows, the glance stage's event spans) and with another stream
(an appearance frame per clip), so it is computed once, here, from the decoder's own
presentation times, and recorded with every row; nothing downstream re-derives it.

Clips are placed as frames are (:func:`sample_indices`); the placement, a row's span and
its time: docs/extraction.md, "Clip backbones: one row per clip". A window with fewer
frames than a clip spans repeats its last frame because a 3-D CNN takes a fixed clip
length. The frame an appearance stream takes for a clip is the clip's middle frame by
position (``clip_len // 2``), which is near the row's time, not always at it (where:
docs/extraction.md, "Two streams: appearance + motion"). Each row records that frame's own
time (``frame_times``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

__all__ = ["ClipSampling", "sample_clips", "sample_indices", "frame_end_times", "clip_sampler", "frame_sampler"]


@dataclass
class ClipSampling:
    indices: np.ndarray  # int64 [N, clip_len]: frame indices of each clip
    spans: np.ndarray  # float64 [N, 2]: [start, end) seconds each clip's frames are shown
    centres: np.ndarray  # float64 [N]: the middle of each span, the row's time
    centre_frames: np.ndarray  # int64 [N]: each clip's middle frame (the appearance stream's frame)


def frame_end_times(frame_times: np.ndarray, duration: float) -> np.ndarray:
    """When each frame stops being shown: the next frame's time, the video's end for the last."""
    return np.append(np.asarray(frame_times[1:], dtype=np.float64), float(duration))


def _centred(frame_times: np.ndarray, start: float, end: float, count: Optional[int], rate: Optional[float],
             names: Tuple[str, str]) -> Tuple[np.ndarray, np.ndarray]:
    """The frames inside ``[start, end]``, and the position among them at each segment's
    centre (:func:`sample_indices`)."""
    if (count is None) == (rate is None):
        raise ValueError(f"give exactly one of {names[0]} and {names[1]}")
    length = end - start
    count = int(count) if count is not None else max(1, int(round(length * float(rate))))
    inside = np.flatnonzero((frame_times >= start) & (frame_times < end))
    if inside.size == 0:  # a window shorter than one frame period: the frame nearest its centre
        inside = np.array([int(np.argmin(np.abs(frame_times - (start + end) / 2)))])
    targets = start + (np.arange(count) + 0.5) * (length / count)
    return inside, np.clip(np.searchsorted(frame_times[inside], targets, side="right") - 1, 0, inside.size - 1)


def sample_clips(frame_times: np.ndarray, duration: float, start: float, end: float, *, clip_len: int,
                 clip_stride: int = 1, num_clips: Optional[int] = None,
                 clips_per_second: Optional[float] = None) -> ClipSampling:
    """The clips of ``[start, end]`` (see the module doc)."""
    if clip_len < 1 or clip_stride < 1:
        raise ValueError("clip_len and clip_stride must be >= 1")
    frame_times = np.asarray(frame_times, dtype=np.float64)
    inside, centre = _centred(frame_times, start, end, num_clips, clips_per_second, ("num_clips", "clips_per_second"))
    reach = (clip_len - 1) * clip_stride  # positions from a clip's first frame to its last
    first = np.clip(centre - reach // 2, 0, max(0, inside.size - 1 - reach))
    positions = np.minimum(first[:, None] + np.arange(clip_len)[None, :] * clip_stride, inside.size - 1)
    indices = inside[positions]
    ends = frame_end_times(frame_times, duration)
    spans = np.stack([frame_times[indices[:, 0]], ends[indices[:, -1]]], axis=1)
    middle = indices[:, clip_len // 2]  # by position, not by time: a centre on a frame boundary is no tie
    return ClipSampling(indices.astype(np.int64), spans, spans.mean(axis=1), middle.astype(np.int64))


def _rounded(values) -> list:
    return np.round(np.asarray(values, dtype=np.float64), 6).tolist()


def sample_indices(frame_times: np.ndarray, start: float, end: float, *,
                   num_frames: Optional[int] = None, fps: Optional[float] = None) -> np.ndarray:
    """Frame indices for ``[start, end]``: ``num_frames`` uniformly, or ``fps`` per second
    (N = round(length x fps), at least 1, placed the same way).

    Uniform sampling takes, for each of N equal segments, the last frame shown at the
    segment's centre, among the frames whose time lies in the window; so every time is
    inside the window, and a window shorter than N frames repeats frames rather than
    returning fewer (a fixed T is what HDF5 and most models need).
    """
    inside, pos = _centred(frame_times, start, end, num_frames, fps, ("num_frames", "fps"))
    return inside[pos]


def frame_sampler(frame_times: np.ndarray, duration: float, start: float, end: float, *,
                  num_frames: Optional[int], fps: Optional[float]) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
    """Frames for a frame backbone: ``{"frames": [T]}``, and each row's time (its frame's)."""
    idx = sample_indices(frame_times, start, end, num_frames=num_frames, fps=fps)
    return {"frames": idx}, {"times": _rounded(frame_times[idx])}


def clip_sampler(frame_times: np.ndarray, duration: float, start: float, end: float, *, clip_len: int,
                 clip_stride: int, num_clips: Optional[int], clips_per_second: Optional[float],
                 appearance: bool) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
    """Clips (and, for two streams, each clip's middle frame by position, the appearance
    frame): ``{"clips": [N, L], "centre": [N]}``, and per row its time (the centre of the
    clip's span), its span and, with an appearance stream, the time of its appearance frame
    (near the row's time, not always at it: see the module doc)."""
    c = sample_clips(frame_times, duration, start, end, clip_len=clip_len, clip_stride=clip_stride,
                     num_clips=num_clips, clips_per_second=clips_per_second)
    meta: Dict[str, Any] = {"times": _rounded(c.centres), "spans": _rounded(c.spans)}
    sets = {"clips": c.indices}
    if appearance:
        sets["centre"] = c.centre_frames
        meta["frame_times"] = _rounded(frame_times[c.centre_frames])
    return sets, meta
