"""Arguments and entry point of ``gf validate``: check a config without running it."""
from __future__ import annotations

import sys

from gf.runners.run_config import add_config_arguments, add_run_flags, config_from_args, wanted_splits

__all__ = ["add_arguments", "run"]


def add_arguments(parser) -> None:
    add_config_arguments(parser)
    add_run_flags(parser)


def _check_datasets(cfg) -> None:
    """Make each dataset's builder (its constructor checks its keys) and check the splits the
    run asks of it, as ``gf train`` does before any work, so that a config ``gf train``
    refuses is not called valid. Neither reads nor generates data. Only builders derived from
    :class:`~gf.datasets.base.BaseBuilder` are made: another plugin's may read data when made."""
    from gf.common.config import make_builder
    from gf.common.registry import registry
    from gf.datasets.base import BaseBuilder

    for name, splits in wanted_splits(cfg).items():
        if issubclass(registry.get_builder_class(name), BaseBuilder):
            make_builder(name, cfg.datasets[name]).check_splits(splits)


def run(args) -> int:
    from gf.common.config import config_yaml

    cfg = config_from_args(args)
    _check_datasets(cfg)
    print(config_yaml(cfg))
    print(f"[gf] {args.cfg_path}: valid", file=sys.stderr)
    return 0
