"""Arguments and entry point of ``gf validate``: check a config without running it."""
from __future__ import annotations

import sys

from gf.runners.run_config import add_config_arguments, config_from_args

__all__ = ["add_arguments", "run"]


add_arguments = add_config_arguments


def _check_datasets(cfg) -> None:
    """Make each dataset's builder (its constructor checks its keys) and check the splits the
    run asks of it, as ``gf train`` does before any work, so that a config ``gf train``
    refuses is not called valid. Neither reads nor generates data. Only builders derived from
    :class:`~gf.datasets.base.BaseBuilder` are made: another plugin's may read data when made."""
    from gf.common.config import make_builder
    from gf.common.registry import registry
    from gf.datasets.base import BaseBuilder

    run = cfg.run
    train = run.train_dataset or next(iter(cfg.datasets))  # build_config requires it when several
    evaluated = [*run.valid_splits, *run.test_splits]
    for name, section in cfg.datasets.items():
        if issubclass(registry.get_builder_class(name), BaseBuilder):
            make_builder(name, section).check_splits(([run.train_split] if name == train else []) + evaluated)


def run(args) -> int:
    from omegaconf import OmegaConf

    cfg = config_from_args(args)
    _check_datasets(cfg)
    print(OmegaConf.to_yaml(cfg, resolve=True))
    print(f"[gf] {args.cfg_path}: valid", file=sys.stderr)
    return 0
