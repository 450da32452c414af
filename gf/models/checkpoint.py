"""gf checkpoints: written so that they resume exactly, read without executing pickled
code, and loaded into a model all or nothing.

A gf checkpoint is a ``torch.save`` of plain containers and tensors only, so it loads
with ``torch.load(weights_only=True)``; what it holds is :func:`save_checkpoint`'s payload.
Writes are atomic: a run killed while saving leaves the previous file intact.
"""
from __future__ import annotations

import hashlib
import random
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch

from gf.common.errors import CheckpointError
from gf.common.io import atomic_torch_save
from gf.common.safe_load import torch_load_safe
from gf.models.state_dict import load_state_dict_checked

FORMAT = "gf-checkpoint"
VERSION = 1


def weights_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Hash of the weights, independent of file layout, device and memory layout (strides).

    For each tensor, in order of name, it hashes ``"<name>|(<element count>,)|<dtype>|"``
    and then the raw bytes of its elements (native byte order) in row-major order. The
    tensor is flattened first, so the element count stands where a shape would be: the
    shape itself is not hashed, and two state dicts that differ only in a tensor's shape
    ([2, 3], [3, 2] or [6]; a scalar or a 1-element tensor) hash equal. Kept so: changing
    what goes in would change every hash already recorded.
    """
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def capture_rng_state() -> Dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def rank_rng_state(content: Mapping[str, Any], rank: int) -> Mapping[str, Any]:
    """The RNG state that process ``rank`` resumes from. Under torchrun each rank draws its
    own numbers (dropout masks, event sampling), so a checkpoint written by several records
    every rank's state (``rng_per_rank``); one written by 1 process, or by an older gf,
    holds one state (``rng``), which every rank gets."""
    per_rank = content.get("rng_per_rank")
    return per_rank[rank] if per_rank else content["rng"]


def restore_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


#: What ``torch.load(weights_only=True)`` reads back, by exact type: a subclass is pickled
#: by its own class and refused (numpy's float64 is a float). Sets are left out: only recent
#: torch versions read them.
PLAIN_LEAVES = (str, bytes, bytearray, int, float, bool, complex, type(None), torch.Tensor, torch.nn.Parameter,
                torch.Size, torch.dtype, torch.device)
PLAIN_CONTAINERS = (dict, OrderedDict, list, tuple)


def unloadable_value(value: Any, where: str = "") -> Optional[Tuple[str, str]]:
    """The first thing inside ``value`` that a weights-only load refuses, as (where, as
    ``[key][index]``; its type's name), or None when all of it loads."""
    kind = type(value)
    if kind in PLAIN_LEAVES:
        return None
    if kind not in PLAIN_CONTAINERS:
        return where, kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found = (unloadable_value(key, f"{where} key {key!r}") if isinstance(value, dict) else None) \
            or unloadable_value(item, f"{where}[{key!r}]")
        if found:
            return found
    return None


def save_checkpoint(path, *, model_state: Mapping[str, torch.Tensor], config: Mapping[str, Any],
                    optimizer=None, scheduler=None, scaler=None, epoch: int = -1, step: int = 0,
                    best_metric: Optional[float] = None, hook_states: Optional[Mapping[str, Any]] = None,
                    extra: Optional[Mapping[str, Any]] = None,
                    rng_per_rank: Optional[Sequence[Mapping[str, Any]]] = None) -> Path:
    """``rng_per_rank``: every process's :func:`capture_rng_state` (rank order) when several
    trained; ``rng`` keeps this process's, as a 1-process checkpoint (and older gf) has it."""
    from gf.version import __version__

    payload = {
        "format": FORMAT, "version": VERSION, "gf_version": __version__,
        "config": dict(config), "model": dict(model_state),
        "weights_sha256": weights_sha256(model_state),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "rng": capture_rng_state(), "epoch": int(epoch), "step": int(step),
        "best_metric": None if best_metric is None else float(best_metric),
        "hooks": dict(hook_states or {}),
        "extra": dict(extra or {}),
    }
    if rng_per_rank is not None and len(rng_per_rank) > 1:
        payload["rng_per_rank"] = list(rng_per_rank)
    atomic_torch_save(payload, path)
    return Path(path)


class NotAGfCheckpointError(CheckpointError):
    """The file loads but is not a gf checkpoint (it may be the authors' ``model_N.tar``)."""


@dataclass(frozen=True)
class CheckpointFile:
    """A model checkpoint read once, whichever its format, and what it says about itself.

    Why one reader: evaluating, resuming, publishing, ``gf predict`` and ``gf.load_model``
    all start from a file that is either gf's checkpoint (which records its config, its
    dataset's text format and feature recipe) or the authors' ``model_N.tar`` (weights
    only). Deciding which, and reading those records, is done here and nowhere else.
    ``content`` is the loaded gf checkpoint, or the authors' file as loaded.
    """

    path: Path
    format: str  # "gf" or "authors"
    content: Mapping[str, Any]

    @property
    def is_gf(self) -> bool:
        return self.format == "gf"

    @property
    def extra(self) -> Dict[str, Any]:
        return dict(self.content.get("extra") or {}) if self.is_gf else {}

    @property
    def run_config(self) -> Dict[str, Any]:
        """The resolved config the checkpoint was trained with (``{}`` for the authors' format)."""
        return dict(self.content.get("config") or {}) if self.is_gf else {}

    @property
    def model_config(self) -> Dict[str, Any]:
        """The exact model kwargs it was trained with (``extra.model_config``; ``{}``: none recorded)."""
        return dict(self.extra.get("model_config") or {})

    @property
    def model_name(self) -> Optional[str]:
        return (self.run_config.get("model") or {}).get("name")

    @property
    def dataset_config(self) -> Dict[str, Any]:
        """The config of the dataset it was trained on (``{}`` when unknown)."""
        found = (self.run_config.get("datasets") or {}).get(self.extra.get("dataset"))
        return dict(found) if isinstance(found, Mapping) else {}

    @property
    def text_format(self) -> str:
        """How its questions and options were joined into texts (the default when it does not say)."""
        from gf.processors.text import DEFAULT_TEXT_FORMAT

        return self.dataset_config.get("text_format") or DEFAULT_TEXT_FORMAT

    def require_gf(self, why: str) -> "CheckpointFile":
        if not self.is_gf:
            raise NotAGfCheckpointError(f"{self.path} is not a gf checkpoint (format {FORMAT!r}); {why}")
        return self


def read_checkpoint(path, *, mmap: Optional[bool] = None) -> CheckpointFile:
    """Read ``path`` once (``weights_only``: nothing pickled runs) and say which format it is."""
    loaded = torch_load_safe(path, mmap=mmap)
    is_gf = isinstance(loaded, dict) and loaded.get("format") == FORMAT
    return CheckpointFile(Path(path), "gf" if is_gf else "authors", loaded)


def load_model_weights(model, source) -> Dict[str, Any]:
    """Initialise ``model`` from ``source`` (a :class:`CheckpointFile` or a path to one: gf's
    checkpoint or the authors' ``model_N.tar``), all or nothing (:mod:`gf.models.state_dict`),
    gf's stored weights hash checked first. Returns the gf checkpoint (empty for the authors'
    format, which carries no gf state).
    """
    ckpt = source if isinstance(source, CheckpointFile) else read_checkpoint(source)
    if not ckpt.is_gf:
        from gf.models.glance_focus.reference_checkpoint import map_reference_keys, reference_state_dict

        mapped = map_reference_keys(reference_state_dict(ckpt.content, ckpt.path))
        load_state_dict_checked(model, mapped, source=str(ckpt.path))
        return {}
    check_weights_hash(ckpt)
    load_state_dict_checked(model, ckpt.content["model"], source=str(ckpt.path))
    return dict(ckpt.content)


def check_weights_hash(ckpt: CheckpointFile) -> None:
    """Refuse gf weights that are not all tensors, or that differ from the
    ``weights_sha256`` stored beside them. A gf checkpoint's ``model`` maps names to tensors;
    anything else (an edited or foreign file that still says ``gf-checkpoint``) is named
    here, not met as a torch traceback halfway through hashing or loading."""
    weights = ckpt.content.get("model")
    if not isinstance(weights, Mapping):
        raise CheckpointError(f"{ckpt.path}: a gf checkpoint holds its weights under 'model' as a mapping of names "
                              f"to tensors; found {type(weights).__name__}. The file is damaged or not gf's; "
                              f"download or copy it again")
    for name, value in weights.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{ckpt.path}: weight {name!r} is a {type(value).__name__}, not a tensor. The "
                                  f"file is damaged or was edited; download or copy it again")
    expected = ckpt.content.get("weights_sha256")
    if expected and weights_sha256(ckpt.content["model"]) != expected:
        raise CheckpointError(f"{ckpt.path}: the weights do not match the weights_sha256 stored with them; the "
                              f"file is corrupt or was edited. Download or copy it again.")


#: Model config keys that change training but not what a trained model computes: they may
#: differ when a checkpoint is evaluated (a moved tokenizer folder included), never when
#: a run is resumed.
EVALUATION_MAY_DIFFER = ("dropout", "resizer_dropout", "loss_weights", "cost_cls", "cost_l1", "eos_coef",
                         "freeze_text_encoder", "cache_text_features", "text_encoder_init", "text_encoder",
                         "glance_per_option", "model_type")


def check_model_config(ckpt: CheckpointFile, model_config: Mapping[str, Any], allowed=EVALUATION_MAY_DIFFER) -> None:
    """Refuse a gf checkpoint whose recorded model config differs from the one about to
    use it (resuming or evaluating), naming every differing key with both values. Called
    before its weights are loaded, so a difference that changes their shapes is named as
    such rather than as a key or shape mismatch."""
    recorded = ckpt.model_config
    if not recorded:
        return  # older checkpoints carry none; the weights' own key/shape check still applies
    keys = sorted((set(recorded) | set(model_config)) - set(allowed))
    differing = [(k, recorded.get(k, "<absent>"), model_config.get(k, "<absent>")) for k in keys
                 if recorded.get(k, "<absent>") != model_config.get(k, "<absent>")]
    if differing:
        detail = "; ".join(f"model.{k}: checkpoint {a!r}, config {b!r}" for k, a, b in differing)
        raise CheckpointError(f"{ckpt.path} was trained with another model config ({detail}). Use the config it was "
                              f"trained with (its config.yaml) or drop the differing --options.")
