"""Arguments and entry point of ``gf demo-data`` (wired into ``gf.cli`` as a sub-command):
the synthetic benchmark of a config, generated through its builder when needed, rendered
as small H.264 videos (one per question id, :mod:`gf.benchmarks.synthetic.pixels`)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from gf.common.errors import ConfigError

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    from gf.benchmarks.synthetic.pixels import PixelStyle

    p.add_argument("--cfg-path", help="project config whose datasets.<dataset> generates the benchmark (the "
                                      "demo's: projects/glance_focus/demo/train_pixels.yaml)")
    p.add_argument("--dataset-dir", help="render this existing benchmark folder instead (no config, no generation)")
    p.add_argument("--data-root", help="data root of the config's dataset (default: the config's, i.e. $DATA_ROOT "
                                       "or gf_data)")
    p.add_argument("--out", help="folder of the videos (default: <benchmark folder>/videos)")
    p.add_argument("--dataset", default="synthetic_star", help="dataset name in the config (default synthetic_star)")
    p.add_argument("--options", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                   help="config overrides, as for gf train (e.g. datasets.synthetic_star.generator.train_per_type=150)")
    p.add_argument("--splits", nargs="+", action="extend", help="render only these splits (default: all)")
    defaults = PixelStyle()
    p.add_argument("--size", type=int, default=defaults.size, help=f"frame size in pixels (default {defaults.size})")
    p.add_argument("--fps", type=int, default=defaults.fps,
                   help=f"frames per second; one second = one feature row (default {defaults.fps})")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed of the pixel noise (default 0)")
    p.add_argument("--noise-std", type=float, default=defaults.noise_std,
                   help=f"pixel noise std (default {defaults.noise_std})")
    p.add_argument("--workers", type=int, default=1, help="encoding processes (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _benchmark(args) -> Path:
    """The folder of ``datasets.<dataset>`` in the config, generated on first use through its
    builder (``generator`` settings, ``data_root``, ``dataset_dir``): exactly the folder
    ``gf train`` with that config reads, and one generated with other settings is refused."""
    from gf.benchmarks.synthetic.generate import ensure_synthetic_star
    from gf.common.config import build_config, make_builder

    flags = {"datasets": {args.dataset: {"data_root": args.data_root}}} if args.data_root else None
    cfg = build_config(args.cfg_path, list(args.options), flags=flags)  # the path as typed, not read as YAML
    if args.dataset not in cfg.datasets:
        raise ConfigError(f"{args.cfg_path}: no datasets.{args.dataset} section")
    builder = make_builder(args.dataset, cfg.datasets[args.dataset])
    config = getattr(builder, "generator_config", None)
    if config is None:
        raise ConfigError(f"datasets.{args.dataset} is not a synthetic benchmark builder (no generator settings)")
    return ensure_synthetic_star(builder.dataset_dir, config)


def run(args) -> int:
    from gf.benchmarks.synthetic.pixels import PixelStyle, check_splits, render_benchmark

    if not (args.dataset_dir or args.cfg_path):
        raise ConfigError("give --cfg-path (a project config with datasets.synthetic_star) or --dataset-dir")
    # bad style or split names are refused before a benchmark is generated
    style = PixelStyle(size=args.size, fps=args.fps, seed=args.seed, noise_std=args.noise_std)
    check_splits(args.splits)
    dataset_dir = Path(args.dataset_dir) if args.dataset_dir else _benchmark(args)
    out = Path(args.out) if args.out else dataset_dir / "videos"
    summary = render_benchmark(dataset_dir, out, style, splits=args.splits, workers=args.workers,
                               progress=not args.no_progress)
    print(json.dumps({"benchmark": str(dataset_dir), **summary.to_json()}, indent=2))
    return 0
