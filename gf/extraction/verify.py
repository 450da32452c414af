"""``gf extract --verify``: compare extracted features with a reference feature file.

Why: the usual check after a re-extraction (a new machine, a new decord or timm version,
float16 storage, another store format) is "are these the features I had?". Shapes and
frame counts catch a different sampling, cosine similarity per frame catches a different
backbone, weights or preprocessing, and the key sets catch videos that went missing.
Cosine rather than absolute error, because float16 storage and GPU kernels move values
by amounts that depend on their scale, while their direction is what a model uses.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

__all__ = ["VerifyReport", "verify_features", "open_any_store", "is_verify_report", "REPORT_MARK"]

#: ``written_by`` of a ``--report`` file: what marks it as gf's to replace on a rerun.
REPORT_MARK = "gf extract --verify"


def is_verify_report(path) -> bool:
    """Whether ``path`` is a report ``gf extract --verify --report`` wrote (its mark)."""
    import json

    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("written_by") == REPORT_MARK


def open_any_store(path: str, fmt: Optional[str] = None, **kw):
    """A feature store for ``path``: a gf extract output folder (its recipe names the
    format and file), or any store ``open_feature_store`` reads."""
    from gf.datasets.feature_stores import open_feature_store
    from gf.datasets.feature_recipe import RECIPE_NAME, store_path

    if fmt is None and os.path.isdir(path) and os.path.exists(os.path.join(path, RECIPE_NAME)):
        path, fmt = store_path(path)
        if fmt == "hdf5":
            kw.setdefault("features", "features")
    return open_feature_store(path, fmt, **kw)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine; two zero rows are identical (1), a zero row and another are not (0)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    dot = (a * b).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot / (na * nb)
    cos = np.where((na == 0) & (nb == 0), 1.0, np.where((na == 0) | (nb == 0), 0.0, cos))
    return np.clip(cos, -1.0, 1.0)


@dataclass
class VerifyReport:
    output: str
    reference: str
    min_cosine_required: float
    per_key: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    only_output: List[str] = field(default_factory=list)
    only_reference: List[str] = field(default_factory=list)

    @property
    def cosines(self) -> List[float]:
        return [v["cosine"] for v in self.per_key.values() if v["cosine"] is not None]

    @property
    def shape_mismatches(self) -> List[str]:
        return [k for k, v in self.per_key.items() if v["output_shape"] != v["reference_shape"]]

    @property
    def low(self) -> List[str]:
        return [k for k, v in self.per_key.items()
                if v["cosine"] is None or v["cosine"] < self.min_cosine_required]

    @property
    def ok(self) -> bool:
        return not (self.only_output or self.only_reference or self.shape_mismatches or self.low)

    def summary(self) -> Dict[str, Any]:
        cos = self.cosines
        return {
            "output": self.output, "reference": self.reference, "compared": len(self.per_key),
            "mean_cosine": round(float(np.mean(cos)), 6) if cos else None,
            "min_cosine": round(float(np.min(cos)), 6) if cos else None,
            "min_cosine_required": self.min_cosine_required,
            "shape_mismatches": len(self.shape_mismatches), "below_threshold": len(self.low),
            "only_in_output": len(self.only_output), "only_in_reference": len(self.only_reference),
            "ok": self.ok,
        }

    def to_json(self) -> Dict[str, Any]:
        return {"written_by": REPORT_MARK, "summary": self.summary(), "only_in_output": self.only_output,
                "only_in_reference": self.only_reference, "per_key": self.per_key}

    def format(self, limit: int = 10) -> str:
        lines = []
        fmt = (lambda x: "n/a" if x is None else f"{x:.6f}")
        worst = sorted(self.per_key.items(), key=lambda kv: (kv[1]["cosine"] is not None, kv[1]["cosine"] or 0))
        differing = set(self.low) | set(self.shape_mismatches)
        shown = [(k, v) for k, v in worst if k in differing][:limit]
        if shown:
            lines.append("keys that differ (worst first):")
            for k, v in shown:
                lines.append(f"  {k}: shape {v['output_shape']} vs {v['reference_shape']}, cosine {fmt(v['cosine'])}")
        for name, keys in (("only in the output", self.only_output), ("only in the reference", self.only_reference)):
            if keys:
                more = f" (and {len(keys) - limit} more)" if len(keys) > limit else ""
                lines.append(f"{len(keys)} keys {name}: {', '.join(keys[:limit])}{more}")
        s = self.summary()
        lines.append(f"compared {s['compared']} keys: mean cosine {fmt(s['mean_cosine'])}, min cosine "
                     f"{fmt(s['min_cosine'])} (required >= {self.min_cosine_required:g}); "
                     f"{s['shape_mismatches']} shape mismatches; {s['only_in_output']} only in output, "
                     f"{s['only_in_reference']} only in reference: {'OK' if self.ok else 'DIFFERENT'}")
        return "\n".join(lines)


def verify_features(output, reference, *, min_cosine: float = 0.99) -> VerifyReport:
    """Compare two feature stores key by key.

    Per key: the ``[T, D]`` shapes; when equal, the mean over frames of the per-frame
    cosine similarity; when only T differs, the cosine of the frame-averaged vectors
    (reported, but the key still counts as a mismatch); when D differs, no cosine.
    """
    from gf.extraction.options import check_number_option

    check_number_option("--min-cosine", min_cosine, -1, maximum=1)
    out_keys, ref_keys = output.keys(), reference.keys()
    ref_set, out_set = set(ref_keys), set(out_keys)
    report = VerifyReport(str(output.path), str(reference.path), float(min_cosine))
    report.only_output = sorted(k for k in out_keys if k not in ref_set)
    report.only_reference = sorted(k for k in ref_keys if k not in out_set)
    for key in sorted(out_set & ref_set):
        a, b = output[key].numpy(), reference[key].numpy()
        if a.shape == b.shape:
            cos: Optional[float] = float(_cosines(a, b).mean())
        elif a.shape[1] == b.shape[1]:
            cos = float(_cosines(a.mean(0, keepdims=True), b.mean(0, keepdims=True))[0])
        else:
            cos = None
        report.per_key[key] = {"output_shape": list(a.shape), "reference_shape": list(b.shape),
                               "frames": [int(a.shape[0]), int(b.shape[0])],
                               "cosine": None if cos is None else round(cos, 6)}
    return report
