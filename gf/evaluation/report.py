"""Evaluate a predictions file with its benchmark's evaluator, print and save the report.

The evaluator is looked up in the registry (kind ``evaluator``) by the ``benchmark``
written in the predictions file, so a plugin benchmark that registers its own evaluator
is scored by every command without changes here.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

from gf.common.errors import EvaluationError, RegistryError
from gf.common.io import PathLike, atomic_write_json
from gf.common.registry import registry
from gf.evaluation.predictions import PredictionsFile, load_predictions

__all__ = ["evaluate_predictions", "format_report", "get_evaluator", "save_report"]


def get_evaluator(benchmark: str, where: str = "predictions"):
    """An instance of the evaluator registered for ``benchmark``."""
    try:
        return registry.get("evaluator", benchmark)()
    except RegistryError as e:
        raise EvaluationError(f"{where}: no evaluator for benchmark {benchmark!r}: {e} If a plugin registers it, "
                              f"import it first (gf evaluate --plugins MODULE).") from None


def evaluate_predictions(pred_file: Union[PredictionsFile, PathLike], info: Optional[Mapping[str, Any]] = None, *,
                         expected_ids: Optional[Iterable[Any]] = None) -> Dict[str, Any]:
    """Score a predictions file (or a loaded one).

    ``info`` is what the evaluator may need beyond the predictions (``answer_vocab``,
    ``all_reasoning_types``, ...); the file's own answer vocabulary fills
    ``answer_vocab`` when ``info`` has none. ``expected_ids``: every one must be predicted.
    """
    if not isinstance(pred_file, PredictionsFile):
        pred_file = load_predictions(pred_file)
    evaluator = get_evaluator(pred_file.benchmark, os.fspath(pred_file.path) if pred_file.path else "predictions")
    info = dict(info or {})
    if info.get("answer_vocab") is None and pred_file.answer_vocab is not None:
        info["answer_vocab"] = pred_file.answer_vocab
    report = evaluator.evaluate(pred_file.predictions, info, expected_ids=expected_ids)
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
