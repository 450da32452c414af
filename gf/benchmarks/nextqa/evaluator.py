"""NExT-QA (multiple choice) scoring, figure for figure as the official ``eval_mc.py``.

The official procedure: docs/data_formats.md §4.3. :func:`official_table` prints exactly
what the script prints, so a gf figure can be pasted next to a published one.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from gf.common.io import PathLike, atomic_write_json
from gf.common.registry import registry
from gf.evaluation.base import Evaluator
from gf.evaluation.core import (EvaluationError, MissingPredictionError, Tally, base_report, describe_ids,
                                normalise_predictions, outcome, validate_record)
from gf.evaluation.predictions import PredictionsFileError, load_json_strict

__all__ = [
    "BENCHMARK",
    "GROUPS",
    "NUM_CHOICES",
    "evaluate",
    "evaluate_against_csv",
    "official_table",
    "read_official_results",
    "write_official_results",
]

BENCHMARK = "nextqa"
NUM_CHOICES = 5
GROUPS = ("CW", "CH", "TN", "TC", "DC", "DL", "DO")
SUPER_GROUPS = ("C", "T", "D")
#: Raw CSV type -> scored group; the official script folds "previous" into "next".
MERGED_TYPES = {"TP": "TN"}
#: Column titles of the official printout, in its order.
OFFICIAL_NAMES = {"CW": "Why", "CH": "How", "TN": "Bef&Aft", "TC": "When", "DC": "Cnt",
                  "DL": "Loc", "DO": "Other", "C": "Acc_C", "T": "Acc_T", "D": "Acc_D"}


def _group(qtype: Any, where: str) -> str:
    group = MERGED_TYPES.get(qtype, qtype)
    if group not in GROUPS:
        raise EvaluationError(f"{where}: question type {qtype!r} is not a NExT-QA type "
                              f"({', '.join(GROUPS + tuple(MERGED_TYPES))})")
    return group


def _report(outcomes: List[Tuple[str, Optional[bool]]]) -> Dict[str, Any]:
    """Build the report from ``(group, outcome)`` pairs, whatever their source."""
    by_group = Tally(order=GROUPS)
    by_super = Tally(order=SUPER_GROUPS)
    for group, result in outcomes:
        by_group.add(group, result)
        by_super.add(group[0], result)
    report = base_report(BENCHMARK, (r for _, r in outcomes))
    report["breakdowns"] = {"type": by_group.as_dict(), "super_type": by_super.as_dict()}
    report["notes"].append("TN includes TP (previous) questions, as in the official eval_mc.py.")
    return report


def evaluate(predictions: Mapping[str, Mapping[str, Any]], *,
             expected_ids: Optional[Iterable[Any]] = None) -> Dict[str, Any]:
    """Score gf predictions keyed ``"<video>_<qid>"`` with ``fields.type`` from the CSV."""
    records = normalise_predictions(predictions, benchmark=BENCHMARK,
                                    num_classes=NUM_CHOICES, open_ended=False, expected_ids=expected_ids)
    return _report([(_categories(qid, record)["type"][0], outcome(record)) for qid, record in records.items()])


def _categories(qid: Any, record: Mapping[str, Any]) -> Dict[str, List[str]]:
    """A question's group and super-group (the evaluator's ``question_categories``)."""
    qtype = record["fields"].get("type")
    if qtype is None:
        raise EvaluationError(f"nextqa: question {qid!r}: fields.type is missing (the CSV "
                              f"'type' column, e.g. 'CW')")
    if not isinstance(qtype, str):  # a list or an object would fail as a raw TypeError in _group
        raise EvaluationError(f"nextqa: question {qid!r}: fields.type must be a string, one of "
                              f"{', '.join(GROUPS + tuple(MERGED_TYPES))} (the CSV 'type' column), got {qtype!r}")
    group = _group(qtype, f"nextqa: question {qid!r}")
    return {"type": [group], "super_type": [group[0]]}


def official_table(report: Mapping[str, Any]) -> str:
    """The text ``eval_mc.py`` prints for these figures, byte for byte (trailing tabs and
    final newline included), so ``sys.stdout.write(official_table(r))`` is identical.

    A group with no questions (a subset) is shown as ``n/a``; the official script would
    stop with ``ZeroDivisionError`` there.
    """
    cells = dict(report["breakdowns"]["type"])
    cells.update(report["breakdowns"]["super_type"])
    order = GROUPS + SUPER_GROUPS

    def fmt(correct: int, total: int) -> str:
        return "n/a" if total == 0 else "{:.2f}".format(correct * 100.0 / total)

    header = "".join(OFFICIAL_NAMES[g] + "\t" for g in order)
    values = "".join(fmt(cells[g]["correct"], cells[g]["total"]) + "\t" for g in order)
    return f"{header}\n{values}\nAcc: {fmt(report['num_correct'], report['num_questions'])}\n"


def write_official_results(path: PathLike, predictions: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, int]]:
    """Write ``{"<video>_<qid>": {"prediction": int, "answer": int}}`` (the layout of the
    NExT-QA repository's ``results/`` files) atomically; returns what was written.

    Every question needs a label: the official script takes the ground truth from this
    file, so an unlabelled one could only be scored wrong.
    """
    records = normalise_predictions(predictions, benchmark=BENCHMARK,
                                    num_classes=NUM_CHOICES, open_ended=False)
    unlabelled = [q for q, r in records.items() if r["answer"] is None]
    if unlabelled:
        raise EvaluationError(f"nextqa: cannot write official results for {path}: "
                              f"{len(unlabelled)} question(s) have no answer: "
                              f"{describe_ids(unlabelled)}")
    results = {q: {"prediction": r["prediction"], "answer": r["answer"]} for q, r in records.items()}
    atomic_write_json(path, results, indent=None)
    return results


def read_official_results(path: PathLike) -> Dict[str, Dict[str, int]]:
    """Read an official-format results file, checking every entry (errors name the key)."""
    data = load_json_strict(path, "NExT-QA results file")
    if not isinstance(data, dict):
        raise PredictionsFileError(f"{path}: top level must be an object \"<video>_<qid>\" -> "
                                   f"{{prediction, answer}}")
    out = {}
    for key, entry in data.items():
        if isinstance(entry, dict) and "fields" in entry:
            raise PredictionsFileError(f"{path}: question {key!r}: unexpected key 'fields'; "
                                       f"official results hold only prediction and answer")
        rec = validate_record(key, entry, where=str(path), error=PredictionsFileError,
                              num_classes=NUM_CHOICES, open_ended=False)
        if rec["answer"] is None:
            raise PredictionsFileError(f"{path}: question {key!r}: 'answer' is null; official "
                                       f"results need the ground-truth index")
        out[key] = {"prediction": rec["prediction"], "answer": rec["answer"]}
    return out


def evaluate_against_csv(results: Mapping[str, Mapping[str, Any]], csv_path: PathLike, *,
                         allow_extra: bool = False) -> Dict[str, Any]:
    """Score official-format results against a NExT-QA split CSV, as ``eval_mc.py`` does.

    The questions scored are the CSV's rows (read with pandas, key from ``video`` and
    ``qid``, type from ``type``), correctness is ``answer == prediction`` from
    ``results``. Differences from the script, all of them errors where it would crash
    or mislead: CSV questions missing from ``results`` raise
    :class:`MissingPredictionError` (a ``KeyError``, like the script) naming them all at
    once; results for questions not in the CSV raise unless ``allow_extra`` (the script
    ignores them; then the report counts them in ``ignored_extra``); a key that occurs
    twice in the CSV raises (the script would score it twice).
    """
    import pandas as pd  # lazy: keep ``import gf`` light

    try:
        rows = pd.read_csv(csv_path, delimiter=",")
    except FileNotFoundError:
        raise EvaluationError(f"NExT-QA CSV not found: {csv_path}") from None
    missing_cols = [c for c in ("video", "qid", "type") if c not in rows.columns]
    if missing_cols:
        raise EvaluationError(f"{csv_path}: missing column(s) {', '.join(missing_cols)}; expected "
                              f"the official header video,frame_count,...,qid,type,a0..a4")
    groups: Dict[str, List[str]] = {g: [] for g in GROUPS}
    seen: Dict[str, int] = {}
    for index, row in rows.iterrows():
        key = str(row["video"]) + "_" + str(row["qid"])
        line = int(index) + 2  # header is line 1
        if key in seen:
            raise EvaluationError(f"{csv_path}:{line}: question {key!r} also on line {seen[key]}")
        seen[key] = line
        groups[_group(str(row["type"]), f"{csv_path}:{line}")].append(key)

    missing = [k for k in seen if k not in results]
    if missing:
        raise MissingPredictionError(f"nextqa: {len(missing)} question(s) of {csv_path} have no "
                                     f"result: {describe_ids(missing)}")
    extra = [k for k in results if str(k) not in seen]
    if extra and not allow_extra:
        raise EvaluationError(f"nextqa: {len(extra)} result(s) are for questions not in "
                              f"{csv_path}: {describe_ids(extra)} (pass allow_extra=True to "
                              f"ignore them as the official script does)")

    outcomes = []
    for group, keys in groups.items():
        for key in keys:
            rec = validate_record(key, results[key], where="nextqa results",
                                  num_classes=NUM_CHOICES, open_ended=False)
            if rec["answer"] is None:
                raise EvaluationError(f"nextqa results: question {key!r}: 'answer' is null; the "
                                      f"official scoring reads the ground truth from the results")
            outcomes.append((group, rec["answer"] == rec["prediction"]))
    report = _report(outcomes)
    report["ignored_extra"] = len(extra)
    if extra:
        report["notes"].append(f"{len(extra)} result(s) for questions not in the CSV were ignored.")
    return report


@registry.register_evaluator(BENCHMARK)
class NextqaEvaluator(Evaluator):
    """The official ``eval_mc.py`` breakdown (causal, temporal, descriptive groups)."""

    metrics = ("overall",)

    score_label = "Acc"

    def question_categories(self, question_id, record, info):
        return _categories(question_id, record)

    def column_label(self, breakdown, category):
        return OFFICIAL_NAMES.get(category, category)

    def evaluate(self, predictions, info, expected_ids=None):
        return evaluate(predictions, expected_ids=expected_ids)

    def read_results_file(self, path):
        """The official ``eval_mc.py`` result file (``{"<video>_<qid>": {"prediction", "answer"}}``)."""
        return read_official_results(path)
