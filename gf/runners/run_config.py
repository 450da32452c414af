"""The config a run command (``gf validate``, ``train``, ``evaluate``) reads: ``--cfg-path`` and
``--options``, plus what ``--resume`` and ``--seeds`` add to them."""
from __future__ import annotations

import argparse

__all__ = ["add_config_arguments", "config_from_args"]


def add_config_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--cfg-path", required=required, help="project YAML (sections model, datasets, run)")
    parser.add_argument("--options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides, e.g. run.lr=1e-4 datasets.star.data_root=/data")


def config_from_args(args):
    from gf.common.config import build_config

    options = list(args.options or [])
    if getattr(args, "resume", None):
        options.append(f"run.resume={args.resume}")
    if getattr(args, "seeds", None):  # last: --seeds wins over run.seeds of the YAML and --options
        options.append(f"run.seeds=[{','.join(str(s) for s in args.seeds)}]")
    return build_config(args.cfg_path, options)
