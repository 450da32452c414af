"""Builder config values: merging a user's config over a builder's defaults.

Why apart from :mod:`gf.datasets.base`: the merge (and the plain-container view of a
config it starts from) is used by the builders and by the split fingerprint
(:mod:`gf.datasets.split_provenance`), which the builders mix in, so it sits below both.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Mapping, Optional, Sequence

from gf.common.errors import ConfigError, DatasetError
from gf.common.utils import check_known_keys

__all__ = ["merge_builder_config", "to_plain"]


def to_plain(obj: Any) -> Any:
    """Mappings -> dict and sequences -> list, recursively (OmegaConf containers included)."""
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)):
        return [to_plain(v) for v in obj]
    return obj


def merge_builder_config(defaults: Mapping[str, Any], cfg: Optional[Mapping[str, Any]], owner: str) -> Dict[str, Any]:
    """``cfg`` over ``defaults``; unknown top-level keys are a :class:`DatasetError`.

    Dict-valued defaults (e.g. ``annotations: {train: ..., val: ...}``) are merged one
    level deep, so overriding one split's file keeps the others; new keys inside them
    are accepted (an extra split is legitimate, not a typo).
    """
    merged = copy.deepcopy(dict(defaults))
    if cfg is None:
        return merged
    if not isinstance(cfg, Mapping):
        raise DatasetError(f"{owner}: config must be a mapping, got {type(cfg).__name__}: {cfg!r}")
    cfg = to_plain(cfg)
    check_known_keys(cfg, defaults, owner=owner, error=ConfigError)
    for key, value in cfg.items():
        if isinstance(defaults[key], dict) and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged
