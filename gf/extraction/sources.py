"""What to extract: the videos (a folder or a list file) and, optionally, question windows.

Why features are keyed here, once: the builders look features up by ``video_id``
(NExT-QA: the file name without extension) or by ``question_id`` (STAR: one trimmed clip
per question), so the key of every sample is decided before anything is decoded, and a
name that two videos share is an error now rather than a silently overwritten feature.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from gf.common.utils import finite_number
from gf.common.errors import DataFileError
from gf.common.io import read_text_utf8

__all__ = ["VIDEO_EXTENSIONS", "Job", "Window", "list_videos", "read_windows", "make_jobs"]

#: file endings taken as videos when --videos is a folder
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv",
                    ".3gp", ".ts")


@dataclass(frozen=True)
class Window:
    key: str
    video_id: str
    start: float
    end: float
    where: str  # file:line or file: record i, for messages


@dataclass
class Job:
    """One video to decode and the samples (keys with optional windows) taken from it."""

    path: str
    source: str  # as shown in outputs: relative to the videos folder, or as listed
    video_id: str
    windows: List[Tuple[str, Optional[float], Optional[float]]] = field(default_factory=list)


def list_videos(videos: str) -> List[Tuple[str, str]]:
    """``(path, shown source)`` of every video: the files with a video ending under a folder
    (recursively, sorted), or the lines of a list file (``#`` comments, blank lines skipped;
    relative paths are relative to the list's folder). Listed files that do not exist are
    kept: they become failures with that reason, not a silently shorter run."""
    root = Path(videos)
    if root.is_dir():
        out = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith(".") and name.lower().endswith(VIDEO_EXTENSIONS):
                    path = os.path.join(dirpath, name)
                    out.append((path, os.path.relpath(path, root)))
        if not out:
            raise DataFileError(f"--videos {videos}: no video files (endings {', '.join(VIDEO_EXTENSIONS)}) "
                                f"in this folder or below it")
        return out
    if not root.is_file():
        raise DataFileError(f"--videos {videos}: no such folder or list file")
    if root.name.lower().endswith(VIDEO_EXTENSIONS):  # before reading it: a video is no list
        raise DataFileError(f"--videos {videos}: is a video file; --videos takes a folder of videos or a list "
                            f"file (one path per line), so put the video in a folder or name it in a list")
    lines = [line.strip() for line in read_text_utf8(root, "video list").splitlines()]
    out = [(line if os.path.isabs(line) else str(root.parent / line), line)
           for line in lines if line and not line.startswith("#")]
    if not out:
        raise DataFileError(f"--videos {videos}: the list names no videos (one path per line)")
    return out


def _id(value: Any, field_name: str, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and not value):
        raise DataFileError(f"{where}: '{field_name}' must be a non-empty string or an integer id, got {value!r}")
    return str(value)


def _records(path: Path) -> List[Tuple[str, Any]]:
    """``(where, record)`` from a JSON list or a JSONL file."""
    text = read_text_utf8(path, "windows file")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataFileError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
        return [(f"{path}: record {i}", r) for i, r in enumerate(rows)]
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((f"{path}:{lineno}", json.loads(line)))
        except json.JSONDecodeError as e:
            raise DataFileError(f"{path}:{lineno}: malformed JSON line ({e.msg} at column {e.colno}); "
                                f"the windows file is a JSON list or one JSON object per line") from None
    return out


def read_windows(paths: Sequence[str]) -> List[Window]:
    """Question windows from STAR-style annotation files (the release's ``STAR_*.json``
    lists or gf's ``txt_db/*.jsonl``): ``question_id``, ``video_id``, ``start``, ``end`` in
    seconds of the video. Other fields are ignored."""
    windows: List[Window] = []
    seen: Dict[str, str] = {}
    for p in paths:
        path = Path(p)
        for where, rec in _records(path):
            if not isinstance(rec, dict):
                raise DataFileError(f"{where}: expected an object with question_id, video_id, start, end; "
                                    f"got {type(rec).__name__}")
            qid = _id(rec.get("question_id"), "question_id", where)
            where_q = f"{where} (question_id {qid!r})"
            vid = _id(rec.get("video_id"), "video_id", where_q)
            start, end = rec.get("start"), rec.get("end")
            if finite_number(start) is None or finite_number(end) is None:
                raise DataFileError(f"{where_q}: 'start' and 'end' must be numbers of seconds, got {start!r}, {end!r}")
            if start < 0 or end <= start:
                raise DataFileError(f"{where_q}: window [{start}, {end}] is empty or negative; need 0 <= start < end")
            if qid in seen:
                raise DataFileError(f"{where_q}: question_id {qid!r} also at {seen[qid]}; each question is one "
                                    f"feature key, so ids must be unique across the windows files")
            seen[qid] = where
            windows.append(Window(qid, vid, float(start), float(end), where))
    if not windows:
        raise DataFileError(f"--windows {', '.join(map(str, paths))}: no records")
    return windows


def make_jobs(videos: str, windows_files: Optional[Sequence[str]] = None
              ) -> Tuple[List[Job], List[Dict[str, Any]]]:
    """Jobs (one per video, with its keys) and the samples that fail before decoding (a
    question whose video is not among the videos), as failure records."""
    by_id: Dict[str, Tuple[str, str]] = {}
    for path, source in list_videos(videos):
        vid = os.path.splitext(os.path.basename(path))[0]  # no extension: the whole name
        if vid in by_id:
            raise DataFileError(f"--videos {videos}: two videos have the id {vid!r} (the file name without "
                                f"extension, the feature key): {by_id[vid][1]} and {source}; keep one")
        by_id[vid] = (path, source)
    if not windows_files:
        return [Job(path, source, vid, [(vid, None, None)]) for vid, (path, source) in by_id.items()], []
    jobs: Dict[str, Job] = {}
    failures: List[Dict[str, Any]] = []
    for w in read_windows(windows_files):
        if w.video_id not in by_id:
            failures.append({"key": w.key, "video_id": w.video_id, "source": None,
                             "reason": f"no video file for video_id {w.video_id!r} under --videos {videos}",
                             "kind": "no-video", "window": [w.start, w.end]})
            continue
        if w.video_id not in jobs:  # one Job per video (setdefault would build one per window)
            jobs[w.video_id] = Job(*by_id[w.video_id], w.video_id)
        jobs[w.video_id].windows.append((w.key, w.start, w.end))
    return list(jobs.values()), failures
