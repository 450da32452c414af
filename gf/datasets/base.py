"""The builder base class: config merging, data paths and their error messages.

Why builders own the config and datasets do not: a builder reads one benchmark's files
(annotations, events, class list, features) and hands each split a ready
:class:`~gf.datasets.videoqa.VideoQADataset`; the dataset never sees the config (data
flows one way, see docs/design.md). Every benchmark builder declares all keys it accepts
in ``DEFAULT_CONFIG``, so a typo in a YAML file is an error naming the key instead of a
silently ignored setting.
"""
from __future__ import annotations

import copy
import difflib
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from gf.common.io import DataFileError

logger = logging.getLogger(__name__)

_WILDCARDS = set("*?[{")

__all__ = ["BaseBuilder", "merge_builder_config", "read_class_lines", "to_plain"]


def positive_int(value: Any) -> bool:
    """A config value that must be a count: an int >= 1 (``True`` is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def to_plain(obj: Any) -> Any:
    """Mappings -> dict and sequences -> list, recursively (OmegaConf containers included)."""
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)):
        return [to_plain(v) for v in obj]
    return obj


def merge_builder_config(defaults: Mapping[str, Any], cfg: Optional[Mapping[str, Any]], owner: str) -> Dict[str, Any]:
    """``cfg`` over ``defaults``; unknown top-level keys are a ``ValueError``.

    Dict-valued defaults (e.g. ``annotations: {train: ..., val: ...}``) are merged one
    level deep, so overriding one split's file keeps the others; new keys inside them
    are accepted (an extra split is legitimate, not a typo).
    """
    merged = copy.deepcopy(dict(defaults))
    if cfg is None:
        return merged
    if not isinstance(cfg, Mapping):
        raise ValueError(f"{owner}: config must be a mapping, got {type(cfg).__name__}: {cfg!r}")
    cfg = to_plain(cfg)
    unknown = [k for k in cfg if k not in defaults]
    if unknown:
        known = sorted(defaults)
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), known, n=1, cutoff=0.6)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"{owner}: unknown config key(s) {', '.join(hints)}. Known keys: {', '.join(known)}."
        )
    for key, value in cfg.items():
        if isinstance(defaults[key], dict) and isinstance(value, dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def read_class_lines(path: os.PathLike | str) -> List[str]:
    """The lines of a class-list file; line i is class i.

    Uses ``splitlines()``: the STAR class files have no final newline and the authors'
    ``read().split('\\n')[:-1]`` dropped their last class (B3). Trailing blank lines are
    ignored; a blank line in the middle would shift every later class, so it is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"class list not found: {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataFileError(
                f"{path}:{lineno}: blank line inside the class list; line i is class i-1, so "
                f"remove the blank line (or fill in the missing class)."
            )
    if not lines:
        raise DataFileError(f"{path}: class list is empty")
    return [line.strip() for line in lines]


class BaseBuilder:
    """Builds the splits of one benchmark from the files a config points at.

    Subclasses set ``benchmark`` (the evaluator's name), ``answer_mode`` (``"mc"`` or
    ``"oe"``) and ``DEFAULT_CONFIG`` (every accepted key with its default), and
    implement :meth:`build_datasets` and :meth:`info`. ``stats`` collects what the builder
    counted while reading (dropped events, clips without events, skipped questions) so
    the runner can log it.
    """

    benchmark: str = ""
    answer_mode: str = "mc"
    DEFAULT_CONFIG: Dict[str, Any] = {}

    def __init__(self, cfg: Optional[Mapping[str, Any]] = None):
        self.config: Dict[str, Any] = merge_builder_config(self.DEFAULT_CONFIG, cfg, self.config_prefix)
        self.stats: Dict[str, Any] = {}

    @property
    def config_prefix(self) -> str:
        """Where this builder's keys live in a run config, for error messages."""
        return f"datasets.{self.benchmark or type(self).__name__}"

    # -- to implement --------------------------------------------------------------------
    def build_datasets(self, splits: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        raise NotImplementedError

    def info(self) -> Dict[str, Any]:
        raise NotImplementedError

    # -- data paths ----------------------------------------------------------------------
    @property
    def dataset_dir(self) -> Path:
        """``<data_root>/<dataset_dir>`` (``dataset_dir`` may itself be absolute)."""
        root = Path(str(self.config.get("data_root") or "."))
        sub = self.config.get("dataset_dir")
        return root / str(sub) if sub else root

    def resolve_path(self, value: os.PathLike | str) -> Path:
        """A configured path: absolute as given, relative to :attr:`dataset_dir` otherwise."""
        path = Path(os.path.expanduser(str(value)))
        return path if path.is_absolute() else self.dataset_dir / path

    def require_path(self, config_key: str, value: Any, what: str, *, must_exist: bool = True) -> Path:
        """Resolve a configured path and fail, naming the config key, if it is not there."""
        if value is None or value == "":
            raise DataFileError(f"{what}: {self.config_prefix}.{config_key} is not set.")
        path = self.resolve_path(value)
        if must_exist and not path.exists():
            raise DataFileError(
                f"{what} not found: {path} (from {self.config_prefix}.{config_key}={value!r}, "
                f"data_root={self.config.get('data_root')!r}). Check data_root (or the DATA_ROOT "
                f"environment variable your config uses) and {self.config_prefix}.{config_key}."
            )
        return path

    # -- shared by the benchmark builders ------------------------------------------------
    def _requested_splits(self, splits: Optional[Sequence[str]]) -> List[str]:
        """``splits`` (default: the configured ones) as a list, each checked against
        ``annotations``; shared so every builder rejects an unknown split the same way."""
        c = self.config
        splits = list(c["splits"] if splits is None else ([splits] if isinstance(splits, str) else splits))
        unknown = [s for s in splits if s not in c["annotations"]]
        if unknown:
            raise ValueError(f"{self.config_prefix}: unknown split(s) {unknown}; annotations are "
                             f"configured for {sorted(c['annotations'])}")
        return splits

    def _open_configured_store(self, what: str):
        """Open ``features`` (a path, a pattern or a list of webdataset shards) once and
        check ``feature_dim``; shared because every builder keeps one store for all splits
        (opening it per split loaded the authors' ``s3d.pth`` three times, B18)."""
        value = self.config["features"]
        values = value if isinstance(value, list) else [value]  # a list = webdataset shards
        paths = [str(self.require_path("features", v, what,
                                       must_exist=not (set(str(v)) & _WILDCARDS)))  # patterns: the store checks
                 for v in values]
        path = paths if isinstance(value, list) else paths[0]
        from gf.datasets.feature_stores import open_feature_store

        store = open_feature_store(path, self.config["feature_format"])
        expected = self.config["feature_dim"]
        if expected is not None and store.feature_dim != expected:
            raise DataFileError(
                f"{path}: features have dimension {store.feature_dim} but "
                f"{self.config_prefix}.feature_dim is {expected}; use the matching feature file "
                f"or set feature_dim to {store.feature_dim} (or null)."
            )
        return store

    def _skip_ids(self) -> set:
        """Question ids listed in ``skip_file`` (one per line, ``#`` comments); shared so
        every builder reads the file the same way and logs how many it will leave out."""
        value = self.config["skip_file"]
        if not value:
            return set()
        path = self.require_path("skip_file", value, "skip file")
        ids = set()
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                ids.add(line)
        logger.info("%s: %d question id(s) to skip from %s", self.config_prefix, len(ids), path)
        return ids

    def __repr__(self) -> str:
        return f"{type(self).__name__}(benchmark={self.benchmark!r}, dataset_dir={str(self.dataset_dir)!r})"
