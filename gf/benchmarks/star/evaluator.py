"""STAR scoring: per-question-type accuracy, the official Mean, and the EvalAI submission.

What ``mean`` and ``overall`` are, and the submission's format: docs/data_formats.md §1.3.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional

from gf.common.io import PathLike, atomic_write_json
from gf.common.registry import registry
from gf.evaluation.base import Evaluator, output_file
from gf.evaluation.core import EvaluationError, Tally, normalise_predictions, score_by_category

__all__ = ["BENCHMARK", "NUM_CHOICES", "STAR_TYPES", "evaluate", "type_problem", "write_submission"]

BENCHMARK = "star"
STAR_TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")
NUM_CHOICES = 4


def type_problem(question_id: Any) -> Optional[str]:
    """Why ``question_id`` names no STAR question type (``None``: it names one). Shared with
    the builder and the converter, so that such an id is refused where it is read, not
    after a training epoch, when scoring first asks for its type."""
    if str(question_id).split("_")[0] in STAR_TYPES:
        return None
    return (f"question id {question_id!r} does not start with a STAR question type ({', '.join(STAR_TYPES)}) "
            f"followed by '_'; STAR ids look like 'Interaction_T1_4'")


def _type_of(qid: str, record: Mapping[str, Any]) -> str:
    """``"Interaction_T1_4" -> "Interaction"``; an id without a known prefix is an error."""
    problem = type_problem(qid)
    if problem:
        raise EvaluationError(f"star: {problem}")
    qtype = str(qid).split("_")[0]
    declared = record["fields"].get("type")
    if declared is not None and declared != qtype:
        raise EvaluationError(f"star: question {qid!r}: fields.type is {declared!r} but the id "
                              f"prefix says {qtype!r}; the id prefix is the official type")
    return qtype


def _categories(qid: str, record: Mapping[str, Any]) -> Dict[str, List[str]]:
    return {"type": [_type_of(qid, record)]}


def evaluate(predictions: Mapping[str, Mapping[str, Any]], *,
             expected_ids: Optional[Iterable[Any]] = None) -> Dict[str, Any]:
    """Score STAR predictions.

    ``mean`` averages the per-type accuracies of the types that have labelled questions.
    On a full split that is all four, i.e. the official Mean; on a subset missing a type
    the report says which types were averaged (``mean_over``) and adds a note, rather
    than counting the absent type as 0%.
    """
    records = normalise_predictions(predictions, benchmark=BENCHMARK,
                                    num_classes=NUM_CHOICES, open_ended=False, expected_ids=expected_ids)
    report = score_by_category(BENCHMARK, records, _categories, {"type": Tally(order=STAR_TYPES)})
    cells = report["breakdowns"]["type"]
    present = [t for t in STAR_TYPES if cells[t]["accuracy"] is not None]
    report["primary_metric"] = "mean"
    report["mean"] = (sum(cells[t]["accuracy"] for t in present) / len(present)) if present else None
    report["mean_over"] = present
    absent = [t for t in STAR_TYPES if t not in present]
    if present and absent:
        report["notes"].append(
            f"mean averages the {len(present)} type(s) with labelled questions "
            f"({', '.join(present)}); {', '.join(absent)} had none. The official STAR Mean "
            f"averages all four, so this figure is not comparable to the leaderboard.")
    return report


def write_submission(path: PathLike, predictions: Mapping[str, Mapping[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    """Write the EvalAI STAR challenge file atomically and return its content; its format
    (docs/data_formats.md §1.3) is the one GF's ``trans_results`` produces. Labels are not
    needed (works on the unlabelled test split).
    """
    records = normalise_predictions(predictions, benchmark=BENCHMARK,
                                    num_classes=NUM_CHOICES, open_ended=False)
    submission: Dict[str, List[Dict[str, Any]]] = {t: [] for t in STAR_TYPES}
    for qid, record in records.items():
        submission[_type_of(qid, record)].append({"question_id": qid, "answer": record["prediction"]})
    atomic_write_json(path, submission, indent=None, separators=(",", ":"))
    return submission


@registry.register_evaluator(BENCHMARK)
class StarEvaluator(Evaluator):
    """Per-type accuracy and the official Mean; on test splits (labels hidden) also the
    EvalAI submission file ``<split>_<tag>_submission.json``."""

    score_label = "Mean"
    macro_breakdown = "type"
    metrics = ("overall", "mean")

    def question_categories(self, question_id, record, info):
        return _categories(question_id, record)

    def evaluate(self, predictions, info, expected_ids=None):
        return evaluate(predictions, expected_ids=expected_ids)

    def after_evaluation(self, predictions, *, split, output_dir, tag):
        if not split.startswith("test"):
            return []
        path = output_file(output_dir, split, tag, "submission.json")
        write_submission(path, predictions)
        return [path]
