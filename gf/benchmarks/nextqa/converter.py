"""NExT-QA (multiple choice) from the official release CSVs to gf's layout.

Why a converter and not the authors' ``*_mc.csv`` files: their loader read a renamed
``video_id`` column, keyed questions by ``qid`` (unique only within a video) and dropped
the question type (B17, docs/data_formats.md §6), so neither the official ``eval_mc.py``
keys nor its per-type table could be produced. Here every question gets the official
key ``"<video>_<qid>"`` and keeps its ``type``; options stay exactly as released, repeated
ones included, because the label is a position. What it reads and writes (the CSV cells
as text, the video ids, the video map, the summary): docs/data_formats.md §0 ("What `gf
prepare` writes besides the layout") and §4.1-4.2.
"""
from __future__ import annotations

import csv
import io
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from gf.benchmarks.nextqa.evaluator import NUM_CHOICES as NUM_OPTIONS
from gf.common.errors import ConfigError, DataFileError, DatasetError
from gf.common.io import (atomic_write_json, atomic_write_jsonl, atomic_write_text, check_plain_name, load_json,
                          read_text_utf8)
from gf.common.registry import registry
from gf.datasets.converters import readme_head, require_questions
from gf.datasets.converters.staging import owns

__all__ = ["NUM_OPTIONS", "QUESTION_TYPES", "SPLITS", "convert", "read_split_csv"]

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
OPTION_COLUMNS = tuple(f"a{i}" for i in range(NUM_OPTIONS))
#: Raw type codes: Causal (why, how), Temporal (next, previous, concurrent), Descriptive
#: (count, location, other). The official scoring folds TP into TN; the data keeps TP.
QUESTION_TYPES = ("CW", "CH", "TN", "TP", "TC", "DC", "DL", "DO")
REQUIRED_COLUMNS = ("video", "question", "answer", "qid", "type") + OPTION_COLUMNS
#: The authors' and MIST's renamed copies (``*_mc.csv``) call the video column ``video_id``.
VIDEO_COLUMN_ALIASES = ("video", "video_id")
MAP_FILE = "map_vid_vidorID.json"
FORMAT_VERSION = 1


def _csv_rows(path: Path) -> List[Tuple[int, List[str]]]:
    """The rows of a CSV file, each with the file line it starts on (quoted newlines counted),
    so errors can name the line without reading the file a second time. Blank and
    whitespace-only lines are skipped, as pandas (the official scripts) skips them. A file
    that is not UTF-8 is an error naming the line."""
    rows = []
    text = read_text_utf8(path, "NExT-QA split file")
    try:
        with io.StringIO(text, newline="") as fh:
            reader = csv.reader(fh)
            start = 1
            for cells in reader:
                if cells and (len(cells) > 1 or cells[0].strip()):
                    rows.append((start, cells))
                start = reader.line_num + 1
    except csv.Error as e:
        raise DataFileError(f"{path}: not a readable CSV: {e}") from None
    return rows


def _ascii_digits(text: str) -> bool:
    """Only ``0``-``9``: ``str.isdigit`` also accepts ``'²'`` (which ``int`` rejects) and
    ``'٣'`` (which ``int`` silently reads as 3, so a corrupt cell would become another id)."""
    return text.isascii() and text.isdigit()


def _canonical_video(value: str, where: str) -> str:
    """A digit video id as ``str(int(video))``; other text as written. Non-ASCII digits are an
    error: they are a corrupt cell, not an id the official scripts (pandas int64) could read."""
    value = value.strip()
    if value.isdigit() and not value.isascii():
        raise DataFileError(f"{where}: {value!r} has non-ASCII digits; a video id is written with 0-9")
    return str(int(value)) if value.isdigit() else value


def read_split_csv(path: Union[str, Path]) -> List[Dict[str, Any]]:
    """Rows of an official split CSV as gf records, every cell checked.

    Errors name the file, the CSV line and the column: a missing column, an empty cell,
    an ``answer`` outside 0..4, a non-integer ``qid``, an unknown ``type`` and a question
    key ``"<video>_<qid>"`` that occurs twice (both lines named).
    """
    path = Path(path)
    rows = _csv_rows(path)  # a missing file: "NExT-QA split file not found: <path>"
    if not rows:
        raise DataFileError(f"{path}: the file is empty; expected the header "
                            f"video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4")

    (_, columns), data = rows[0], rows[1:]
    video_col = next((c for c in VIDEO_COLUMN_ALIASES if c in columns), None)
    missing = [c for c in REQUIRED_COLUMNS if c != "video" and c not in columns]
    if video_col is None:
        missing.insert(0, "video")
    if missing:
        raise DataFileError(
            f"{path}:1: missing column(s) {', '.join(repr(c) for c in missing)}; the header has "
            f"{', '.join(columns)}. Expected the official NExT-QA header "
            f"video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4."
        )

    # Where each column is (the first of two with one name, as pandas would read it).
    position = {c: columns.index(c) for c in (video_col, *(c for c in REQUIRED_COLUMNS if c != "video"))}

    def fail(line: int, column: str, message: str) -> None:
        raise DataFileError(f"{path}:{line}: column {column!r}: {message}")

    def cell(line: int, cells: List[str], column: str) -> str:
        i = position[column]
        value = cells[i] if i < len(cells) else ""  # a short row lacks its last cells
        if not value.strip():
            fail(line, column, "empty value; every question needs a video, qid, type, question, "
                               "answer and five options a0..a4")
        return value

    records: List[Dict[str, Any]] = []
    first_line: Dict[str, int] = {}
    for line, cells in data:
        if len(cells) > len(columns):
            raise DataFileError(f"{path}:{line}: {len(cells)} cells but the header has {len(columns)} "
                                f"columns; is a cell with a comma not quoted?")
        video = _canonical_video(cell(line, cells, video_col), f"{path}:{line}: column {video_col!r}")
        qid = cell(line, cells, "qid")
        qid_text = qid.strip()
        if not _ascii_digits(qid_text):
            fail(line, "qid", f"{qid!r} is not a non-negative integer (digits 0-9)")
        answer = cell(line, cells, "answer")
        answer_text = answer.strip()
        if not _ascii_digits(answer_text) or int(answer_text) >= NUM_OPTIONS:
            fail(line, "answer", f"{answer!r} is not an option index in 0..{NUM_OPTIONS - 1}")
        qtype = cell(line, cells, "type").strip()
        if qtype not in QUESTION_TYPES:
            fail(line, "type", f"{qtype!r} is not a NExT-QA question type ({', '.join(QUESTION_TYPES)})")
        options = [cell(line, cells, col) for col in OPTION_COLUMNS]
        key = f"{video}_{int(qid_text)}"
        if key in first_line:
            fail(line, "qid", f"question {key!r} (video {video}, qid {int(qid_text)}) already appears on "
                              f"line {first_line[key]}; (video, qid) must be unique")
        first_line[key] = line
        records.append({
            "question_id": key,
            "video_id": video,
            "question": cell(line, cells, "question"),
            "options": options,
            "answer": int(answer_text),
            "type": qtype,
        })
    return records


def _split_summary(records: Sequence[Dict[str, Any]], video_map: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    types = Counter(r["type"] for r in records)
    videos = {r["video_id"] for r in records}
    summary = {
        "questions": len(records),
        "videos": len(videos),
        "types": {t: types.get(t, 0) for t in QUESTION_TYPES},
        "super_types": {s: sum(n for t, n in types.items() if t[0] == s) for s in "CTD"},
        "rows_with_duplicated_options": sum(len(set(r["options"])) < NUM_OPTIONS for r in records),
    }
    if video_map is not None:
        summary["videos_missing_from_map"] = len(videos - set(video_map))
    return summary


def _readme(summary: Dict[str, Any]) -> str:
    lines = readme_head("NExT-QA", summary) + [
        "txt_db/<split>.jsonl   {question_id: \"<video>_<qid>\", video_id, question, options: [a0..a4], answer: 0..4, type}",
    ]
    if summary["map_file"]:
        lines.append("map_vid_vidorID.json   video id -> <folder>/<video> in the NExT-QA/VidOR video dump")
    lines += [
        "vis_db/                features you add, keyed by video id (see datasets.nextqa.features)",
        "```",
        "",
        "| split | questions | videos | " + " | ".join(QUESTION_TYPES) + " | rows with a repeated option |",
        "|---|---|---|" + "---|" * len(QUESTION_TYPES) + "---|",
    ]
    for split, s in summary["splits"].items():
        lines.append(f"| {split} | {s['questions']} | {s['videos']} | "
                     + " | ".join(str(s["types"][t]) for t in QUESTION_TYPES)
                     + f" | {s['rows_with_duplicated_options']} |")
    lines += ["", "Test labels are public (NExT-QA releases them), so the test split is scored locally.",
              "The official scoring folds TP into TN (Bef&Aft).", ""]
    return "\n".join(lines)


def _split_names(splits: Any) -> List[str]:
    """``splits`` as a list of plain names: each becomes ``<raw>/<split>.csv`` and
    ``txt_db/<split>.jsonl``, so none may reach outside those folders. It comes from
    ``--set`` as any JSON value, so its type is checked here (a ConfigError, not a TypeError)."""
    if isinstance(splits, str):
        splits = [splits]
    elif not isinstance(splits, (list, tuple)) or not all(isinstance(s, str) for s in splits):
        raise ConfigError(f"nextqa converter: splits must be a split name or a list of split names "
                          f"(--set 'splits=[\"val\",\"test\"]'), got {splits!r}")
    for split in splits:
        check_plain_name(split, "split name", where="nextqa converter: splits", error=DatasetError)
    return splits


def owned_paths(splits: Union[str, Sequence[str]] = SPLITS, **options: Any) -> List[str]:
    """Every file ``convert`` may write (relative to ``out_dir``); ``vis_db/`` features are the user's."""
    names = dict.fromkeys([*SPLITS, *_split_names(splits)])
    return [f"txt_db/{s}.jsonl" for s in names] + [MAP_FILE, "meta.json", "README.md"]


@registry.register_converter("nextqa")
@owns(owned_paths)
def convert(raw_dir: Union[str, Path], out_dir: Union[str, Path],
            splits: Union[str, Sequence[str]] = SPLITS) -> Dict[str, Any]:
    """Convert the official CSVs in ``raw_dir`` into ``out_dir``.

    ``splits``: which ``<split>.csv`` files to convert; a requested file that is missing
    is an error naming it (before anything is written). Returns the summary also
    written to ``meta.json``.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if not raw_dir.is_dir():
        raise DataFileError(f"NExT-QA raw folder not found: {raw_dir} (expected train.csv, val.csv, test.csv)")
    splits = _split_names(splits)
    if not splits:
        raise DatasetError("nextqa converter: splits is empty; name at least one of train, val, test")
    paths = {s: raw_dir / f"{s}.csv" for s in splits}
    absent = [str(p) for p in paths.values() if not p.is_file()]
    if absent:
        raise DataFileError(
            f"NExT-QA split file(s) not found: {', '.join(absent)}. Download them from "
            f"doc-doc/NExT-QA (dataset/nextqa/), or convert only the splits you have "
            f"(gf prepare nextqa ... --set 'splits=[\"val\",\"test\"]')."
        )

    video_map = None
    map_path = raw_dir / MAP_FILE
    if map_path.is_file():
        video_map = load_json(map_path, "NExT-QA video map")
        if not isinstance(video_map, dict) or not all(isinstance(v, str) for v in video_map.values()):
            raise DataFileError(f"{map_path}: expected a JSON object {{\"<video>\": \"<folder>/<video>\"}}")

    records = {split: read_split_csv(path) for split, path in paths.items()}  # all read before any write
    for split, rows in records.items():
        others = [s for s in records if s != split]
        require_questions(rows, paths[split], split, f"give the release's full {split}.csv" + (
            f", or leave it out: --set 'splits={json.dumps(others)}'" if others else ""))

    for split, rows in records.items():
        atomic_write_jsonl(out_dir / "txt_db" / f"{split}.jsonl", rows, ensure_ascii=False)
    if video_map is not None:
        atomic_write_json(out_dir / MAP_FILE, video_map, indent=None)

    video_splits = Counter(v for rows in records.values() for v in {r["video_id"] for r in rows})
    summary: Dict[str, Any] = {
        "benchmark": "nextqa",
        "format_version": FORMAT_VERSION,
        "source": str(raw_dir),
        "map_file": MAP_FILE if video_map is not None else None,
        "splits": {split: _split_summary(rows, video_map) for split, rows in records.items()},
        "videos_in_several_splits": sum(n > 1 for n in video_splits.values()),
    }
    if summary["videos_in_several_splits"]:
        logger.warning("NExT-QA: %d video(s) appear in more than one split of %s",
                       summary["videos_in_several_splits"], raw_dir)
    atomic_write_json(out_dir / "meta.json", summary)
    atomic_write_text(out_dir / "README.md", _readme(summary))
    return summary
