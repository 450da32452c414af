"""Per-benchmark metrics with the official breakdowns, computed from a predictions file.

Flow: a task writes a predictions file (:func:`save_predictions`); any time later
:func:`evaluate_predictions` re-scores it with the benchmark's evaluator
(:mod:`~gf.evaluation.star`, :mod:`~gf.evaluation.agqa`, :mod:`~gf.evaluation.egotaskqa`,
:mod:`~gf.evaluation.nextqa`), :func:`format_report` prints it and :func:`save_report`
stores it. Every accuracy is in percent; ``None`` means "nothing was scored".
"""
from gf.evaluation import agqa, egotaskqa, nextqa, star
from gf.evaluation.core import OOV_ANSWER, EvaluationError, MissingPredictionError
from gf.evaluation.predictions import (
    PredictionsFile,
    PredictionsFileError,
    load_predictions,
    save_predictions,
)
from gf.evaluation.report import (
    EVALUATORS,
    evaluate_predictions,
    format_report,
    register_evaluator,
    save_report,
)

__all__ = [
    "EVALUATORS",
    "EvaluationError",
    "MissingPredictionError",
    "OOV_ANSWER",
    "PredictionsFile",
    "PredictionsFileError",
    "agqa",
    "egotaskqa",
    "evaluate_predictions",
    "format_report",
    "load_predictions",
    "nextqa",
    "register_evaluator",
    "save_predictions",
    "save_report",
    "star",
]
