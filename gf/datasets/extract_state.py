"""``state.json``: whether ``gf extract`` into a folder finished, and why features are missing.

Why a marker of its own: a killed ``gf extract`` leaves complete shards, a recipe and a shard
index of the same form as a finished run's (every file is renamed into place whole, which
is what lets a rerun resume), so nothing among the features says that samples are still to
come. A builder that then finds questions without features would advise leaving them out
(``skip_file``) -- dropping samples silently -- where the fix is to rerun the extraction.

When gf extract writes ``done: false`` and ``done: true`` (a run and a job array alike), and
what a folder without ``state.json`` means: docs/extraction.md, "Finished or not: `state.json`".
The marker is read only to explain missing features (:func:`explain_missing`): a split whose
questions all have features reads them whatever it says. It lives with the datasets, beside
the recipe, because builders read it and ``gf extract`` writes it (datasets never import
``gf.extraction``).
"""
from __future__ import annotations

import contextlib
import glob
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from gf.common.errors import DataFileError
from gf.common.io import atomic_write_json, load_json
from gf.common.utils import utc_now
from gf.datasets.split_provenance import recipe_describing

__all__ = ["INDEX_NAME", "PARTS_DIR", "SHARD_INDEX", "STATE_NAME", "write_state", "explain_missing"]

STATE_NAME = "state.json"
_WRITER = "gf extract"
#: the webdataset writer's list of each shard's keys and size, for readers (gf.extraction.writers)
SHARD_INDEX = "shards.json"
#: the index a merged job array gets (every file and its keys)
INDEX_NAME = "index.json"
#: a job array's own folder (its layout and each part's plan, lists, lock and shard index)
PARTS_DIR = "parts"


def write_state(out: str, done: bool, **info: Any) -> None:
    """Mark ``out`` finished (``done``) or not, atomically; ``info`` is recorded beside."""
    atomic_write_json(os.path.join(out, STATE_NAME),
                      {"written_by": _WRITER, "done": bool(done), "written": utc_now(), **info})


def read_state(folder: str) -> Optional[Dict[str, Any]]:
    """The marker of ``folder``, or ``None`` when it has none (or a ``state.json`` gf extract
    did not write)."""
    path = os.path.join(folder, STATE_NAME)
    if not os.path.isfile(path):
        return None
    state = load_json(path, "gf extract state")
    return state if isinstance(state, dict) and state.get("written_by") == _WRITER else None


def _load_mapping(path: str, what: str, field: str) -> Dict[str, Any]:
    """``field`` of the JSON object in ``path``; ``{}`` when it is absent or not that shape."""
    with contextlib.suppress(DataFileError, OSError):
        data = load_json(path, what) if os.path.isfile(path) else None
        value = data.get(field) if isinstance(data, dict) else None
        return value if isinstance(value, dict) else {}
    return {}


def _listed_files(folder: str) -> List[Tuple[str, Optional[int], str]]:
    """``(name, size or None, index file)`` of every file the folder's indexes list: the run's
    shard index, each array job's own (under ``parts/``), and a merged array's index."""
    listed = []
    indexes = [os.path.join(folder, SHARD_INDEX)] + sorted(glob.glob(
        os.path.join(glob.escape(folder), PARTS_DIR, "*", SHARD_INDEX)))
    for index in indexes:
        for name, entry in _load_mapping(index, "shard index", "shards").items():
            listed.append((name, entry.get("size") if isinstance(entry, dict) else None, index))
    merged = os.path.join(folder, INDEX_NAME)
    listed += [(name, None, merged) for name in _load_mapping(merged, "merge index", "files")]
    return listed


def _lost_file(folder: str) -> Optional[Tuple[str, str]]:
    """``(name, what is wrong)`` of the first file an index lists that is gone, or whose size
    is not the listed one; ``None`` when there is none."""
    for name, size, index in _listed_files(folder):
        path = os.path.join(folder, name)
        what = "shard" if name.endswith(".tar") else "file"
        shown = os.path.relpath(index, folder)
        if not os.path.isfile(path):
            return name, f"{what} {name} listed in {shown} is missing"
        if isinstance(size, int) and os.path.getsize(path) != size:
            return name, (f"{what} {name} is not the size {shown} lists ({os.path.getsize(path)} bytes, not "
                          f"{size}): truncated or replaced")
    return None


def explain_missing(store) -> Optional[str]:
    """Why a gf extract output lacks features, when its own files say so, else ``None``
    (the caller's usual advice stands: other annotations, or a ``skip_file``).

    ``store`` is the feature store that lacks them. Said, in this order: the extraction into
    its folder did not finish (``state.json`` says ``done: false``); a shard its shard index or
    merge index lists is gone or has another size. Each names what to rerun."""
    try:  # the folder whose recipe describes the store
        folder = recipe_describing(store)[0]
    except DataFileError:  # a features.json that is not a recipe: not gf extract's folder
        return None
    if folder is None:  # no recipe beside the features, or one that describes other features
        return None
    state = None
    with contextlib.suppress(DataFileError):  # an unreadable marker says nothing: as if absent
        state = read_state(folder)
    if state is not None and state.get("done") is False:
        parts = state.get("parts")
        if isinstance(parts, int):
            how = (f"rerun each part that did not finish with its command (--shard I/{parts}; it resumes), then "
                   f"gf extract --merge --out {folder}")
        else:
            how = "rerun the same gf extract command, it resumes"
        return (f"{folder}: gf extract into it did not finish (its {STATE_NAME}, written {state.get('written')}, "
                f"says done: false: the run was stopped or killed, or is still running): {how}")
    lost = _lost_file(folder)
    if lost is None:
        return None
    name, problem = lost
    part = re.match(r"part-(\d+)-of-(\d+)-", name)
    how = (f"rerun part {part[1]}/{part[2]} (its gf extract command, --shard {part[1]}/{part[2]}), then gf extract "
           f"--merge --out {folder}" if part else "rerun the gf extract command that wrote the folder")
    return f"{folder}: {problem}: restore it, or {how}; the rerun extracts the samples it misses again"
