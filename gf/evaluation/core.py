"""Scoring machinery shared by the per-benchmark evaluators.

Why one place: every benchmark scores the same way at heart (a question is right when the
predicted index equals the labelled one) and must apply the same rules about unlabelled
questions, out-of-vocabulary answers, incomplete prediction sets and how accuracies are
rounded, so that a STAR report and an AGQA report mean the same thing by "overall".
Only the category breakdowns differ, and those live in the benchmark modules.
"""
from __future__ import annotations

from numbers import Integral
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence

from gf.common.errors import EvaluationError, PlainMessage
from gf.common.utils import describe_ids, repeated

__all__ = [
    "EvaluationError",
    "MissingPredictionError",
    "OOV_ANSWER",
    "RECORD_KEYS",
    "accuracy",
    "base_report",
    "check_complete",
    "describe_ids",
    "normalise_predictions",
    "note_out_of_vocabulary",
    "nothing_to_score",
    "outcome",
    "score_by_category",
    "validate_record",
    "Tally",
]

#: Answer index that marks a ground truth outside the answer vocabulary (open-ended
#: benchmarks). Such a question is always counted wrong, never dropped (docs/data_formats.md, B8).
OOV_ANSWER = -1

#: The only keys a prediction record may carry; anything else goes under ``fields``.
RECORD_KEYS = ("prediction", "answer", "fields")


class MissingPredictionError(PlainMessage, EvaluationError, KeyError):
    """A question that must be scored has no prediction.

    Also a ``KeyError``, because that is what the official NExT-QA script raises in the
    same situation and callers ported from it may catch that.
    """


def _as_int(value: Any) -> Optional[int]:
    """``int(value)`` for true integers (numpy ones included), ``None`` otherwise.

    ``bool`` is refused on purpose: ``True`` as a prediction is a bug upstream, not 1.
    """
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    return None


def validate_record(
    qid: str,
    record: Any,
    *,
    where: str,
    error: type = EvaluationError,
    num_classes: Optional[int] = None,
    open_ended: bool = True,
    bound: Optional[str] = None,
) -> Dict[str, Any]:
    """Check one prediction record and return it as plain ``{prediction, answer, fields}``.

    ``num_classes`` bounds both indices (choices for multiple choice, vocabulary size for
    open-ended); ``bound`` says where that number comes from when it is not the benchmark's
    (a predictions file's own ``answer_vocab``), so an index out of range names its real
    cause. Only open-ended benchmarks may store :data:`OOV_ANSWER` as the answer.
    """
    prefix = f"{where}: question {qid!r}"
    if not isinstance(record, Mapping):
        raise error(f"{prefix}: record must be an object with 'prediction', 'answer' and "
                    f"'fields', got {type(record).__name__}")
    unknown = [k for k in record if k not in RECORD_KEYS]
    if unknown:
        raise error(f"{prefix}: unknown key(s) {describe_ids(unknown)}; a record holds only "
                    f"{', '.join(RECORD_KEYS)} (put category information under 'fields')")
    if "prediction" not in record:
        raise error(f"{prefix}: missing key 'prediction'")
    if "answer" not in record:
        raise error(f"{prefix}: missing key 'answer' (use null for an unlabelled question)")
    prediction = _as_int(record["prediction"])
    if prediction is None or prediction < 0:
        raise error(f"{prefix}: 'prediction' must be a non-negative integer index, "
                    f"got {record['prediction']!r}")
    answer = record["answer"]
    if answer is not None:
        answer = _as_int(answer)
        lowest = OOV_ANSWER if open_ended else 0
        if answer is None or answer < lowest:
            allowed = ("a non-negative integer, -1 for an answer outside the vocabulary, "
                       "or null if unlabelled") if open_ended else \
                "a non-negative integer choice index, or null if unlabelled"
            raise error(f"{prefix}: 'answer' must be {allowed}; got {record['answer']!r}")
    if num_classes is not None:
        for key, value in (("prediction", prediction), ("answer", answer)):
            if value is not None and value >= num_classes:
                raise error(f"{prefix}: '{key}' {value} is out of range; " + (bound or (
                    f"this benchmark has {num_classes} {'answers' if open_ended else 'choices'} "
                    f"(indices 0..{num_classes - 1})")))
    fields = {} if record.get("fields") is None else record["fields"]
    if not isinstance(fields, Mapping):
        raise error(f"{prefix}: 'fields' must be an object, got {type(fields).__name__}")
    return {"prediction": prediction, "answer": answer, "fields": dict(fields)}


def normalise_predictions(
    predictions: Any,
    *,
    benchmark: str,
    num_classes: Optional[int] = None,
    open_ended: bool = True,
    expected_ids: Optional[Iterable[Any]] = None,
) -> Dict[str, Dict[str, Any]]:
    """Validate every record and key it by ``str(question_id)``; with ``expected_ids``, also
    refuse a set that does not cover exactly those questions (:func:`check_complete`).

    ``predictions`` is a mapping ``question_id -> record`` or a loaded ``PredictionsFile``.

    Ids are compared as strings everywhere because a predictions file (JSON) can only
    hold string keys; two ids that collide once stringified (``1`` and ``"1"``) are a
    duplicate, reported rather than one silently overwriting the other.
    """
    if not isinstance(predictions, Mapping) and hasattr(predictions, "predictions"):
        # A loaded PredictionsFile: accept it, but not one for another benchmark.
        other = getattr(predictions, "benchmark", benchmark)
        if other != benchmark:
            raise EvaluationError(f"{getattr(predictions, 'path', None) or 'predictions'} holds "
                                  f"{other!r} predictions; this is the {benchmark!r} evaluator")
        predictions = predictions.predictions
    if not isinstance(predictions, Mapping):
        raise EvaluationError(f"{benchmark}: predictions must be a mapping question_id -> "
                              f"record, got {type(predictions).__name__}")
    out: Dict[str, Dict[str, Any]] = {}
    duplicates: List[str] = []
    for qid, record in predictions.items():
        key = str(qid)
        if key in out:
            duplicates.append(key)
            continue
        out[key] = validate_record(key, record, where=f"{benchmark} predictions",
                                   num_classes=num_classes, open_ended=open_ended)
    if duplicates:
        raise EvaluationError(f"{benchmark}: duplicate question id(s) {describe_ids(duplicates)}; "
                              f"each question must be predicted exactly once")
    check_complete(out, expected_ids, benchmark)
    return out


def check_complete(ids: Iterable[str], expected_ids: Optional[Iterable[Any]], benchmark: str, *,
                   skipped: Optional[Mapping[str, Any]] = None,
                   advice: str = "Predict every question of the split exactly once, or pass the matching "
                                 "expected_ids.") -> None:
    """Refuse a prediction set that does not cover exactly the split's questions.

    Why: a silently missing or surplus question changes every accuracy a little, and
    nothing downstream could tell. ``skipped`` (:func:`gf.datasets.videoqa.skipped_questions`)
    names the questions a skip file took out of the split: a prediction for one of them is
    not "not in the split" but left out by that file, and the message says so. ``advice``
    ends the message when questions are missing or surplus; the default speaks to an API
    caller, who chose ``expected_ids``.
    """
    if expected_ids is None:
        return
    expected_list = [str(e) for e in expected_ids]
    dups = repeated(expected_list)
    if dups:
        raise EvaluationError(f"{benchmark}: expected_ids lists question id(s) more than once: "
                              f"{describe_ids(dups)}")
    expected = dict.fromkeys(expected_list)
    got = list(ids)
    got_set = set(got)
    missing = [e for e in expected if e not in got_set]
    left_out = set((skipped or {}).get("ids") or ())
    dropped = [g for g in got if g not in expected and g in left_out]
    extra = [g for g in got if g not in expected and g not in left_out]
    problems = []
    if missing:
        problems.append(f"{len(missing)} question(s) of the split have no prediction: "
                        f"{describe_ids(missing)}")
    if extra:
        problems.append(f"{len(extra)} prediction(s) are for questions not in the split: "
                        f"{describe_ids(extra)}")
    if dropped:
        problems.append(f"{len(dropped)} prediction(s) are for questions the skip file {skipped.get('skip_file')} "
                        f"leaves out of the split: {describe_ids(dropped)}; drop skip_file from the config to score "
                        f"them, or score a file predicted with that skip file")
    if problems:
        cls = MissingPredictionError if missing else EvaluationError
        raise cls(f"{benchmark}: predictions do not match the split; " + "; ".join(problems) + "."
                  + (f" {advice}" if missing or extra else ""))


def outcome(record: Mapping[str, Any]) -> Optional[bool]:
    """True/False for a labelled question, ``None`` when unlabelled.

    An out-of-vocabulary answer (-1) is wrong whatever was predicted.
    """
    answer = record["answer"]
    if answer is None:
        return None
    if answer == OOV_ANSWER:
        return False
    return record["prediction"] == answer


def accuracy(correct: int, total: int) -> Optional[float]:
    """Percent, computed as ``correct * 100.0 / total`` (the NExT-QA script's exact float
    expression, so its ``'{:.2f}'`` output is reproduced bit for bit); ``None`` when there
    is nothing to score, because 0% would claim a result that was never measured."""
    if total == 0:
        return None
    return correct * 100.0 / total


class Tally:
    """Correct / scored / unlabelled counts per category, in a stable order.

    Categories named in ``order`` appear even with zero questions (accuracy ``None``);
    others are appended in the order first seen, unless ``sort_new`` is set.
    """

    def __init__(self, order: Sequence[str] = (), sort_new: bool = False):
        self._cells: Dict[str, List[int]] = {name: [0, 0, 0] for name in order}
        self._fixed = len(self._cells)
        self._sort_new = sort_new

    def add(self, category: str, result: Optional[bool]) -> None:
        cell = self._cells.setdefault(category, [0, 0, 0])
        if result is None:
            cell[2] += 1
        else:
            cell[1] += 1
            cell[0] += int(result)

    def __contains__(self, category: str) -> bool:
        return category in self._cells

    def as_dict(self) -> Dict[str, Dict[str, Any]]:
        names = list(self._cells)
        if self._sort_new:
            names = names[: self._fixed] + sorted(names[self._fixed:])
        return {
            name: {
                "accuracy": accuracy(self._cells[name][0], self._cells[name][1]),
                "correct": self._cells[name][0],
                "total": self._cells[name][1],
                "unlabelled": self._cells[name][2],
            }
            for name in names
        }


def base_report(benchmark: str, outcomes: Iterable[Optional[bool]]) -> Dict[str, Any]:
    """The fields every report has.

    ``num_questions`` counts the *scored* (labelled) questions, so that
    ``overall == num_correct * 100 / num_questions``; unlabelled ones are counted
    separately and ``num_predictions`` is the total.
    """
    outcomes = list(outcomes)
    if not outcomes:
        raise EvaluationError(nothing_to_score(benchmark))
    scored = [o for o in outcomes if o is not None]
    correct = sum(1 for o in scored if o)
    notes = []
    unlabelled = len(outcomes) - len(scored)
    if unlabelled and not scored:
        notes.append(f"none of the {unlabelled} question(s) has a label (e.g. a test split whose answers are "
                     f"hidden): nothing was scored, so every accuracy is n/a. Score them on the benchmark's "
                     f"evaluation server.")
    elif unlabelled:
        notes.append(f"{unlabelled} of the {len(outcomes)} question(s) have no label; they are counted but not "
                     f"scored (accuracies are over the {len(scored)} labelled ones).")
    return {
        "benchmark": benchmark,
        "metric": "accuracy (%)",
        "primary_metric": "overall",
        "overall": accuracy(correct, len(scored)),
        "num_questions": len(scored),
        "num_correct": correct,
        "unlabelled": unlabelled,
        "num_predictions": len(outcomes),
        "breakdowns": {},
        "notes": notes,
    }


def score_by_category(benchmark: str, records: Mapping[str, Mapping[str, Any]],
                      categories: Callable[[str, Mapping[str, Any]], Mapping[str, Sequence[str]]],
                      tallies: Mapping[str, Tally]) -> Dict[str, Any]:
    """:func:`base_report` with ``breakdowns``: each record counts in the cells
    ``categories(qid, record)`` names (``{breakdown: [cell, ...]}``), the same function an
    evaluator's ``question_categories`` answers with, so the two cannot disagree."""
    outcomes = []
    for qid, record in records.items():
        cells = categories(qid, record)
        result = outcome(record)
        outcomes.append(result)
        for breakdown, names in cells.items():
            for name in names:
                tallies[breakdown].add(name, result)
    report = base_report(benchmark, outcomes)
    report["breakdowns"] = {breakdown: tally.as_dict() for breakdown, tally in tallies.items()}
    return report


def note_out_of_vocabulary(report: Dict[str, Any], records: Mapping[str, Mapping[str, Any]]) -> None:
    """Count the answers outside the vocabulary into ``report`` (open-ended benchmarks), with
    a note when there are any: they are scored wrong, which lowers every accuracy."""
    oov = sum(1 for r in records.values() if r["answer"] == OOV_ANSWER)
    report["out_of_vocabulary_answers"] = oov
    if oov:
        report["notes"].append(f"{oov} question(s) have an answer outside the vocabulary (-1); "
                               f"they are scored wrong.")


def nothing_to_score(benchmark: str, where: Optional[str] = None) -> str:
    """The message for an empty prediction set: zero predictions is never a result."""
    source = f"{where} holds no predictions" if where else "no predictions were given"
    return (f"{benchmark}: nothing to score: {source} (0 questions). An empty prediction set is not a "
            f"result; check that the model was run on the split and that the split has questions.")
