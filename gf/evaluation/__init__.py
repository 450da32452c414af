"""Per-benchmark metrics with the official breakdowns, computed from a predictions file.

Flow: a task writes a predictions file (:func:`save_predictions`); any time later
:func:`evaluate_predictions` re-scores it with the evaluator registered for the file's
benchmark (each benchmark folder's ``evaluator.py``, ``gf/benchmarks/<name>/``, or a
plugin's), :func:`format_report` prints it and :func:`save_report` stores it. Every
accuracy is in percent; ``None`` means "nothing was scored".
"""
from gf.evaluation.core import OOV_ANSWER, EvaluationError, MissingPredictionError
from gf.evaluation.predictions import (
    PredictionsFile,
    PredictionsFileError,
    is_predictions_file,
    load_predictions,
    match_split,
    save_predictions,
)
from gf.evaluation.base import Evaluator
from gf.evaluation.report import (
    COVERAGE_NOT_CHECKED,
    check_distinct_paths,
    evaluate_predictions,
    format_report,
    get_evaluator,
    save_report,
)

__all__ = [
    "COVERAGE_NOT_CHECKED",
    "EvaluationError",
    "Evaluator",
    "MissingPredictionError",
    "OOV_ANSWER",
    "PredictionsFile",
    "PredictionsFileError",
    "check_distinct_paths",
    "evaluate_predictions",
    "format_report",
    "get_evaluator",
    "is_predictions_file",
    "load_predictions",
    "match_split",
    "save_predictions",
    "save_report",
]
