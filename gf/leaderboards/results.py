"""Where a leaderboard keeps each result, and when a kept result may be trusted.

A result is done when its ``result.json`` records the same *key* as the work would have now
(:func:`result_key`) and its predictions and report are the files it wrote
(:mod:`.freshness`). The folders, what the key covers, and why ``result.json`` is written
last: docs/leaderboards.md, "What is kept, and when it is trusted".

A result under a temporal probe has its own folder inside the unperturbed one, with its
own lock; so a result folder's writer cleans only its own folder of temporary files, never
the probe folders below it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Optional

from gf.common.io import atomic_write_json, load_json
from gf.common.utils import PathLike

__all__ = ["KEY_VERSION", "ResultPaths", "canonical_hash", "result_key", "read_json_or_none"]

#: Bumped when what a key covers changes, so older results are computed again.
KEY_VERSION = 1
#: The tag in the names of the files a result's evaluation writes (``<split>_<tag>_*``).
TAG = "leaderboard"


def canonical_hash(obj: Any) -> str:
    """sha256 of ``obj`` as sorted-key JSON: equal configs hash equally whatever their order."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def result_key(source_sha256: str, split_fingerprint: Optional[str], config_hash: str,
               probe: Optional[str] = None, probe_seed: Optional[int] = None) -> str:
    """The key of a result; with ``probe``, of that result under the probe and its seed (an
    unperturbed result's key is as it always was, so existing results stay current)."""
    what = {"version": KEY_VERSION, "source_sha256": source_sha256, "split_fingerprint": split_fingerprint,
            "config_hash": config_hash}
    if probe is not None:
        what["probe"] = {"name": probe, "seed": probe_seed}
    return canonical_hash(what)


def read_json_or_none(path: Path, what: str) -> Optional[Any]:
    """The JSON in ``path``, or None when there is none; a damaged file is an error naming it."""
    if not path.is_file():
        return None
    return load_json(path, what)


class ResultPaths:
    """The files of one result under a leaderboard's output folder: an entry's (or one seed's
    of a group) on one split, unperturbed or under one probe."""

    def __init__(self, root: PathLike, entry: str, benchmark: str, split: str, seed: Optional[int] = None,
                 probe: Optional[str] = None, probe_seed: Optional[int] = None):
        self.root = Path(root)
        member = Path(entry) if seed is None else Path(entry) / f"seed{int(seed)}"
        self.folder = self.root / "results" / member / benchmark / split
        if probe is not None:
            self.folder = self.folder / f"probe-{probe}-s{int(probe_seed or 0)}"
        self.done = self.folder / "result.json"
        self.failed = self.folder / "failed.json"
        self.predictions = self.folder / f"{split}_{TAG}_predictions.json"
        self.report = self.folder / f"{split}_{TAG}_report.json"

    def write_done(self, record: Mapping[str, Any]) -> None:
        atomic_write_json(self.done, dict(record))
        self.failed.unlink(missing_ok=True)


def split_file(root: PathLike, benchmark: str, split: str) -> Path:
    """In a folder of its own, which its writer locks."""
    return Path(root) / "splits" / benchmark / split / "record.json"
