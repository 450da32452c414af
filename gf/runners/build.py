"""Assemble a runner from a validated config: datasets, model, task and hooks, each
looked up in the registry by the name the config gives.

Order matters for reproducibility: the seed is set before the datasets are built and the
model is constructed after them, so a run's random state depends only on the config.
"""
from __future__ import annotations

import functools
import inspect
import logging
import random
import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import IterableDataset

from gf.common import dist
from gf.common.config import (check_max_events, make_builder, model_schema, to_dict,
                              train_dataset_name)
from gf.common.io import output_lock, remove_stale_temp_files
from gf.common.errors import CheckpointError, ConfigError, DatasetError
from gf.common.registry import registry
from gf.runners.run_config import hook_names, wanted_splits
from gf.runners.run_layout import RUN_FILES, RUN_FOLDERS, SEED_FOLDER, SUMMARY_JSON, SUMMARY_MD
from gf.runners.runner_base import BuiltDataset, pick_device

__all__ = ["build_datasets", "build_hooks", "build_model", "build_runner", "build_split_set", "model_config_for",
           "seed_everything"]

logger = logging.getLogger("gf.runner")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed)


def takes_features_flag(method) -> bool:
    """Whether a builder's ``method`` accepts ``features=`` (:func:`builds_without_features`)."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return "features" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def builds_without_features(builder) -> bool:
    """Whether ``builder`` can build, describe and fingerprint a split for scoring only
    (``features=False``): gf's builders can; a plugin's may not, and then builds with them."""
    methods = (builder.build_datasets, builder.info, getattr(builder, "split_fingerprint", None))
    return all(m is None or takes_features_flag(m) for m in methods)


def build_datasets(cfg: DictConfig, splits_by_dataset: Mapping[str, Sequence[str]], *,
                   features: bool = True) -> Dict[str, BuiltDataset]:
    """``datasets.<name>`` through its registered builder, with the splits asked for, for
    each name in ``splits_by_dataset`` (in config order); ``features``: :func:`build_split_set`."""
    return {name: build_split_set(name, make_builder(name, dataset_cfg), splits_by_dataset[name], features=features)
            for name, dataset_cfg in cfg.datasets.items() if name in splits_by_dataset}


def build_split_set(name: str, builder, splits: Sequence[str], *, features: bool = True,
                    indexed: bool = False) -> BuiltDataset:
    """``splits`` of one dataset built by ``builder``, with what the builder says about them.

    ``features=False``: for scoring predictions only, without opening the feature store, when
    the builder can (:func:`builds_without_features`); ``fingerprint`` then covers what
    scoring reads (the annotations) and says so.
    ``indexed``: a streamed split is given as the indexed dataset under it, so that every
    question is scored once (for evaluation outside a training run)."""
    without = not features and builds_without_features(builder)
    kw = {"features": False} if without else {}
    built = builder.build_datasets(list(dict.fromkeys(splits)), **kw)
    if indexed:
        built = {split: (ds.dataset if isinstance(ds, IterableDataset) else ds) for split, ds in built.items()}
    fingerprint = getattr(builder, "split_fingerprint", None)
    if fingerprint is not None and without:
        fingerprint = functools.partial(fingerprint, **kw)
    return BuiltDataset(name=name, benchmark=builder.benchmark, answer_mode=builder.answer_mode,
                        info=dict(builder.info(**kw)), splits=dict(built), fingerprint=fingerprint,
                        features=not without)


def model_config_for(model_cfg: Mapping[str, Any], ds: BuiltDataset) -> Dict[str, Any]:
    """The model config with the sizes that the data dictates filled in from the dataset (a
    size that does not fit the data cannot train; the authors' R6 event head is the one
    exception, kept by :func:`build_model` for their own checkpoints)."""
    cfg = {k: v for k, v in model_cfg.items() if k not in ("name", "checkpoint")}
    info = ds.info
    derived = {"feature_dim": info.get("feature_dim"), "max_feats": info.get("max_feats"),
               "event_pred_dim": info.get("event_pred_dim")}
    if ds.answer_mode == "mc":
        derived.update(answer_mode="mc", num_options=info.get("num_options"))
    else:
        derived.update(answer_mode="oe", num_answers=len(info["answer_vocab"]))
    max_events, num_queries = info.get("max_events"), cfg.get("num_queries")
    if max_events is not None and num_queries is not None:
        check_max_events(ds.name, max_events, num_queries)
    defaults = to_dict(model_schema(model_cfg))  # what a config that sets nothing gets
    for key, value in derived.items():
        if value is not None and cfg.get(key) != value:
            # a value the user gave (not the model's default) is replaced aloud
            log = logger.warning if cfg.get(key) != defaults.get(key) else logger.info
            log("model.%s set to %s by dataset %s (config had %s): a size that does not fit the data cannot train",
                key, value, ds.name, cfg.get(key))
            cfg[key] = value
    return cfg


def _check_evaluable(model_cfg: Mapping[str, Any], train: BuiltDataset, other: BuiltDataset) -> None:
    """A dataset evaluated with a model trained on another must fit that model."""
    problems = []
    if other.answer_mode != train.answer_mode:
        problems.append(f"answer mode {other.answer_mode} vs {train.answer_mode}")
    elif other.answer_mode == "mc" and other.info.get("num_options") != model_cfg.get("num_options"):
        problems.append(f"{other.info.get('num_options')} options vs {model_cfg.get('num_options')}")
    elif other.answer_mode == "oe" and list(other.info["answer_vocab"]) != list(train.info["answer_vocab"]):
        problems.append("a different answer vocabulary (answers are indices into it)")
    if other.info.get("feature_dim") != model_cfg.get("feature_dim"):
        problems.append(f"feature_dim {other.info.get('feature_dim')} vs {model_cfg.get('feature_dim')}")
    if (other.info.get("max_feats") or 0) > (model_cfg.get("max_feats") or 0):
        problems.append(f"max_feats {other.info.get('max_feats')} > the model's {model_cfg.get('max_feats')}")
    if problems:
        raise DatasetError(f"datasets.{other.name} cannot be evaluated with a model built for datasets.{train.name}: "
                           f"{'; '.join(problems)}. Evaluate it in a run of its own.")


def build_model(cfg: DictConfig, model_config: Mapping[str, Any], *, evaluating: bool = False,
                datasets: Optional[Mapping[str, BuiltDataset]] = None):
    """The registered model and the file its weights came from (``None``: fresh weights),
    initialised from ``model.checkpoint`` if set (README.md, "Configs").

    ``evaluating``: a gf checkpoint must have been trained with this model config (keys that
    only matter in training may differ), and ``datasets`` (those evaluated) must give it the
    data it was trained on (:func:`_check_evaluated_data`); fine-tuning from one may change
    them all. The authors' format records no config; its sizes are checked key by key.
    """
    model_cls = registry.get_model_class(cfg.model.name)
    spec = cfg.model.get("checkpoint")
    if not spec:
        return model_cls.from_config(dict(model_config)), None
    from gf.models import zoo
    from gf.models.checkpoint import check_model_config, load_model_weights, read_checkpoint

    path = Path(zoo.resolve_checkpoint(spec))
    ckpt = read_checkpoint(path)
    model_config = _authors_head(cfg, model_config, ckpt)
    if ckpt.is_gf and evaluating:  # before the model is built (its text encoder may be a download): a config that
        check_model_config(ckpt, model_config)  # changes the weights' shapes is named as such
        _check_evaluated_data(cfg, ckpt, datasets or {})
    model = model_cls.from_config(dict(model_config))
    load_model_weights(model, ckpt)
    logger.info("model initialised from %s", path)
    return model, path


def _check_evaluated_data(cfg: DictConfig, ckpt, datasets: Mapping[str, BuiltDataset]) -> None:
    """Refuse to score a gf checkpoint on features made with another recipe, or texts joined
    in another format, than it was trained with (docs/extraction.md, "The recipe travels
    with the checkpoint").

    Such features have the same shape and load silently, and other texts tokenize
    silently: the scores would differ from ``gf predict``'s for the same clip and
    question (it extracts with the recorded recipe and joins with the recorded format).
    """
    from gf.datasets.feature_recipe import recipe_differences
    from gf.processors.text import DEFAULT_TEXT_FORMAT

    trained = ckpt.extra.get("feature_recipe")
    for name, ds in datasets.items():
        where = f"datasets.{name}"
        recipe = ds.info.get("feature_recipe")
        differences = recipe_differences(trained, recipe, ("backbone", "motion_backbone", "sampling")) \
            if trained and recipe else []
        if differences:
            raise CheckpointError(
                f"{where}.features ({cfg.datasets[name].get('features')}) were made with another recipe than "
                f"{ckpt.path} was trained on ({'; '.join(differences)}, checkpoint -> store); evaluate on features "
                f"made with the checkpoint's recipe (gf extract with its flags) or train on these")
        text_format = cfg.datasets[name].get("text_format") or DEFAULT_TEXT_FORMAT
        if text_format != ckpt.text_format:
            raise CheckpointError(
                f"{where}.text_format {text_format!r} differs from {ckpt.text_format!r}, the format {ckpt.path} was "
                f"trained with (gf predict uses that one); set {where}.text_format to it or drop the override")


def _authors_head(cfg: DictConfig, model_config: Mapping[str, Any], ckpt) -> Mapping[str, Any]:
    """``model_config`` with the configured ``event_pred_dim`` where it is the authors' head
    for their own checkpoint (docs/differences_from_authors.md, "R6: the last STAR action
    class is dropped"): ``arch: reference``, one below the dataset's, weights in the
    authors' format. A gf checkpoint keeps the dataset's size it was trained with."""
    wanted = cfg.model.get("event_pred_dim")
    if (not ckpt.is_gf and model_config.get("arch") == "reference" and wanted is not None
            and wanted == model_config.get("event_pred_dim", 0) - 1):
        return {**model_config, "event_pred_dim": wanted}
    return model_config


def build_hooks(cfg: DictConfig, evaluating: bool = False) -> List[Any]:
    """The built-in hooks, then ``run.hooks`` (registered names), each constructed once and
    told its name (``hook_name``): checkpoints keep each hook's state under it."""
    hooks = []
    for name in hook_names(cfg.run, evaluating):
        hook = registry.get("hook", name)()
        hook.hook_name = name
        hooks.append(hook)
    return hooks


def _check_single_run_folder(out: Path) -> None:
    """Refuse a folder that a single run cannot use: a seed sweep's (``seed<N>/`` folders or
    its summary), where the run would land beside the seeds and lock the sweep out (it refuses
    a folder holding a single run), or one where a run file's name is taken by a folder, which
    would fail the first checkpoint save, an epoch of training later."""
    if not out.is_dir():
        return
    sweep = sorted(p.name for p in out.iterdir()
                   if p.name in (SUMMARY_JSON, SUMMARY_MD) or (p.is_dir() and SEED_FOLDER.fullmatch(p.name)))
    if sweep:
        raise ConfigError(f"{out} holds a seed sweep ({', '.join(sweep)}); a single run there would land beside its "
                          f"seed<N>/ folders. Continue the sweep with gf train --seeds (run.seeds), or choose another "
                          f"run.output_dir.")
    taken = [name for name in RUN_FILES if name not in RUN_FOLDERS and (out / name).exists()
             and not (out / name).is_file()]
    if taken:
        raise ConfigError(f"{out}: {', '.join(taken)} is not a file, so the run could not write it there; move or "
                          f"delete it, or choose another run.output_dir.")


def claim_output_dir(cfg: DictConfig, command: str):
    """Lock ``run.output_dir`` for this process and remove temporary files that a killed
    atomic write left; training refuses a folder that already holds a run unless it resumes
    or overwrites (README.md, "Runs and their output folders"). Returns the held lock;
    release it with ``lock.release()``."""
    out = Path(cfg.run.output_dir)
    lock = output_lock(out, command).acquire()
    try:
        removed = remove_stale_temp_files(out)
        if removed:
            logger.warning("removed %d temporary file(s) left by an interrupted write in %s: %s", len(removed), out,
                           ", ".join(str(p) for p in removed))
        if command == "gf train":
            _check_single_run_folder(out)
            if not cfg.run.resume:
                existing = [name for name in RUN_FILES if (out / name).exists()]
                if existing and not cfg.run.overwrite:
                    raise ConfigError(f"{out} already holds a run ({', '.join(existing)}). Continue it with "
                                      f"run.resume=auto (gf train --resume auto), or start again with "
                                      f"run.overwrite=true (deletes those files) or another run.output_dir.")
                for name in existing:
                    path = out / name
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                    logger.warning("run.overwrite: removed %s", path)
    except BaseException:
        lock.release()
        raise
    return lock


def build_runner(cfg: DictConfig, *, splits: Optional[Sequence[str]] = None):
    """A runner for ``cfg``. ``splits`` (evaluation only) are built for every dataset;
    otherwise the training dataset gets train + valid + test splits and the others valid +
    test."""
    run = cfg.run
    evaluating = splits is not None
    device = pick_device(run.device)
    dist.init_distributed(device)
    lock = claim_output_dir(cfg, "gf evaluate" if evaluating else "gf train") if dist.get_rank() == 0 else None
    try:
        seed_everything(run.seed)
        train_name = train_dataset_name(cfg)
        datasets = build_datasets(cfg, wanted_splits(cfg, splits))
        model_config = model_config_for(to_dict(cfg.model), datasets[train_name])
        for name, ds in datasets.items():
            if name != train_name:
                _check_evaluable(model_config, datasets[train_name], ds)
        model, weights_source = build_model(cfg, model_config, evaluating=evaluating, datasets=datasets)
        task = registry.get_task_class(run.task)()
        runner_cls = registry.get_runner_class(run.runner)
        return runner_cls(cfg, task, model, datasets, build_hooks(cfg, evaluating), train_dataset=train_name,
                          device=device, model_config=model_config, weights_source=weights_source, output_lock=lock)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
