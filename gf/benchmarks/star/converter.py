"""STAR official release -> the Glance-Focus authors' layout that the ``star`` builder reads.

Why a converter: the authors distribute their preprocessed ``txt_db/`` only on Google
Drive and never said how it was made. This rebuilds it from what STAR itself releases
(``STAR_{train,val,test}.json`` and the class files) plus the Charades action
annotations STAR was generated from, so every label can be traced to a public file.
Inputs, options (and where the class and Charades files are looked for), command and
outputs: README.md, "STAR from the official release", and docs/data_formats.md §0 ("What
`gf prepare` writes besides the layout") and §1.1-1.2.

Action ids. STAR's ``a000``..``a110`` are **not** Charades' ``c000``..``c156`` renamed:
they are the 111 Charades classes whose verb and object are in STAR's vocabulary,
renumbered without gaps (``a007`` "open a door" is Charades ``c008`` "Opening a door";
``c007`` "Fixing a door" has no STAR class). STAR's generator, by contrast, worked on
``a``-prefixed Charades numbers internally (its ``actions_with_something_id`` lists
``a126``), which is why the mapping must go through the class *descriptions*: the same
phrase with the gerunds in base form ("Watching/Reading/Looking at a book" -> "watch/read/look
at a book"). All 111 STAR classes match exactly one Charades class this way [checked
against a third-party copy of ``Charades_v1_classes.txt``; unverified against the official
file]. Charades actions outside STAR's space are left out and counted, as STAR's own
preprocessing keeps only its action space.

Events are in seconds, as in Charades and STAR, so no fps is needed. No length filter
(docs/data_formats.md §1.1): STAR's generator's ``max_time``/``min_time`` are not released
[unverified: whether the authors' events.json applied one].
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from gf.benchmarks.star.evaluator import NUM_CHOICES, type_problem
from gf.common.io import DataFileError, atomic_write, atomic_write_json, atomic_write_jsonl, atomic_write_text, load_json
from gf.common.registry import registry
from gf.common.utils import PathLike, describe_ids, finite_number
from gf.datasets.text_files import read_class_lines
from gf.datasets.converters import first_file, path_option, require_questions
from gf.datasets.converters.charades import parse_charades_actions, read_charades_csvs
from gf.datasets.converters.staging import owns, reported_path

__all__ = ["convert", "charades_to_star_ids", "parse_charades_actions"]

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
CLASS_DIRS = (".", "classes", "STAR_classes", "annotations/STAR_classes")
CHARADES_CSVS = ("Charades_v1_train.csv", "Charades_v1_test.csv")
CHARADES_DIRS = (".", "Charades", "charades")

VIS_DB_README = """# STAR features (not produced by `gf prepare star`)

`gf prepare star` writes the annotations only. The `star` builder reads features from
`vis_db/s3d.pth` by default: a `torch.save`d dict {question_id: FloatTensor[T, 1024]}
(S3D, about one vector per second of the question's trimmed clip [start, end]), as in the
Glance-Focus authors' bundle. Put that file (or a link to it) here, or point
`datasets.star.features` at another store keyed by question id (HDF5, a folder of .npy,
webdataset shards). `strID2numID.json` is not needed by gf.
"""


# ---------------------------------------------------------------------------------------
# class files and the Charades -> STAR id map
# ---------------------------------------------------------------------------------------
def _id_lines(path: Path) -> List[Tuple[str, str]]:
    """``"<id> <rest>"`` lines -> [(id, rest)]; every line must have an id."""
    out = []
    for line in read_class_lines(path):
        parts = line.split(None, 1)
        out.append((parts[0], parts[1].strip() if len(parts) > 1 else ""))
    ids = [i for i, _ in out]
    dup = [i for i, n in Counter(ids).items() if n > 1]
    if dup:
        raise DataFileError(f"{path}: id(s) {describe_ids(dup)} appear more than once")
    return out


# Determiners differ between copies of the Charades list ("Taking (some) clothes from
# somewhere"); they never distinguish two classes, so the comparison ignores them.
_IGNORED_WORDS = frozenset({"a", "an", "the", "some"})


def _tokens(description: str) -> List[str]:
    return [t for word in description.lower().split() for t in word.split("/") if t and t not in _IGNORED_WORDS]


def _verb_forms(base: str) -> set:
    """``base`` and its plausible -ing forms (take->taking, sit->sitting, lie->lying)."""
    forms = {base, base + "ing", base + base[-1] + "ing"}
    if base.endswith("ie"):
        forms.add(base[:-2] + "ying")
    if base.endswith("e"):
        forms.add(base[:-1] + "ing")
    return forms


def _same_phrase(star_description: str, charades_description: str) -> bool:
    """STAR's base-form phrase equals Charades' gerund phrase, token by token."""
    a, b = _tokens(star_description), _tokens(charades_description)
    return len(a) == len(b) and all(y in _verb_forms(x) for x, y in zip(a, b))


def charades_to_star_ids(star_classes: Sequence[Tuple[str, str]],
                         charades_classes: Sequence[Tuple[str, str]], *, source: str = "") -> Dict[str, str]:
    """``{charades_id: star_id}`` by description; every STAR class must match exactly one.

    Both arguments are ``[(id, description)]`` (``action_classes.txt`` and
    ``Charades_v1_classes.txt``). Ambiguity or a STAR class without a match is an error:
    a silently wrong map would train on wrong event classes.
    """
    mapping: Dict[str, str] = {}
    unmatched, ambiguous = [], []
    for sid, sdesc in star_classes:
        hits = [cid for cid, cdesc in charades_classes if _same_phrase(sdesc, cdesc)]
        if not hits:
            unmatched.append(f"{sid} {sdesc!r}")
        elif len(hits) > 1:
            ambiguous.append(f"{sid} {sdesc!r} -> {hits}")
        else:
            if hits[0] in mapping:
                ambiguous.append(f"{hits[0]} matches both {mapping[hits[0]]} and {sid}")
            mapping[hits[0]] = sid
    if unmatched or ambiguous:
        raise DataFileError(
            f"{source or 'class files'}: cannot map Charades classes to STAR actions by description: "
            f"{len(unmatched)} STAR class(es) without a Charades match ({'; '.join(unmatched[:5])}), "
            f"{len(ambiguous)} ambiguous ({'; '.join(ambiguous[:5])}). Is charades_classes the "
            f"official Charades_v1_classes.txt (\"c000 Holding some clothes\")?"
        )
    return mapping


# ---------------------------------------------------------------------------------------
# Charades action annotations
# ---------------------------------------------------------------------------------------
def _actions(row: Mapping[str, str], where: str, first_seen: Dict[str, str]) -> List[Tuple[str, float, float]]:
    """A row's actions with their ids as written: a- or c-ids, checked and mapped to STAR's
    classes later, so each id's first ``<file>:<line>`` is kept in ``first_seen`` for the errors."""
    actions = parse_charades_actions(row.get("actions"), f"{where}: column 'actions'")
    for a, _, _ in actions:
        first_seen.setdefault(a, where)
    return actions


# ---------------------------------------------------------------------------------------
# questions
# ---------------------------------------------------------------------------------------
def _convert_question(q: Any, i: int, path: Path) -> Dict[str, Any]:
    qid = q.get("question_id") if isinstance(q, Mapping) else None
    where = f"{path}: record {i} (question_id {qid!r})"
    if not isinstance(q, Mapping):
        raise DataFileError(f"{where}: expected an object, got {type(q).__name__}")
    for key, kind in (("question_id", str), ("question", str), ("video_id", str)):
        if not isinstance(q.get(key), kind) or not q.get(key):
            raise DataFileError(f"{where}: '{key}' must be a non-empty string, got {q.get(key)!r}")
    problem = type_problem(qid)
    if problem:  # scoring reads the type from the id: refused here, not after a training epoch
        raise DataFileError(f"{where}: {problem}")
    start, end = q.get("start"), q.get("end")
    if finite_number(start) is None or finite_number(end) is None:
        raise DataFileError(f"{where}: 'start'/'end' must be numbers of seconds, got {start!r}, {end!r}")
    if end <= start:
        raise DataFileError(f"{where}: clip [{start}, {end}] is empty; end must be after start")
    choices = q.get("choices")
    if not isinstance(choices, list) or len(choices) != NUM_CHOICES:
        n = len(choices) if isinstance(choices, list) else type(choices).__name__
        raise DataFileError(f"{where}: expected {NUM_CHOICES} 'choices', got {n}")
    options = []
    for j, c in enumerate(choices):
        text = c.get("choice") if isinstance(c, Mapping) else None
        if not isinstance(text, str):
            raise DataFileError(f"{where}: choices[{j}] has no string 'choice': {c!r}")
        options.append(text)
    record = {"question_id": qid, "video_id": q["video_id"], "question": q["question"],
              "options": options, "start": start, "end": end}
    if "answer" in q:
        hits = [j for j, o in enumerate(options) if o == q["answer"]]
        if len(hits) != 1:
            what = "matches no choice" if not hits else f"matches choices {hits}"
            raise DataFileError(f"{where}: answer {q['answer']!r} {what} of {options}; the label is the "
                                f"index of the one choice equal to the answer")
        record["answer"] = hits[0]
    return record


def _clip_events(actions: Iterable[Tuple[int, float, float]], start: float, end: float):
    """Actions overlapping [start, end], clipped and re-based; returns (kept, dropped)."""
    kept, dropped = [], 0
    for cls, s, e in actions:
        s2, e2 = max(s, start) - start, min(e, end) - start
        if e2 > s2:
            kept.append([cls, round(s2, 4), round(e2, 4)])
        else:
            dropped += 1
    kept.sort(key=lambda a: (a[1], a[2]))
    return kept, dropped


# ---------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------
def owned_paths(**options: Any) -> List[str]:
    """Every file ``convert`` may write (relative to ``out_dir``); ``vis_db/`` features are the user's."""
    return ([f"txt_db/{s}.jsonl" for s in SPLITS]
            + ["txt_db/events.json", "txt_db/action_mapping.txt", "txt_db/action_classes.txt",
               "vis_db/README.md", "prepare_summary.json"])


def _question_files(raw: Path) -> Dict[str, Path]:
    """The ``STAR_{split}.json`` files present; at least one must be, or ``raw`` is the wrong folder."""
    qa_paths = {s: raw / f"STAR_{s}.json" for s in SPLITS if (raw / f"STAR_{s}.json").is_file()}
    if not qa_paths:
        raise DataFileError(f"{raw}: none of STAR_train.json, STAR_val.json, STAR_test.json is there; "
                            f"--raw must be the folder with STAR's question files")
    return qa_paths


def _star_class_files(raw: Path) -> Tuple[Path, Path, List[Tuple[str, str]]]:
    """STAR's class files and its class list; the two files must list the same ids in the same
    order, since the class index written to events.json is a position in that list."""
    action_classes = first_file(raw / d / "action_classes.txt" for d in CLASS_DIRS)
    action_mapping = first_file(raw / d / "action_mapping.txt" for d in CLASS_DIRS)
    if action_classes is None or action_mapping is None:
        raise DataFileError(f"{raw}: action_classes.txt and action_mapping.txt (STAR's classes.zip) not found "
                            f"in any of {', '.join(CLASS_DIRS)}")
    star_classes = _id_lines(action_classes)
    mapping_ids = [i for i, _ in _id_lines(action_mapping)]
    if mapping_ids != [i for i, _ in star_classes]:
        raise DataFileError(f"{action_mapping} and {action_classes} list different action ids in different "
                            f"orders; they must be the same {len(star_classes)} ids")
    return action_classes, action_mapping, star_classes


def _charades_csv_paths(raw: Path, given: List[Path]) -> List[Path]:
    """The Charades CSVs given, or the default ones found under ``raw``; STAR needs both train and test."""
    csv_paths = given or [p for p in (first_file(raw / d / n for d in CHARADES_DIRS) for n in CHARADES_CSVS) if p]
    if not csv_paths:
        raise DataFileError(f"{raw}: no Charades action annotations; pass charades_csv= (Charades_v1_train.csv "
                            f"and Charades_v1_test.csv: STAR's videos come from both)")
    return csv_paths


def _unknown_ids(first_seen: Mapping[str, str], known: Iterable[str], listed_in: Path) -> None:
    """An action id in no class list is a typo or a foreign file, not an action outside STAR:
    it is an error naming where it first occurs, never dropped and counted."""
    known = set(known)
    unknown = [a for a in first_seen if a not in known]
    if unknown:
        raise DataFileError(f"{first_seen[unknown[0]]}: column 'actions': action id {unknown[0]!r} is not in "
                            f"{listed_in}" + (f" (nor are {describe_ids(unknown[1:])})" if unknown[1:] else "")
                            + "; fix the id or pass the class list the CSV was written with")


def _id_space(raw: Path, first_seen: Mapping[str, str], csv_paths: List[Path],
              star_classes: List[Tuple[str, str]], action_classes: Path,
              charades_classes: Optional[Path]) -> Tuple[Dict[str, str], str, Optional[Path]]:
    """Which id space the CSVs use, and the map from their ids to STAR's; returns
    (to_star, id_space, classes_path). ``first_seen`` is ``{action id: "<file>:<line>"}`` of its
    first use. The CSVs use STAR's a-ids or Charades' c-ids throughout, every id in its class
    list; Charades c-ids map only through the class descriptions."""
    star_ids = [a for a in first_seen if a.startswith("a")]
    other_ids = [a for a in first_seen if not a.startswith("a")]
    if star_ids and other_ids:
        raise DataFileError(f"{first_seen[star_ids[0]]}: column 'actions': action id {star_ids[0]!r} is a STAR "
                            f"a-id, but {first_seen[other_ids[0]]} uses {other_ids[0]!r}; the Charades CSVs must "
                            f"use STAR's a-ids or Charades' c-ids throughout")
    if star_ids:
        _unknown_ids(first_seen, (sid for sid, _ in star_classes), action_classes)
        return {a: a for a in first_seen}, "star", None
    classes_path = charades_classes or first_file(raw / d / "Charades_v1_classes.txt" for d in CHARADES_DIRS)
    if classes_path is None:  # a given charades_classes is a file (path_option checked it)
        raise DataFileError(f"{', '.join(map(str, csv_paths))} use Charades c-ids, which are not STAR's a-ids "
                            f"(STAR renumbers the 111 classes it keeps), and Charades_v1_classes.txt is not in "
                            f"{raw} (nor its {', '.join(d for d in CHARADES_DIRS if d != '.')} folder); pass "
                            f"charades_classes=path/to/Charades_v1_classes.txt (relative to the current folder) "
                            f"to map them by description")
    charades = _id_lines(classes_path)
    _unknown_ids(first_seen, (cid for cid, _ in charades), classes_path)
    to_star = charades_to_star_ids(star_classes, charades, source=f"{classes_path} vs {action_classes}")
    return to_star, "charades", classes_path


def _read_questions(qa_paths: Mapping[str, Path]):
    """Each split's question records, and each question's clip ``(video, start, end, file)``;
    returns (records, clip_of). Question ids must be unique across splits because events.json
    and the features are keyed by them."""
    records: Dict[str, List[Dict[str, Any]]] = {}
    clip_of: Dict[str, Tuple[str, float, float, str]] = {}
    for split, path in qa_paths.items():
        raw_qs = load_json(path, f"STAR {split} questions")
        if not isinstance(raw_qs, list):
            raise DataFileError(f"{path}: expected a JSON list of questions, got {type(raw_qs).__name__}")
        require_questions(raw_qs, path, split, f"give the release's full {path.name}, or move it out of the "
                                               f"--raw folder to convert only the other splits")
        recs = [_convert_question(q, i, path) for i, q in enumerate(raw_qs)]
        labelled = sum("answer" in r for r in recs)
        if 0 < labelled < len(recs):
            raise DataFileError(f"{path}: {labelled} of {len(recs)} questions have an 'answer'; a split is "
                                f"fully labelled or fully unlabelled (STAR_test.json has no answers)")
        for r in recs:
            clip = (r["video_id"], r["start"], r["end"], str(path))
            old = clip_of.get(r["question_id"])
            if old is not None:
                raise DataFileError(f"{path}: question_id {r['question_id']!r} appears again (first in {old[3]}); "
                                    f"events.json and features are keyed by question id, so ids must be unique "
                                    f"across splits")
            clip_of[r["question_id"]] = clip
        records[split] = recs
    return records, clip_of


def _question_events(videos: Mapping[str, List[Tuple[str, float, float]]], to_star: Mapping[str, str],
                     star_index: Mapping[str, int], clip_of: Mapping[str, Tuple[str, float, float, str]]):
    """Each question's events: its video's STAR actions clipped to the question's clip; returns
    (events, actions outside STAR's space, actions dropped outside the clip, questions without events)."""
    star_actions = {vid: [(star_index[to_star[a]], s, e) for a, s, e in acts if a in to_star]
                    for vid, acts in videos.items()}
    non_star = sum(a not in to_star for acts in videos.values() for a, _, _ in acts)
    events: Dict[str, Dict[str, Any]] = {}
    dropped = no_events = 0
    for qid, (vid, start, end, _) in clip_of.items():
        kept, n_drop = _clip_events(star_actions[vid], start, end)
        dropped += n_drop
        no_events += not kept
        events[qid] = {"duration": round(end - start, 4), "actions": kept}
    return events, non_star, dropped, no_events


def _write_layout(out: Path, records: Mapping[str, List[Dict[str, Any]]], events: Mapping[str, Any],
                  class_files: Sequence[Path]) -> None:
    """Write the authors' layout: the split files, events.json, the class files byte for byte
    (the builder reads them as released) and the vis_db README."""
    txt = out / "txt_db"
    for split, recs in records.items():
        atomic_write_jsonl(txt / f"{split}.jsonl", recs, ensure_ascii=False)
    atomic_write_json(txt / "events.json", events, indent=None)
    for src in class_files:
        with atomic_write(txt / src.name, "wb") as fh:
            fh.write(src.read_bytes())
    atomic_write_text(out / "vis_db" / "README.md", VIS_DB_README)


@registry.register_converter("star")
@owns(owned_paths)
def convert(raw_dir: PathLike, out_dir: PathLike, charades_csv: Union[None, PathLike, Sequence[PathLike]] = None,
            charades_classes: Optional[PathLike] = None) -> Dict[str, Any]:
    """Convert the STAR release in ``raw_dir`` into ``out_dir/{txt_db,vis_db}``; returns a summary.

    ``charades_csv`` (one or more paths) and ``charades_classes``: the options of
    docs/data_formats.md §1.1, with the defaults found there.
    """
    raw, out = Path(raw_dir), Path(out_dir)
    csv_given = path_option("star", "charades_csv", charades_csv, many=True, raw=raw)
    classes_given = next(iter(path_option("star", "charades_classes", charades_classes, raw=raw)), None)
    if not raw.is_dir():
        raise DataFileError(f"STAR raw folder not found: {raw}")
    qa_paths = _question_files(raw)
    action_classes, action_mapping, star_classes = _star_class_files(raw)
    star_index = {sid: k for k, (sid, _) in enumerate(star_classes)}
    csv_paths = _charades_csv_paths(raw, csv_given)
    first_seen: Dict[str, str] = {}
    videos = read_charades_csvs(csv_paths, lambda row, where: _actions(row, where, first_seen))
    to_star, id_space, classes_path = _id_space(raw, first_seen, csv_paths, star_classes, action_classes,
                                                classes_given)
    records, clip_of = _read_questions(qa_paths)
    no_video = sorted({vid for vid, _, _, _ in clip_of.values() if vid not in videos})
    if no_video:
        raise DataFileError(f"{len(no_video)} STAR video(s) are not in {', '.join(map(str, csv_paths))}: "
                            f"{describe_ids(no_video)}; pass both Charades_v1_train.csv and Charades_v1_test.csv")
    events, non_star, dropped, no_events = _question_events(videos, to_star, star_index, clip_of)
    _write_layout(out, records, events, (action_mapping, action_classes))
    summary = {
        "benchmark": "star",
        "raw_dir": str(raw), "out_dir": str(reported_path(out)),
        "splits": {s: {"questions": len(r), "labelled": sum("answer" in x for x in r),
                       "by_type": dict(Counter(x["question_id"].split("_")[0] for x in r))}
                   for s, r in records.items()},
        "action_classes": len(star_classes),
        "action_id_space": id_space,
        "charades_csv": [str(p) for p in csv_paths],
        "charades_classes": str(classes_path) if classes_path else None,
        "charades_actions_outside_star": non_star,
        "events": {"questions": len(events), "events": sum(len(e["actions"]) for e in events.values()),
                   "dropped_outside_clip": dropped, "questions_without_events": no_events},
    }
    atomic_write_json(out / "prepare_summary.json", summary)
    if dropped or no_events:
        logger.warning("star: %d action(s) lay outside their question's clip and were dropped; %d question(s) "
                       "have no events", dropped, no_events)
    return summary
