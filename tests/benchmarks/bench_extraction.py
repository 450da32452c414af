"""Benchmark gf extract: throughput with 0 and 2 decode workers next to its limits.

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_extraction.py [--backbone resnet18 --videos 16 --num-frames 8]

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
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--read-samples", type=int, default=2000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of the main process")
    args = ap.parse_args()

    import numpy as np
    import torch

    from gf.datasets.feature_stores import open_feature_store
    from gf.datasets.webdataset_store import iter_webdataset_features
    from gf.extraction.backbone import create_backbone
    from gf.extraction.extract import ExtractOptions, FrameDataset, extract
    from gf.extraction.sources import make_jobs
    from gf.extraction.writers import WebDatasetWriter
    from video_fixtures import write_video

    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(x) for x in args.size.split("x"))
    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, backbone {args.backbone}, "
          f"{args.videos} videos of {args.seconds:g} s {width}x{height} @25 fps, {args.num_frames} frames each, "
          f"batch {args.batch_size}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        vids = Path(tmp) / "videos"
        t0 = time.perf_counter()
        for i in range(args.videos):
            write_video(vids / f"vid{i:03d}.mp4", args.seconds, fps=25, width=width, height=height, hue=17 * i)
        print(f"wrote the videos in {time.perf_counter() - t0:.1f} s")

        for workers in (0, 2):
            summary = extract(ExtractOptions(
                videos=str(vids), out=str(Path(tmp) / f"out{workers}"), backbone=args.backbone,
                num_frames=args.num_frames, batch_size=args.batch_size, workers=workers, device=args.device,
                input_size=args.input_size, progress=False))
            assert not summary.failures, summary.failures
            rows.append((f"extract, workers={workers}", summary.videos / summary.seconds,
                         summary.frames / summary.seconds))

        backbone = create_backbone(args.backbone, input_size=args.input_size, device=args.device)
        jobs, _ = make_jobs(str(vids))
        ds = FrameDataset(jobs, backbone.transform, num_frames=args.num_frames, fps=None, timeout=None,
                          tolerance=0.5)
        t0 = time.perf_counter()
        items = [ds[i] for i in range(len(ds))]
        dt = time.perf_counter() - t0
        frames = torch.cat([it["frames"] for it in items]).to(args.device)
        rows.append(("decode+preprocess only", len(items) / dt, len(frames) / dt))
        with torch.inference_mode():
            backbone.model(frames[: args.batch_size])  # warm-up
            t0 = time.perf_counter()
            for s in range(0, len(frames), args.batch_size):
                backbone.model(frames[s:s + args.batch_size]).cpu()  # .cpu(): wait for the device
            dt = time.perf_counter() - t0
        rows.append(("backbone only (the limit)", len(items) / dt, len(frames) / dt))

        print(f"\n{'':28s}{'videos/s':>10s}{'frames/s':>10s}")
        for name, vps, fps in rows:
            print(f"{name:28s}{vps:10.2f}{fps:10.1f}")

        shards = Path(tmp) / "shards"
        shards.mkdir()
        writer = WebDatasetWriter(str(shards), shard_size=500)
        writer.completed()
        rng = np.random.default_rng(0)
        for i in range(args.read_samples):
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
