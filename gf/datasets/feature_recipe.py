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
from typing import Any, Dict, List, Optional, Sequence

from gf.common.utils import utc_now
from gf.common.errors import ConfigError, DataFileError
from gf.common.io import atomic_write_json, load_json

__all__ = ["RECIPE_NAME", "RECIPE_VERSION", "make_recipe", "identity", "check_or_write_recipe", "read_recipe",
           "store_path"]

RECIPE_NAME = "features.json"
RECIPE_VERSION = 1

#: where the features live inside the output folder, per format
STORE_NAMES = {"webdataset": ".", "npy": ".", "pth": "features.pth", "hdf5": "features.h5"}

logger = logging.getLogger(__name__)


def make_recipe(*, backbone, num_frames: Optional[int], fps: Optional[float],
                windows: Optional[Sequence[Dict[str, str]]], window_tolerance: float, fmt: str,
                shard_size: Optional[int]) -> Dict[str, Any]:
    import timm
    import torch

    from gf.version import __version__

    return {
        "recipe_version": RECIPE_VERSION,
        "backbone": {
            "name": backbone.name,
            "weights": backbone.weights,
            "data_config": backbone.data_config,
            "features": "pooled pre-logits (timm create_model(num_classes=0) forward)",
            "feature_dim": backbone.feature_dim,
        },
        "sampling": {
            "num_frames": num_frames,
            "fps": fps,
            "windows": list(windows) if windows else None,
            "window_tolerance_s": window_tolerance if windows else None,
            "frame_times": "seconds from the video's first frame",
        },
        "output": {
            "format": fmt,
            "dtype": "float16",
            "store": STORE_NAMES[fmt],
            "shard_size": shard_size if fmt == "webdataset" else None,
        },
        "software": {"gf": __version__, "timm": timm.__version__, "torch": torch.__version__},
        "created": utc_now(),
    }


def identity(recipe: Dict[str, Any]) -> Dict[str, Any]:
    """The parts of a recipe that change a feature's value or where it is stored; file
    names, software versions, dates and the shard size do not."""
    backbone = dict(recipe.get("backbone") or {})
    weights = dict(backbone.get("weights") or {})
    weights.pop("file", None)
    weights.pop("text", None)
    backbone["weights"] = weights
    sampling = dict(recipe.get("sampling") or {})
    if sampling.get("windows"):
        sampling["windows"] = [w.get("sha256") for w in sampling["windows"]]
    output = recipe.get("output") or {}
    return {"backbone": backbone, "sampling": sampling,
            "output": {"format": output.get("format"), "dtype": output.get("dtype")}}


def _differences(old: Any, new: Any, prefix: str = "") -> List[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += _differences(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
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


def check_or_write_recipe(out: str, recipe: Dict[str, Any], *, stored: bool = True) -> Dict[str, Any]:
    """Write ``recipe`` into a new output folder, or check it against the one already there.

    The check runs before anything is decoded, so a refused rerun costs nothing. A folder
    that stores no sample yet (``stored=False``: an earlier run failed or was stopped before
    writing one) has nothing a new recipe could mix with, so its recipe is replaced rather
    than refused: a run corrected after a failure is not locked out by the failed one.
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
        raise ConfigError(
            f"{out} holds features made with another recipe ({os.path.join(out, RECIPE_NAME)}): {shown}. "
            f"A rerun only resumes the same recipe; mixing two would give features that look alike but differ. "
            f"Use another --out folder, or delete this one to start over.")
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
