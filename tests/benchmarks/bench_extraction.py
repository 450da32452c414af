"""Benchmark gf extract: throughput with 0 and 2 decode workers next to its limits.

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_extraction.py [--backbone resnet18 --videos 16 --num-frames 8]
    python tests/benchmarks/bench_extraction.py --backbone torchvision:r2plus1d_18 --input-size 112 \
        --clip-len 8 --num-clips 4 --batch-size 8 --read-samples 0

With a clip backbone (``torchvision:NAME``, ``hf:FOLDER``) the same rows are reported in
videos/s and clips/s, and "backbone only" runs the model on clips decoded, preprocessed
and gathered beforehand, in batches of ``--batch-size`` clips.

It writes ``--videos`` H.264 videos (PyAV, ``--size``, ``--seconds`` at 25 fps) into a
temporary folder and reports, in videos/s and frames/s:

* ``extract, workers=0``: decoding and preprocessing in the main process, then the backbone;
  the two costs add up.
* ``extract, workers=2``: decoding in two DataLoader workers, overlapping the backbone.
* ``decode+preprocess only``: the same frames decoded and transformed, no backbone.
* ``backbone only``: the backbone on the already decoded and preprocessed frames, in
  batches of ``--batch-size``: the most any number of workers can reach.

Then shard reads: ``--read-samples`` samples of float16 ``[32, 768]`` written by the
extraction's webdataset writer, read by key through ``open_feature_store`` (random order)
and streamed through ``iter_webdataset_features``, in samples/s (page cache warm).

The backbone has random weights (no download); its speed does not depend on them. The
extraction timings exclude building the model; they include writing the shards.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--input-size", type=int, default=None, help="default: the model's own")
    ap.add_argument("--videos", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--num-frames", type=int, default=8)
    ap.add_argument("--clip-len", type=int, default=None, help="clip backbones: frames per clip")
    ap.add_argument("--num-clips", type=int, default=4, help="clip backbones: clips per video")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--read-samples", type=int, default=2000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of the main process")
    ap.add_argument("--rounds", type=int, default=1, help="measure every row this many times, alternating; "
                                                          "report the best of each")
    args = ap.parse_args()

    import torch

    from gf.extraction.clip_backbone import is_clip_backbone
    from gf.extraction.sources import make_jobs
    from video_fixtures import write_video

    if args.threads:
        torch.set_num_threads(args.threads)
    clip = is_clip_backbone(args.backbone)
    unit = "clips" if clip else "frames"
    sampling = (dict(clip_len=args.clip_len, num_clips=args.num_clips) if clip else dict(num_frames=args.num_frames))
    width, height = (int(x) for x in args.size.split("x"))
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, backbone {args.backbone}, "
          f"{args.videos} videos of {args.seconds:g} s {width}x{height} @25 fps, "
          f"{', '.join(f'{k} {v}' for k, v in sampling.items())}, batch {args.batch_size}")
    with tempfile.TemporaryDirectory() as tmp:
        vids = Path(tmp) / "videos"
        t0 = time.perf_counter()
        for i in range(args.videos):
            write_video(vids / f"vid{i:03d}.mp4", args.seconds, fps=25, width=width, height=height, hue=17 * i)
        print(f"wrote the videos in {time.perf_counter() - t0:.1f} s")

        jobs, _ = make_jobs(str(vids))
        best = {}  # row name -> (videos/s, units/s), the best of the rounds
        for _ in range(args.rounds):  # rounds alternate the rows, so a busy moment of a shared machine hits all
            for name, rate in measure(args, vids, Path(tmp), jobs, sampling):
                best[name] = max(best.get(name, rate), rate, key=lambda r: r[1])
        rows = [(name, *rate) for name, rate in best.items()]

        limit = rows[-1][2]
        print(f"\n{'':28s}{'videos/s':>10s}{unit + '/s':>10s}{'of limit':>10s}")
        for name, vps, ups in rows:
            print(f"{name:28s}{vps:10.2f}{ups:10.1f}{ups / limit:10.0%}")
        if args.read_samples:
            shard_reads(tmp, args.read_samples)


def measure(args, vids: Path, tmp: Path, jobs, sampling: dict):
    """``(row name, (videos/s, units/s))`` of one round: the extraction with 0 and 2 workers,
    decoding alone, and the backbone alone on the inputs decoded beforehand."""
    import shutil

    import torch

    from gf.extraction.extract import ExtractOptions, FrameDataset, extract
    from gf.extraction.streams import build_streams, make_sampler

    for workers in (0, 2):
        out = tmp / f"out{workers}"
        shutil.rmtree(out, ignore_errors=True)
        options = ExtractOptions(videos=str(vids), out=str(out), backbone=args.backbone, batch_size=args.batch_size,
                                 workers=workers, device=args.device, input_size=args.input_size, progress=False,
                                 **sampling)
        summary = extract(options)
        assert not summary.failures, summary.failures
        yield f"extract, workers={workers}", (summary.videos / summary.seconds, summary.frames / summary.seconds)
    streams = build_streams(options, args.device)  # the last run's options, checked and completed
    ds = FrameDataset(jobs, {s.role: s.backbone.transform for s in streams}, sampler=make_sampler(options, streams),
                      timeout=None, tolerance=0.5)
    t0 = time.perf_counter()
    items = [ds[i] for i in range(len(ds))]
    dt = time.perf_counter() - t0
    inputs = torch.cat([it["inputs"][streams[0].role] for it in items]).to(args.device)
    yield "decode+preprocess only", (len(items) / dt, len(inputs) / dt)
    model = streams[0].backbone.model
    with torch.inference_mode():
        model(inputs[: args.batch_size])  # warm-up
        t0 = time.perf_counter()
        for s in range(0, len(inputs), args.batch_size):
            model(inputs[s:s + args.batch_size]).cpu()  # .cpu(): wait for the device
        dt = time.perf_counter() - t0
    yield "backbone only (the limit)", (len(items) / dt, len(inputs) / dt)


def shard_reads(tmp: str, count: int) -> None:
    """Read rates of ``count`` samples in webdataset shards: by key (random order) and streamed."""
    import numpy as np

    from gf.datasets.feature_stores import open_feature_store
    from gf.datasets.webdataset_store import iter_webdataset_features
    from gf.extraction.writers import WebDatasetWriter

    shards = Path(tmp) / "shards"
    shards.mkdir()
    writer = WebDatasetWriter(str(shards), shard_size=500)
    writer.completed()
    rng = np.random.default_rng(0)
    for i in range(count):
        writer.add(f"q{i:06d}", rng.standard_normal((32, 768)).astype(np.float16), {"times": list(range(32))})
    writer.close()
    store = open_feature_store(shards)
    keys = store.keys()
    order = random.Random(0).sample(keys, len(keys))
    t0 = time.perf_counter()
    for k in order:
        store[k]
    random_rate = len(order) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    n = sum(1 for _ in iter_webdataset_features(shards))
    stream_rate = n / (time.perf_counter() - t0)
    print(f"\nshard reads ({len(keys)} samples [32, 768] float16 in {len(store.shards)} shards):")
    print(f"  open_feature_store, random keys  {random_rate:10.0f} samples/s")
    print(f"  iter_webdataset_features, stream {stream_rate:10.0f} samples/s")


if __name__ == "__main__":
    main()
