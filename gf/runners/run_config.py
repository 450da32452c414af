"""The config a run command (``gf validate``, ``train``, ``evaluate``) reads: ``--cfg-path`` and
``--options``, plus what ``--resume`` and ``--seeds`` add to them."""
from __future__ import annotations

import argparse
import logging

__all__ = ["add_config_arguments", "add_run_flags", "config_from_args", "flag_values", "hook_names",
           "wanted_splits"]

logger = logging.getLogger("gf.runner")


def add_config_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--cfg-path", required=required, help="project YAML (sections model, datasets, run)")
    parser.add_argument("--options", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="overrides, e.g. run.lr=1e-4 datasets.star.data_root=/data")


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """``gf train``'s ``--resume`` and ``--seeds``; ``gf validate`` takes them too, so a train
    command line can be checked as it stands."""
    parser.add_argument("--resume", help="auto (continue from OUTPUT_DIR/checkpoint_last.pth) or a checkpoint path")
    parser.add_argument("--seeds", type=int, nargs="+", action="extend", metavar="N",
                        help="one run per seed in OUTPUT_DIR/seed<N> (finished seeds reused, interrupted ones "
                             "continued), then OUTPUT_DIR/seeds_summary.{json,md}; wins over run.seeds")


def config_from_args(args, evaluating: bool = False):
    """The merged config; ``evaluating`` (``gf evaluate``) lets a hook listed twice through."""
    from gf.common.config import build_config

    cfg = build_config(args.cfg_path, list(args.options or []), flags=flag_values(args))
    if not evaluating:  # refused before any work, and by gf validate (evaluation warns once, building its hooks)
        hook_names(cfg.run)
    return cfg


def flag_values(args) -> dict:
    """What ``--resume``, ``--seeds`` and ``--checkpoint`` set, as typed values (a layer above
    ``--options``, so a flag wins): a path is passed as it was typed, never read as YAML, where
    ' #' would start a comment and '${' an interpolation. Seeds are checked here, naming the
    flag the user typed."""
    from gf.common.config import check_seed_list
    from gf.common.errors import ConfigError

    run, resume, seeds = {}, getattr(args, "resume", None), getattr(args, "seeds", None)
    if resume:
        run["resume"] = resume
    if seeds:
        check_seed_list(seeds, "--seeds")
        if resume not in (None, "auto"):
            raise ConfigError(f"--resume is a checkpoint ({resume}) but --seeds lists {len(seeds)} seed(s): each seed "
                              f"resumes from its own folder. Use --resume auto or leave it out.")
        run["seeds"] = list(seeds)
    flags = {"run": run} if run else {}
    if getattr(args, "checkpoint", None):
        flags["model"] = {"checkpoint": args.checkpoint}
    return flags


def hook_names(run, evaluating: bool = False) -> list:
    """The hooks a run calls: the built-in ones, then ``run.hooks``. A name listed twice, or a
    built-in one listed again, would run twice (the learning rate stepped twice a step, a split
    evaluated twice an epoch), so training refuses it; ``gf validate`` reaches this check too.
    Evaluation (``evaluating``) runs each listed hook once, with a warning: an old run's
    ``config.yaml`` may list one twice, and its checkpoint is still worth evaluating."""
    from gf.common.errors import ConfigError
    from gf.runners.hooks import DEFAULT_HOOKS

    extra = list(run.hooks)
    builtin = [name for name in extra if name in DEFAULT_HOOKS]
    if evaluating:
        once = [name for i, name in enumerate(extra) if name not in DEFAULT_HOOKS and name not in extra[:i]]
        if len(once) != len(extra):
            logger.warning("run.hooks lists %s; evaluation runs each hook once (%s)", extra, [*DEFAULT_HOOKS, *once])
        return [*DEFAULT_HOOKS, *once]
    if builtin:
        raise ConfigError(f"run.hooks lists {', '.join(map(repr, sorted(set(builtin))))}, a built-in hook that "
                          f"always runs ({', '.join(DEFAULT_HOOKS)}); remove it from run.hooks")
    repeated = sorted({name for name in extra if extra.count(name) > 1})
    if repeated:
        raise ConfigError(f"run.hooks lists {', '.join(map(repr, repeated))} more than once ({extra}): "
                          f"each hook runs once; list it once")
    return [*DEFAULT_HOOKS, *extra]


def wanted_splits(cfg, splits=None) -> dict:
    """The splits a run builds of each dataset: ``splits`` for every dataset (evaluation
    only); else the training dataset's train split plus the valid and test splits, and the
    valid and test splits of the others. One rule for ``gf train`` and ``gf validate``."""
    if splits is not None:
        return {name: list(splits) for name in cfg.datasets}
    from gf.common.config import train_dataset_name  # not at import: `gf train --help` needs no OmegaConf

    run, train = cfg.run, train_dataset_name(cfg)
    evaluated = [*run.valid_splits, *run.test_splits]
    return {name: ([run.train_split] if name == train else []) + evaluated for name in cfg.datasets}
