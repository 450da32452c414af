"""gf's predictions file: everything needed to re-score a run without the model or data.

Why self-contained: the benchmark breakdowns (question type, reasoning types ...) are
stored with each prediction, so ``gf evaluate`` / the leaderboard can recompute every
figure years later from this one file, and a file can be checked on its own.

The layout (version 1: keys, ``answer`` null or -1, the optional ``provenance`` with
``gf_version``), and how a leaderboard scores such a file against a split:
docs/leaderboards.md, "Predictions files". ``provenance`` is optional because files
written before gf recorded it have none.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

from gf.common.io import (DataFileError, PathLike, RepeatedKeysError, atomic_write_json, load_json,
                          no_repeated_keys)
from gf.common.utils import repeated
from gf.evaluation.core import EvaluationError, describe_ids, validate_record

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PredictionsFile",
    "PredictionsFileError",
    "check_provenance",
    "is_predictions_file",
    "load_json_strict",
    "load_predictions",
    "match_split",
    "read_json_object",
    "save_predictions",
]

FORMAT_NAME = "gf-predictions"
FORMAT_VERSION = 1
#: A file's keys, in the order :meth:`PredictionsFile.to_json` writes them.
_TOP_KEYS = ("format", "version", "benchmark", "split", "answer_vocab", "predictions", "provenance")


class PredictionsFileError(DataFileError, EvaluationError):
    """A predictions file (or what is about to be written as one) is malformed.

    Both a :class:`DataFileError` (a bad file) and an :class:`EvaluationError` (cannot be
    scored), so either ``except`` catches it; the CLI exits with the evaluation code."""

    exit_code = EvaluationError.exit_code


@dataclass
class PredictionsFile:
    """A loaded predictions file; ``predictions`` is keyed by question id (str)."""

    benchmark: str
    split: str
    predictions: Dict[str, Dict[str, Any]]
    answer_vocab: Optional[List[str]] = None
    format: str = FORMAT_NAME
    version: int = FORMAT_VERSION
    path: Optional[str] = field(default=None, compare=False)
    #: Where the predictions come from (gf version, checkpoint, its sha256, ...); None in
    #: files written before gf recorded it.
    provenance: Optional[Dict[str, Any]] = None

    def to_json(self) -> Dict[str, Any]:
        data = {key: getattr(self, key) for key in _TOP_KEYS}
        if self.provenance is None:
            del data["provenance"]
        return data


def check_provenance(value: Any, where: str, error: type = PredictionsFileError) -> Optional[Dict[str, Any]]:
    """``value`` as a plain JSON object (a copy), or None; anything else is ``error``.

    Provenance is free-form (``checkpoint``, ``checkpoint_sha256``, ``split_fingerprint``,
    ...), but it must be a mapping with string keys that JSON can hold exactly (no NaN),
    because it is written into predictions files and reports."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise error(f"{where}: 'provenance' must be an object (e.g. {{\"checkpoint\": ..., "
                    f"\"checkpoint_sha256\": ...}}), got {type(value).__name__}")
    bad = [k for k in value if not isinstance(k, str) or not k]
    if bad:
        raise error(f"{where}: 'provenance' keys must be non-empty strings, got {describe_ids(bad)}")
    try:
        return json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as e:
        raise error(f"{where}: 'provenance' must hold only JSON values (strings, numbers, lists, "
                    f"objects, null; no NaN): {e}") from None


def _check_vocab(vocab: Any, where: str) -> Optional[List[str]]:
    if vocab is None:
        return None
    if not isinstance(vocab, list) or not all(isinstance(a, str) for a in vocab):
        raise PredictionsFileError(f"{where}: 'answer_vocab' must be null or a list of strings")
    dups = repeated(vocab)
    if dups:
        raise PredictionsFileError(f"{where}: 'answer_vocab' lists answer(s) more than once: "
                                   f"{describe_ids(dups)}; indices would be ambiguous")
    return list(vocab)


def _vocab_bound(size: int) -> str:
    """Why an index is out of range of the file's own vocabulary. Not "this benchmark has N
    answers": a multiple-choice file that carries a stray vocabulary would be told its
    benchmark has that many answers."""
    listed = f"lists {size} answer(s) (indices 0..{size - 1})" if size else "is empty"
    return f"the file's answer_vocab {listed}; a multiple-choice benchmark's file has answer_vocab null"


def _check_records(pairs: Iterable[tuple], vocab: Optional[List[str]], where: str) -> Dict[str, Dict[str, Any]]:
    """Validate ``(qid, record)`` pairs, refusing duplicates (after ``str()``)."""
    out: Dict[str, Dict[str, Any]] = {}
    dups: List[str] = []
    for qid, record in pairs:
        if not isinstance(qid, (str, Integral)) or isinstance(qid, bool):
            raise PredictionsFileError(f"{where}: question id {qid!r} must be a string or an integer")
        key = str(qid)
        if key in out:
            dups.append(key)
            continue
        out[key] = validate_record(
            key, record, where=where, error=PredictionsFileError,
            num_classes=None if vocab is None else len(vocab),
            # Benchmark-specific ranges (MC choices, OOV allowed or not) are checked by
            # the evaluator, which knows the benchmark; here only the file's own rules.
            open_ended=True, bound=None if vocab is None else _vocab_bound(len(vocab)),
        )
    if dups:
        raise PredictionsFileError(f"{where}: duplicate question id(s) {describe_ids(dups)}; "
                                   f"each question must appear once")
    return out


def _pairs(predictions: Any, where: str) -> Iterable[tuple]:
    if isinstance(predictions, Mapping):
        return predictions.items()
    if isinstance(predictions, (str, bytes)):
        raise PredictionsFileError(f"{where}: predictions must be a mapping or a list of records")
    pairs = []
    for i, rec in enumerate(predictions):
        if not isinstance(rec, Mapping) or "question_id" not in rec:
            raise PredictionsFileError(f"{where}: item {i} of the predictions list must be a "
                                       f"record with a 'question_id' key")
        pairs.append((rec["question_id"], {k: v for k, v in rec.items() if k != "question_id"}))
    return pairs


def save_predictions(
    path: PathLike,
    benchmark: str,
    split: str,
    predictions: Union[Mapping[Any, Mapping[str, Any]], Iterable[Mapping[str, Any]]],
    answer_vocab: Optional[List[str]] = None,
    *,
    provenance: Optional[Mapping[str, Any]] = None,
) -> PredictionsFile:
    """Validate and write a predictions file atomically; returns what was written.

    ``predictions`` is ``{question_id: {"prediction", "answer", "fields"}}`` or a list
    of such records each carrying its ``question_id`` (duplicates are an error).
    ``provenance`` is stored with ``gf_version``, so a later report can say what it scored.
    """
    from gf.version import __version__

    where = f"predictions for {path}"
    for key, value in (("benchmark", benchmark), ("split", split)):
        if not isinstance(value, str) or not value:
            raise PredictionsFileError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    vocab = _check_vocab(answer_vocab, where)
    records = _check_records(_pairs(predictions, where), vocab, where)
    record = {"gf_version": __version__}
    record.update(check_provenance(provenance, where) or {})
    pf = PredictionsFile(benchmark=benchmark, split=split, predictions=records,
                         answer_vocab=vocab, path=str(path), provenance=record)
    atomic_write_json(path, pf.to_json(), indent=None, allow_nan=False)
    return pf


def load_json_strict(path: PathLike, what: str) -> Any:
    """Read JSON (:func:`~gf.common.io.load_json`), refusing duplicate object keys (named in
    the error); every error is a :class:`PredictionsFileError`."""
    try:
        return load_json(path, what, object_pairs_hook=no_repeated_keys)
    except RepeatedKeysError as e:
        raise PredictionsFileError(f"{Path(path)}: duplicate key(s) {describe_ids(e.keys)}; each "
                                   f"question id may appear only once") from None
    except DataFileError as e:  # missing, not UTF-8 or malformed
        raise PredictionsFileError(str(e)) from e.__cause__


def load_predictions(path: PathLike) -> PredictionsFile:
    """Read and fully validate a predictions file; errors name the file and the id/key."""
    data = load_json_strict(path, "predictions file")
    where = str(path)
    if not isinstance(data, dict):
        raise PredictionsFileError(f"{where}: top level must be an object, got {type(data).__name__}")
    if data.get("format") != FORMAT_NAME:
        raise PredictionsFileError(f"{where}: 'format' is {data.get('format')!r}, expected "
                                   f"{FORMAT_NAME!r}; this is not a gf predictions file")
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise PredictionsFileError(f"{where}: 'version' {version!r} is not supported (this gf reads "
                                   f"version {FORMAT_VERSION}); use the gf that wrote it")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise PredictionsFileError(f"{where}: unknown top-level key(s) {describe_ids(unknown)}; "
                                   f"expected {', '.join(_TOP_KEYS)}")
    for key in ("benchmark", "split"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise PredictionsFileError(f"{where}: '{key}' must be a non-empty string, got {data.get(key)!r}")
    if not isinstance(data.get("predictions"), dict):
        raise PredictionsFileError(f"{where}: 'predictions' must be an object question_id -> record")
    vocab = _check_vocab(data.get("answer_vocab"), where)
    records = _check_records(data["predictions"].items(), vocab, where)
    provenance = check_provenance(data.get("provenance"), where)
    return PredictionsFile(benchmark=data["benchmark"], split=data["split"], predictions=records,
                           answer_vocab=vocab, path=where, provenance=provenance)


def read_json_object(path: PathLike) -> Optional[Dict[str, Any]]:
    """The JSON object in the existing file ``path``, or None when it is not one. Why the
    peek at the first bytes: a checkpoint or a video given by mistake is never read whole."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            head = fh.read(64).lstrip()
        if not head.startswith(b"{"):
            return None  # not a JSON object (a checkpoint, a text file, ...)
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_predictions_file(path: PathLike) -> bool:
    """Whether ``path`` is an existing file that declares itself a gf predictions file
    (``"format": "gf-predictions"``); its predictions are not validated."""
    data = read_json_object(path)
    return data is not None and data.get("format") == FORMAT_NAME


def match_split(pf: PredictionsFile, split_records: Iterable[Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """``pf``'s records checked against the split's annotation records, with the split's
    category fields filled in (NExT-QA's official format has none of its own).

    Why: a file is scored against the split, never against the labels it carries; a record
    whose answer (or category) differs from the split's annotation was made for other
    annotations, was relabelled, or carries labels the split hides, and scoring it would
    report the file's labels under the split's name, so it is refused. A question
    unlabelled in both (a test split whose labels are hidden) passes. Questions the split
    lacks are left to the coverage check, which names them all."""
    where = pf.path or "predictions"
    records = {str(r["question_id"]): r for r in split_records}
    for qid, record in pf.predictions.items():
        mine = records.get(qid)
        if mine is None:
            continue
        if record.get("answer") != mine.get("answer"):
            raise EvaluationError(
                f"{where}: question {qid!r} has answer {record.get('answer')!r} but the split's annotation says "
                f"{mine.get('answer')!r}: the file was made for other annotations (or carries labels the split "
                f"hides), and it is scored with the split's labels. Give the config of the annotations it was "
                f"made for, or predict this split again.")
        fields = record.get("fields") or {}
        differing = [k for k, v in (mine.get("fields") or {}).items() if k in fields and fields[k] != v]
        if differing:
            raise EvaluationError(f"{where}: question {qid!r}: fields {', '.join(differing)} differ from the "
                                  f"split's annotation; categories come from the split")
    return {qid: dict(r, fields={**(r.get("fields") or {}), **(records[qid].get("fields") or {})})
            if qid in records else r for qid, r in pf.predictions.items()}
