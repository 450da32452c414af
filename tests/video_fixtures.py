"""Small real videos for the extraction tests and benchmark, written with PyAV.

Why real H.264 files instead of mocked decoders: the parts most likely to go wrong
(frame timestamps, the decoders' frame counts, a fallback on a file one decoder refuses)
only show with files a real encoder wrote. Every frame differs from the last (colour
ramps and a growing bar), so frames taken at other times give other features.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np


def frame_image(i: int, width: int, height: int, hue: int = 0) -> np.ndarray:
    img = np.zeros((height, width, 3), np.uint8)
    img[..., 0] = (hue + 9 * i) % 256
    img[..., 1] = (255 - 9 * i) % 256
    img[:, : (2 * i) % width, 2] = 200
    img[: (i % height), :, 1] //= 2
    return img


def write_video(path, seconds: float = 2.5, fps: int = 10, width: int = 64, height: int = 48,
                hue: int = 0, container_format: Optional[str] = None, codec: str = "libx264",
                rotation: int = 0) -> Path:
    """An H.264 mp4 of ``round(seconds * fps)`` frames at a constant ``fps`` (or another
    ``container_format``/``codec``: ``"mpegts"``, ``"mpeg"`` + ``"mpeg2video"``, ``"avi"``);
    ``rotation``: the display matrix's counterclockwise degrees (-90: a phone's portrait video)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(int(round(seconds * fps))):
            frame = av.VideoFrame.from_ndarray(frame_image(i, width, height, hue), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


#: name -> (seconds, hue) of the good videos the tests use
GOOD = {"v1": (2.5, 0), "v2": (2.0, 80), "v3": (3.0, 160)}


def write_test_videos(folder, corrupt: bool = True) -> Dict[str, Path]:
    """``v1``..``v3`` (2.5, 2.0 and 3.0 s at 10 fps, 64x48), plus ``bad.mp4`` (random bytes)
    and ``empty.mp4`` (0 bytes) when ``corrupt``."""
    folder = Path(folder)
    out = {name: write_video(folder / f"{name}.mp4", seconds, hue=hue) for name, (seconds, hue) in GOOD.items()}
    if corrupt:
        (folder / "bad.mp4").write_bytes(np.random.RandomState(0).bytes(4000))
        (folder / "empty.mp4").write_bytes(b"")
        out["bad"], out["empty"] = folder / "bad.mp4", folder / "empty.mp4"
    return out


def save_tiny_videomae(folder, layers: int = 2, seed: int = 1) -> Path:
    """A random-init VideoMAE (32 px, 4 frames, 32-d) saved with ``save_pretrained``: what
    ``gf extract --backbone hf:FOLDER`` reads, built here because nothing is downloaded."""
    import torch
    from transformers import VideoMAEConfig, VideoMAEModel

    config = VideoMAEConfig(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32,
                            num_hidden_layers=layers, num_attention_heads=2, intermediate_size=64)
    torch.manual_seed(seed)
    VideoMAEModel(config).eval().save_pretrained(folder)
    return Path(folder)


def write_trimmed_mp4(path, source, hide: int = 5, fps: int = 10) -> Path:
    """``source`` (an mp4 at ``fps``) with its timestamps moved ``hide`` frames back, so its
    edit list hides the first ``hide`` frames: what ``ffmpeg -ss T -c copy`` writes."""
    import av

    with av.open(str(source)) as src, av.open(str(path), "w") as dst:
        ist = src.streams.video[0]
        ost = dst.add_stream_from_template(ist)
        step = int(round(1 / (fps * float(ist.time_base))))
        for packet in src.demux(ist):
            if packet.dts is not None:
                packet.pts -= hide * step
                packet.dts -= hide * step
                packet.stream = ost
                dst.mux(packet)
    return Path(path)


def write_cut_ts(path, frames: int = 60, fps: int = 10) -> Path:
    """An open-GOP MPEG-2 MPEG-TS cut at its second keyframe without re-encoding: the
    decoder drops the leading B-frames that refer to the cut-off GOP."""
    import av

    whole = Path(str(path) + ".whole.ts")
    with av.open(str(whole), "w", format="mpegts") as c:
        s = c.add_stream("mpeg2video", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.gop_size, s.codec_context.max_b_frames = 12, 2
        for i in range(frames):
            for p in s.encode(av.VideoFrame.from_ndarray(frame_image(i, 64, 48), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with av.open(str(whole)) as src, av.open(str(path), "w", format="mpegts") as dst:
        ist = src.streams.video[0]
        ost, keys = dst.add_stream_from_template(ist), 0
        for p in src.demux(ist):
            keys += bool(p.dts is not None and p.is_keyframe)
            if p.dts is not None and keys >= 2:
                p.stream = ost
                dst.mux(p)
    return Path(path)
