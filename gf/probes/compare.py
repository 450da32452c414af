"""Paired comparisons of a model's answers with and without a probe.

Why paired: the probed and unperturbed runs answer the same questions, so the question is
not whether two accuracies differ but on how many questions the answer moved. The flip
rate counts answers that changed whatever the truth; the paired test asks whether the
changes that matter (right -> wrong against wrong -> right) are more than chance, by the
leaderboard's rule (:func:`gf.evaluation.stats.deciding_test`, imported when used, so
that probing samples in DataLoader workers never loads scipy). Both, and when each test
decides: docs/probes.md, "Reading the results".

Predictions are what the runner returns and predictions files hold: ``{question_id:
{"prediction": p, "answer": a | -1 | None, ...}}``, a :class:`~gf.evaluation.PredictionsFile`,
or a bare ``{question_id: p}`` (enough for flip rates, not for accuracy).
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from gf.common.errors import EvaluationError
from gf.common.utils import describe_ids
from gf.evaluation.core import OOV_ANSWER

__all__ = ["flip_rate", "flipped_ids", "probe_test"]

_NO_ANSWER = object()  # a bare prediction: the answer is not known


def _records(preds: Any, default: str) -> Tuple[Dict[str, Tuple[Any, Any]], str]:
    """``({question_id: (prediction, answer)}, name for messages)`` of one set of predictions."""
    name = default
    if not isinstance(preds, Mapping) and hasattr(preds, "predictions"):  # a PredictionsFile
        name = getattr(preds, "path", None) or default
        preds = preds.predictions
    if not isinstance(preds, Mapping):
        raise EvaluationError(f"{name}: predictions must be a mapping {{question_id: record}}, "
                              f"got {type(preds).__name__}")
    out = {}
    for qid, rec in preds.items():
        if isinstance(rec, Mapping):
            if "prediction" not in rec:
                raise EvaluationError(f"{name}: question {qid!r} has no 'prediction'")
            out[str(qid)] = (rec["prediction"], rec.get("answer"))
        else:
            out[str(qid)] = (rec, _NO_ANSWER)
    return out, name


def _paired(preds_a: Any, preds_b: Any, ids: Optional[Iterable[str]], defaults: Tuple[str, str] = ("a", "b")):
    """``(a, b, chosen, names)``: both sets' records and the questions to compare: all of
    them, which must be the same in both (predictions of different splits, or of a run that
    lost questions, are not a paired comparison), or the given ``ids``, each of which both
    must have."""
    (a, name_a), (b, name_b) = _records(preds_a, defaults[0]), _records(preds_b, defaults[1])
    names = (name_a, name_b)
    if ids is None:
        only_a = [q for q in a if q not in b]
        only_b = [q for q in b if q not in a]
        if only_a or only_b:
            parts = [f"{len(only)} only in {name} ({describe_ids(only)})"
                     for only, name in ((only_a, names[0]), (only_b, names[1])) if only]
            raise EvaluationError(f"a paired comparison needs predictions of the same questions; "
                                  f"{'; '.join(parts)}. Compare predictions of the same split.")
        chosen = list(a)
    else:
        chosen = [str(q) for q in ids]
        for pred, name in zip((a, b), names):
            missing = [q for q in chosen if q not in pred]
            if missing:
                raise EvaluationError(f"{name} has no prediction for {len(missing)} of the questions to "
                                      f"compare: {describe_ids(missing)}")
    if not chosen:
        raise EvaluationError("no questions to compare")
    return a, b, chosen, names


def flipped_ids(preds_a: Any, preds_b: Any, *, ids: Optional[Iterable[str]] = None) -> List[str]:
    """The questions whose predicted answer differs between ``preds_a`` and ``preds_b``."""
    a, b, chosen, _ = _paired(preds_a, preds_b, ids)
    return [q for q in chosen if a[q][0] != b[q][0]]


def flip_rate(preds_a: Any, preds_b: Any, *, ids: Optional[Iterable[str]] = None) -> float:
    """The share (0..1) of questions whose predicted answer changes from ``preds_a`` to ``preds_b``.

    Over all questions (both must hold the same ids; otherwise an :class:`EvaluationError`
    names the ids found in only one), or over ``ids`` (e.g. one question type). Labels are
    not needed: a flip is a change of answer, right or wrong.
    """
    a, b, chosen, _ = _paired(preds_a, preds_b, ids)
    return sum(a[q][0] != b[q][0] for q in chosen) / len(chosen)


def _answers(a: Mapping[str, Tuple[Any, Any]], b: Mapping[str, Tuple[Any, Any]], chosen: List[str],
             names: Tuple[str, str]) -> Dict[str, Any]:
    """The labelled questions' answers, which both sets must agree on."""
    answers = {}
    for q in chosen:
        ans_a, ans_b = a[q][1], b[q][1]
        if ans_a is _NO_ANSWER or ans_b is _NO_ANSWER:
            raise EvaluationError(f"question {q!r}: the paired test needs prediction records with their "
                                  f"'answer' ({{'prediction': p, 'answer': a}}), as the runner and "
                                  f"predictions files give them")
        if ans_a != ans_b:
            raise EvaluationError(f"question {q!r} has answer {ans_a!r} in {names[0]} and {ans_b!r} in "
                                  f"{names[1]}; these are not predictions of the same split")
        if ans_a is not None:
            answers[q] = ans_a
    return answers


def _decide(right_a: Mapping[str, bool], right_b: Mapping[str, bool], videos: Optional[Mapping[str, str]],
            mcnemar_p: float) -> Tuple[str, Optional[float]]:
    """``(test, p)`` of the labelled questions by :func:`gf.evaluation.stats.deciding_test`
    (its bootstrap: 1000 resamples, seed 0), or McNemar's when the videos are not given."""
    if videos is None:
        return "mcnemar", mcnemar_p
    import numpy as np

    from gf.evaluation import stats

    ids = list(right_a)
    missing = [q for q in ids if q not in videos]
    if missing:
        raise EvaluationError(f"the video of {len(missing)} question(s) is not known: {describe_ids(missing)}; "
                              f"pass the split's video_ids()")
    _, clusters = np.unique([str(videos[q]) for q in ids], return_inverse=True)
    a, b = (stats.QuestionOutcomes(tuple(ids), np.array([r[q] for q in ids], dtype=bool), clusters.reshape(-1), {})
            for r in (right_a, right_b))
    if stats.decided_by(a) == "mcnemar":  # its p is mcnemar_p: no resampling needed
        return "mcnemar", mcnemar_p
    return stats.deciding_test(a, stats.paired_comparison(a, b))


def probe_test(plain: Any, probed: Any, *, ids: Optional[Iterable[str]] = None,
               videos: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Unperturbed vs probed answers of the same questions: accuracy drop, flips, paired test.

    Returns ``{"questions", "labelled", "accuracy", "accuracy_probe", "drop", "flip_rate",
    "only_plain", "only_probe", "p_mcnemar", "test", "p"}``: accuracies in percent over the
    labelled questions (micro; an answer outside the vocabulary, -1, is always wrong),
    ``drop`` = accuracy - accuracy_probe in points, ``flip_rate`` over all compared
    questions, ``only_plain`` / ``only_probe`` the questions right only without / only with
    the probe, ``p_mcnemar`` the two-sided exact McNemar p-value on those two counts, and
    ``test`` / ``p`` the test that decides and its p: with ``videos`` (question id -> video,
    e.g. a split's ``video_ids()``) :func:`gf.evaluation.stats.deciding_test`'s
    (``"mcnemar"`` or ``"paired_bootstrap"``, ``p`` None where the bootstrap cannot vary);
    without, McNemar's, treating the questions as independent. Accuracy fields, ``test``
    and the p-values are ``None`` when no compared question is labelled.
    """
    from gf.evaluation.stats import mcnemar_exact

    a, b, chosen, names = _paired(plain, probed, ids, ("unperturbed", "probed"))
    answers = _answers(a, b, chosen, names)
    right_a = {q: ans != OOV_ANSWER and a[q][0] == ans for q, ans in answers.items()}
    right_b = {q: ans != OOV_ANSWER and b[q][0] == ans for q, ans in answers.items()}
    only_a = sum(right_a[q] and not right_b[q] for q in answers)
    only_b = sum(right_b[q] and not right_a[q] for q in answers)
    n = len(answers)
    acc_a = 100.0 * sum(right_a.values()) / n if n else None
    acc_b = 100.0 * sum(right_b.values()) / n if n else None
    p_mcnemar = mcnemar_exact(only_a, only_b) if n else None
    test, p = _decide(right_a, right_b, videos, p_mcnemar) if n else (None, None)
    return {"questions": len(chosen), "labelled": n, "accuracy": acc_a, "accuracy_probe": acc_b,
            "drop": None if n == 0 else acc_a - acc_b,
            "flip_rate": sum(a[q][0] != b[q][0] for q in chosen) / len(chosen),
            "only_plain": only_a, "only_probe": only_b, "p_mcnemar": p_mcnemar, "test": test, "p": p}
