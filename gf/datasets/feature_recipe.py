"""``features.json``: how the features in a folder were made, and the guard against mixing.

Why a recipe beside the features: features from another backbone, other weights, another
preprocessing or another frame sampling have the same shape and load without complaint,
yet a model trained on one set is wrong on the other. The recipe names every input that
changes a feature's value (weights by sha256, windows files by sha256), so a folder can
be reproduced, and a rerun into the same folder that would change any of them is refused
instead of silently mixing two kinds of features.

It lives with the datasets, not with extraction: builders read it (a checkpoint records
the recipe of its training features), and ``gf extract`` writes it.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

from gf.common.utils import utc_now
from gf.common.errors import ConfigError, DataFileError
from gf.common.io import atomic_write_json, load_json

__all__ = ["RECIPE_NAME", "make_recipe", "identity", "check_or_write_recipe", "read_recipe", "recipe_differences",
           "store_path"]

RECIPE_NAME = "features.json"
RECIPE_VERSION = 1

#: where the features live inside the output folder, per format
STORE_NAMES = {"webdataset": ".", "npy": ".", "pth": "features.pth", "hdf5": "features.h5"}

logger = logging.getLogger(__name__)


#: what a row of a timm frame backbone is (a clip backbone says its own: ``features``)
TIMM_FEATURES = "pooled pre-logits (timm create_model(num_classes=0) forward)"

#: how clip rows are placed and timed (gf.extraction.clips)
CLIP_PLACEMENT = ("N clips of clip_len frames clip_stride frames apart, centred on the frames shown at the centres "
                  "of N equal segments of the video or window, shifted inside it")
ROW_TIMES = ("times: the centre of each clip's span; spans: [first frame's time, the time the frame after its "
             "last starts); frame_times: the time of each row's appearance frame, its clip's middle frame")


def _backbone_record(backbone) -> Dict[str, Any]:
    return {
        "name": backbone.name,
        "weights": backbone.weights,
        "data_config": backbone.data_config,
        "features": getattr(backbone, "features", TIMM_FEATURES),
        "feature_dim": backbone.feature_dim,
    }


def _software(*backbones) -> Dict[str, str]:
    import timm
    import torch

    from gf.version import __version__

    out = {"gf": __version__, "timm": timm.__version__, "torch": torch.__version__}
    names = [b.name for b in backbones if b is not None]
    if any(n.startswith("torchvision:") for n in names):
        import torchvision

        out["torchvision"] = torchvision.__version__
    if any(n.startswith("hf:") for n in names):
        import transformers

        out["transformers"] = transformers.__version__
    return out


def make_recipe(*, backbone, num_frames: Optional[int], fps: Optional[float],
                windows: Optional[Sequence[Dict[str, str]]], window_tolerance: float, fmt: str,
                shard_size: Optional[int], motion=None, clips: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The recipe of a run. ``backbone`` is the frame backbone, or the clip backbone of a
    clip-level run; ``motion`` the clip backbone of a two-stream run (``backbone`` is then
    its appearance stream, and each row is the appearance feature followed by the motion
    feature); ``clips`` where clips lie (``None``: frames). The keys a frame-level recipe
    had before clips existed are unchanged, so its folders resume as they did."""
    recipe: Dict[str, Any] = {"recipe_version": RECIPE_VERSION, "backbone": _backbone_record(backbone)}
    if motion is not None:
        recipe["motion_backbone"] = _backbone_record(motion)
    sampling: Dict[str, Any] = {
        "num_frames": num_frames,
        "fps": fps,
        "windows": list(windows) if windows else None,
        "window_tolerance_s": window_tolerance if windows else None,
        "frame_times": "seconds from the video's first frame",
    }
    if clips is not None:
        sampling["clips"] = dict(clips, placement=CLIP_PLACEMENT, row_times=ROW_TIMES)
    recipe["sampling"] = sampling
    recipe["output"] = {
        "format": fmt,
        "dtype": "float16",
        "store": STORE_NAMES[fmt],
        "shard_size": shard_size if fmt == "webdataset" else None,
    }
    if motion is not None:
        recipe["output"]["feature_dim"] = backbone.feature_dim + motion.feature_dim
        recipe["output"]["columns"] = {"appearance": [0, backbone.feature_dim],
                                       "motion": [backbone.feature_dim, backbone.feature_dim + motion.feature_dim]}
    recipe["software"] = _software(backbone, motion)
    recipe["created"] = utc_now()
    return recipe


def _weights_identity(record: Dict[str, Any]) -> Dict[str, Any]:
    """A backbone record without what does not change a feature: the weights file's name."""
    record = dict(record or {})
    weights = dict(record.get("weights") or {})
    for name in ("file", "text", "folder"):
        weights.pop(name, None)
    record["weights"] = weights
    return record


def identity(recipe: Dict[str, Any]) -> Dict[str, Any]:
    """The parts of a recipe that change a feature's value or where it is stored; file
    and folder names, software versions, dates and the shard size do not."""
    backbone = _weights_identity(recipe.get("backbone"))
    sampling = dict(recipe.get("sampling") or {})
    if sampling.get("windows"):
        sampling["windows"] = [w.get("sha256") for w in sampling["windows"]]
    output = recipe.get("output") or {}
    out = {"backbone": backbone, "sampling": sampling,
           "output": {"format": output.get("format"), "dtype": output.get("dtype")}}
    if recipe.get("motion_backbone"):
        out["motion_backbone"] = _weights_identity(recipe["motion_backbone"])
    return out


def recipe_differences(trained: Dict[str, Any], other: Dict[str, Any],
                       parts: Sequence[str] = ("backbone", "motion_backbone")) -> List[str]:
    """Why a model trained on ``trained``'s features would read ``other``'s wrongly:
    ``part.key: trained -> other`` lines for the ``parts`` of :func:`identity` that differ.

    Shared by ``gf predict`` (the video it extracts: backbones only) and ``gf evaluate``
    (the store it scores: backbones and ``sampling``), so the two refuse the same backbone
    mismatches and agree on what they answer. Under ``sampling``, which clips a windows file cut belongs to the data (a test split has its
    own file), and the tolerance only decides which windows are accepted: only whether
    clips were cut is compared.
    """
    def part_of(recipe: Dict[str, Any], part: str) -> Any:
        value = identity(recipe).get(part)
        if part == "sampling" and value is not None:
            value = dict(value, windows=bool(value.get("windows")))
            value.pop("window_tolerance_s", None)
        return value

    return [line for part in parts for line in _differences(part_of(trained, part), part_of(other, part), part + ".")]


def _differences(old: Any, new: Any, prefix: str = "") -> List[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new), key=str)
        return [d for k in keys for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    if old != new:
        return [f"{prefix.rstrip('.')}: {json.dumps(old)} -> {json.dumps(new)}"]
    return []


def read_recipe(out: str) -> Optional[Dict[str, Any]]:
    path = os.path.join(out, RECIPE_NAME)
    if not os.path.exists(path):
        return None
    recipe = load_json(path, "extraction recipe (features.json)")
    if not isinstance(recipe, dict) or "backbone" not in recipe or "output" not in recipe:
        raise DataFileError(f"{path} is not a gf extract recipe (no 'backbone'/'output'); is this folder the "
                            f"output of gf extract?")
    return recipe


def check_or_write_recipe(out: str, recipe: Dict[str, Any], *, stored: bool = True, update: bool = True,
                          refusal: Optional[Callable[[str], str]] = None) -> Dict[str, Any]:
    """Write ``recipe`` into a new output folder, or check it against the one already there.

    The check runs before anything is decoded, so a refused rerun costs nothing. A folder
    that stores no sample yet (``stored=False``: an earlier run failed or was stopped before
    writing one) has nothing a new recipe could mix with, so its recipe is replaced rather
    than refused: a run corrected after a failure is not locked out by the failed one.
    A recipe that differs is refused with ``refusal(differences)`` as the message (default:
    a rerun's), the differences shown as ``path: old -> new``, six of them and a count of the
    rest; one that matches gets this run's software versions, unless ``update=False`` (a job
    of an array, which follows the first job's recipe as it is).
    """
    old = read_recipe(out)
    if old is None:
        atomic_write_json(os.path.join(out, RECIPE_NAME), recipe)
        return recipe
    diff = _differences(identity(old), identity(recipe))
    if diff and not stored:
        logger.info("%s: no features stored yet; the recipe of the earlier run is replaced (%s)", out,
                    "; ".join(diff[:3]))
        atomic_write_json(os.path.join(out, RECIPE_NAME), recipe)
        return recipe
    if diff:
        shown = "; ".join(diff[:6]) + (f"; and {len(diff) - 6} more" if len(diff) > 6 else "")
        raise ConfigError(refusal(shown) if refusal is not None else
                          f"{out} holds features made with another recipe ({os.path.join(out, RECIPE_NAME)}): "
                          f"{shown}. A rerun only resumes the same recipe; mixing two would give features that look "
                          f"alike but differ. Use another --out folder, or delete this one to start over.")
    if not update:
        return old
    merged = dict(old)
    merged["software"] = recipe["software"]
    merged["updated"] = utc_now()
    merged.setdefault("output", {})["shard_size"] = recipe["output"].get("shard_size")
    atomic_write_json(os.path.join(out, RECIPE_NAME), merged)
    return merged


def store_path(out: str, recipe: Optional[Dict[str, Any]] = None) -> tuple:
    """``(path, format)`` to open the features of an output folder with ``open_feature_store``."""
    recipe = recipe if recipe is not None else read_recipe(out)
    if recipe is None:
        raise DataFileError(f"{out}: no {RECIPE_NAME}; not an output folder of gf extract")
    fmt = recipe["output"]["format"]
    name = STORE_NAMES.get(fmt)
    if name is None:
        raise DataFileError(f"{os.path.join(out, RECIPE_NAME)}: unknown output format {fmt!r}")
    return (out if name == "." else os.path.join(out, name)), fmt
