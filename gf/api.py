"""The Python entry points, LAVIS style: a model with its processors, or a benchmark's splits.

Why these three functions: users of LAVIS/SeViLA expect ``load_model_and_preprocess`` to
hand back a ready model together with the exact input processing it was trained with,
so that features and questions prepared in a notebook give the answers an evaluation
run would give. Weights are loaded only when asked for (``checkpoint=`` or
``pretrained=``); building a model never downloads.

Importing this module is cheap (no torch); everything heavy is imported on call, so
``gf.load_model`` etc. can be offered lazily from ``import gf``.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

__all__ = ["load_dataset", "load_model", "load_model_and_preprocess"]


def load_model(name: str, model_type: Optional[str] = None, is_eval: bool = True, device: Any = "cpu",
               checkpoint: Any = None, pretrained: Optional[str] = None, **overrides):
    """Build model ``name`` (variant ``model_type``), with weights only if asked for.

    Args:
        name: registered model name, e.g. ``"glance_focus"``.
        model_type: registered variant (``gf list models``); may be omitted with weights
            whose entry or file records it. When both are known they must agree.
        is_eval: eval mode (dropout off) if True, train mode otherwise.
        device: where the model goes (``"cpu"``, ``"cuda"``, a ``torch.device``); one this
            machine lacks is a ConfigError.
        checkpoint: a local file (gf checkpoint or the authors' ``model_N.tar``), a URL, or
            ``zoo:<name>`` (see :func:`gf.models.zoo.resolve_checkpoint`).
        pretrained: a zoo entry name (``gf.models.zoo.list_pretrained()``).
        **overrides: model config keys on top of the variant (or of the checkpoint's
            recorded config), e.g. ``text_encoder="/path/to/local/roberta"``.

    The model's ``text_format`` is the text format its weights were trained with (so
    ``predict_example`` answers as evaluation does), None without weights.
    """
    from gf.common.errors import CheckpointError, ConfigError
    from gf.common.registry import registry
    from gf.common.utils import check_device
    from gf.models import zoo
    from gf.models.checkpoint import read_checkpoint
    from gf.models.loading import model_from_checkpoint

    check_device(device, name="device")  # before any download or build, as a one-line error
    if checkpoint is not None and pretrained is not None:
        raise ConfigError("give either checkpoint= or pretrained=, not both")
    zoo_name = zoo.zoo_name_of(checkpoint) if checkpoint is not None else pretrained
    if zoo_name is not None:
        entry = zoo.get_pretrained(zoo_name)
        if entry.model != name:
            raise CheckpointError(f"zoo entry {entry.name!r} is a {entry.model!r} model, not {name!r}.")
        if model_type is not None and entry.model_type is not None and model_type != entry.model_type:
            raise CheckpointError(f"zoo entry {entry.name!r} is model_type {entry.model_type!r}, not {model_type!r}; "
                                  f"drop model_type or pass {entry.model_type!r}.")
        model, checkpoint = zoo.build_pretrained(entry, device, **overrides)
        model.text_format = entry.text_format or checkpoint.text_format
    elif checkpoint is not None:
        checkpoint = read_checkpoint(zoo.resolve_checkpoint(checkpoint))
        model = model_from_checkpoint(checkpoint, model=name, model_type=model_type, device=device, **overrides)
        model.text_format = checkpoint.text_format
    else:
        model = registry.get_model_class(name).from_config(dict(overrides, model_type=model_type)).to(device)
        model.text_format = None
    return model.eval() if is_eval else model.train()


def load_model_and_preprocess(name: str, model_type: Optional[str] = None, is_eval: bool = True,
                              device: Any = "cpu", checkpoint: Any = None, pretrained: Optional[str] = None,
                              **overrides) -> Tuple[Any, Dict[str, Any], Dict[str, Any]]:
    """:func:`load_model` plus the processors its inputs need.

    Returns ``(model, train_processors, eval_processors)``, each processor dict being
    ``{"video": ..., "text": ...}``: ``eval_processors["video"](feats)`` samples/pads
    ``[T, D]`` features to the model's ``max_feats`` rows (checking ``feature_dim``) and
    returns ``{"video", "video_mask"}``; ``eval_processors["text"](question, options)``
    returns the texts in the format the weights were trained with (one per option).
    """
    from gf.common.errors import ConfigError
    from gf.processors.text import DEFAULT_TEXT_FORMAT, VideoQATextProcessor
    from gf.processors.video import VideoFeatureProcessor

    model = load_model(name, model_type, is_eval, device, checkpoint, pretrained, **overrides)
    text_format = getattr(model, "text_format", None)
    cfg = getattr(model, "config", None)
    max_feats, feature_dim = getattr(cfg, "max_feats", None), getattr(cfg, "feature_dim", None)
    if max_feats is None:
        raise ConfigError(f"model {name!r} has no config.max_feats; gf's video processor needs it "
                         f"to sample frames as in training.")
    text = VideoQATextProcessor(text_format or DEFAULT_TEXT_FORMAT)
    train = {"video": VideoFeatureProcessor(max_feats, feature_dim, train=True), "text": text}
    evaluation = {"video": VideoFeatureProcessor(max_feats, feature_dim, train=False), "text": text}
    return model, train, evaluation


def load_dataset(name: str, cfg: Optional[Mapping[str, Any]] = None, splits: Optional[Sequence[str]] = None,
                 *, data_root: Optional[str] = None) -> Dict[str, Any]:
    """The splits of a registered benchmark, ``{split: dataset}``, built by its builder.

    ``cfg`` holds the builder's keys (``gf list datasets``; unknown keys are errors), e.g.
    ``{"data_root": "/data", "features": "vis_db/s3d.pth"}``; ``data_root`` is a shortcut
    for that key. ``splits`` defaults to the builder's configured splits.
    """
    from gf.common.config import make_builder
    from gf.common.errors import ConfigError

    if cfg is not None and not isinstance(cfg, Mapping):
        raise ConfigError(f"load_dataset({name!r}): cfg must be a mapping of the builder's keys (e.g. "
                          f"{{'data_root': '/data'}}), got {type(cfg).__name__}: {cfg!r}; splits go in splits=")
    config = dict(cfg or {})
    if data_root is not None:
        config["data_root"] = str(data_root)
    builder = make_builder(name, config)
    if isinstance(splits, str):
        splits = [splits]
    return builder.build_datasets(None if splits is None else list(splits))
