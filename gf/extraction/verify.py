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

from gf.common.errors import ConfigError, DataFileError

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


def open_any_store(path: str, fmt: Optional[str] = None, *, dataset: Optional[str] = None,
                   ids: Optional[str] = None, option: str = "--verify",
                   format_option: Optional[str] = "--reference-format"):
    """A feature store for ``path``: a gf extract output folder (its recipe names the
    format and file), or any store ``open_feature_store`` reads.

    The format is settled first, so that errors name the command's options rather than the
    library's keywords: a path whose format cannot be told names ``format_option``, and
    ``dataset`` / ``ids`` (``--reference-dataset`` / ``--reference-ids``) are refused unless
    the store is HDF5, the only format with named datasets, and an HDF5 dataset that is not
    there names them too."""
    from gf.common.registry import registry
    from gf.datasets.feature_recipe import RECIPE_NAME, store_path
    from gf.datasets.feature_stores import HDF5Store, _detect_format, feature_store_class

    kw = {}
    if fmt is None and os.path.isdir(path) and os.path.exists(os.path.join(path, RECIPE_NAME)):
        path, fmt = store_path(path)
        kw["features"] = "features"  # gf extract's HDF5 dataset (other formats: dropped below)
    elif fmt is None:
        if not os.path.exists(path):  # not a format question: say only that it is missing
            raise DataFileError(f"{option} {path}: no such file or folder")
        how = f"give {format_option}" if format_option else "give a gf extract output folder or a feature file"
        try:
            fmt = _detect_format(str(path), hint=f"{how} (formats: {', '.join(registry.list('feature_store'))})")
        except DataFileError as e:
            raise DataFileError(f"{option} {e}") from None
    cls = feature_store_class(fmt)
    if not issubclass(cls, HDF5Store):
        for flag, value in (("--reference-dataset", dataset), ("--reference-ids", ids)):
            if value:
                raise ConfigError(f"{flag} {value} names a dataset inside an HDF5 reference, but "
                                  f"{option} {path} is a {fmt} store: drop {flag}")
        return cls(path)
    kw.update({k: v for k, v in (("features", dataset), ("ids", ids)) if v})
    _check_hdf5_names(path, kw.get("features", "resnet_features"), kw.get("ids", "ids"), option)
    return cls(path, **kw)


def _check_hdf5_names(path: str, features: str, ids: str, option: str) -> None:
    """Why checked here, not left to the store: its message names the library's keywords
    (features=/ids=, a config's features_dataset), which this command does not have."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            available = sorted(fh.keys())
    except OSError:
        return  # not readable as HDF5: the store says so
    for name, flag in ((features, "--reference-dataset"), (ids, "--reference-ids")):
        if name not in available:
            how = (f"name the right one with {flag} NAME" if option == "--verify"
                   else "give a gf extract output folder")
            raise DataFileError(f"{option} {path}: no dataset {name!r}; datasets in the file: "
                                f"{', '.join(available) or '(none)'}; {how}")


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
    def non_finite(self) -> List[str]:
        return [k for k, v in self.per_key.items() if v.get("non_finite")]

    @property
    def low(self) -> List[str]:
        return [k for k, v in self.per_key.items() if not v.get("non_finite")
                and (v["cosine"] is None or v["cosine"] < self.min_cosine_required)]

    @property
    def ok(self) -> bool:
        """Same keys, shapes and directions; two stores without any key compared nothing, so
        they are not reported as equal."""
        return bool(self.per_key) and not (self.only_output or self.only_reference or self.shape_mismatches
                                           or self.low or self.non_finite)

    def summary(self) -> Dict[str, Any]:
        cos = self.cosines
        return {
            "output": self.output, "reference": self.reference, "compared": len(self.per_key),
            "mean_cosine": round(float(np.mean(cos)), 6) if cos else None,
            "min_cosine": round(float(np.min(cos)), 6) if cos else None,
            "min_cosine_required": self.min_cosine_required,
            "shape_mismatches": len(self.shape_mismatches), "below_threshold": len(self.low),
            "non_finite": len(self.non_finite),
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
        differing = set(self.low) | set(self.shape_mismatches) | set(self.non_finite)
        shown = [(k, v) for k, v in worst if k in differing][:limit]
        if shown:
            lines.append("keys that differ (worst first):")
            for k, v in shown:
                bad = (f", NaN/inf values: {v['non_finite'][0]} in the output, {v['non_finite'][1]} in the reference"
                       if v.get("non_finite") else "")
                lines.append(f"  {k}: shape {v['output_shape']} vs {v['reference_shape']}, "
                             f"cosine {fmt(v['cosine'])}{bad}")
        for name, keys in (("only in the output", self.only_output), ("only in the reference", self.only_reference)):
            if keys:
                more = f" (and {len(keys) - limit} more)" if len(keys) > limit else ""
                lines.append(f"{len(keys)} keys {name}: {', '.join(keys[:limit])}{more}")
        s = self.summary()
        lines.append(f"compared {s['compared']} keys: mean cosine {fmt(s['mean_cosine'])}, min cosine "
                     f"{fmt(s['min_cosine'])} (required >= {self.min_cosine_required:g}); "
                     f"{s['shape_mismatches']} shape mismatches; {s['non_finite']} with NaN/inf values; "
                     f"{s['only_in_output']} only in output, "
                     f"{s['only_in_reference']} only in reference: {'OK' if self.ok else 'DIFFERENT'}")
        return "\n".join(lines)


def verify_features(output, reference, *, min_cosine: float = 0.99) -> VerifyReport:
    """Compare two feature stores key by key (one key's figures: :func:`_compare`; what
    counts as differing: docs/extraction.md, "Checking features: `--verify`")."""
    from gf.extraction.options import check_number_option

    check_number_option("--min-cosine", min_cosine, -1, maximum=1)
    out_keys, ref_keys = output.keys(), reference.keys()
    ref_set, out_set = set(ref_keys), set(out_keys)
    report = VerifyReport(str(output.path), str(reference.path), float(min_cosine))
    report.only_output = sorted(k for k in out_keys if k not in ref_set)
    report.only_reference = sorted(k for k in ref_keys if k not in out_set)
    for key in sorted(out_set & ref_set):
        report.per_key[key] = _compare(output[key].numpy(), reference[key].numpy())
    return report


def _compare(a: np.ndarray, b: np.ndarray) -> Dict[str, Any]:
    """One key's entry of the report. A NaN or infinite value (e.g. a float16 overflow) has no
    direction to compare: the key gets no cosine and counts as differing, with the number of
    such values on each side, rather than a NaN cosine that every threshold test lets pass."""
    entry: Dict[str, Any] = {"output_shape": list(a.shape), "reference_shape": list(b.shape),
                             "frames": [int(a.shape[0]), int(b.shape[0])], "cosine": None}
    bad = [int(np.size(x) - np.isfinite(x).sum()) for x in (a, b)]
    if any(bad):
        entry["non_finite"] = bad
    elif a.shape == b.shape:
        entry["cosine"] = round(float(_cosines(a, b).mean()), 6)
    elif a.shape[1] == b.shape[1]:
        entry["cosine"] = round(float(_cosines(a.mean(0, keepdims=True), b.mean(0, keepdims=True))[0]), 6)
    return entry
