"""The per-split records of a leaderboard folder (``splits/<benchmark>/<split>/record.json``).

Why apart from the engine: the board reads them without the data (``gf leaderboard show``),
and both the engine and :mod:`.freshness` ask them whether a kept result was computed on
the split as it is now. What a record holds: :meth:`SplitRecords.save` (its ``videos``,
question id -> video, also list the split's questions) and docs/leaderboards.md, "What is
kept, and when it is trusted".
"""
from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from gf.common.errors import GfError, OutputLockedError
from gf.common.io import atomic_write_json
from gf.leaderboards.results import read_json_or_none, split_file

__all__ = ["INFO_KEYS", "RECORD_FINGERPRINTS", "SplitRecords", "read_split_record"]

logger = logging.getLogger(__name__)

#: What the board needs from a builder's info() to re-score without the data.
INFO_KEYS = ("answer_vocab", "answer_vocab_size", "all_reasoning_types")
#: The split record's fingerprint for each scope a result can be keyed by.
RECORD_FINGERPRINTS = {"features": "fingerprint", "annotations": "annotations_fingerprint"}


#: The keys of a split record and the types they must have (None: may be null).
_SHAPE = {"evaluator": (str,), "videos": (dict,), "info": (dict,), "fingerprint": (str, type(None)),
          "annotations_fingerprint": (str, type(None)), "data_files": (list, type(None)),
          "plugins": (list, type(None))}


def read_split_record(path: Path) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
    """``(record, problem)``: the split record at ``path`` (None when there is none), or why
    it cannot be used. A damaged or wrong-shaped record is treated as a damaged
    ``result.json`` is: as absent (the next run that builds the split writes it again), never
    an error that stops the run or the board, and never a reason to distrust the results."""
    try:
        record = read_json_or_none(path, "leaderboard split record")
    except GfError as error:
        return None, f"its split record is damaged ({error})"
    if record is None:
        return None, None
    if not isinstance(record, dict):
        return None, f"the split record {path} is not a JSON object"
    wrong = [k for k, types in _SHAPE.items() if not isinstance(record.get(k), types)]
    if wrong or not all(isinstance(f, dict) for f in record.get("data_files") or []):
        return None, f"the split record {path} has no valid {', '.join(wrong) or 'data_files'}"
    return record, None


def _without_features(existing: Dict[str, Any], annotations: Optional[str],
                      data_files: Optional[list]) -> Tuple[Optional[str], Optional[list]]:
    """The full fingerprint and ``data_files`` to record for a split built without its
    features (``data_files``: its annotation-side files as they are now). The annotation-side
    states are the new ones, so a result keyed by the annotations is checked against the
    files it was computed on; the feature files' states stay as recorded, so results keyed
    by the features still see a feature change. The full fingerprint stays only while the
    annotations are those it was taken on: else it describes a split that is gone."""
    fingerprint = existing.get("fingerprint")
    if existing.get("annotations_fingerprint") != annotations:
        fingerprint = None
    if data_files is None:
        return fingerprint, existing.get("data_files")
    features = [f for f in existing.get("data_files") or [] if f.get("label") == "features"]
    return fingerprint, [f for f in data_files if f.get("label") != "features"] + features


class SplitRecords:
    """Reads and writes the split records under ``root``, reading each record once per change
    (a record lists every question)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._read: Dict[Path, Tuple[Tuple[int, int], Dict[str, Any]]] = {}  # file -> (stat, record)

    def save(self, benchmark: str, split: str, ds, fingerprint: Optional[str], annotations: Optional[str],
             data_files: Optional[list] = None, plugins: Sequence[str] = ()) -> None:
        """What the board needs of the split, under the split record's own lock (so a write
        that a kill interrupted is cleaned up by the next writer). Processes of one
        leaderboard write the same content, so one that finds the lock held leaves it.
        ``fingerprint`` None: the split was built without its features (see
        :func:`_without_features`)."""
        from gf.common.io import output_lock, remove_stale_temp_files

        path = split_file(self.root, benchmark, split)
        with ExitStack() as stack:
            try:
                stack.enter_context(output_lock(path.parent, "gf leaderboard run"))
            except OutputLockedError:
                return
            remove_stale_temp_files(path.parent)
            existing = read_split_record(path)[0] or {}  # damaged: written again
            if not ds.features:
                fingerprint, data_files = _without_features(existing, annotations, data_files)
            if (existing.get("fingerprint") == fingerprint and existing.get("annotations_fingerprint") == annotations
                    and annotations is not None and existing.get("data_files") == data_files
                    and existing.get("plugins") == list(plugins)):
                return
            info = {k: ds.info[k] for k in INFO_KEYS if ds.info.get(k) is not None}
            atomic_write_json(path, {"benchmark": benchmark, "split": split, "evaluator": ds.benchmark,
                                     "fingerprint": fingerprint, "annotations_fingerprint": annotations,
                                     "info": info, "videos": ds.splits[split].video_ids(),
                                     "data_files": data_files, "plugins": list(plugins)}, indent=None)

    def _record(self, benchmark: str, split: str) -> Optional[Dict[str, Any]]:
        path = split_file(self.root, benchmark, split)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._read.get(path)
        if cached is None or cached[0] != stamp:
            record, problem = read_split_record(path)
            kept = None  # damaged: no result is current on it until a run writes it again
            if problem:
                logger.warning("%s; computing a result on the split again writes it again", problem)
            else:
                kept = {k: record.get(k) for k in RECORD_FINGERPRINTS.values()}
                kept["questions"] = list(record.get("videos") or [])
            cached = self._read[path] = (stamp, kept)
        return cached[1]

    def is_current(self, benchmark: str, split: str, fingerprint: Optional[str], scope: str = "features") -> bool:
        """The saved record describes the split as it is now (a run on another version of the
        data rewrites it, and results keyed to the old one are then not trusted). ``scope``:
        which of its fingerprints the result was keyed by (``features``, or ``annotations``
        for a predictions entry scored without the features)."""
        record = self._record(benchmark, split)
        return record is not None and record.get(RECORD_FINGERPRINTS[scope]) == fingerprint

    def question_ids(self, benchmark: str, split: str) -> List[str]:
        """The split's questions, in its order ([] before a record is written)."""
        record = self._record(benchmark, split)
        return list(record["questions"]) if record else []
