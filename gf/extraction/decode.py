"""Decoding: which frames of a video (or of a window of it) to read, and reading them.

Why decord first and PyAV second: decord seeks to the frames asked for and returns them
as one batch, which is what sampling a few frames from a long video needs; it fails to
open some files (odd containers, some codecs) that FFmpeg's own demuxers, reached
through PyAV, still read. A file neither can read is a failure with both reasons.

Why decord is not always trusted when it opens a file: on some valid files it reads
wrong, silently; :func:`_decord_unfit` sends those to PyAV, and ``_DecordReader`` checks
decord's timestamps before they are used. Which files: docs/extraction.md, "Decoding,
workers, time limit".

Frame times are seconds from the video's first shown frame, the time base of STAR's
``start``/``end`` (frames an mp4 edit list hides are neither returned nor counted).

The time limit is cooperative: the deadline is checked after opening the file, every
``CHUNK`` frames of PyAV's opening pass (which decodes every frame to learn its time),
between chunks of frames and between frames being preprocessed. A single decoder call
that never returns (a damaged file that makes FFmpeg loop) cannot be interrupted from Python.
"""
from __future__ import annotations

import functools
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from gf.extraction.clips import frame_sampler

__all__ = [
    "DecodeFailure",
    "VideoTimeout",
    "Deadline",
    "VideoReader",
    "open_video",
    "resolve_window",
    "DecodedVideo",
    "decode_video",
]

#: frames read per decoder call; the deadline is checked between calls
CHUNK = 8


class DecodeFailure(Exception):
    """A video (or one window of it) cannot give frames; ``reason`` goes to failures.jsonl."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class VideoTimeout(DecodeFailure):
    """The per-video time limit ran out: the video fails, whichever decoder was reading it
    (no other decoder is tried)."""


class Deadline:
    """A per-video time limit (``None`` or ``<= 0`` = no limit)."""

    def __init__(self, seconds: Optional[float]):
        self.seconds = seconds if seconds and seconds > 0 else None
        self.t0 = time.monotonic()

    def check(self, doing: str) -> None:
        if self.seconds is not None and time.monotonic() - self.t0 > self.seconds:
            raise VideoTimeout(f"timed out: over the per-video time limit of {self.seconds:g} s while {doing}")


def seconds(value: float) -> str:
    """A duration for messages: up to 3 decimals, at least one (``4.0``, ``2.04``)."""
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


# ---------------------------------------------------------------------------------------
# readers
# ---------------------------------------------------------------------------------------
class VideoReader:
    """What sampling needs from a decoder: per-frame times, the duration, and a batch read."""

    decoder = ""
    frame_times: np.ndarray  # seconds from the first frame, ascending, one per frame
    duration: float
    fps: float

    def read(self, indices: Sequence[int], deadline: Deadline) -> np.ndarray:
        """uint8 ``[K, H, W, 3]`` RGB for ``indices`` (ascending, unique)."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class _DecordReader(VideoReader):
    decoder = "decord"

    def __init__(self, path: str, deadline: Optional[Deadline] = None):
        import decord

        # deadline goes unchecked: decord opens from the container's index, with no pass over every frame (PyAV has one)
        self._vr = decord.VideoReader(path, num_threads=1)
        n = len(self._vr)
        if n == 0:
            raise DecodeFailure("the video has no frames")
        stamps = np.asarray(self._vr.get_frame_timestamp(list(range(n))), dtype=np.float64).reshape(n, 2)
        if not np.all(np.isfinite(stamps)) or np.any(np.diff(stamps[:, 0]) <= 0):
            raise DecodeFailure("its frame timestamps do not increase from frame to frame")
        first = stamps[0, 0]
        if first < 0:  # frames an edit list hides: decord reads them, a player does not
            raise DecodeFailure(f"its first frame is at {first:g} s, before the start (an edit list hides it)")
        self.frame_times = stamps[:, 0] - first
        self.duration = float(stamps[-1, 1] - first)
        self.fps = float(self._vr.get_avg_fps())
        if not self.duration > 0 or (self.fps > 0 and not 0.25 <= self.duration * self.fps / n <= 4):
            raise DecodeFailure(f"its duration ({self.duration:g} s) disagrees with its {n} frames at "
                                f"{self.fps:g} fps")

    def read(self, indices, deadline):
        out = []
        for i in range(0, len(indices), CHUNK):
            out.append(self._vr.get_batch(list(indices[i:i + CHUNK])).asnumpy())
            deadline.check("decoding frames")
        return np.concatenate(out, axis=0)

    def close(self):
        self._vr = None


class _PyAVReader(VideoReader):
    """Frames as FFmpeg's decoder returns them: frame ``n`` is the ``n``-th frame decoded, at
    the ``n``-th smallest of the decoded frames' presentation times.

    Why decoded frames, not demuxed packets: a packet need not become a frame (an mp4 edit
    list hides the frames before the cut, an open-GOP stream cut at a keyframe has leading
    B-frames the decoder drops), so counting packets would shift every later frame off its time.
    Why by position, with the times sorted: the decoder returns frames in display order
    (the same on every pass with one thread), while AVI, which has no presentation times,
    gets guessed ones that are out of order around its B-frames.
    """

    decoder = "pyav"

    def __init__(self, path: str, deadline: Optional[Deadline] = None):
        import av

        self._path = path
        deadline = deadline or Deadline(None)
        with av.open(path) as container:
            if not container.streams.video:
                raise DecodeFailure("the file has no video stream")
            stream = container.streams.video[0]
            stream.thread_count = 1
            pts = []
            for frame in container.decode(stream):  # a long video: the limit holds during this pass too
                pts.append(_frame_pts(frame))
                if len(pts) % CHUNK == 0:
                    deadline.check("opening the file (reading every frame's time)")
            pts.sort()
            tb = float(stream.time_base)
            rate = float(stream.average_rate or stream.guessed_rate or 0)
        if not pts:
            raise DecodeFailure("the video has no frames")
        self.frame_times = (np.asarray(pts, dtype=np.float64) - pts[0]) * tb
        if not rate > 0:
            span = self.frame_times[-1]
            rate = (len(pts) - 1) / span if span > 0 else 1.0
        self.fps = rate
        self.duration = float(self.frame_times[-1] + 1.0 / rate)

    def read(self, indices, deadline):
        import av

        wanted = {int(i): k for k, i in enumerate(indices)}
        out: List[Optional[np.ndarray]] = [None] * len(indices)
        last = max(wanted)
        with av.open(self._path) as container:
            stream = container.streams.video[0]
            stream.thread_count = 1
            for n, frame in enumerate(container.decode(stream)):
                if n in wanted:
                    out[wanted[n]] = _upright(frame.to_ndarray(format="rgb24"), frame.rotation)
                if n % CHUNK == CHUNK - 1:
                    deadline.check("decoding frames")
                if n >= last:
                    break
        missing = [int(indices[k]) for k, a in enumerate(out) if a is None]
        if missing:
            raise DecodeFailure(f"the decoder stopped before frame {missing[0]} of {len(self.frame_times)}")
        return np.stack(out)  # type: ignore[arg-type]


def _frame_pts(frame) -> int:
    """A decoded frame's presentation time (time-base units); a frame without one cannot be
    placed in time, so the video fails rather than guessing."""
    if frame.pts is None:
        raise DecodeFailure("its decoded frames have no presentation timestamps")
    return int(frame.pts)


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """``image`` as the video is shown: ``rotation`` is PyAV's ``frame.rotation``, the
    counterclockwise degrees of the display matrix (-90 for a phone's portrait video)."""
    if rotation % 90:
        raise DecodeFailure(f"its display matrix rotates the picture by {rotation} degrees; gf reads only "
                            f"rotations by a multiple of 90 degrees")
    return np.ascontiguousarray(np.rot90(image, k=(rotation // 90) % 4)) if rotation % 360 else image


#: FFmpeg's names of the containers in which decord seeks to other frames than asked for
_DECORD_UNSEEKABLE = {"mpegts": "MPEG-TS", "mpeg": "MPEG-PS", "mpegvideo": "MPEG video"}


#: packets looked at for an edit list that hides frames (they are the first ones demuxed)
_EDIT_PACKETS = 32


def _decord_unfit(path: str) -> Optional[str]:
    """Why decord must not read ``path`` although it may open it (None: it may): a container
    it seeks wrongly, a rotated video or an mp4 whose edit list hides frames (docs/extraction.md,
    "Decoding, workers, time limit"). A file PyAV cannot open is left to decord.

    An mp4 cut without re-encoding (``ffmpeg -ss T -c copy``) keeps the frames before T and
    hides them by an edit list: FFmpeg flags their first packets discard (or gives them
    negative times). decord returns them anyway, with times from below 0, and which frame an
    index gives depends on the batch; PyAV decodes the file as a player shows it.
    """
    try:
        import av

        with av.open(path) as container:
            name = container.format.name
            if name in _DECORD_UNSEEKABLE:
                return f"not used for an {_DECORD_UNSEEKABLE[name]} container (it reads other frames than asked for)"
            if not container.streams.video:
                return None
            frame = next(container.decode(container.streams.video[0]), None)
            if frame is not None and frame.rotation:
                return f"not used for a video rotated by its display matrix ({frame.rotation} degrees)"
        with av.open(path) as container:
            for packet in itertools.islice(container.demux(container.streams.video[0]), _EDIT_PACKETS):
                if packet.size and (packet.is_discard or (packet.pts is not None and packet.pts < 0)):
                    return "not used for a video whose edit list hides its first frames (it reads the hidden frames)"
        return None
    except Exception:  # PyAV cannot read it: decord may
        return None


def open_video(path: str, *, decoders: Sequence[str] = ("decord", "pyav"),
               deadline: Optional[Deadline] = None) -> VideoReader:
    """A reader for ``path``: decord, or PyAV where decord cannot open the file or would read
    it wrongly (see the module doc).

    A missing or empty file fails before either decoder is tried, so its reason says so
    rather than quoting a demuxer's "moov atom not found". ``decoders=("decord",)`` alone
    is a caller's explicit choice (comparing the readers): decord is then used as it is.
    """
    if not os.path.exists(path):
        raise DecodeFailure("file not found")
    if os.path.isdir(path):
        raise DecodeFailure("is a folder, not a video file")
    if os.path.getsize(path) == 0:
        raise DecodeFailure("empty file (0 bytes)")
    reasons = []
    for name in decoders:
        cls = {"decord": _DecordReader, "pyav": _PyAVReader}[name]
        unfit = _decord_unfit(path) if name == "decord" and len(decoders) > 1 else None
        if unfit:
            reasons.append(f"{name}: {unfit}")
            continue
        try:
            return cls(path, deadline)
        except VideoTimeout:
            raise
        except DecodeFailure as e:
            reasons.append(f"{name}: {e.reason}")
        except Exception as e:  # decoders raise many kinds for a bad file
            reasons.append(f"{name}: {_first_line(e)}")
    raise DecodeFailure("cannot decode: " + "; ".join(reasons))


# ---------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------
def resolve_window(start: Optional[float], end: Optional[float], duration: float,
                   tolerance: float) -> Tuple[float, float]:
    """The part of ``[start, end]`` inside ``[0, duration]``.

    STAR's windows come from annotations made on the original Charades videos, whose
    re-encoded copies can be a fraction of a second shorter; an overshoot up to
    ``tolerance`` seconds is clipped, anything more means the window does not belong to
    this video, a failure.
    """
    if not duration > 0:
        raise DecodeFailure(f"the decoder reports a duration of {seconds(duration)} s, so no frames can be sampled")
    s = 0.0 if start is None else float(start)
    e = duration if end is None else float(end)
    outside = f"window {s:g}-{e:g} s is outside the {seconds(duration)} s video"
    if s >= duration:
        raise DecodeFailure(f"{outside}: it starts at or after the video's end")
    if e > duration + tolerance:
        raise DecodeFailure(f"{outside}: it ends {e - duration:.3f} s after the video's end (more than the "
                            f"tolerance of {tolerance:g} s)")
    if s < -tolerance:
        raise DecodeFailure(f"{outside}: it starts before 0")
    return max(s, 0.0), min(e, duration)


@dataclass
class DecodedVideo:
    """Frames of one video, shared by its windows: ``frames`` holds each frame once,
    ``samples`` maps each key to rows of ``frames`` (or to the reason it failed)."""

    frames: Optional[np.ndarray]  # uint8 [U, H, W, 3]
    samples: List[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)


def decode_video(path: str, windows: Sequence[Tuple[str, Optional[float], Optional[float]]], *,
                 num_frames: Optional[int] = None, fps: Optional[float] = None,
                 tolerance: float = 0.5, deadline: Optional[Deadline] = None,
                 opener: Callable[..., VideoReader] = open_video,
                 sampler: Optional[Callable[..., tuple]] = None) -> DecodedVideo:
    """Decode the frames every window ``(key, start, end)`` of ``path`` needs, once each.

    ``sampler(frame_times, duration, start, end)`` picks a window's frames as named index
    arrays (``{"frames": [T]}`` for a frame backbone, ``{"clips": [N, L], ...}`` for a clip
    backbone: :mod:`gf.extraction.clips`) and the rows' times; each sample gets them back
    as ``rows``, the same arrays indexing ``frames``. Default: ``num_frames``/``fps`` frames.
    ``opener(path, deadline=...)`` gives the reader (default :func:`open_video`).

    Whole-video failures (unreadable, timed out, no duration) raise :class:`DecodeFailure`; a window
    that does not fit the video fails alone (its sample carries ``error``), so one bad
    question does not cost the other questions of its video.
    """
    deadline = deadline or Deadline(None)
    sampler = sampler or functools.partial(frame_sampler, num_frames=num_frames, fps=fps)
    reader = opener(path, deadline=deadline)
    try:
        deadline.check("opening the file")
        samples, wanted = [], set()
        for key, start, end in windows:
            try:
                s, e = resolve_window(start, end, reader.duration, tolerance)
            except DecodeFailure as err:
                if start is None and end is None:
                    raise  # the whole video does not fit itself: a video failure, not a window's
                samples.append({"key": key, "error": err.reason})
                continue
            sets, meta = sampler(reader.frame_times, reader.duration, s, e)
            wanted.update(int(i) for a in sets.values() for i in np.ravel(a))
            sample = {"key": key, "indices": sets,
                      "window": None if start is None and end is None else [float(start), float(end)], **meta}
            if sample["window"] is not None and [s, e] != sample["window"]:
                sample["window_used"] = [round(s, 6), round(e, 6)]  # clipped to the video
            samples.append(sample)
        info = {"decoder": reader.decoder, "video_frames": int(len(reader.frame_times)),
                "video_fps": round(reader.fps, 6), "duration": round(reader.duration, 6)}
        if not wanted:
            return DecodedVideo(None, samples, info)
        order = np.array(sorted(wanted), dtype=np.int64)
        try:
            frames = reader.read(order, deadline)
        except DecodeFailure:
            raise
        except Exception as e:  # opened but cannot read: PyAV may still (frame numbering is its own)
            if reader.decoder == "pyav" or opener is not open_video:
                raise DecodeFailure(f"cannot decode: {reader.decoder}: {_first_line(e)}") from None
            return decode_video(path, windows, tolerance=tolerance, deadline=deadline, sampler=sampler,
                                opener=functools.partial(open_video, decoders=("pyav",)))
        for sample in samples:
            if "indices" in sample:  # frame index -> row of ``frames`` (``order`` is sorted and holds them all)
                sample["rows"] = {name: np.searchsorted(order, a).astype(np.int64)
                                  for name, a in sample.pop("indices").items()}
        return DecodedVideo(frames, samples, info)
    finally:
        reader.close()
