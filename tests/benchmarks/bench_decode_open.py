"""Benchmark the decoders behind gf extract and gf predict: opening a video and reading the
frames one sampling asks for, decord next to PyAV, on the same files in one run.

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_decode_open.py [--seconds 10 60 --size 320x240 --frames 8 --repeat 3]

Why: PyAV learns each frame's time by decoding the whole file once when it opens it (a
frame the decoder drops, or one an mp4 edit list hides, would otherwise shift every later
frame off its time), then decodes again up to the last frame asked for. decord reads the
index instead. PyAV serves the files decord reads wrongly (MPEG-TS/PS, rotated videos,
edit-list mp4s); this says what that costs, per video length.

For each length it writes an H.264 mp4 (25 fps, ``--size``) with PyAV into a temporary
folder and reports, best of ``--repeat``:

* ``open``: seconds to open the file (``_DecordReader`` / ``_PyAVReader``), frame times
  included;
* ``open+read``: open, then read ``--frames`` frames spread over the whole video (the
  default sampling of gf extract);
* ``ratio``: PyAV's ``open+read`` over decord's.

A last row, ``pyav demux``, times what PyAV's open did before it decoded the file: reading
the packets' times only (the frames' times then were the packets', which is what shifted
frames after a dropped one). Its ``open`` next to ``pyav``'s is what that fix costs.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def demux_times(path: str) -> list:
    """The packets' presentation times: what PyAV's open read before it decoded the file."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        return sorted(p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT")
    parser.add_argument("--frames", type=int, default=8, help="frames read per video, spread over it")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from gf.extraction.decode import Deadline, _DecordReader, _PyAVReader
    from video_fixtures import write_video

    print(f"{'video':>12}  {'decoder':>7}  {'open s':>8}  {'open+read s':>11}  ratio")
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.seconds:
            path = str(write_video(Path(tmp) / f"v{seconds:g}.mp4", seconds=seconds, fps=25, width=width,
                                   height=height))
            rows = {}
            for cls in (_DecordReader, _PyAVReader):
                def open_only(cls=cls):
                    cls(path).close()

                def open_read(cls=cls):
                    reader = cls(path)
                    count = len(reader.frame_times)
                    picks = sorted(set(np.linspace(0, count - 1, args.frames).round().astype(int).tolist()))
                    frames = reader.read(picks, Deadline(None))
                    assert len(frames) == len(picks)
                    reader.close()

                rows[cls.decoder] = (best_of(args.repeat, open_only), best_of(args.repeat, open_read))
            for name, (opened, total) in rows.items():
                ratio = f"{total / rows['decord'][1]:.1f}x" if name == "pyav" else ""
                print(f"{seconds:>10g} s  {name:>7}  {opened:8.3f}  {total:11.3f}  {ratio}")
            demux = best_of(args.repeat, lambda: demux_times(path))
            print(f"{seconds:>10g} s  {'pyav demux':>7}  {demux:8.3f}  {'':>11}  (open: {rows['pyav'][0] / demux:.1f}x)")


if __name__ == "__main__":
    main()
