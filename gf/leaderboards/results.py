"""Where a leaderboard keeps each result, and when a kept result may be trusted.

One folder per (entry, benchmark, split) under ``<output_dir>/results/`` (per seed, for a
seed group's members: ``results/<entry>/seed<N>/<benchmark>/<split>``). A result is done
when its ``result.json`` exists and records the same *key* as the work would have now: a
sha256 over what the figures depend on (the checkpoint's or predictions file's sha256, the
split's fingerprint, the evaluation config's hash), and its predictions and report are
the files it wrote (:mod:`.freshness`). ``result.json`` is written last and atomically,
after the predictions and the report, so a killed run leaves either a whole result or none
that is trusted; a changed checkpoint or split changes the key, and the result is computed
again.

A result under a temporal probe (``probes:`` in the manifest) has its own folder inside
the unperturbed one, ``.../<split>/probe-<name>-s<probe seed>/``, and a key that also
covers the probe and its seed: another probe seed is another result, and a probe run
never writes over the unperturbed predictions. (So a result folder's writer cleans only
its own folder of temporary files, never the probe folders below it, which have their
own locks.)

What the board needs about a split (the video of each question, for resampling, and the
evaluator's view of the data) is saved once per split under ``<output_dir>/splits/``, so
``gf leaderboard show`` re-renders without the data.
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
    """The files of one (entry, benchmark, split) under a leaderboard's output folder; a
    seed group's member (``seed``) has its own, under ``results/<entry>/seed<N>/``, and a
    result under a probe its own, in ``probe-<name>-s<probe seed>/`` inside the unperturbed
    result's folder."""

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
