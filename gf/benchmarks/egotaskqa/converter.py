"""EgoTaskQA release (+ the Glance-Focus event files) -> gf's layout (`gf prepare egotaskqa`).

Why a converter rather than reading the release directly: the authors' loader keyed
events by ``interval`` and features by ``video_id`` and normalised spans by the clip's
absolute end frame (B16, docs/data_formats.md §6). Here every question becomes one plain
record keyed like the features, and events are written in the clip's own time base, so
the shared :class:`~gf.datasets.events.EventTable` normalises them by the clip length.
What it reads (where it looks; the QA file names are ``QA_NAMES``), how it matches answers,
its options and what it writes: docs/data_formats.md §0 ("What `gf prepare` writes besides
the layout") and §3.1-3.2.

Decisions:

* **Keys.** Features (HCRN h5) are indexed by ``str(video_id)`` [verified:
  ``baselines/dataset/hcrn_dataset.py``]; ``video_id`` is assigned once per distinct
  ``interval`` (``qas2tagged_qas.py``). So events are re-keyed from interval to that id
  (each entry keeps its ``interval``).
* **Answers.** A train answer not in the set is an error because the set was built from
  train.
* **Spans.** [unverified: the time base of the authors' events.json; hence the
  ``span_time_base`` option and the stop when most events fall outside their clip.]
"""
from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from gf.common.errors import ConfigError, DataFileError, DatasetError
from gf.common.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, load_json
from gf.common.registry import registry
from gf.common.utils import PathLike, describe_ids, finite_number, positive_int
from gf.datasets.text_files import text_lines
from gf.datasets.converters import first_file, path_option, require_questions
from gf.datasets.converters.staging import owns, reported_path

__all__ = ["convert", "parse_interval", "read_answer_set"]

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
SPLIT_TYPES = ("direct", "indirect")
QA_NAMES = ("formatted_{split}_qas_encode.json", "{split}_qas_encode.json", "{split}_qas.json")
TIME_BASES = ("absolute", "relative")
UNK1 = "<UNK1>"

FEATURES_README = """# EgoTaskQA features (not produced by `gf prepare egotaskqa`)

Put the official HCRN feature files here (or links to them):

    hcrn_data/lemma-qa_appearance_feat.h5   ids, resnet_features (N, 8, 16, 2048)  -> [128, 2048]
    hcrn_data/lemma-qa_motion_feat.h5       ids, resnext_features (N, 8, 2048)     (optional)

Rows are looked up by str(video_id), the id written in <split_type>/txt_db/*.jsonl.
The `egotaskqa` builder reads the appearance stream by default; set
`datasets.egotaskqa.motion_features` to add the motion stream.
"""


# ---------------------------------------------------------------------------------------
# small readers (the public ones: tests use them)
# ---------------------------------------------------------------------------------------
def parse_interval(interval: Any, where: str) -> Tuple[int, int]:
    """``"<video>|P<k>|<start>|<end>"`` -> (start_frame, end_frame), end > start."""
    parts = interval.rsplit("|", 3) if isinstance(interval, str) else []
    try:
        if len(parts) != 4:
            raise ValueError
        start, end = int(parts[2]), int(parts[3])
    except ValueError:
        raise DataFileError(f"{where}: interval {interval!r} is not '<video>|P<k>|<start_frame>|<end_frame>'") from None
    if end <= start:
        raise DataFileError(f"{where}: interval {interval!r} ends at or before it starts")
    return start, end


def read_answer_set(path: Path) -> List[str]:
    """``answer_set.txt`` -> answers in index order (line i = label i)."""
    answers = text_lines(path)
    for lineno, a in enumerate(answers, start=1):
        if not a.strip():
            raise DataFileError(f"{path}:{lineno}: blank line; line i is answer i-1, so a blank line would "
                                f"shift every later label")
    dup = [a for a, n in Counter(answers).items() if n > 1]
    if dup:
        raise DataFileError(f"{path}: answer(s) {describe_ids(dup)} listed more than once; labels would be ambiguous")
    if not answers:
        raise DataFileError(f"{path}: empty answer set")
    return answers


def read_reasoning_types(path: Path) -> List[str]:
    """``all_reasoning_types.txt`` -> tokens. Format: one token per line, as the official
    ``baselines/preprocess/reasoning_types.py`` writes it; blank lines are ignored."""
    tokens = []
    for lineno, line in enumerate(text_lines(path), start=1):
        token = line.strip()
        if not token:
            continue
        if "$" in token or len(token.split()) > 1:
            raise DataFileError(f"{path}:{lineno}: {token!r} is not one token; expected one reasoning-type "
                                f"token per line (e.g. 'counterfactual')")
        if token in tokens:
            raise DataFileError(f"{path}:{lineno}: {token!r} listed twice")
        tokens.append(token)
    if not tokens:
        raise DataFileError(f"{path}: no reasoning types")
    return tokens


def _check_index_values(path: Path, values: List[int]) -> None:
    """Integer values of ``{name: index}`` must be 0..n-1, each once (line i of hoi_classes.txt is class i)."""
    counts = Counter(values)
    n = len(values)
    problems = [f"{label}: {describe_ids(sorted(ids))}" for label, ids in (
        ("repeated", [v for v, c in counts.items() if c > 1]),
        ("missing", [i for i in range(n) if i not in counts]),
        (f"outside 0..{n - 1}", [v for v in counts if not 0 <= v < n]),
    ) if ids]
    if problems:
        raise DataFileError(f"{path}: the values must be the class indices 0..{n - 1} ({n} classes), each once; "
                            f"{'; '.join(problems)}. Fix the file, or write the class names in index order as a "
                            f"JSON list and pass it with --set hoi_vocab=PATH")


def read_hoi_vocab(path: Path) -> List[str]:
    """``hois_full_trans.json`` -> class names in index order.

    Its layout is not documented [unverified]; accepted: a list (index = position), a
    dict whose values are the indices 0..n-1, a dict whose keys are "0".."n-1", or any
    other dict whose values are not all integers (index = key order in the file). Integer
    values that are not 0..n-1 each once (1-based, repeated) are an error: read by key
    order, every class would get another's name. Names are made single-line for
    ``hoi_classes.txt``.
    """
    vocab = load_json(path, "EgoTaskQA event-class vocabulary")
    if isinstance(vocab, list):
        names = vocab
    elif isinstance(vocab, dict):
        n = len(vocab)
        values = list(vocab.values())
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            _check_index_values(path, values)
            names = [k for k, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        elif sorted(vocab) == sorted(str(i) for i in range(n)):
            names = [vocab[str(i)] for i in range(n)]
        else:
            names = list(vocab)
    else:
        raise DataFileError(f"{path}: expected a JSON list or object of event classes, got {type(vocab).__name__}")
    if not names:
        raise DataFileError(f"{path}: no event classes")
    texts = (name if isinstance(name, str) else json.dumps(name, ensure_ascii=False) for name in names)
    return [" ".join(text.split()) or "(unnamed)" for text in texts]


# ---------------------------------------------------------------------------------------
# locating files
# ---------------------------------------------------------------------------------------
def _qa_dir(raw: Path, split_type: str) -> Tuple[Path, Dict[str, Path]]:
    candidates = [raw / split_type, raw / split_type / "txt_db", raw, raw / "txt_db"]
    for d in candidates:
        first = {split: first_file(d / name.format(split=split) for name in QA_NAMES) for split in SPLITS}
        found = {split: path for split, path in first.items() if path is not None}
        if found:
            if set(found) != set(SPLITS):
                raise DataFileError(f"{d}: QA files for {sorted(found)} but not {sorted(set(SPLITS) - set(found))}; "
                                    f"expected one of {QA_NAMES} for each of {SPLITS}")
            if d in (raw, raw / "txt_db"):
                other = [t for t in SPLIT_TYPES if t != split_type and (raw / t).is_dir()]
                if other:
                    raise DataFileError(f"{raw}: has {other[0]}/ but no {split_type}/ folder; refusing to take the "
                                        f"QA files in {d} as the {split_type!r} split")
                logger.warning("egotaskqa: no %s/ folder in %s; taking the QA files in %s as the %r split",
                               split_type, raw, d, split_type)
            return d, found
    raise DataFileError(f"no EgoTaskQA QA files ({', '.join(n.format(split='train') for n in QA_NAMES)}) in "
                        f"{', '.join(str(c) for c in candidates)}")


# ---------------------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------------------
def _as_int(value: Any) -> Optional[int]:
    """An integer or its ASCII-digit text, else ``None``: ``str.isdigit`` also takes ``'²'``
    (which ``int`` rejects) and ``'٣'`` (which ``int`` reads as 3, another clip's id)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    return None


def _reasoning_type(qa: Mapping[str, Any], where: str) -> str:
    """The record's ``$``-joined reasoning type. Its tokens become lines of
    all_reasoning_types.txt and the evaluator's categories, so an empty token or one with
    spaces is refused here, as the builder would refuse the written record."""
    value = qa.get("reasoning_type")
    if not (isinstance(value, str) and value):
        # The official split.py joins these; rebuild it the same way when a file lacks it.
        parts = [qa.get("type"), qa.get("category"), qa.get("semantic"), qa.get("structural"), qa.get("reference")]
        tokens = [*parts[0], *parts[1], *parts[2:]] if all(isinstance(p, list) for p in parts[:2]) else [None]
        if not all(isinstance(t, str) for t in tokens):
            raise DataFileError(f"{where}: no 'reasoning_type' (and no type/category/semantic/structural/reference "
                                f"strings to build it from)")
        value = "$".join(tokens)
    bad = [t for t in value.split("$") if t.split() != [t]]
    if bad:
        raise DataFileError(f"{where}: reasoning_type {value!r} has token(s) {describe_ids(bad)}; each '$'-separated "
                            f"token must be one word without spaces (e.g. 'descriptive$world$action$query$direct'); "
                            f"fix that record")
    return value


def _convert_records(path: Path, split: str, vocab: Dict[str, int], unk1: Optional[int],
                     stats: SimpleNamespace) -> List[Dict[str, Any]]:
    qas = load_json(path, f"EgoTaskQA {split} QA file")
    if not isinstance(qas, list):
        raise DataFileError(f"{path}: expected a JSON list of questions, got {type(qas).__name__}")
    require_questions(qas, path, split, f"give the release's full {path.name} (each split type needs "
                                        f"train, val and test questions)")
    out = []
    for i, qa in enumerate(qas):
        qid_raw = qa.get("question_id") if isinstance(qa, Mapping) else None
        where = f"{path}: record {i} (question_id {qid_raw!r})"
        if not isinstance(qa, Mapping):
            raise DataFileError(f"{where}: expected an object, got {type(qa).__name__}")
        qid = _as_int(qid_raw)
        if qid is None and not (isinstance(qid_raw, str) and qid_raw):
            raise DataFileError(f"{where}: 'question_id' must be an integer id")
        vid = _as_int(qa.get("video_id"))
        if vid is None:
            raise DataFileError(f"{where}: 'video_id' must be an integer (the HCRN feature row id), got "
                                f"{qa.get('video_id')!r}")
        for key in ("question", "answer", "interval"):
            if not isinstance(qa.get(key), str):
                raise DataFileError(f"{where}: '{key}' must be a string, got {qa.get(key)!r}")
        parse_interval(qa["interval"], where)
        answer = qa["answer"]
        label = vocab.get(answer)
        if label is None and answer.lower() in vocab:
            label = vocab[answer.lower()]
            stats.lowercased += 1
        if label is None:
            if split == "train":
                raise DataFileError(f"{where}: train answer {answer!r} is not in answer_set.txt; the answer set is "
                                    f"built from the train answers, so it belongs to another split or run")
            stats.oov[split] += 1
        encoded = _as_int(qa.get("answer_encode")) if "answer_encode" in qa else None
        if "answer_encode" in qa and encoded is None:
            raise DataFileError(f"{where}: 'answer_encode' {qa['answer_encode']!r} is not an integer")
        if encoded is not None and encoded != (label if label is not None else unk1):
            if label is not None and encoded == unk1:
                stats.unk1_quirk += 1  # official: membership tested on the raw answer, lookup lower-cased
            else:
                raise DataFileError(f"{where}: answer_encode {encoded} disagrees with answer {answer!r} "
                                    f"(index {label} in answer_set.txt); answer_set.txt is from another run")
        out.append({
            "question_id": str(qid if qid is not None else qid_raw),
            "video_id": str(vid),
            "question": qa["question"],
            "answer": -1 if label is None else label,
            "answer_text": answer,
            "reasoning_type": _reasoning_type(qa, where),
            "interval": qa["interval"],
        })
    return out


def _clip_table(records: Dict[str, List[Dict[str, Any]]]) -> Dict[str, str]:
    """``{video_id: interval}``, checking the two are one-to-one."""
    by_vid: Dict[str, Tuple[str, str]] = {}
    by_interval: Dict[str, str] = {}
    for split, recs in records.items():
        for r in recs:
            vid, interval = r["video_id"], r["interval"]
            old = by_vid.get(vid)
            if old is not None and old[0] != interval:
                raise DataFileError(f"video_id {vid} is interval {old[0]!r} ({old[1]}) and {interval!r} "
                                    f"({split}, question {r['question_id']}); features are keyed by video_id, "
                                    f"so one id must be one clip")
            if by_interval.setdefault(interval, vid) != vid:
                raise DataFileError(f"interval {interval!r} has video_ids {by_interval[interval]} and {vid}; "
                                    f"mixed QA files from different runs of qas2tagged_qas.py?")
            by_vid[vid] = (interval, split)
    return {vid: interval for vid, (interval, _) in by_vid.items()}


def _convert_events(raw_events: Any, path: Path, clips: Dict[str, str], num_classes: int,
                    time_base: str) -> Tuple[Dict[str, Any], Dict[str, int]]:
    if not isinstance(raw_events, Mapping):
        raise DataFileError(f"{path}: expected {{interval: {{span, hoi}}}}, got {type(raw_events).__name__}")
    events: Dict[str, Any] = {}
    counts = Counter({k: 0 for k in ("events", "events_outside_clip", "events_partly_outside_clip",
                                     "clips_without_events", "clips_missing_from_events")})
    for vid, interval in clips.items():
        start, end = parse_interval(interval, str(path))
        entry = raw_events.get(interval)
        actions: List[List[Any]] = []
        if entry is None:
            counts["clips_missing_from_events"] += 1
        else:
            where = f"{path}: interval {interval!r}"
            if not isinstance(entry, Mapping):
                raise DataFileError(f"{where}: expected {{'span': [...], 'hoi': [...]}}, got {type(entry).__name__}")
            spans, hois = entry.get("span", []), entry.get("hoi", [])
            if not isinstance(spans, list) or not isinstance(hois, list) or len(spans) != len(hois):
                raise DataFileError(f"{where}: 'span' and 'hoi' must be lists of equal length (they are paired), "
                                    f"got {len(spans) if isinstance(spans, list) else spans!r} spans and "
                                    f"{len(hois) if isinstance(hois, list) else hois!r} classes")
            offset = start if time_base == "absolute" else 0
            for j, (span, hoi) in enumerate(zip(spans, hois)):
                ok = (isinstance(span, (list, tuple)) and len(span) == 2
                      and all(finite_number(x) is not None for x in span))
                if not ok:
                    raise DataFileError(f"{where}: span {j} is {span!r}; expected [start_frame, end_frame]")
                if span[1] < span[0]:
                    raise DataFileError(f"{where}: span {j} {span!r} ends before it starts")
                if not isinstance(hoi, int) or isinstance(hoi, bool):
                    raise DataFileError(f"{where}: hoi {j} is {hoi!r}; expected an integer class index")
                if not 0 <= hoi < num_classes:
                    raise DataFileError(f"{where}: hoi {j} is {hoi!r}, outside [0, {num_classes}) "
                                        f"(the event-class vocabulary has {num_classes} entries)")
                s, e = span[0] - offset, span[1] - offset
                counts["events"] += 1
                if e <= 0 or s >= end - start:
                    counts["events_outside_clip"] += 1
                elif s < 0 or e > end - start:
                    counts["events_partly_outside_clip"] += 1
                actions.append([hoi, s, e])
        if not actions:
            counts["clips_without_events"] += 1
        events[vid] = {"duration": end - start, "actions": actions, "interval": interval}
    counts["event_clips_not_in_qa"] = len(set(raw_events) - set(clips.values()))
    if counts["events"] and counts["events_outside_clip"] * 2 > counts["events"]:
        other = [b for b in TIME_BASES if b != time_base][0]
        raise DataFileError(
            f"{path}: {counts['events_outside_clip']} of {counts['events']} events lie entirely outside their clip "
            f"when spans are read as {time_base!r} frames; the spans are probably {other!r} "
            f"(set span_time_base={other!r})")
    return events, dict(counts)


# ---------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------
def owned_paths(split_type: str = "direct", **options: Any) -> List[str]:
    """Every file ``convert`` may write for ``split_type`` (relative to ``out_dir``). The
    ``hcrn_data/README.md`` it adds is not listed: it is written only where none exists."""
    st = split_type if split_type in SPLIT_TYPES else "direct"  # convert refuses others itself
    names = [f"{s}.jsonl" for s in SPLITS] + ["answer_vocab.json", "all_reasoning_types.txt", "hoi_classes.txt",
                                             "events.json"]
    return [f"{st}/txt_db/{n}" for n in names] + [f"{st}/prepare_summary.json"]


def _read_answers(qa_dir: Path) -> List[str]:
    """The answer vocabulary the official encoder wrote next to the QA files; labels are indices into it."""
    answer_path = first_file([qa_dir / "answer_set.txt"])
    if answer_path is None:
        raise DataFileError(f"{qa_dir}: answer_set.txt not found (written by the official "
                            f"mode_qas2mode_qas_encode.py next to the QA files)")
    return read_answer_set(answer_path)


def _check_unique_ids(records: Mapping[str, List[Dict[str, Any]]], qa_paths: Mapping[str, Path]) -> None:
    """A question id appears once per split: predictions and scores are keyed by it."""
    for split, recs in records.items():
        dup = [q for q, n in Counter(r["question_id"] for r in recs).items() if n > 1]
        if dup:
            raise DataFileError(f"{qa_paths[split]}: question_id(s) {describe_ids(dup)} appear more than once")


def _reasoning_types(qa_dir: Path, records: Mapping[str, List[Dict[str, Any]]],
                     qa_paths: Mapping[str, Path]) -> Tuple[List[str], Optional[Path]]:
    """The reasoning-type list and the file it came from (None when generated). A released
    ``all_reasoning_types.txt`` must cover every token the questions use; without one the
    list is built as the official reasoning_types.py does."""
    types_path = first_file([qa_dir / "all_reasoning_types.txt"])
    if types_path is not None:
        reasoning_types = read_reasoning_types(types_path)
        known = set(reasoning_types)
        for split, recs in records.items():
            for r in recs:
                unknown = [t for t in r["reasoning_type"].split("$") if t not in known]
                if unknown:
                    raise DataFileError(f"{qa_paths[split]}: question {r['question_id']} has reasoning-type "
                                        f"token(s) {unknown} missing from {types_path}")
    else:  # as the official reasoning_types.py: first-seen order over train, test, val
        reasoning_types = list(dict.fromkeys(t for s in ("train", "test", "val")
                                             for r in records[s] for t in r["reasoning_type"].split("$")))
    return reasoning_types, types_path


def _hoi_names(given: List[Path], num_hoi_classes: Optional[int],
               shared_dirs: Sequence[Path]) -> Tuple[List[str], Optional[Path]]:
    """The event-class names and the vocabulary file read (None when only a class count was
    given); the count bounds the class ids accepted in events.json. ``given``: the ``hoi_vocab``
    option, already checked to be a file by :func:`path_option`."""
    vocab_path = given[0] if given else first_file(d / "hois_full_trans.json" for d in shared_dirs)
    if vocab_path is not None:
        return read_hoi_vocab(vocab_path), vocab_path
    if num_hoi_classes is not None:
        return [f"hoi_{i}" for i in range(num_hoi_classes)], None
    raise DataFileError(f"no event-class vocabulary: hois_full_trans.json is not in "
                        f"{', '.join(map(str, shared_dirs))}; pass hoi_vocab=PATH, or num_hoi_classes=N if "
                        f"you know the class count")


def _read_events(shared_dirs: Sequence[Path], clips: Dict[str, str], num_classes: int, time_base: str):
    """Find and convert the Glance-Focus events.json for the questions' clips; returns
    (events, event counts)."""
    events_path = first_file(d / "events.json" for d in shared_dirs)
    if events_path is None:
        raise DataFileError(f"events.json (the Glance-Focus EgoTaskQA event annotations) not found in "
                            f"{', '.join(map(str, shared_dirs))}")
    return _convert_events(load_json(events_path, "EgoTaskQA events"), events_path, clips, num_classes, time_base)


def _write_layout(out: Path, split_type: str, records: Mapping[str, List[Dict[str, Any]]], answers: List[str],
                  reasoning_types: List[str], hoi_names: List[str], events: Mapping[str, Any]) -> None:
    """Write ``<split_type>/txt_db``, and the features README only where none exists (the
    folder is shared by the split types and may hold the user's own notes)."""
    txt = out / split_type / "txt_db"
    for split, recs in records.items():
        atomic_write_jsonl(txt / f"{split}.jsonl", recs, ensure_ascii=False)
    atomic_write_json(txt / "answer_vocab.json", answers, indent=None)
    atomic_write_text(txt / "all_reasoning_types.txt", "".join(t + "\n" for t in reasoning_types))
    atomic_write_text(txt / "hoi_classes.txt", "".join(n + "\n" for n in hoi_names))
    atomic_write_json(txt / "events.json", events, indent=None)
    readme = out / "hcrn_data" / "README.md"
    if not readme.exists():
        atomic_write_text(readme, FEATURES_README)


@registry.register_converter("egotaskqa")
@owns(owned_paths)
def convert(raw_dir: PathLike, out_dir: PathLike, split_type: str = "direct", span_time_base: str = "absolute",
            hoi_vocab: Optional[PathLike] = None, num_hoi_classes: Optional[int] = None) -> Dict[str, Any]:
    """Convert one EgoTaskQA split type into ``out_dir/<split_type>/txt_db``; returns a summary.

    ``hoi_vocab``: the event-class vocabulary (default: ``hois_full_trans.json`` found next
    to the QA files or events). Without one, ``num_hoi_classes=N`` names the classes
    ``hoi_0``..``hoi_{N-1}``.
    """
    if split_type not in SPLIT_TYPES:
        raise DatasetError(f"egotaskqa: split_type must be one of {SPLIT_TYPES}, got {split_type!r}")
    if span_time_base not in TIME_BASES:
        raise DatasetError(f"egotaskqa: span_time_base must be one of {TIME_BASES}, got {span_time_base!r}")
    if num_hoi_classes is not None and not positive_int(num_hoi_classes):  # not a bool: true would be 1 class
        raise ConfigError(f"egotaskqa converter: num_hoi_classes must be a positive integer (--set "
                          f"num_hoi_classes=N), got {num_hoi_classes!r}")
    raw, out = Path(raw_dir), Path(out_dir)
    hoi_given = path_option("egotaskqa", "hoi_vocab", hoi_vocab, raw=raw)  # before the slow reads
    if not raw.is_dir():
        raise DataFileError(f"EgoTaskQA raw folder not found: {raw}")
    qa_dir, qa_paths = _qa_dir(raw, split_type)
    shared_dirs = [qa_dir, raw / split_type, raw, raw / "txt_db"]

    answers = _read_answers(qa_dir)
    vocab = {a: i for i, a in enumerate(answers)}
    stats = SimpleNamespace(oov=Counter(), unk1_quirk=0, lowercased=0)
    records = {s: _convert_records(p, s, vocab, vocab.get(UNK1), stats) for s, p in qa_paths.items()}
    _check_unique_ids(records, qa_paths)
    reasoning_types, types_path = _reasoning_types(qa_dir, records, qa_paths)
    hoi_names, vocab_path = _hoi_names(hoi_given, num_hoi_classes, shared_dirs)
    clips = _clip_table(records)
    events, event_counts = _read_events(shared_dirs, clips, len(hoi_names), span_time_base)
    _write_layout(out, split_type, records, answers, reasoning_types, hoi_names, events)

    summary = {
        "benchmark": "egotaskqa",
        "split_type": split_type,
        "raw_dir": str(raw), "qa_dir": str(qa_dir), "out_dir": str(reported_path(out / split_type)),
        "qa_files": {s: str(p) for s, p in qa_paths.items()},
        "splits": {s: {"questions": len(r), "out_of_vocabulary": stats.oov[s]} for s, r in records.items()},
        "answer_vocab": len(answers),
        "answers_matched_lowercased": stats.lowercased,
        "answer_encode_unk1_but_in_vocab": stats.unk1_quirk,
        "reasoning_types": reasoning_types,
        "reasoning_types_source": str(types_path) if types_path else "generated from the QA files",
        "hoi_classes": len(hoi_names),
        "hoi_vocab": str(vocab_path) if vocab_path else f"num_hoi_classes={num_hoi_classes}",
        "span_time_base": span_time_base,
        "clips": len(clips),
        "events": event_counts,
    }
    atomic_write_json(out / split_type / "prepare_summary.json", summary)
    if sum(stats.oov.values()):
        logger.warning("egotaskqa %s: %s val/test answers are not in answer_set.txt; labelled -1 (scored wrong)",
                       split_type, dict(stats.oov))
    return summary
