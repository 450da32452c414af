"""Arguments and entry point of ``gf train``: train (and finally test) as the config says."""
from __future__ import annotations

import argparse

from gf.runners.run_config import add_config_arguments, config_from_args

__all__ = ["add_arguments", "run", "train_one"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--resume", help="auto (continue from OUTPUT_DIR/checkpoint_last.pth) or a checkpoint path")
    parser.add_argument("--seeds", type=int, nargs="+", action="extend", metavar="N",
                        help="one run per seed in OUTPUT_DIR/seed<N> (finished seeds reused, interrupted ones "
                             "continued), then OUTPUT_DIR/seeds_summary.{json,md}; wins over run.seeds")


def train_one(cfg) -> None:
    """One run: train, then test ``run.test_splits`` (every seed of ``--seeds`` is one)."""
    from gf.runners.build import build_runner

    with build_runner(cfg) as runner:  # closes, without waiting for other ranks if this one failed
        runner.train()
        if cfg.run.test_splits:
            runner.test()


def run(args) -> int:
    cfg = config_from_args(args)
    if cfg.run.seeds:
        from gf.runners.seeds import train_seeds

        train_seeds(cfg, train_one)
    else:
        train_one(cfg)
    return 0
