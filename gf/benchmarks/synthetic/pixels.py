"""Render the synthetic multi-event benchmark as small videos, so the demo can start from pixels.

Why: the synthetic benchmark (:mod:`gf.benchmarks.synthetic.generate`) hands the model ready-made
feature rows. Rendering each question's clip as an H.264 video lets the whole real
pipeline run offline -- decode, frame backbone (``gf extract``), train, ``gf predict`` on
a video file -- on data whose answers are known.

One second of video per feature row: docs/demo_pixels.md, its opening list ("Render").
What a clip looks like (a verb is a colour and a drift direction, an object a shape, so both
can be read off a single frame), why the frames and bytes are reproducible, and how a rerun
resumes or is refused: docs/demo_pixels.md, "What a clip looks like".
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import multiprocessing
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gf.benchmarks.synthetic.config import SPLITS
from gf.benchmarks.synthetic.generate import GENERATOR_NAME
from gf.common.errors import ConfigError, DataFileError
from gf.common.io import (atomic_write, atomic_write_json, load_json, load_jsonl, make_folder, output_lock,
                          remove_stale_temp_files)
from gf.common.utils import PathLike

__all__ = [
    "PixelStyle",
    "Clip",
    "RenderSummary",
    "class_pattern",
    "render_clip_frames",
    "read_clips",
    "check_splits",
    "render_benchmark",
]

#: Written into ``render.json`` (this module's former path, kept so rendered folders stay valid).
RENDERER_NAME = "gf.datasets.synthetic_pixels"
#: Bumped whenever the same style and benchmark would give other frames.
RENDER_FORMAT_VERSION = 1
MANIFEST_NAME = "render.json"
VIDEO_SUFFIX = ".mp4"

#: One colour per verb (RGB); as far apart as ten colours can be on a dark background.
PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (235, 40, 40),    # red
    (40, 205, 60),    # green
    (50, 90, 245),    # blue
    (245, 225, 40),   # yellow
    (225, 50, 225),   # magenta
    (40, 215, 225),   # cyan
    (250, 140, 20),   # orange
    (240, 240, 240),  # white
    (140, 80, 30),    # brown
    (150, 150, 150),  # grey
)
#: One shape per object, in the lexicon's order (cup, book, towel, box, pillow, phone, bag, shoe,
#: blanket, laptop). The first six (the default grid's objects) are the ones a random-init
#: backbone tells apart best at 32 px: outlines, stripes and crossings rather than filled
#: convex blobs, which differ only along their edges.
SHAPES: Tuple[str, ...] = ("square", "ring", "hstripes", "checker", "x", "triangle", "vstripes", "plus",
                           "diamond", "disc")


# ---------------------------------------------------------------------------------------
# style
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PixelStyle:
    """How clips are drawn and encoded; stored in ``render.json``.

    Fields:
      size        frame width and height in pixels (even: H.264's 4:2:0 chroma needs it)
      fps         frames per second; one second = one feature row of the benchmark
      seed        seeds the noise (with each question id)
      background  grey level (0-255) of the empty field
      noise_std   std of the Gaussian pixel noise, fresh in every frame, on background and shapes
      radius      the shape's half-size as a fraction of ``size``
      drift       how far the shape travels, as a fraction of ``size``: from ``-drift/2``
                  to ``+drift/2`` around the centre over the event, along its verb's direction
      qp          x264 constant quantiser (lower = closer to the drawn frames, larger files); a
                  constant quantiser rather than a rate factor because x264's rate control
                  (crf, with its macroblock tree) gave the same frames different bytes in
                  different processes (docs/demo_pixels.md)
      preset      x264 preset (speed of the encoder)
    """

    size: int = 32
    fps: int = 4
    seed: int = 0
    background: int = 40
    noise_std: float = 6.0
    radius: float = 0.36
    drift: float = 0.2
    qp: int = 20
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        def fail(name: str, why: str) -> None:  # names the gf demo-data option too, where there is one
            flag = f" (--{name.replace('_', '-')})" if name in ("size", "fps", "seed", "noise_std") else ""
            raise ConfigError(f"PixelStyle.{name}={getattr(self, name)!r}{flag}: {why}")

        for name in ("size", "fps", "seed", "background", "qp"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                fail(name, "must be an integer")
        if self.size < 16 or self.size % 2:
            fail("size", "must be an even number >= 16 (H.264 4:2:0 needs even sizes)")
        if self.fps < 1:
            fail("fps", "must be >= 1")
        if self.seed < 0:  # numpy's SeedSequence takes only non-negative entropy
            fail("seed", "must be >= 0")
        if not 0 <= self.background <= 255:
            fail("background", "must be in 0..255")
        if not 0 <= self.qp <= 51:
            fail("qp", "must be in 0..51 (x264)")
        if isinstance(self.noise_std, bool) or not isinstance(self.noise_std, (int, float)) \
                or not 0 <= self.noise_std < math.inf:  # inf would draw pure saturated noise
            fail("noise_std", "must be a finite number >= 0")
        if not 0.05 <= self.radius <= 0.5:
            fail("radius", "must be in 0.05..0.5 (of the frame size)")
        if not 0 <= self.drift <= 1 - 2 * self.radius:
            fail("drift", "must be in 0 .. 1 - 2 x radius, so the shape stays in the frame")
        if not isinstance(self.preset, str) or not self.preset:
            fail("preset", "must be an x264 preset name")


# ---------------------------------------------------------------------------------------
# patterns
# ---------------------------------------------------------------------------------------
def class_pattern(cls: int, num_verbs: int) -> Dict[str, Any]:
    """The look of action class ``cls`` (verb ``cls % V``, object ``cls // V``, as in the benchmark):
    ``verb``, ``object``, ``colour`` (RGB), ``shape`` (name) and ``direction`` (degrees of the drift)."""
    verb, obj = int(cls) % int(num_verbs), int(cls) // int(num_verbs)
    if not 0 <= verb < len(PALETTE) or not 0 <= obj < len(SHAPES):
        raise DataFileError(f"class {cls} (verb {verb}, object {obj}) is outside the renderer's "
                            f"{len(PALETTE)} colours x {len(SHAPES)} shapes")
    return {"verb": verb, "object": obj, "colour": PALETTE[verb], "shape": SHAPES[obj],
            "direction": 36.0 * verb}


def shape_mask(shape: str, size: int, centre: Tuple[float, float], radius: float) -> np.ndarray:
    """Float mask ``[size, size]`` in ``[0, 1]`` of ``shape`` centred at ``centre`` (x, y in
    pixels) with half-size ``radius`` pixels; 2 x 2 supersampled, so edges are soft and a
    sub-pixel drift changes the picture."""
    sub = 2
    coords = (np.arange(size * sub, dtype=np.float64) + 0.5) / sub
    u = (coords[None, :] - centre[0]) / radius  # x, normalised
    w = (coords[:, None] - centre[1]) / radius  # y, normalised (down)
    au, aw = np.abs(u), np.abs(w)
    inside_square = (au <= 0.85) & (aw <= 0.85)
    if shape == "square":
        m = inside_square
    elif shape == "disc":
        m = u * u + w * w <= 1.0
    elif shape == "triangle":  # apex up, base down
        m = (w >= -0.9) & (w <= 0.8) & (au <= (w + 0.9) / 1.7 * 0.95)
    elif shape == "plus":
        m = ((au <= 0.3) & (aw <= 1.0)) | ((aw <= 0.3) & (au <= 1.0))
    elif shape == "ring":
        r2 = u * u + w * w
        m = (r2 <= 1.0) & (r2 >= 0.5 ** 2)
    elif shape == "hstripes":
        m = (au <= 0.95) & (aw <= 0.95) & (np.floor((w + 0.95) / 0.38) % 2 == 0)
    elif shape == "diamond":
        m = au + aw <= 1.05
    elif shape == "x":
        m = ((np.abs(u - w) <= 0.4) | (np.abs(u + w) <= 0.4)) & (au <= 0.9) & (aw <= 0.9)
    elif shape == "vstripes":
        m = (au <= 0.95) & (aw <= 0.95) & (np.floor((u + 0.95) / 0.38) % 2 == 0)
    elif shape == "checker":
        m = inside_square & ((np.floor((u + 0.85) / 0.425) + np.floor((w + 0.85) / 0.425)) % 2 == 0)
    else:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    return m.astype(np.float32).reshape(size, sub, size, sub).mean(axis=(1, 3))


def _clip_rng(seed: int, key: str) -> np.random.Generator:
    """A generator that depends on the seed and the clip only (not on rendering order)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.default_rng(np.random.SeedSequence([int(seed), *np.frombuffer(digest[:16], np.uint32)]))


def render_clip_frames(actions: Sequence[Sequence[float]], duration: float, num_verbs: int, style: PixelStyle,
                       key: str) -> np.ndarray:
    """``uint8 [round(duration) x fps, size, size, 3]``: the clip's frames (docs/demo_pixels.md).

    ``actions`` are ``[class, start_s, end_s]``; frame ``j`` (time ``j / fps``) shows the
    event whose ``[start, end)`` holds its time, or background.
    """
    seconds = int(round(float(duration)))
    if seconds < 1 or abs(seconds - float(duration)) > 1e-6:
        raise DataFileError(f"{key}: duration {duration!r} is not a whole number of seconds >= 1; the renderer "
                            f"draws one second per feature row")
    n, s = seconds * style.fps, style.size
    rng = _clip_rng(style.seed, key)
    frames = np.empty((n, s, s, 3), np.float32)
    frames[...] = float(style.background)
    radius = style.radius * s
    for cls, start, end in actions:
        look = class_pattern(int(cls), num_verbs)
        first, last = int(math.ceil(float(start) * style.fps - 1e-9)), int(math.ceil(float(end) * style.fps - 1e-9))
        first, last = max(first, 0), min(last, n)
        colour = np.asarray(look["colour"], np.float32)
        angle = math.radians(look["direction"])
        for j in range(first, last):
            progress = (j - first + 0.5) / max(last - first, 1) - 0.5  # -0.5 .. 0.5 over the event
            dx, dy = (style.drift * s * progress * math.cos(angle), style.drift * s * progress * math.sin(angle))
            mask = shape_mask(look["shape"], s, (s / 2 + dx, s / 2 + dy), radius)[..., None]
            frames[j] = frames[j] * (1 - mask) + colour * mask
    if style.noise_std > 0:
        frames += rng.normal(0.0, style.noise_std, size=frames.shape).astype(np.float32)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def encode_video(path: PathLike, frames: np.ndarray, style: PixelStyle) -> Path:
    """Write ``frames`` (``uint8 [N, H, W, 3]``) as an H.264 mp4 at ``style.fps``, atomically.

    Frame ``j`` gets the timestamp ``j / fps`` exactly (time base ``1/fps``), so decoders
    report ``N / fps`` seconds and a frame sampled at time ``t`` belongs to second
    ``floor(t)``. One encoder thread and a constant quantiser keep the bytes reproducible.
    """
    from fractions import Fraction

    import av

    path = Path(path)
    with atomic_write(path, "wb") as fh:
        with av.open(fh, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=style.fps, options={
                "qp": str(style.qp), "preset": style.preset})
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            stream.codec_context.time_base = Fraction(1, style.fps)
            stream.codec_context.thread_count = 1  # FFmpeg's default, 0, lets x264 pick a thread count per machine
            for j, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts, frame.time_base = j, Fraction(1, style.fps)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return path


# ---------------------------------------------------------------------------------------
# the benchmark's clips
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Clip:
    key: str  # question_id: one clip per question, as in STAR
    duration: float
    actions: Tuple[Tuple[int, float, float], ...]
    split: str


def read_clips(dataset_dir: PathLike) -> Tuple[List[Clip], Dict[str, Any]]:
    """Every question's clip of a generated synthetic benchmark, in split and file order,
    and its ``meta.json``.

    Unannotated clips (``unannotated_fraction > 0``) still show their events but
    ``events.json`` does not list them, so they cannot be drawn: such a benchmark is refused.
    """
    folder = Path(dataset_dir)
    meta = load_json(folder / "meta.json", what="synthetic benchmark meta.json")
    if not isinstance(meta, dict) or meta.get("generator") != GENERATOR_NAME:
        raise DataFileError(f"{folder}/meta.json was not written by {GENERATOR_NAME}: the renderer draws "
                            f"the synthetic benchmark only")
    config = meta.get("config") or {}
    if float(config.get("unannotated_fraction") or 0.0) > 0:
        raise DataFileError(f"{folder}: generated with unannotated_fraction={config['unannotated_fraction']}; the "
                            f"events of unannotated clips are not in events.json, so they cannot be rendered. "
                            f"Generate the benchmark with unannotated_fraction 0.")
    events = load_json(folder / "txt_db" / "events.json", what="synthetic events.json")
    clips: List[Clip] = []
    for split in SPLITS:
        path = folder / "txt_db" / f"{split}.jsonl"
        for row in load_jsonl(path, "synthetic annotation file"):
            key = str(row["question_id"])
            entry = events.get(key)
            if not isinstance(entry, dict):
                raise DataFileError(f"{path}: question {key!r} has no entry in events.json")
            actions = tuple((int(c), float(s), float(e)) for c, s, e in entry.get("actions") or ())
            clips.append(Clip(key, float(entry["duration"]), actions, split))
    return clips, meta


def _fingerprint(dataset_dir: Path) -> str:
    """sha256 over what the frames depend on: the events and the class grid."""
    digest = hashlib.sha256()
    for name in ("meta.json", "txt_db/events.json"):
        digest.update(name.encode("utf-8") + b"\0")
        digest.update((dataset_dir / name).read_bytes())
    return digest.hexdigest()


def _manifest(dataset_dir: Path, meta: Mapping[str, Any], style: PixelStyle) -> Dict[str, Any]:
    config = meta.get("config") or {}
    return {
        "renderer": RENDERER_NAME,
        "format_version": RENDER_FORMAT_VERSION,
        "style": dataclasses.asdict(style),
        "benchmark": {"generator_config": config, "sha256": _fingerprint(dataset_dir)},
        "classes": {"colour_by_verb": [list(c) for c in PALETTE[: int(config.get("num_verbs") or 0)]],
                    "shape_by_object": list(SHAPES[: int(config.get("num_objects") or 0)])},
    }


def _check_or_write_manifest(out: Path, manifest: Dict[str, Any]) -> None:
    path = out / MANIFEST_NAME
    if not path.exists():
        if any(p.suffix == VIDEO_SUFFIX and not p.name.startswith(".") for p in out.iterdir()):
            raise ConfigError(f"{out} holds videos but no {MANIFEST_NAME}: they were not rendered by this renderer "
                              f"(or with an unknown style). Choose another --out, or delete the folder.")
        atomic_write_json(path, manifest)
        return
    stored = load_json(path, what=f"renderer {MANIFEST_NAME}")
    keys = ("renderer", "format_version", "style", "benchmark", "classes")
    diffs = [k for k in keys if not isinstance(stored, dict) or stored.get(k) != manifest[k]]
    if diffs:
        detail = []
        for k in diffs:
            if k == "style" and isinstance(stored, dict) and isinstance(stored.get("style"), dict):
                detail += [f"style.{n}: folder {stored['style'].get(n)!r}, requested {v!r}"
                           for n, v in manifest["style"].items() if stored["style"].get(n) != v]
            else:
                detail.append(k + (" (the benchmark was regenerated or is another one)" if k == "benchmark" else ""))
        raise ConfigError(f"{out} was rendered differently ({'; '.join(detail)}); mixing the two would give "
                          f"inconsistent videos. Delete {out} to render again, or choose another --out.")


@dataclass
class RenderSummary:
    out: str
    total: int = 0
    rendered: int = 0
    skipped: int = 0
    frames: int = 0
    removed_partial: int = 0
    seconds: float = 0.0

    def to_json(self) -> Dict[str, Any]:
        return {**dataclasses.asdict(self), "seconds": round(self.seconds, 2),
                "videos_per_s": round(self.rendered / self.seconds if self.seconds else 0.0, 2)}


def _render_one(task: Tuple[str, float, Tuple[Tuple[int, float, float], ...], int, PixelStyle, str]) -> int:
    """Worker body: draw and encode one clip; returns its frame count."""
    key, duration, actions, num_verbs, style, path = task
    frames = render_clip_frames(actions, duration, num_verbs, style, key)
    encode_video(path, frames, style)
    return int(frames.shape[0])


def check_splits(splits: Optional[Sequence[str]]) -> None:
    """Refuse a split name the benchmark does not have: a typo would otherwise render
    nothing and succeed."""
    if splits is None:
        return
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        what = f"unknown split(s) {', '.join(map(repr, unknown))}" if unknown else "no split given"
        raise ConfigError(f"--splits: {what}; choose from {', '.join(SPLITS)}")


def render_benchmark(dataset_dir: PathLike, out: PathLike, style: Optional[PixelStyle] = None, *,
                     splits: Optional[Sequence[str]] = None, workers: int = 1,
                     progress: bool = True) -> RenderSummary:
    """Render every clip of the benchmark in ``dataset_dir`` into ``out/<question_id>.mp4``.

    Finished videos are skipped, leftover temporaries of an interrupted run removed, and
    ``out`` is locked against a second renderer. ``workers > 1`` encodes in that many
    processes (each video is independent and seeded by its key, so the files are the same).
    """
    from tqdm import tqdm

    style = style or PixelStyle()
    dataset_dir, out = Path(dataset_dir), Path(out)
    check_splits(splits)
    clips, meta = read_clips(dataset_dir)
    if splits is not None:
        clips = [c for c in clips if c.split in splits]  # a few names, checked above
    num_verbs = int((meta.get("config") or {})["num_verbs"])
    num_objects = int((meta.get("config") or {})["num_objects"])
    if num_verbs > len(PALETTE) or num_objects > len(SHAPES):
        raise DataFileError(f"{dataset_dir}: {num_verbs} verbs x {num_objects} objects; the renderer draws at most "
                            f"{len(PALETTE)} x {len(SHAPES)}")
    summary = RenderSummary(out=str(out), total=len(clips))
    make_folder(out)  # a file in the way is the user's ConfigError, not a traceback
    with output_lock(out, "gf demo-data (render)"):
        summary.removed_partial = len(remove_stale_temp_files(out))
        _check_or_write_manifest(out, _manifest(dataset_dir, meta, style))
        todo = []
        for clip in clips:
            path = out / f"{clip.key}{VIDEO_SUFFIX}"
            if path.is_file():
                summary.skipped += 1
            else:
                todo.append((clip.key, clip.duration, clip.actions, num_verbs, style, str(path)))
        bar = tqdm(total=len(todo), unit="video", desc="render", disable=not progress, file=sys.stderr,
                   dynamic_ncols=True)
        t0 = time.perf_counter()
        parallel = workers > 1 and len(todo) > 1
        try:
            pool = multiprocessing.get_context("spawn").Pool(workers) if parallel else contextlib.nullcontext()
            with pool:
                if parallel:
                    frame_counts = pool.imap_unordered(_render_one, todo, chunksize=8)
                else:
                    frame_counts = map(_render_one, todo)
                for n in frame_counts:
                    summary.rendered += 1
                    summary.frames += n
                    bar.update(1)
        finally:
            bar.close()
            summary.seconds = time.perf_counter() - t0
    return summary

