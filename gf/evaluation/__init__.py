"""Per-benchmark metrics with the official breakdowns, computed from a predictions file.

Flow: a task writes a predictions file (:func:`save_predictions`); any time later
:func:`evaluate_predictions` re-scores it with the evaluator registered for the file's
benchmark (:mod:`~gf.evaluation.star`, :mod:`~gf.evaluation.agqa`,
:mod:`~gf.evaluation.egotaskqa`, :mod:`~gf.evaluation.nextqa`, or a plugin's),
:func:`format_report` prints it and :func:`save_report` stores it. Every accuracy is in
percent; ``None`` means "nothing was scored". Importing this package registers the
built-in evaluators.
"""
from gf.evaluation import agqa, egotaskqa, nextqa, star
from gf.evaluation.core import OOV_ANSWER, EvaluationError, MissingPredictionError
from gf.evaluation.predictions import (
    PredictionsFile,
    PredictionsFileError,
    is_predictions_file,
    load_predictions,
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
    "agqa",
    "check_distinct_paths",
    "egotaskqa",
    "evaluate_predictions",
    "format_report",
    "get_evaluator",
    "is_predictions_file",
    "load_predictions",
    "nextqa",
    "save_predictions",
    "save_report",
    "star",
]
