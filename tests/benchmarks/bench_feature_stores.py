"""Benchmark the feature stores: random-access reads/s and memory of a reading process.

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_feature_stores.py [--n 2000 --t 80 --d 1024]

For each format it writes N keys x [T, D] float32 into a temporary folder, then starts a
fresh Python process that opens the store, reads 100 random keys and reports VmRSS (from
/proc/self/status: the resident memory a DataLoader worker would pay), followed by a
timed loop of random reads. The files were just written, so reads hit the page cache:
the figures measure the store's overhead, not the disk. "pth-eager" is the reference
code's way (``torch.load`` of the whole dict) for comparison; "baseline" is a process
that only imported torch and gf.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, random, sys, time
import torch
from gf.datasets.feature_stores import open_feature_store

def status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024  # kB -> MiB
    return -1

fmt, path, reads = sys.argv[1], sys.argv[2], int(sys.argv[3])
result = {"format": fmt}
if fmt == "baseline":
    result.update(rss_mib=status("VmRSS"), anon_mib=status("RssAnon"))
    print(json.dumps(result)); sys.exit()
t0 = time.perf_counter()
if fmt == "pth-eager":
    data = torch.load(path, weights_only=True, map_location="cpu")
    get = lambda k: data[k].float().clone()
    keys = list(data)
else:
    store = open_feature_store(path, format=fmt)
    get = store.__getitem__
    keys = store.keys()
result["open_s"] = round(time.perf_counter() - t0, 3)
rng = random.Random(0)
for key in rng.sample(keys, 100):
    get(key)
result.update(rss_mib=status("VmRSS"), anon_mib=status("RssAnon"))
order = [rng.choice(keys) for _ in range(reads)]
t0 = time.perf_counter()
for key in order:
    get(key)
result["reads_per_s"] = round(reads / (time.perf_counter() - t0))
print(json.dumps(result))
"""


def write_all(root: Path, n: int, t: int, d: int, shards: int) -> dict:
    import h5py
    import numpy as np
    import torch

    from gf.datasets.webdataset_store import write_webdataset_shards

    torch.manual_seed(0)
    feats = {f"video{i:05d}": torch.randn(t, d) for i in range(n)}
    paths = {}
    t0 = time.perf_counter()
    torch.save(feats, root / "feats.pth")
    paths["pth"] = (root / "feats.pth", time.perf_counter() - t0)

    t0 = time.perf_counter()
    with h5py.File(root / "feats.h5", "w") as fh:
        fh["ids"] = np.array([k.encode() for k in feats], dtype="S")
        ds = fh.create_dataset("resnet_features", shape=(n, t, d), dtype="f4")
        for row, value in enumerate(feats.values()):
            ds[row] = value.numpy()
    paths["hdf5"] = (root / "feats.h5", time.perf_counter() - t0)

    t0 = time.perf_counter()
    (root / "npy").mkdir()
    for key, value in feats.items():
        np.save(root / "npy" / f"{key}.npy", value.numpy())
    paths["npy"] = (root / "npy", time.perf_counter() - t0)

    t0 = time.perf_counter()
    write_webdataset_shards(feats, root / "wds", num_shards=shards)
    paths["webdataset"] = (root / "wds", time.perf_counter() - t0)
    return paths


def run_child(fmt: str, path: Path, reads: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", CHILD, fmt, str(path), str(reads)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="number of keys")
    ap.add_argument("--t", type=int, default=80, help="frames per key")
    ap.add_argument("--d", type=int, default=1024, help="feature dimension")
    ap.add_argument("--reads", type=int, default=2000, help="timed random reads per format")
    ap.add_argument("--shards", type=int, default=8, help="webdataset shards")
    ap.add_argument("--workdir", default=None, help="where to write (default: a temp folder)")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO_ROOT))
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="gf_bench_") as tmp:
        root = Path(tmp)
        size_mib = args.n * args.t * args.d * 4 / 2**20
        print(f"writing {args.n} keys x [{args.t}, {args.d}] float32 (~{size_mib:.0f} MiB per format) in {root}")
        written = write_all(root, args.n, args.t, args.d, args.shards)
        # Flush the ~2.5 GiB just written first: measured while the kernel is still
        # writing it back, mmap page faults (pth) were ~20x slower than after the flush.
        os.sync()
        rows = [run_child("baseline", root, 0)]
        for fmt, (path, write_s) in written.items():
            res = run_child(fmt, path, args.reads)
            res["write_s"] = round(write_s, 1)
            rows.append(res)
        rows.append(run_child("pth-eager", written["pth"][0], args.reads))

    print(f"{'format':<12}{'write s':>9}{'open s':>9}{'reads/s':>10}{'VmRSS MiB':>11}{'RssAnon MiB':>13}")
    for r in rows:
        print(f"{r['format']:<12}{r.get('write_s', ''):>9}{r.get('open_s', ''):>9}"
              f"{r.get('reads_per_s', ''):>10}{r['rss_mib']:>11}{r['anon_mib']:>13}")
    print("VmRSS after opening the store and reading 100 random keys; reads from the page cache.")


if __name__ == "__main__":
    main()
