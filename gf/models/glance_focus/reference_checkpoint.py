"""Import of checkpoints saved by the authors' code (``model_<step>.tar``): their keys
renamed onto ``GlanceFocus(arch="reference")`` and the model's sizes read off the weights.

Their files are ``torch.save`` dicts ``{'model_state_dict', 'optimizer_state_dict',
'loss', 'global_step'}`` whose state dict uses the authors' module names. How they are
read and loaded: README.md, "Loading the authors' checkpoints".
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Tuple

import torch

from gf.common.errors import CheckpointError
from gf.common.utils import describe_ids

# (pattern, replacement) applied in order; the first match wins.
_KEY_RULES: List[Tuple[str, str]] = [
    (r"^transformer\.encoder\.layers\.", "encoder.layers."),
    (r"^transformer\.decoder\.layers\.(\d+)\.cross_attn_image\.", r"decoder.layers.\1.cross_attn."),
    (r"^transformer\.decoder\.", "decoder."),
    (r"^transformer\.text_encoder\.", "text_encoder.backbone."),
    (r"^transformer\.resizer\.", "text_encoder.resizer."),
    # weight norm: the old hook names and the newer parametrization names
    (r"^input_proj\.main\.0\.(weight_g|weight_v|bias)$", r"input_proj.\1"),
    (r"^input_proj\.main\.0\.parametrizations\.weight\.original0$", "input_proj.weight_g"),
    (r"^input_proj\.main\.0\.parametrizations\.weight\.original1$", "input_proj.weight_v"),
    (r"^position_embeddings\.", "memory_pos_embed."),
    (r"^span_embed\.", "span_head."),
    (r"^event_class_embed\.", "event_class_head."),
]
# Present in the authors' files but never used by their forward pass.
_IGNORED = [r"^transformer\.text_encoder\.pooler\.", r"\.position_ids$"]


def map_reference_keys(state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The authors' state dict under gf's keys, without the tensors their model never used."""
    mapped: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if any(re.search(p, key) for p in _IGNORED):
            continue
        new = next((re.sub(pattern, repl, key) for pattern, repl in _KEY_RULES if re.search(pattern, key)), key)
        if new == "input_proj.weight_g":
            value = value.reshape(())
        mapped[new] = value
    return mapped


def reference_state_dict(ckpt: Any, path) -> Dict[str, torch.Tensor]:
    """The weights inside an already loaded authors' file (``model_state_dict``, or a bare state dict)."""
    if isinstance(ckpt, Mapping) and "model_state_dict" in ckpt:
        return dict(ckpt["model_state_dict"])
    if isinstance(ckpt, Mapping) and ckpt and all(torch.is_tensor(v) for v in ckpt.values()):
        return dict(ckpt)
    found = f"top-level keys: {describe_ids(ckpt)}" if isinstance(ckpt, Mapping) else f"a {type(ckpt).__name__}"
    raise CheckpointError(f"{path}: not an authors' Glance-Focus checkpoint (expected a dict with "
                          f"'model_state_dict'); found {found}")


def infer_reference_config(state: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """Sizes that can be read off the authors' state dict (heads count cannot)."""
    def shape(k):
        if k not in state:
            raise CheckpointError(f"authors' checkpoint lacks {k!r}; cannot infer the model size")
        return tuple(state[k].shape)

    d_model, feature_dim = shape("input_proj.main.0.weight_v") if "input_proj.main.0.weight_v" in state \
        else shape("input_proj.main.0.parametrizations.weight.original1")
    cfg: Dict[str, Any] = dict(arch="reference", frame_pos="none", d_model=d_model, feature_dim=feature_dim,
                               num_queries=shape("query_embed.weight")[0],
                               event_pred_dim=shape("event_class_embed.weight")[0],
                               dim_feedforward=shape("transformer.encoder.layers.0.linear1.weight")[0])
    enc = {int(m.group(1)) for k in state for m in [re.match(r"transformer\.encoder\.layers\.(\d+)\.", k)] if m}
    dec = {int(m.group(1)) for k in state for m in [re.match(r"transformer\.decoder\.layers\.(\d+)\.", k)] if m}
    cfg["num_encoder_layers"], cfg["num_decoder_layers"] = len(enc), len(dec)
    if "answer_head.0.weight" in state:
        cfg["answer_mode"] = "mc"
    else:
        cfg["answer_mode"] = "oe"
        cfg["num_answers"] = shape("answer_head.weight")[0]
    return cfg

