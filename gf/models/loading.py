"""A model built for a checkpoint file and holding its weights: the one way from a file to a model.

Why here and once: ``gf.load_model``, the zoo's ``load_pretrained``, ``gf predict`` and
the leaderboard all turn a file into a ready model. The model config is assembled from
what the file (:class:`gf.models.checkpoint.CheckpointFile`) records, lowest first:

- gf's checkpoint: the ``model_type`` variant < the ``extra.model_config`` it was trained
  with (replaced by ``config`` when given) < ``overrides``;
- the authors' ``model_N.tar``: the sizes read off its weights < ``config`` < ``overrides``
  (their file records no config; the text encoder is built from its config, since the
  file holds its weights).

The model's own training run builds its model from the run's config instead
(:func:`gf.runners.build.build_model`) and only loads weights through
:func:`gf.models.checkpoint.load_model_weights`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Mapping, Optional

from gf.common.errors import CheckpointError, ConfigError
from gf.common.registry import registry
from gf.common.utils import PathLike

if TYPE_CHECKING:
    from gf.models.checkpoint import CheckpointFile

__all__ = ["FORMATS", "model_from_checkpoint"]

logger = logging.getLogger(__name__)

#: The checkpoint formats gf reads: its own, and the authors' ``model_N.tar``.
FORMATS = ("gf", "authors")


def model_from_checkpoint(checkpoint: "CheckpointFile | PathLike", *, model: str = "glance_focus",
                          model_type: Optional[str] = None, config: Optional[Mapping[str, Any]] = None,
                          format: str = "auto", device: Any = "cpu", **overrides):
    """Build ``model`` for ``checkpoint`` (a :class:`CheckpointFile`, or a path read here
    once) and load its weights, checked and all or nothing; in eval mode on ``device``.

    ``format``: "gf", "authors" or "auto" (whatever the file is). ``model_type``, when both
    it and the file name a variant, must agree with the file.
    """
    from gf.common.utils import check_device
    from gf.models.checkpoint import CheckpointFile, load_model_weights, read_checkpoint

    check_device(device, name="device")  # torch's own error would be a traceback, after the build

    if format not in FORMATS + ("auto",):
        raise ConfigError(f"format must be 'gf', 'authors' or 'auto', got {format!r}")
    ckpt = checkpoint if isinstance(checkpoint, CheckpointFile) else read_checkpoint(checkpoint)
    if format == "gf":
        ckpt.require_gf("it was named as one (format 'gf')")
    if format == "authors" and ckpt.is_gf:
        raise CheckpointError(f"{ckpt.path} is a gf checkpoint, not the authors' format it was named as; "
                              f"use format 'gf' or 'auto'.")
    model_cls = registry.get_model_class(model)
    cfg = (_gf_config if ckpt.is_gf else _authors_config)(ckpt, model, model_type, config)
    cfg.update(overrides)
    net = model_cls.from_config(cfg)
    load_model_weights(net, ckpt)
    return net.to(device).eval()


def _gf_config(ckpt: "CheckpointFile", model: str, model_type: Optional[str], config) -> dict:
    trained_as = ckpt.model_name
    if trained_as and trained_as != model:
        raise CheckpointError(f"{ckpt.path} holds a {trained_as!r} model, not {model!r}.")
    recorded = ckpt.model_config
    recorded_type = recorded.pop("model_type", None)
    if model_type and recorded_type and model_type != recorded_type:
        raise CheckpointError(f"{ckpt.path} was trained as model_type {recorded_type!r}, not {model_type!r}; "
                              f"drop model_type (or pass {recorded_type!r}).")
    cfg = dict(config) if config is not None else recorded
    if not cfg and not model_type and not recorded_type:
        logger.warning("%s records no model config (extra.model_config); building %s from its defaults "
                       "and overrides", ckpt.path, model)
    cfg["model_type"] = model_type or recorded_type
    return cfg


def _authors_config(ckpt: "CheckpointFile", model: str, model_type: Optional[str], config) -> dict:
    if model != "glance_focus":
        raise CheckpointError(f"{ckpt.path} is not a gf checkpoint, and the authors' format exists only for "
                              f"glance_focus (asked for {model!r}).")
    from gf.models.glance_focus.reference_checkpoint import infer_reference_config, reference_state_dict

    cfg = infer_reference_config(reference_state_dict(ckpt.content, ckpt.path))
    _check_variant_answers(ckpt, model, model_type, cfg["answer_mode"])
    cfg["text_encoder_init"] = "config"
    cfg.update(config or {})
    cfg["model_type"] = model_type
    return cfg


def _check_variant_answers(ckpt: "CheckpointFile", model: str, model_type: Optional[str], answer_mode: str) -> None:
    """Refuse a variant whose answer mode the authors' weights contradict.

    Their file records no variant, but its answer head shows multiple-choice or
    open-ended; the file's mode would silently win while the variant's other keys (memory,
    max_feats, ...) still applied, giving a model that is neither. Sizes, the number of
    answers included (the data's vocabulary decides it), are left to the weights' check.
    """
    if not model_type:
        return
    wanted = registry.get_model_type(model, model_type).get("answer_mode")
    if wanted and wanted != answer_mode:
        names = {"mc": "multiple-choice (mc)", "oe": "open-ended (oe)"}
        raise CheckpointError(f"{ckpt.path} holds {names.get(answer_mode, answer_mode)} weights, but model_type "
                              f"{model_type!r} is {names.get(wanted, wanted)}; pass a {answer_mode} variant "
                              f"(or no model_type).")
