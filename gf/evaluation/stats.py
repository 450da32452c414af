"""Confidence intervals and significance tests for leaderboard scores.

A leaderboard score is measured on a finite set of questions, so two entries that differ
by a point may or may not differ in truth. This module attaches to every score how much
it could move had the questions been drawn again, and to every pair of entries on the
same split whether their difference is larger than that. The methods and their why
(whole videos resampled, paired tests, which test decides, no spread no p, Holm's
adjustment): docs/leaderboards.md, "The statistics".

How a resample treats an empty cell, and the exact random stream: docs/leaderboards.md,
"The statistics" ("Empty cells", "Reproducibility"; its videos are the clusters, in
ascending order of their value). Two entries with the same clusters get the same
resamples, which is what makes the comparison paired. Resamples are processed in chunks,
so that memory stays bounded on large splits; one ``rng.integers`` call per resample
keeps the chunking from changing a result.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from types import MappingProxyType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy import sparse
from scipy.stats import binomtest

from gf.common.utils import describe_ids, repeated

__all__ = [
    "QuestionOutcomes",
    "apply_holm",
    "bootstrap_intervals",
    "compare_all",
    "decided_by",
    "deciding_test",
    "holm",
    "mcnemar_exact",
    "n_clusters",
    "paired_comparison",
    "point_scores",
    "resampled_difference",
]

#: Bytes of cluster weights one chunk of resamples may hold (float64, n_clusters per
#: resample). Bounds memory on large splits: 600k singleton clusters -> 6 resamples a chunk.
_CHUNK_BYTES = 32 * 2 ** 20


# --------------------------------------------------------------------------- outcomes


def _vector(value: Any, what: str, length: int, kind: type = np.bool_, dtype: type = np.bool_,
            expected: str = "a boolean array") -> np.ndarray:
    """``value`` as a read-only copy of dtype ``dtype``, refused unless its dtype is a ``kind``
    and it holds one value per question."""
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, kind):
        raise ValueError(f"{what} must be {expected}, got dtype {array.dtype}")
    if array.shape != (length,):
        raise ValueError(f"{what} must have shape ({length},) (one value per question id), "
                         f"got {array.shape}")
    array = array.astype(dtype, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class QuestionOutcomes:
    """One entry's per-question results on one split (labelled questions only).

    ``clusters`` groups questions that are not independent (one value per video): the
    bootstrap resamples a cluster as a whole. ``cells`` are the columns of the table's
    breakdowns, as membership masks; a question may be in several (different breakdowns,
    or several values of one multi-label breakdown). ``macro_over`` names the cells whose
    unweighted mean accuracy is the official score (STAR's "Mean"); ``None`` means the
    official score is micro accuracy over all questions.

    Arrays are copied and made read-only, so an instance cannot change under a cached
    result. Equality is identity (arrays have no single truth value).
    """

    question_ids: Tuple[str, ...]
    correct: np.ndarray
    clusters: np.ndarray
    cells: Mapping[str, np.ndarray]
    macro_over: Optional[Tuple[str, ...]] = None

    def __post_init__(self) -> None:
        ids = self.question_ids
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
            raise ValueError(f"question_ids must be a sequence of strings, "
                             f"got {type(ids).__name__}")
        ids = tuple(ids)
        bad = [i for i in ids if not isinstance(i, str)]
        if bad:
            raise ValueError(f"question_ids must be strings; not strings: {describe_ids(bad)}")
        dups = repeated(ids)
        if dups:
            raise ValueError(f"question_ids must be unique; repeated: {describe_ids(dups)}")
        n = len(ids)
        correct = _vector(self.correct, "correct", n)
        clusters = _vector(self.clusters, "clusters", n, kind=np.integer, dtype=np.int64,
                           expected="an integer array (one cluster number per question)")

        if not isinstance(self.cells, Mapping):
            raise ValueError(f"cells must be a mapping from column key to a boolean mask, "
                             f"got {type(self.cells).__name__}")
        cells: Dict[str, np.ndarray] = {}
        for key, mask in self.cells.items():
            if not isinstance(key, str):
                raise ValueError(f"cells keys must be strings, got {key!r}")
            cells[key] = _vector(mask, f"cells[{key!r}]", n)

        macro = self.macro_over
        if macro is not None:
            if isinstance(macro, (str, bytes)) or not isinstance(macro, Sequence):
                raise ValueError(f"macro_over must be None or a sequence of cell keys, "
                                 f"got {macro!r}")
            macro = tuple(macro)
            if not macro:
                raise ValueError("macro_over is empty; use None for micro accuracy")
            if len(set(macro)) != len(macro):
                raise ValueError(f"macro_over repeats a cell: {macro!r}")
            missing = [k for k in macro if k not in cells]
            if missing:
                raise ValueError(f"macro_over names cells that are not in cells: "
                                 f"{describe_ids(missing)}")

        object.__setattr__(self, "question_ids", ids)
        object.__setattr__(self, "correct", correct)
        object.__setattr__(self, "clusters", clusters)
        object.__setattr__(self, "cells", MappingProxyType(cells))
        object.__setattr__(self, "macro_over", macro)

    def __repr__(self) -> str:
        score = "micro" if self.macro_over is None else f"macro over {list(self.macro_over)}"
        return (f"QuestionOutcomes({len(self.question_ids)} questions, "
                f"{n_clusters(self)} clusters, {len(self.cells)} cells, {score})")


# --------------------------------------------------------------------------- point scores


def point_scores(o: QuestionOutcomes) -> Tuple[Optional[float], Dict[str, Optional[float]]]:
    """The official score and each cell's accuracy, in percent (``None``: nothing to score).

    A macro score averages only the ``macro_over`` cells that have questions (as the STAR
    evaluator's ``mean``), so an absent type is not counted as 0%.
    """
    cells: Dict[str, Optional[float]] = {}
    for key, mask in o.cells.items():
        members = int(mask.sum())
        cells[key] = 100.0 * int((o.correct & mask).sum()) / members if members else None
    if o.macro_over is None:
        n = len(o.correct)
        score = 100.0 * int(o.correct.sum()) / n if n else None
    else:
        present = [cells[k] for k in o.macro_over if cells[k] is not None]
        score = sum(present) / len(present) if present else None
    return score, cells


# --------------------------------------------------------------------------- resampling


class _Prepared:
    """An entry reduced to per-cluster counts, the only thing a resample needs.

    Column 0 is "all questions", columns 1..C the cells in order. ``counts_t`` is a sparse
    ``[2 (1 + C), n_clusters]`` matrix: per cluster, the members of each column, then the
    correct members. A resample's cluster weights ``w`` give every column's weighted
    member and correct counts as one product ``counts_t @ w``, exact in float64 (sums of
    integers), so the chunking cannot change a result.
    """

    def __init__(self, o: QuestionOutcomes) -> None:
        self.keys = tuple(o.cells)
        _, inverse = np.unique(o.clusters, return_inverse=True)
        inverse = inverse.reshape(-1)
        self.n_clusters = int(inverse.max()) + 1 if len(inverse) else 0
        n_cols = 1 + len(self.keys)
        questions = [np.arange(len(o.correct))] + [np.flatnonzero(o.cells[k]) for k in self.keys]
        rows, cols, data = [], [], []
        for col, q in enumerate(questions):
            rows += [np.full(len(q), col), np.full(len(q), n_cols + col)]
            cols += [inverse[q], inverse[q]]
            data += [np.ones(len(q)), o.correct[q].astype(np.float64)]
        self.counts_t = sparse.coo_array(
            (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
            shape=(2 * n_cols, self.n_clusters)).tocsr()
        self.n_cols = n_cols
        self.macro_cols = (None if o.macro_over is None
                           else np.array([1 + self.keys.index(k) for k in o.macro_over]))

    def accuracies(self, weights_t: np.ndarray) -> np.ndarray:
        """``[b, 1 + C]`` accuracies (percent, NaN where the column is empty) of the
        resamples whose cluster weights are the columns of ``weights_t`` ``[K, b]``."""
        totals = self.counts_t @ weights_t
        members, right = totals[:self.n_cols].T, totals[self.n_cols:].T
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(members > 0, 100.0 * right / members, np.nan)

    def scores(self, accuracies: np.ndarray) -> np.ndarray:
        """The official score of each resample (NaN when it has nothing to score)."""
        if self.macro_cols is None:
            return accuracies[:, 0]
        values = accuracies[:, self.macro_cols]
        present = ~np.isnan(values)
        n = present.sum(axis=1)
        total = np.where(present, values, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / n, np.nan)


def _chunk_size(chunk: Any, n_clusters: int) -> int:
    """``chunk`` resamples per block, or when it is None as many as fit in
    :data:`_CHUNK_BYTES` (at least one)."""
    if chunk is None:
        return max(1, _CHUNK_BYTES // (8 * max(1, n_clusters)))
    if isinstance(chunk, bool) or not isinstance(chunk, Integral) or chunk < 1:
        raise ValueError(f"chunk size must be a positive integer, got {chunk!r}")
    return int(chunk)


def _check_settings(samples: Any, seed: Any, confidence: Any, alpha: Any = 0.05) -> None:
    if isinstance(samples, bool) or not isinstance(samples, Integral) or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if (isinstance(confidence, bool) or not isinstance(confidence, Real)
            or not 0.0 < float(confidence) < 1.0):
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}")


def _resample(prepared: Sequence[_Prepared], samples: int, seed: int,
              chunk: Optional[int]) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Per entry, ``(accuracies [B, 1 + C], scores [B])`` over the same ``samples``
    resamples of the clusters (the entries must share their clusters)."""
    n_clusters = prepared[0].n_clusters
    accuracies = [np.full((samples, p.n_cols), np.nan) for p in prepared]
    if n_clusters:
        chunk = _chunk_size(chunk, n_clusters)
        rng = np.random.default_rng(seed)
        for start in range(0, samples, chunk):
            stop = min(samples, start + chunk)
            weights_t = np.empty((n_clusters, stop - start))
            for j in range(stop - start):
                # One call per resample, in order: the stream does not depend on chunking.
                drawn = rng.integers(0, n_clusters, size=n_clusters)
                weights_t[:, j] = np.bincount(drawn, minlength=n_clusters)
            for p, a in zip(prepared, accuracies):
                a[start:stop] = p.accuracies(weights_t)
    return [(a, p.scores(a)) for p, a in zip(prepared, accuracies)]


def _interval(values: np.ndarray, confidence: float) -> Optional[Tuple[float, float]]:
    """Percentile interval of the finite values (``None`` if there are none)."""
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    tail = 100.0 * (1.0 - float(confidence)) / 2.0
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- intervals


def bootstrap_intervals(o: QuestionOutcomes, *, samples: int = 1000, seed: int = 0,
                        confidence: float = 0.95,
                        _chunk_samples: Optional[int] = None) -> Dict[str, Any]:
    """Percentile intervals (percent) of the official score and of every cell.

    Returns ``{"score": (lo, hi) or None, "cells": {key: (lo, hi) or None}}``; ``None``
    where the point score is ``None`` (nothing to score), and everywhere when there are
    fewer than two clusters (resampling one video cannot vary). ``_chunk_samples`` overrides
    how many resamples are processed at once (tests use it; results do not depend on it).
    """
    _check_settings(samples, seed, confidence)
    score, cells = point_scores(o)
    prepared = _Prepared(o)
    accuracies, scores = _resample([prepared], int(samples), int(seed), _chunk_samples)[0]
    if prepared.n_clusters < 2:  # every resample is the one video again: no sampling error to show
        score, cells = None, dict.fromkeys(cells)
    return {
        "score": None if score is None else _interval(scores, confidence),
        "cells": {key: None if cells[key] is None else _interval(accuracies[:, 1 + i], confidence)
                  for i, key in enumerate(prepared.keys)},
    }


# --------------------------------------------------------------------------- tests


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when there are none).

    Questions both entries got right (or both wrong) say nothing about which is better;
    each discordant one is, if the entries are equally good, a fair coin.
    """
    for name, value in (("only_a", only_a), ("only_b", only_b)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer count, got {value!r}")
    n = int(only_a) + int(only_b)
    if n == 0:
        return 1.0
    return float(min(1.0, binomtest(int(only_a), n, 0.5).pvalue))


def holm(pvalues: Sequence[float]) -> List[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    Rejecting where the adjusted p < alpha controls the chance of any false "significant"
    among the pairs (family-wise error rate), with uniformly more power than Bonferroni.
    """
    p = np.asarray(list(pvalues), dtype=np.float64)
    if p.ndim != 1:
        raise ValueError("holm expects a flat sequence of p-values")
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must be numbers in [0, 1], got {list(pvalues)!r}")
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return [float(x) for x in adjusted]


def apply_holm(tests: Sequence[Dict[str, Any]], alpha: float) -> None:
    """Set ``p_holm`` (:func:`holm`, across the tests whose ``p`` is not None) and
    ``significant`` (``p_holm < alpha``) of those tests; the others are left as they are."""
    tested = [t for t in tests if t["p"] is not None]
    for t, adjusted in zip(tested, holm([t["p"] for t in tested])):
        t["p_holm"] = adjusted
        t["significant"] = bool(adjusted < alpha)


def _check_paired(a: QuestionOutcomes, b: QuestionOutcomes) -> None:
    """Both entries must have answered the same questions, in the same order, grouped
    the same way and scored the same way; otherwise a paired comparison means nothing."""
    if a.question_ids != b.question_ids:
        set_a, set_b = set(a.question_ids), set(b.question_ids)
        only_a = [q for q in a.question_ids if q not in set_b]
        only_b = [q for q in b.question_ids if q not in set_a]
        if only_a or only_b:
            parts = [f"{len(only)} only in {name} ({describe_ids(only)})"
                     for only, name in ((only_a, "a"), (only_b, "b")) if only]
            raise ValueError("paired comparison needs the same question_ids in a and b; "
                             + "; ".join(parts))
        pos = next(i for i, (x, y) in enumerate(zip(a.question_ids, b.question_ids)) if x != y)
        raise ValueError(f"paired comparison needs the question_ids in the same order; they "
                         f"first differ at position {pos} ({a.question_ids[pos]!r} in a, "
                         f"{b.question_ids[pos]!r} in b)")
    if not np.array_equal(a.clusters, b.clusters):
        pos = int(np.flatnonzero(a.clusters != b.clusters)[0])
        raise ValueError(f"paired comparison needs the same clusters in a and b; question "
                         f"{a.question_ids[pos]!r} is in cluster {int(a.clusters[pos])} in a "
                         f"and {int(b.clusters[pos])} in b")
    if a.macro_over != b.macro_over:
        raise ValueError(f"paired comparison needs the same official score; a's macro_over "
                         f"is {a.macro_over!r}, b's is {b.macro_over!r}")
    for key in a.macro_over or ():
        if not np.array_equal(a.cells[key], b.cells[key]):
            raise ValueError(f"paired comparison needs the same members in the macro cells; "
                             f"cell {key!r} differs between a and b")


def n_clusters(o: QuestionOutcomes) -> int:
    """How many distinct clusters (videos) the questions are in."""
    return len(np.unique(o.clusters))


def resampled_difference(d: float, diffs: np.ndarray, clusters: int,
                         confidence: float) -> Dict[str, Any]:
    """``{"ci", "p_bootstrap", "note"}`` of an observed difference ``d`` from its resampled
    values ``diffs`` (single checkpoints and seed groups alike).

    Why the guard: a statistic whose resamples cannot vary (fewer than 2 clusters, or every
    resample equal while ``d`` is not 0) finds no extreme resample and would get the
    smallest possible p with a zero-width interval, which reads as strong evidence where
    there is none. It gets ``None`` for both and a note; ``d == 0`` keeps p = 1. With few
    clusters the resamples may all lie on one side of 0: ``p_bootstrap`` is never below
    2^(1-n) for n clusters, the smallest p an exact paired sign-flip test can give.
    """
    diffs = diffs[np.isfinite(diffs)]
    tol = 1e-9 * max(1.0, abs(d))
    zero = abs(d) <= tol
    note = None
    if clusters < 2:
        note = ("the questions are all about one video: resampling cannot vary the difference, so there is "
                "no interval and no bootstrap p")
    elif not len(diffs) or np.ptp(diffs) <= tol:
        note = None if zero else ("every resample gives the same difference, so the bootstrap has no spread "
                                  "to test it against: no interval and no bootstrap p")
    if note is not None:
        return {"ci": None, "p_bootstrap": 1.0 if zero else None, "note": note}
    # Two-sided: how often the resampled difference strays from the observed one by at
    # least the observed distance from 0 (the null distribution, shifted to centre 0).
    extreme = int(np.count_nonzero(np.abs(diffs - d) >= abs(d)))
    p, floor = (1 + extreme) / (1 + len(diffs)), 2.0 ** (1 - clusters)
    if p < floor:  # few videos: the resamples vary, but none can cross 0
        note = (f"{clusters} videos: the bootstrap p ({p:.2g}) is raised to {floor:.2g}, the smallest p an exact "
                f"paired test can give with {clusters} videos (every sign flip of the per-video differences)")
    return {"ci": _interval(diffs, confidence), "p_bootstrap": max(p, floor), "note": note}


def _pair(a: Tuple[QuestionOutcomes, np.ndarray], b: Tuple[QuestionOutcomes, np.ndarray],
          confidence: float) -> Dict[str, Any]:
    (oa, scores_a), (ob, scores_b) = a, b
    only_a = int((oa.correct & ~ob.correct).sum())
    only_b = int((ob.correct & ~oa.correct).sum())
    mcnemar = {"only_a": only_a, "only_b": only_b, "p": mcnemar_exact(only_a, only_b)}
    score_a, score_b = point_scores(oa)[0], point_scores(ob)[0]
    if score_a is None or score_b is None:
        return {"difference": None, "ci": None, "p_bootstrap": None, "note": None, "mcnemar": mcnemar}
    d = score_a - score_b
    return {"difference": float(d),
            **resampled_difference(d, scores_a - scores_b, n_clusters(oa), confidence),
            "mcnemar": mcnemar}


def deciding_test(o: QuestionOutcomes, pair: Mapping[str, Any]) -> Tuple[str, Optional[float]]:
    """``(test, p)``: which p decides a paired comparison of entries scored like ``o``.

    McNemar's exact test only when the official score is micro accuracy (which it tests)
    and every video holds one question: it treats the discordant questions as independent
    coins, which questions of one video are not. Otherwise the video-paired bootstrap's p
    (``None`` where it has none). The one place that chooses, for board pairs, seed-group
    tables and the probe table alike; ``p`` is ``None`` when there is nothing to score.
    """
    test = decided_by(o)
    if pair["difference"] is None:
        return test, None
    return test, (pair["mcnemar"]["p"] if test == "mcnemar" else pair["p_bootstrap"])


def decided_by(o: QuestionOutcomes) -> str:
    """The test :func:`deciding_test` takes the p of, known before any resampling (a caller
    that needs no interval skips the bootstrap when McNemar decides)."""
    return "mcnemar" if o.macro_over is None and n_clusters(o) == len(o.question_ids) else "paired_bootstrap"


def paired_comparison(a: QuestionOutcomes, b: QuestionOutcomes, *, samples: int = 1000,
                      seed: int = 0, confidence: float = 0.95,
                      _chunk_samples: Optional[int] = None) -> Dict[str, Any]:
    """Compare two entries on the same questions: ``score(a) - score(b)`` in points.

    Returns ``{"difference", "ci", "p_bootstrap", "note", "mcnemar": {"only_a", "only_b", "p"}}``.
    Each resample draws the same clusters for both entries, so what varies is only the
    difference, not the difficulty of the drawn questions (a paired test is far more
    sensitive than comparing two separate intervals). ``difference``, ``ci`` and
    ``p_bootstrap`` are ``None`` when there is nothing to score; ``ci`` and ``p_bootstrap``
    also when the resamples cannot vary (``note`` says why: :func:`resampled_difference`).
    Raises ``ValueError`` when the entries did not answer the same questions in the same
    order with the same clusters and the same official score.
    """
    _check_settings(samples, seed, confidence)
    _check_paired(a, b)
    (_, sa), (_, sb) = _resample([_Prepared(a), _Prepared(b)], int(samples), int(seed),
                                 _chunk_samples)
    return _pair((a, sa), (b, sb), confidence)


def compare_all(outcomes: Mapping[str, QuestionOutcomes], *, samples: int = 1000,
                seed: int = 0, confidence: float = 0.95, alpha: float = 0.05,
                _chunk_samples: Optional[int] = None) -> List[Dict[str, Any]]:
    """Every unordered pair of entries of one table, with Holm's correction across them.

    Pairs follow the mapping's order (``a`` before ``b``). Each is
    ``{"a", "b", "difference", "ci", "test", "p", "p_holm", "significant", "p_bootstrap",
    "mcnemar", "note"}``: ``test`` and ``p`` are :func:`deciding_test`'s and
    ``significant`` is ``p_holm < alpha``. A pair with nothing to score, or whose
    bootstrap cannot vary when the bootstrap decides (``note`` says why), has ``p`` and
    ``p_holm`` ``None`` and is left out of the correction. Every pair sees the same
    resamples, so a pair's figures equal :func:`paired_comparison`'s with the same seed.
    """
    _check_settings(samples, seed, confidence, alpha)
    names = list(outcomes)
    if len(names) < 2:
        return []
    for name in names[1:]:
        try:
            _check_paired(outcomes[names[0]], outcomes[name])
        except ValueError as error:
            raise ValueError(f"entries {names[0]!r} and {name!r}: {error}") from None
    resampled = _resample([_Prepared(outcomes[n]) for n in names], int(samples), int(seed),
                          _chunk_samples)
    scores = {n: s for n, (_, s) in zip(names, resampled)}
    results: List[Dict[str, Any]] = []
    for i, name_a in enumerate(names):
        for name_b in names[i + 1:]:
            oa, ob = outcomes[name_a], outcomes[name_b]
            pair = _pair((oa, scores[name_a]), (ob, scores[name_b]), confidence)
            test, p = deciding_test(oa, pair)
            results.append({"a": name_a, "b": name_b, "difference": pair["difference"],
                            "ci": pair["ci"], "test": test, "p": p, "p_holm": None,
                            "significant": False, "p_bootstrap": pair["p_bootstrap"],
                            "mcnemar": pair["mcnemar"], "note": pair["note"]})
    apply_holm(results, alpha)
    return results
