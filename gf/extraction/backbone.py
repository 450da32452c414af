"""The frame backbone: a timm model giving pooled pre-logits, and its own preprocessing.

Why timm's data config rather than constants: each timm model was trained with its own
input size, crop, interpolation and mean/std; a feature extracted with another model's
normalisation is quietly worse, not wrong-looking. The recipe records the config so
features can be reproduced.

Why weights are read with ``weights_only=True`` or safetensors: a weights file is input
from outside, and unpickling it could run code; only tensors and plain containers are
accepted, a pickled object is refused naming it.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional

from gf.common.errors import CheckpointError, CheckpointNotFoundError, ConfigError, DataFileError, \
    DownloadError
from gf.common.io import sha256sum
from gf.common.utils import did_you_mean

__all__ = ["Backbone", "create_backbone", "load_state_dict_file", "apply_state_dict", "weights_source"]

logger = logging.getLogger(__name__)

#: keys under which training scripts nest a state dict (timm's train.py, DDP wrappers)
_NESTED = ("state_dict_ema", "state_dict", "model", "module")


@dataclass
class Backbone:
    model: Any  # torch.nn.Module, eval mode
    transform: Callable  # PIL image -> float tensor [3, H, W]
    data_config: Dict[str, Any]
    weights: Dict[str, Any]  # how the weights were set: {"kind": "file"|"random-init"|"pretrained", ...}
    feature_dim: int
    name: str


def weights_source(weights: Optional[str], hub: Optional[Dict[str, Any]], seed: int) -> Dict[str, Any]:
    """The recipe's record of how the weights were set: the file, else ``hub``, else a seeded random init."""
    if weights:
        return {"kind": "file", "file": os.path.basename(weights), "sha256": sha256sum(weights)}
    return hub or {"kind": "random-init", "seed": int(seed), "text": f"random-init seed {int(seed)}"}


def _is_safetensors(path: str) -> bool:
    """safetensors files start with an 8-byte little-endian header length, then a JSON object."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    if len(head) < 9 or head[8:9] != b"{":
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= os.path.getsize(path) - 8


def load_state_dict_file(path: str) -> Dict[str, Any]:
    """A ``{name: tensor}`` dict from a safetensors file or a ``torch.save`` file.

    Nested dicts (``{"state_dict": ...}``, ``{"model": ...}``, EMA weights first) are
    unwrapped and a DDP ``module.`` prefix is dropped, so checkpoints of common training
    scripts load as they are.
    """
    import torch

    from gf.common.safe_load import torch_load_safe

    if not os.path.exists(path):
        raise CheckpointNotFoundError(f"backbone weights not found: {path}")
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a folder; --weights names a weights file (.safetensors, .pth, .bin)")
    if _is_safetensors(path):
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise CheckpointError(f"{path} is a safetensors file, but the safetensors package is not "
                                  f"installed: pip install safetensors") from None
        try:
            obj: Any = load_file(path, device="cpu")
        except Exception as e:
            raise CheckpointError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None
    else:
        try:
            obj = torch_load_safe(path, map_location="cpu", what="backbone weights file")
        except DataFileError as e:  # torch_load_safe words it; a weights file is a checkpoint (exit 4)
            raise CheckpointError(str(e)) from None
    for _ in range(3):
        if isinstance(obj, Mapping) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            inner = next((obj[k] for k in _NESTED if isinstance(obj.get(k), Mapping)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{path}: expected a state dict {{name: tensor}}, got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: entries that are not tensors: {', '.join(map(repr, bad[:5]))}; expected a "
                              f"state dict {{name: tensor}}")
    if all(str(k).startswith("module.") for k in obj):
        obj = {str(k).removeprefix("module."): v for k, v in obj.items()}
    return dict(obj)


def apply_state_dict(model, state: Dict[str, Any], path: str, *, heads: Optional[tuple] = None,
                     architecture: Optional[str] = None) -> None:
    """Load ``state`` into ``model`` strictly, except the classifier the features do not use.

    The model is built without its classifier (timm: ``num_classes=0``; torchvision: the
    head replaced by an identity), so a full classification checkpoint's head weights
    (names starting with ``heads``) are expected extras; any other missing or unexpected
    name, or a shape that differs, means the file is for another architecture.
    """
    own = model.state_dict()
    if heads is None:  # a timm model names its classifier (one module or several) in its pretrained_cfg
        names = getattr(model, "pretrained_cfg", {}).get("classifier") or ()
        heads = tuple(f"{n}." for n in ((names,) if isinstance(names, str) else names))
    architecture = architecture or f"timm model {model.pretrained_cfg.get('architecture')!r}"
    unexpected = [k for k in state if k not in own]
    dropped = [k for k in unexpected if k.startswith(heads)] if heads else []
    unexpected = [k for k in unexpected if k not in dropped]
    missing = [k for k in own if k not in state]
    shape = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
             if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if shape:
            parts.append(f"{len(shape)} of another shape (e.g. {'; '.join(shape[:2])})")
        raise CheckpointError(f"{path} does not fit {architecture}: {', '.join(parts)}. Is it a state dict of this "
                              f"architecture?")
    if dropped:
        logger.info("%s: classifier weights not used for features: %s", path, ", ".join(dropped))
    model.load_state_dict({k: v for k, v in state.items() if k not in dropped}, strict=True)


def create_backbone(name: str, *, weights: Optional[str] = None, pretrained: bool = False, seed: int = 0,
                    input_size: Optional[int] = None, device: str = "cpu") -> Backbone:
    """A timm model with ``num_classes=0`` (its forward gives pooled pre-logits) and its transform.

    Weights: ``weights`` (a local file, recorded by sha256), else ``pretrained=True`` (timm
    fetches the hub's default weights), else a random initialisation seeded by ``seed``
    (recorded as such: features of a random network are for tests and benchmarks only).
    ``input_size`` overrides the data config's square input size (the rest of the config,
    crop fraction and normalisation, stays the model's).
    """
    import timm
    import torch
    from timm.data import create_transform, resolve_model_data_config

    if not isinstance(name, str) or not timm.is_model(name):
        raise ConfigError(f"--backbone {name!r} is not a timm model.{did_you_mean(name, timm.list_models())} "
                          f"List them with: python -c \"import timm; print(timm.list_models('*resnet*'))\"")
    if weights and pretrained:
        raise ConfigError("give either --weights FILE or --pretrained, not both")
    torch.manual_seed(int(seed))
    try:
        model = timm.create_model(name, pretrained=bool(pretrained), num_classes=0)
    except Exception as e:
        if pretrained:
            raise DownloadError(f"timm could not load the pretrained weights of {name!r} ({type(e).__name__}: "
                                  f"{e}); download them where there is a network and pass --weights FILE") from None
        raise
    if weights:
        apply_state_dict(model, load_state_dict_file(weights), weights)
    cfg = model.pretrained_cfg
    hub = ({"kind": "pretrained", "hub": cfg.get("hf_hub_id") or cfg.get("url") or "", "tag": cfg.get("tag") or ""}
           if pretrained else None)  # what timm downloaded, as its pretrained_cfg names it
    source = weights_source(weights, hub, seed)
    model.eval().to(device)
    args = {}
    if input_size:
        if cfg.get("fixed_input_size") and tuple(cfg.get("input_size", ()))[1:] != (input_size, input_size):
            raise ConfigError(f"--input-size {input_size}: {name} takes a fixed input size {cfg.get('input_size')}")
        args["input_size"] = (3, int(input_size), int(input_size))
    config = resolve_model_data_config(model, args=args or None)
    transform = create_transform(**config, is_training=False)
    try:
        with torch.inference_mode():
            dim = int(model(torch.zeros(1, *config["input_size"], device=device)).shape[-1])
    except RuntimeError as e:  # e.g. an input smaller than the network's downsampling
        if not input_size:
            raise
        raise ConfigError(f"--input-size {input_size}: {name} cannot run on {input_size}x{input_size} images "
                          f"({str(e).strip().splitlines()[0][:200]}); use a larger size, or leave --input-size "
                          f"out for the model's own {tuple(cfg.get('input_size', ()))}") from None
    plain = json.loads(json.dumps(dict(config)))  # tuples as JSON lists: recipes compare equal after a round trip
    return Backbone(model, transform, plain, source, dim, name)
