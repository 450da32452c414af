"""Arguments and entry point of ``gf validate``: check a config without running it."""
from __future__ import annotations

import sys

from gf.runners.run_config import add_config_arguments, config_from_args

__all__ = ["add_arguments", "run"]


add_arguments = add_config_arguments


def run(args) -> int:
    from omegaconf import OmegaConf

    cfg = config_from_args(args)
    print(OmegaConf.to_yaml(cfg, resolve=True))
    print(f"[gf] {args.cfg_path}: valid", file=sys.stderr)
    return 0
