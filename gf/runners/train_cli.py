"""Arguments and entry point of ``gf train``: train (and finally test) as the config says."""
from __future__ import annotations

import argparse

from gf.runners.run_config import add_config_arguments, add_run_flags, config_from_args

__all__ = ["add_arguments", "run", "train_one"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    add_run_flags(parser)


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
