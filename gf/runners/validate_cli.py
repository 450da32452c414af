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
    from gf.runners.run_config import wanted_splits

    for name, splits in wanted_splits(cfg).items():
        if issubclass(registry.get_builder_class(name), BaseBuilder):
            make_builder(name, cfg.datasets[name]).check_splits(splits)


def run(args) -> int:
    from omegaconf import OmegaConf

    cfg = config_from_args(args)
    _check_datasets(cfg)
    print(OmegaConf.to_yaml(cfg, resolve=True))
    print(f"[gf] {args.cfg_path}: valid", file=sys.stderr)
    return 0
