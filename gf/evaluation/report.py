"""Evaluate a predictions file with its benchmark's scorer, print and save the report.

Why a dispatch table instead of the registry: an evaluator is a plain function of the
predictions, chosen by the ``benchmark`` written in the predictions file, not by a
config; :func:`register_evaluator` lets a plugin benchmark add its own.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Union

from gf.common.io import PathLike, atomic_write_json
from gf.evaluation import agqa, egotaskqa, nextqa, star
from gf.evaluation.core import EvaluationError
from gf.evaluation.predictions import PredictionsFile, load_predictions

__all__ = ["EVALUATORS", "evaluate_predictions", "format_report", "register_evaluator", "save_report"]

Evaluator = Callable[..., Dict[str, Any]]

EVALUATORS: Dict[str, Evaluator] = {
    star.BENCHMARK: star.evaluate,
    agqa.BENCHMARK: agqa.evaluate,
    egotaskqa.BENCHMARK: egotaskqa.evaluate,
    nextqa.BENCHMARK: nextqa.evaluate,
}

# Open-ended evaluators can bound answers by the vocabulary stored in the file.
_TAKES_VOCAB_SIZE = {agqa.BENCHMARK, egotaskqa.BENCHMARK}


def register_evaluator(benchmark: str, evaluator: Evaluator) -> Evaluator:
    """Add a scorer for another benchmark; re-registering a different one is an error."""
    old = EVALUATORS.get(benchmark)
    if old is not None and old is not evaluator:
        raise EvaluationError(f"an evaluator for benchmark {benchmark!r} is already registered ({old!r})")
    EVALUATORS[benchmark] = evaluator
    return evaluator


def evaluate_predictions(pred_file: Union[PredictionsFile, PathLike], **opts: Any) -> Dict[str, Any]:
    """Score a predictions file (or a loaded one); ``opts`` go to the benchmark's evaluator
    (e.g. ``expected_ids``, EgoTaskQA's ``all_reasoning_types``)."""
    if not isinstance(pred_file, PredictionsFile):
        pred_file = load_predictions(pred_file)
    evaluator = EVALUATORS.get(pred_file.benchmark)
    if evaluator is None:
        raise EvaluationError(f"{pred_file.path or 'predictions'}: no evaluator for benchmark "
                              f"{pred_file.benchmark!r}; known benchmarks: {', '.join(sorted(EVALUATORS))}")
    if pred_file.benchmark in _TAKES_VOCAB_SIZE and pred_file.answer_vocab is not None:
        opts.setdefault("answer_vocab_size", len(pred_file.answer_vocab))
    report = evaluator(pred_file.predictions, **opts)
    report["split"] = pred_file.split
    if pred_file.path is not None:
        report["predictions_file"] = os.fspath(pred_file.path)
    return report


def save_report(path: PathLike, report: Mapping[str, Any]) -> None:
    """Write the report as JSON atomically (NaN refused: missing figures are null)."""
    atomic_write_json(path, report, allow_nan=False)


def _acc(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _table(title: str, cells: Mapping[str, Mapping[str, Any]], with_unlabelled: bool) -> List[str]:
    headers = [title, "accuracy", "correct", "total"] + (["unlabelled"] if with_unlabelled else [])
    rows = [[name, _acc(c["accuracy"]), str(c["correct"]), str(c["total"])]
            + ([str(c.get("unlabelled", 0))] if with_unlabelled else [])
            for name, c in cells.items()]
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]

    def line(cols: List[str]) -> str:
        return "  ".join([cols[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cols[1:], widths[1:])]).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


def format_report(report: Mapping[str, Any]) -> str:
    """A readable text rendering of every figure: headline, then one table per breakdown."""
    split = f" ({report['split']})" if report.get("split") else ""
    lines = [f"{report.get('benchmark', '?')}{split}: {report['num_predictions']} predictions, "
             f"{report['num_questions']} scored, {report['unlabelled']} unlabelled"]
    labels = [("overall", "overall (micro accuracy)", _acc(report["overall"]),
               f"{report['num_correct']}/{report['num_questions']}")]
    if "mean" in report:
        over = ", ".join(report.get("mean_over") or []) or "no type"
        labels.append(("mean", "mean of type accuracies", _acc(report["mean"]), f"over {over}"))
    width = max(len(label) for _, label, _, _ in labels)
    for key, label, value, detail in labels:
        primary = "  <- primary metric" if len(labels) > 1 and report.get("primary_metric") == key else ""
        lines.append(f"  {label.ljust(width)}  {value.rjust(6)}  {detail}{primary}")
    with_unlabelled = bool(report.get("unlabelled"))
    for name, cells in report.get("breakdowns", {}).items():
        lines.append("")
        lines.extend("  " + row for row in _table(name, cells, with_unlabelled))
    notes = report.get("notes") or []
    if notes:
        lines.append("")
        lines.extend(f"note: {n}" for n in notes)
    return "\n".join(lines) + "\n"
