"""Time to evaluate 1 and 5 demo checkpoints on one split: one `gf leaderboard run` (entries
share the built split and the frozen text encoder's cache) against one `gf evaluate` per
checkpoint (each process builds the split and encodes every text again).

    python tests/benchmarks/bench_leaderboard.py --data-root /tmp/bench_lb_data --out /tmp/bench_lb

The checkpoints are untrained `demo_sup` models (seeds 0..4): evaluation costs the same
whatever the weights. Each figure is the wall time of the whole command, process start
included, on an otherwise idle machine; the split is the demo's val split (600 questions).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "projects/glance_focus/demo/train_sup.yaml"


def make_checkpoints(data_root: Path, out: Path, count: int):
    import torch

    from gf.common.config import build_config, to_dict
    from gf.common.registry import registry
    from gf.runners.build import build_datasets, model_config_for
    from gf.models.checkpoint import save_checkpoint

    cfg = build_config(str(CONFIG), [f"datasets.synthetic_star.data_root={data_root}", "model.model_type=demo_sup"])
    ds = build_datasets(cfg, {"synthetic_star": ["val"]})["synthetic_star"]
    model_config = model_config_for(to_dict(cfg.model), ds)
    paths = []
    for seed in range(count):
        torch.manual_seed(seed)
        model = registry.get_model_class("glance_focus").from_config(dict(model_config))
        paths.append(save_checkpoint(out / f"demo_sup_seed{seed}.pth", model_state=model.state_dict(),
                                     config=to_dict(cfg), extra={"model_config": model_config}))
    return paths


def timed(cmd, env) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", required=True, help="the demo benchmark is generated here once")
    parser.add_argument("--out", required=True, help="scratch folder (emptied first)")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    data_root = Path(args.data_root).resolve()
    checkpoints = make_checkpoints(data_root, out, max(args.counts))
    env = dict(os.environ, DATA_ROOT=str(data_root))
    gf = [sys.executable, "-m", "gf"]
    print(f"{'checkpoints':>11} | {'gf evaluate each (s)':>20} | {'gf leaderboard run (s)':>22} | speed-up")
    for count in args.counts:
        separate = 0.0
        for i, ckpt in enumerate(checkpoints[:count]):
            separate += timed(gf + ["evaluate", "--cfg-path", str(CONFIG), "--checkpoint", str(ckpt), "--splits",
                                    "val", "--options", "model.model_type=demo_sup", "run.progress=false",
                                    f"run.output_dir={out / f'eval_{count}_{i}'}"], env)
        entries = "".join(f"""
              - name: seed{i}
                config: {CONFIG}
                options: [model.model_type=demo_sup]
                checkpoint: {ckpt}""" for i, ckpt in enumerate(checkpoints[:count]))
        manifest = out / f"manifest_{count}.yaml"
        manifest.write_text(textwrap.dedent(f"""
            name: bench{count}
            output_dir: {out / f'board_{count}'}
            run: {{eval_batch_size: 128}}
            benchmarks:
              synthetic: {{config: {CONFIG}, splits: [val]}}
            entries:""") + textwrap.indent(textwrap.dedent(entries), "  ") + "\n")
        together = timed(gf + ["leaderboard", "run", "--manifest", str(manifest), "--no-progress"], env)
        print(f"{count:>11} | {separate:>20.1f} | {together:>22.1f} | {separate / together:.2f}x")


if __name__ == "__main__":
    main()
