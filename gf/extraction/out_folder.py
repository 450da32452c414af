"""What in a ``gf extract`` output folder is gf's own bookkeeping, not features.

Why one place: a run decides from it whether ``--out`` already holds features (to resume,
or to refuse a folder it did not make), a failed first run removes exactly these files,
and a job array's parts and its merge name the same files (and the error that ends a run or
a merge with failures points at the same lists).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List

from gf.common.errors import DataFileError
from gf.common.io import atomic_write_jsonl, atomic_write_text, is_gf_leftover
from gf.datasets.extract_state import INDEX_NAME, PARTS_DIR, SHARD_INDEX, STATE_NAME
from gf.datasets.feature_recipe import RECIPE_NAME

__all__ = ["FAILED_KEYS_NAME", "FAILURES_NAME", "INDEX_NAME", "PARTS_DIR", "SHARD_INDEX", "describe_failure",
           "failure_error", "forget_merge", "holds_features", "remove_bookkeeping", "write_failures"]

FAILURES_NAME = "failures.jsonl"
FAILED_KEYS_NAME = "failed_keys.txt"


#: files of an output folder that are not features: the recipe, the shard index, the lists,
#: the index of a merged job array, whether the extraction finished (gf.datasets.extract_state)
_BOOKKEEPING = (RECIPE_NAME, SHARD_INDEX, FAILURES_NAME, FAILED_KEYS_NAME, INDEX_NAME, STATE_NAME)


def holds_features(out: str) -> bool:
    """Whether ``out`` holds anything but gf extract's bookkeeping (recipe, shard index,
    failure lists, lock, temporary files, empty metadata folders), in any format. Why not
    ask the writer: a rerun may name another format than the one the folder was made with.
    The bookkeeping of a job array's parts (``parts/``) is not looked into either."""
    for dirpath, dirnames, filenames in os.walk(out):
        top = dirpath == out
        if top and PARTS_DIR in dirnames:
            dirnames.remove(PARTS_DIR)
        if any(not (is_gf_leftover(n) or (top and n in _BOOKKEEPING)) for n in filenames):
            return True
    return False


def remove_bookkeeping(out: str) -> bool:
    """Remove gf extract's own files from an ``out`` that holds no features (a run that
    created it failed or was stopped before storing a sample); returns whether it did.
    Why: the folder would keep a recipe that nothing follows. The caller removes the
    folder itself once its lock is released (``os.rmdir``: only if nothing else is there)."""
    if holds_features(out):
        return False
    for name in _BOOKKEEPING:
        Path(out, name).unlink(missing_ok=True)
    return True


def write_failures(out: str, failures: List[Dict[str, Any]]) -> None:
    """The failure lists of ``out`` (``failures.jsonl`` with reasons, ``failed_keys.txt`` the
    keys: question ids with ``--windows``, a builder's ``skip_file`` as it is; else video
    ids), written atomically; none left when nothing failed."""
    paths = [os.path.join(out, FAILURES_NAME), os.path.join(out, FAILED_KEYS_NAME)]
    if not failures:  # a list from an earlier run would name keys that are now stored
        for path in paths:
            Path(path).unlink(missing_ok=True)
        return
    atomic_write_jsonl(paths[0], failures)
    atomic_write_text(paths[1], "".join(f"{f['key']}\n" for f in failures))


def forget_merge(out: str) -> None:
    """Remove what a job array's merge wrote beside the parts (``index.json`` and the merged
    failure lists): once a part reruns or a merge is refused they describe a folder that has
    changed (the lists may name keys that are stored now). Called after ``state.json`` says
    ``done: false``, so a kill between the removals leaves a folder marked unfinished."""
    for name in (INDEX_NAME, FAILURES_NAME, FAILED_KEYS_NAME):
        Path(out, name).unlink(missing_ok=True)


def describe_failure(failure: Dict[str, Any]) -> str:
    """One failure as a sentence naming the user's input: the video as listed (or the
    video id when no file was found), the question id when it is not the video's key,
    and the reason."""
    video = failure.get("source") or f"video_id {failure.get('video_id')!r}"
    key = failure.get("key")
    question = f"question {key} of " if key is not None and key != failure.get("video_id") else ""
    return f"{question}{video}: {failure.get('reason')}"


def failure_error(failures: List[Dict[str, Any]], total: int, written: int, lists: str,
                  windows: bool, rerun: str = "rerun: stored samples are skipped") -> DataFileError:
    """The error that ends a run (or a merge) with failures (``failures`` is not empty);
    ``lists`` is the folder of the failure lists, ``rerun`` what to do once the videos are
    fixed (a merge names its parts')."""
    what = "questions" if windows else "videos"
    first = describe_failure(failures[0])
    # a skip_file lists question ids: the keys are those only for question windows
    skip_note = (", which a builder's skip_file takes" if windows else
                 "; they are video ids: a builder's skip_file takes the ids of those videos' questions")
    return DataFileError(
        f"{len(failures)} of {total} {what} failed (the first: {first}); the reasons are listed in "
        f"{os.path.join(lists, FAILURES_NAME)} (their keys in {os.path.join(lists, FAILED_KEYS_NAME)}"
        f"{skip_note}). The other {written} were written; fix or remove "
        f"the failed videos and {rerun}.")
