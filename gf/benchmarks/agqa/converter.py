"""AGQA 2.0 (balanced, open-ended) from the official release to gf's layout.

Why a converter: AGQA ships no validation split and no answer vocabulary, and the
authors' loader needed both (it crashed without a val vocabulary, B5, and on any answer
outside its vocabulary, B8; see docs/data_formats.md §6). This fixes both once, on
disk, reproducibly. What it reads, builds and writes, and its options:
docs/data_formats.md §0 ("What `gf prepare` writes besides the layout") and §2.1-2.2.

* The vocabulary's order (frequency, ties by string) makes it the same on every machine.
  It is built before the val carve, so it does not depend on the seed or fraction.
* The val split's default, 10% of the train videos, is DeST's choice.
* The record fields read are [verified] from the GF and DeST code.
* The Charades CSVs' format (:mod:`gf.datasets.converters.charades`) is **[unverified]**:
  from general knowledge of Charades, not checked against the released files here; the
  reader fails loudly (file, line, column) on anything else.
"""
from __future__ import annotations

import json
import logging
import math
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple, Union

from gf.benchmarks.agqa.evaluator import ANSWER_TYPES
from gf.common.errors import DataFileError, DatasetError
from gf.common.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, load_json
from gf.common.registry import registry
from gf.common.utils import finite_number
from gf.datasets.converters import path_option, readme_head, require_questions
from gf.datasets.converters.charades import parse_charades_actions, read_charades_csvs
from gf.datasets.converters.staging import owns

__all__ = [
    "check_record",
    "convert",
    "read_balanced_file",
    "read_charades_csv",
]

logger = logging.getLogger(__name__)

RAW_FILES = {"train": "train_balanced.txt", "test": "test_balanced.txt"}
NUM_CHARADES_CLASSES = 157
_STRING_FIELDS = ("question", "answer", "video_id", "semantic", "structural", "ans_type")
OUTPUT_FIELDS = ("question_id", "video_id", "question", "answer", "global", "semantic", "structural", "ans_type")
_CHARADES_CLASS = re.compile(r"c(\d{3})")
FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------
# QA records
# ---------------------------------------------------------------------------------------
def check_record(qid: Any, rec: Any, where: str) -> Dict[str, Any]:
    """One AGQA record -> the fields gf keeps, or an error naming ``where``, the id and the key."""
    if not isinstance(qid, str) or not qid:
        raise DataFileError(f"{where}: question id {qid!r} must be a non-empty string")
    prefix = f"{where}: question {qid!r}"
    if not isinstance(rec, dict):
        raise DataFileError(f"{prefix}: expected an object with question, answer, video_id, global, "
                            f"semantic, structural, ans_type; got {type(rec).__name__}")
    for key in _STRING_FIELDS:
        value = rec.get(key)
        if not isinstance(value, str) or not value.strip():
            got = "missing" if key not in rec else repr(value)
            raise DataFileError(f"{prefix}: field {key!r} must be a non-empty string, got {got}")
    reasoning = rec.get("global")
    if not isinstance(reasoning, list) or not all(isinstance(r, str) and r for r in reasoning):
        got = "missing" if "global" not in rec else repr(reasoning)
        raise DataFileError(f"{prefix}: field 'global' must be a list of reasoning-type strings, got {got}")
    if rec["ans_type"] not in ANSWER_TYPES:
        raise DataFileError(f"{prefix}: field 'ans_type' is {rec['ans_type']!r}, expected one of "
                            f"{', '.join(ANSWER_TYPES)}")
    return {"question_id": qid, "video_id": rec["video_id"], "question": rec["question"],
            "answer": rec["answer"], "global": list(reasoning), "semantic": rec["semantic"],
            "structural": rec["structural"], "ans_type": rec["ans_type"]}


class _DuplicateQuestion(Exception):
    """Raised by :func:`_pairs_hook` with the repeated question id."""


def _pairs_hook(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    """``json`` keeps the last of two equal keys; a repeated *question id* must be an error.

    The hook sees every object of the file; only a repeated key whose value is a question
    record (an object with a ``question``) is reported, so nested objects are untouched.
    """
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, value in pairs:
            if key in seen and isinstance(value, dict) and "question" in value:
                raise _DuplicateQuestion(key)
            seen.add(key)
    return obj


def read_balanced_file(path: Union[str, Path]) -> List[Dict[str, Any]]:
    """An official ``*_balanced.txt`` (one JSON object ``{question_id: record}``) as checked
    records, in file order. Loads the whole file (as the official tools do)."""
    path = Path(path)
    try:
        data = load_json(path, "AGQA file", object_pairs_hook=_pairs_hook)
    except DataFileError as e:
        if not isinstance(e.__cause__, json.JSONDecodeError):
            raise  # not found
        raise DataFileError(f"{e}. Expected the AGQA 2.0 balanced file: one JSON object "
                            f"{{question_id: record}} (despite the .txt name).") from None
    except _DuplicateQuestion as e:
        raise DataFileError(f"{path}: question id {e.args[0]!r} appears twice; ids must be unique") from None
    if not isinstance(data, dict):
        raise DataFileError(f"{path}: top level is a JSON {type(data).__name__}; expected an object "
                            f"{{question_id: record}} (the AGQA 2.0 balanced format)")
    return [check_record(qid, rec, str(path)) for qid, rec in data.items()]


def build_answer_vocab(answers: Iterable[str]) -> List[str]:
    """Distinct answers, most frequent first, ties by string: deterministic, exact strings."""
    counts = Counter(answers)
    return sorted(counts, key=lambda a: (-counts[a], a))


def split_val_videos(video_ids: Iterable[str], val_fraction: float, seed: int) -> List[str]:
    """The videos moved from train to val: ``round(val_fraction * n)`` of the ``n`` distinct
    videos (at least one when the fraction is > 0), drawn with ``random.Random(seed)`` from
    the sorted list, so the choice depends only on the set of videos, seed and fraction."""
    videos = sorted(set(video_ids))
    if val_fraction == 0:
        return []
    n_val = max(1, round(val_fraction * len(videos)))
    if n_val >= len(videos):
        raise DatasetError(f"agqa converter: val_fraction {val_fraction} of {len(videos)} train video(s) "
                           f"leaves no training video; lower val_fraction")
    random.Random(seed).shuffle(videos)
    return sorted(videos[:n_val])


# ---------------------------------------------------------------------------------------
# Charades events
# ---------------------------------------------------------------------------------------
def _charades_entry(row: Mapping[str, str], where: str) -> Dict[str, Any]:
    """One CSV row -> ``{"duration": length, "actions": [[class_idx, s, e]]}``; AGQA needs the
    video length (the events' time base) and Charades ``c`` ids within the 157 classes."""
    try:
        duration = float(row.get("length") or "")
    except ValueError:
        raise DataFileError(f"{where}: column 'length' is {row.get('length')!r}, "
                            f"expected the video length in seconds") from None
    if not math.isfinite(duration) or duration <= 0:
        raise DataFileError(f"{where}: column 'length' is {duration}, expected > 0 seconds")
    where = f"{where}: column 'actions'"
    actions = []
    for cid, start, end in parse_charades_actions(row.get("actions"), where):
        match = _CHARADES_CLASS.fullmatch(cid)
        if match is None:
            raise DataFileError(f"{where}: action class {cid!r} is not a Charades class id 'cXXX' "
                                f"(e.g. 'c092 11.90 21.20')")
        cls_id = int(match.group(1))
        if cls_id >= NUM_CHARADES_CLASSES:
            raise DataFileError(f"{where}: action class {cid!r} is outside c000..c{NUM_CHARADES_CLASSES - 1}")
        actions.append([cls_id, start, end])
    return {"duration": duration, "actions": actions}


def read_charades_csv(paths: Union[str, Path, Sequence[Union[str, Path]]]) -> Dict[str, Dict[str, Any]]:
    """Charades annotation CSV(s) -> ``{video_id: {"duration": length, "actions": [[cls, s, e]]}}``.

    A video listed twice (in one file or across files) must have the same entry both
    times. Errors name the file, the line and the column.
    """
    paths = path_option("agqa", "charades_csv", paths, many=True)
    if not paths:
        raise DatasetError("agqa converter: charades_csv is an empty list")
    return read_charades_csvs(paths, _charades_entry, columns=("id", "length", "actions"))


# ---------------------------------------------------------------------------------------
# convert
# ---------------------------------------------------------------------------------------
def _split_summary(rows: Sequence[Mapping[str, Any]], vocab: set) -> Dict[str, Any]:
    return {
        "questions": len(rows),
        "videos": len({r["video_id"] for r in rows}),
        "answer_types": dict(sorted(Counter(r["ans_type"] for r in rows).items())),
        "answers_outside_vocab": sum(r["answer"] not in vocab for r in rows),
    }


def _readme(summary: Mapping[str, Any]) -> str:
    lines = readme_head("AGQA 2.0 (balanced)", summary) + [
        "txt_db/<split>.jsonl       {question_id, video_id, question, answer (string), global, semantic, structural, ans_type}",
        "txt_db/answer_vocab.json   answers of the official train file, most frequent first (index = label)",
    ]
    if summary["val"]["videos"]:
        lines.append("txt_db/val_videos.txt      train videos moved to the val split (AGQA has no official val)")
    if summary["events"]:
        lines += ["txt_db/events.json         Charades actions per video: {duration, actions: [[class, start_s, end_s]]}",
                  "txt_db/action_mapping.txt  Charades classes c000..c156 (line i = class i)"]
    lines += [
        "vis_db/                    features you add, keyed by Charades video id (e.g. frcnn.pth)",
        "```",
        "",
        f"Answer vocabulary: {summary['answer_vocab_size']} answers (exact strings). "
        f"Validation: {summary['val']['videos']} train videos ({summary['val']['fraction']:.0%}, "
        f"seed {summary['val']['seed']}).",
        "",
        "| split | questions | videos | answers outside the vocabulary (scored wrong) |",
        "|---|---|---|---|",
    ]
    for split, s in summary["splits"].items():
        lines.append(f"| {split} | {s['questions']} | {s['videos']} | {s['answers_outside_vocab']} |")
    lines.append("")
    return "\n".join(lines)


def owned_paths(**options: Any) -> List[str]:
    """Every file ``convert`` may write (relative to ``out_dir``); ``vis_db/`` features are the user's."""
    return ([f"txt_db/{s}.jsonl" for s in ("train", "val", "test")]
            + [f"txt_db/{n}" for n in ("answer_vocab.json", "val_videos.txt", "events.json", "action_mapping.txt")]
            + ["meta.json", "README.md"])


@registry.register_converter("agqa")
@owns(owned_paths)
def convert(raw_dir: Union[str, Path], out_dir: Union[str, Path],
            charades_csv: Union[None, str, Path, Sequence[Union[str, Path]]] = None,
            val_fraction: float = 0.1, seed: int = 0) -> Dict[str, Any]:
    """Convert ``raw_dir``'s ``train_balanced.txt`` / ``test_balanced.txt`` (and optionally
    Charades CSVs) into ``out_dir``; returns the summary also written to ``meta.json``.
    Everything is read and checked before anything is written."""
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if not raw_dir.is_dir():
        raise DataFileError(f"AGQA raw folder not found: {raw_dir} (expected {', '.join(RAW_FILES.values())})")
    absent = [str(raw_dir / name) for name in RAW_FILES.values() if not (raw_dir / name).is_file()]
    if absent:
        raise DataFileError(f"AGQA file(s) not found: {', '.join(absent)}. Unzip AGQA_balanced.zip "
                            f"(AGQA 2.0 'Balanced AGQA') into {raw_dir}.")
    if finite_number(val_fraction) is None or not 0 <= val_fraction < 1:  # checked before the slow reads
        raise DatasetError(f"agqa converter: val_fraction must be a number in [0, 1), got {val_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DatasetError(f"agqa converter: seed must be an integer, got {seed!r}")
    csv_paths = path_option("agqa", "charades_csv", charades_csv, many=True, raw=raw_dir)
    events = read_charades_csv(csv_paths) if csv_paths else None

    train = read_balanced_file(raw_dir / RAW_FILES["train"])
    require_questions(train, raw_dir / RAW_FILES["train"], "train", "give the file from AGQA_balanced.zip")
    vocab = build_answer_vocab(r["answer"] for r in train)
    val_videos = split_val_videos((r["video_id"] for r in train), val_fraction, seed)
    held_out = set(val_videos)
    splits = {"train": [r for r in train if r["video_id"] not in held_out]}
    if val_videos:
        splits["val"] = [r for r in train if r["video_id"] in held_out]
    del train
    splits["test"] = read_balanced_file(raw_dir / RAW_FILES["test"])
    require_questions(splits["test"], raw_dir / RAW_FILES["test"], "test", "give the file from AGQA_balanced.zip")

    txt_db = out_dir / "txt_db"
    for split, rows in splits.items():
        atomic_write_jsonl(txt_db / f"{split}.jsonl", ({k: r[k] for k in OUTPUT_FIELDS} for r in rows),
                           ensure_ascii=False)
    atomic_write_json(txt_db / "answer_vocab.json", vocab, ensure_ascii=False)
    if val_videos:
        atomic_write_text(txt_db / "val_videos.txt", "".join(v + "\n" for v in val_videos))
    vocab_set = set(vocab)
    summary: Dict[str, Any] = {
        "benchmark": "agqa",
        "format_version": FORMAT_VERSION,
        "source": str(raw_dir),
        "answer_vocab_size": len(vocab),
        "val": {"fraction": val_fraction, "seed": seed, "videos": len(val_videos),
                "videos_file": "txt_db/val_videos.txt" if val_videos else None},
        "splits": {split: _split_summary(rows, vocab_set) for split, rows in splits.items()},
        "events": None,
    }
    if events is not None:
        atomic_write_json(txt_db / "events.json", events, indent=None)
        atomic_write_text(txt_db / "action_mapping.txt",
                          "".join(f"c{i:03d}\n" for i in range(NUM_CHARADES_CLASSES)))
        qa_videos = {r["video_id"] for rows in splits.values() for r in rows}
        summary["events"] = {
            "sources": [str(p) for p in csv_paths],
            "videos": len(events),
            "actions": sum(len(e["actions"]) for e in events.values()),
            "classes": NUM_CHARADES_CLASSES,
            "qa_videos_without_events": len(qa_videos - set(events)),
        }
        if summary["events"]["qa_videos_without_events"]:
            logger.warning("AGQA: %d video(s) with questions are not in the Charades CSV(s); they get no "
                           "event targets", summary["events"]["qa_videos_without_events"])
    atomic_write_json(out_dir / "meta.json", summary)
    atomic_write_text(out_dir / "README.md", _readme(summary))
    return summary
