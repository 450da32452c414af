"""Train a demo model type over several seeds and print mean and spread per type, on val and test.

One demo run is one draw: per-type accuracies move by several points between training
seeds, so a figure worth quoting is a mean with its spread. For each seed this runs the
demo's ``train_sup.sh`` (or ``train_uns.sh``) with ``run.seed=<seed>`` into its own
output folder (the benchmark is generated once into ``--data-root`` and shared: only the
training seed changes), then reads the reports it wrote:

- val: the report of the epoch ``checkpoint_best`` was taken at (chosen on val, so an
  optimistic figure; it is printed to show the gap to test);
- test: ``eval/test_best_report.json``.

Example (three seeds of the published architecture, the benchmark v2)::

    python tests/benchmarks/demo_seeds.py --model-type demo_sup --seeds 0 1 2 \\
        --data-root /tmp/demo_v2 --out /tmp/seeds -- datasets.synthetic_star.generator.version=2

Runs are sequential (each uses both cores); the wall time of each is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")


def _figures(report: dict) -> dict:
    cells = report["breakdowns"]["type"]
    return {"overall": report["overall"], **{t: cells[t]["accuracy"] for t in TYPES}}


def _best_val(out: Path) -> dict:
    """The val report of the epoch with the best ``mean`` (the one checkpoint_best holds)."""
    reports = [json.loads(p.read_text()) for p in sorted(out.glob("eval/val_epoch*_report.json"))]
    if not reports:
        raise SystemExit(f"{out}: no val reports; did the run fail?")
    return max(reports, key=lambda r: (r["mean"], -int(r["tag"][len("epoch"):])))


def run_seed(args, seed: int) -> dict:
    out = Path(args.out) / f"{args.model_type}_seed{seed}"
    script = ROOT / f"run_scripts/glance_focus/demo/train_{args.memory}.sh"
    options = [f"model.model_type={args.model_type}", f"run.seed={seed}", "run.progress=false",
               "run.overwrite=true", *args.options]
    env = {"DATA_ROOT": args.data_root, "OUTPUT_DIR": str(out)}
    start = time.time()
    proc = subprocess.run(["bash", str(script), *options], env={**os.environ, **env}, capture_output=True, text=True)
    seconds = time.time() - start
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    test = json.loads((out / "eval/test_best_report.json").read_text())
    return {"seed": seed, "seconds": seconds, "val": _figures(_best_val(out)), "test": _figures(test)}


def summary(runs: list, split: str) -> str:
    lines = [f"{split}: " + "  ".join(f"{k} {_mean_sd([r[split][k] for r in runs])}" for k in ("overall", *TYPES))]
    return "\n".join(lines)


def _mean_sd(values: list) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {sd:.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-type", required=True, help="e.g. demo_sup, demo_sup_grounded, demo_uns")
    parser.add_argument("--memory", choices=("sup", "uns"), default="sup", help="which demo script (train_sup.sh)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-root", required=True, help="where the benchmark is generated once and shared")
    parser.add_argument("--out", required=True, help="one output folder per seed is made under it")
    parser.add_argument("options", nargs="*", help="extra key=value overrides (after --)")
    args = parser.parse_args(argv)
    runs = []
    for seed in args.seeds:
        run = run_seed(args, seed)
        runs.append(run)
        print(json.dumps(run), flush=True)
    print(f"\n{args.model_type}, {len(runs)} seeds {args.seeds} (mean ± sample sd over seeds; "
          f"{statistics.fmean(r['seconds'] for r in runs):.0f} s a run)")
    print(summary(runs, "val"))
    print(summary(runs, "test"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
