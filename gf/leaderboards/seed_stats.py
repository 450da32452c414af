"""Statistics of seed groups: several training runs (seeds) of one model on one split.

One checkpoint's interval (:mod:`gf.evaluation.stats`) says how much its score could move had the
questions been drawn again; it says nothing of how much the *model* could move had it been
trained again with another seed, and one lucky seed can look like a significant win. A
seed group's row therefore shows the mean and the sample standard deviation (n - 1) of
its seeds' figures, and an interval that includes both sources of variation.

Methods: a seeded *two-level bootstrap*, first the seeds, then the clusters (videos) as
:mod:`gf.evaluation.stats` draws them, for a group's interval (:func:`group_intervals`) and
for a pair with a group (:func:`group_comparison`, :func:`compare_groups`); the same seeds
evaluated twice, unperturbed and under a temporal probe, are paired at both levels
(:func:`seed_paired_comparison`). Why each level is drawn so, the assumptions, and the
coverage measured by simulation: docs/leaderboards.md, "Seed groups" (and "Temporal
sensitivity" for the probe pairing).

The exact random stream (per resample, each group's seeds in the given order, then the
clusters as :mod:`gf.evaluation.stats` draws them): docs/leaderboards.md, "Seed groups".
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from gf.evaluation.stats import (
    QuestionOutcomes,
    _check_paired,
    _check_settings,
    _interval,
    _Prepared,
    _chunk_size,
    apply_holm,
    compare_all,
    n_clusters,
    point_scores,
    resampled_difference,
)

__all__ = ["compare_groups", "group_comparison", "group_intervals", "group_points", "mean_sd",
           "seed_paired_comparison"]

#: The test of a pair that involves a seed group (see the module docstring).
TWO_LEVEL_TEST = "two_level_bootstrap"
#: The test of one group's seeds against themselves under a probe (seeds drawn once for both).
SEED_PAIRED_TEST = "seed_paired_two_level_bootstrap"


def mean_sd(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    """The mean and the sample standard deviation (n - 1; ``None`` for one value)."""
    x = np.asarray(list(values), dtype=np.float64)
    if not len(x):
        raise ValueError("mean_sd needs at least one value")
    return float(x.mean()), (float(x.std(ddof=1)) if len(x) > 1 else None)


def _check_group(members: Sequence[QuestionOutcomes], what: str = "the group") -> List[QuestionOutcomes]:
    """The seeds of a group must be paired (same questions, clusters, official score) and
    have the same cells, which the resampling adds up column by column."""
    members = list(members)
    if not members:
        raise ValueError(f"{what} has no seed")
    for k, member in enumerate(members[1:], start=1):
        try:
            _check_paired(members[0], member)
        except ValueError as error:
            raise ValueError(f"{what}: seed {k} and seed 0: {error}") from None
        if tuple(member.cells) != tuple(members[0].cells):
            raise ValueError(f"{what}: seed {k} has the cells {list(member.cells)}, seed 0 "
                             f"{list(members[0].cells)}")
    return members


def group_points(members: Sequence[QuestionOutcomes]) -> Dict[str, Any]:
    """The per-seed official scores and cell accuracies (percent) and their mean and sd.

    Returns ``{"scores": [...], "score": mean, "sd": sd, "cells": {key: (mean, sd)}}``;
    ``score`` and a cell's pair are ``None`` where a seed has nothing to score there.
    """
    members = _check_group(members)
    points = [point_scores(o) for o in members]
    scores = [s for s, _ in points]
    out: Dict[str, Any] = {"scores": scores, "score": None, "sd": None, "cells": {}}
    if all(s is not None for s in scores):
        out["score"], out["sd"] = mean_sd(scores)
    for key in members[0].cells:
        values = [cells[key] for _, cells in points]
        out["cells"][key] = mean_sd(values) if all(v is not None for v in values) else None
    return out


# --------------------------------------------------------------------------- resampling


def _draw(groups: Sequence[Sequence[_Prepared]], n_clusters: int, rng: np.random.Generator,
          b: int) -> Tuple[List[np.ndarray], np.ndarray]:
    """``b`` resamples: per group its seed counts ``[S, b]``, and the cluster weights
    ``[K, b]`` shared by all groups (one call per group, then one for the clusters, per
    resample in order: the stream does not depend on the chunking)."""
    seed_counts = [np.empty((len(g), b)) for g in groups]
    weights_t = np.empty((n_clusters, b))
    for j in range(b):
        for counts, g in zip(seed_counts, groups):
            counts[:, j] = np.bincount(rng.integers(0, len(g), size=len(g)), minlength=len(g))
        weights_t[:, j] = np.bincount(rng.integers(0, n_clusters, size=n_clusters), minlength=n_clusters)
    return seed_counts, weights_t


def _group_mean(group: Sequence[_Prepared], counts: np.ndarray,
                weights_t: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(accuracies [b, 1 + C], scores [b])``: per resample, the mean over the drawn
    seeds (each counted as often as drawn) of each seed's figures under the drawn clusters
    (NaN where they are empty)."""
    n = len(group)
    accuracies = np.zeros((weights_t.shape[1], group[0].n_cols))
    scores = np.zeros(weights_t.shape[1])
    for s, prepared in enumerate(group):
        acc = prepared.accuracies(weights_t)
        drawn = counts[s] > 0  # a seed not drawn adds nothing, even where its figure is NaN
        accuracies += np.where(drawn[:, None], counts[s][:, None] * acc, 0.0)
        scores += np.where(drawn, counts[s] * prepared.scores(acc), 0.0)
    return accuracies / n, scores / n


def _resample_groups(groups: Sequence[Sequence[QuestionOutcomes]], samples: int, seed: int,
                     chunk: Optional[int], *, same_seeds: bool = False) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Per group, ``(accuracies [B, 1 + C], scores [B])`` of its mean over ``samples``
    two-level resamples (see the module docstring); all groups see the same clusters, and
    with ``same_seeds`` (the same seeds evaluated twice) the first group's seed draw too."""
    prepared = [[_Prepared(o) for o in g] for g in groups]
    n_clusters = prepared[0][0].n_clusters
    out = [(np.full((samples, g[0].n_cols), np.nan), np.full(samples, np.nan)) for g in prepared]
    if n_clusters == 0:
        return out
    chunk = _chunk_size(chunk, n_clusters)
    rng = np.random.default_rng(seed)
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        seed_counts, weights_t = _draw(prepared[:1] if same_seeds else prepared, n_clusters, rng, stop - start)
        if same_seeds:
            seed_counts = seed_counts * len(prepared)
        for g, counts, (accuracies, scores) in zip(prepared, seed_counts, out):
            accuracies[start:stop], scores[start:stop] = _group_mean(g, counts, weights_t)
    return out


# --------------------------------------------------------------------------- intervals


def group_intervals(members: Sequence[QuestionOutcomes], *, samples: int = 1000, seed: int = 0,
                    confidence: float = 0.95,
                    _chunk_samples: Optional[int] = None) -> Dict[str, Any]:
    """Two-level percentile intervals (percent) of a group's mean score and mean cells.

    Returns ``{"score": (lo, hi) or None, "cells": {key: (lo, hi) or None}}``, ``None``
    where a seed has nothing to score, and everywhere from fewer than two clusters (the
    question sampling cannot be resampled). ``members``: one :class:`QuestionOutcomes` per
    seed, on the same questions. With one seed this is the video bootstrap of
    :func:`gf.evaluation.stats.bootstrap_intervals` (other draws, the same method).
    """
    _check_settings(samples, seed, confidence)
    members = _check_group(members)
    points = group_points(members)
    [(accuracies, scores)] = _resample_groups([members], int(samples), int(seed), _chunk_samples)
    if n_clusters(members[0]) < 2:  # one video: the seeds alone would vary, not the questions
        points = {"score": None, "cells": dict.fromkeys(points["cells"])}
    return {
        "score": None if points["score"] is None else _interval(scores, confidence),
        "cells": {key: None if points["cells"][key] is None else _interval(accuracies[:, 1 + i], confidence)
                  for i, key in enumerate(members[0].cells)},
    }


# --------------------------------------------------------------------------- tests


def _as_group(value: Union[QuestionOutcomes, Sequence[QuestionOutcomes]]) -> List[QuestionOutcomes]:
    return [value] if isinstance(value, QuestionOutcomes) else list(value)


def _group_pair(a: Sequence[QuestionOutcomes], scores_a: np.ndarray, b: Sequence[QuestionOutcomes],
                scores_b: np.ndarray, confidence: float) -> Dict[str, Any]:
    mean_a, mean_b = group_points(a)["score"], group_points(b)["score"]
    if mean_a is None or mean_b is None:
        return {"difference": None, "ci": None, "p_bootstrap": None, "note": None}
    d = mean_a - mean_b  # the interval and centred p as for single checkpoints, with the same guard
    return {"difference": float(d), **resampled_difference(d, scores_a - scores_b, n_clusters(a[0]), confidence)}


def group_comparison(a: Union[QuestionOutcomes, Sequence[QuestionOutcomes]],
                     b: Union[QuestionOutcomes, Sequence[QuestionOutcomes]], *, samples: int = 1000,
                     seed: int = 0, confidence: float = 0.95,
                     _chunk_samples: Optional[int] = None) -> Dict[str, Any]:
    """Compare two groups (a single checkpoint is a group of one): ``mean(a) - mean(b)``.

    Returns ``{"difference", "ci", "p_bootstrap", "note"}`` from the paired two-level
    bootstrap (each group's seeds drawn independently, the same clusters for both); ``ci``
    and ``p_bootstrap`` are ``None`` (``note``: why) when the resamples cannot vary, as in
    :func:`gf.evaluation.stats.resampled_difference`. Raises
    ``ValueError`` when the seeds did not answer the same questions with the same clusters
    and the same official score.
    """
    _check_settings(samples, seed, confidence)
    groups = [_check_group(_as_group(a), "a"), _check_group(_as_group(b), "b")]
    _check_paired(groups[0][0], groups[1][0])
    (_, sa), (_, sb) = _resample_groups(groups, int(samples), int(seed), _chunk_samples)
    return _group_pair(groups[0], sa, groups[1], sb, confidence)


def compare_groups(entries: Mapping[str, Union[QuestionOutcomes, Sequence[QuestionOutcomes]]], *,
                   samples: int = 1000, seed: int = 0, confidence: float = 0.95, alpha: float = 0.05,
                   _chunk_samples: Optional[int] = None) -> List[Dict[str, Any]]:
    """Every unordered pair of a table whose entries are single checkpoints
    (:class:`QuestionOutcomes`) or seed groups (a sequence of them), Holm across all pairs.

    Pairs follow the mapping's order and have the keys of
    :func:`gf.evaluation.stats.compare_all`'s. A pair of two single checkpoints is decided
    as there (its raw p-value unchanged); a pair with a group by the paired two-level
    bootstrap (``test`` is ``"two_level_bootstrap"``, ``mcnemar`` is ``None``).
    """
    _check_settings(samples, seed, confidence, alpha)
    names = list(entries)
    groups = {n: _check_group(_as_group(entries[n]), repr(n)) for n in names}
    for name in names[1:]:
        try:
            _check_paired(groups[names[0]][0], groups[name][0])
        except ValueError as error:
            raise ValueError(f"entries {names[0]!r} and {name!r}: {error}") from None
    singles = [n for n in names if isinstance(entries[n], QuestionOutcomes)]
    single_pairs = {(r["a"], r["b"]): r for r in compare_all(
        {n: entries[n] for n in singles}, samples=samples, seed=seed, confidence=confidence, alpha=alpha,
        _chunk_samples=_chunk_samples)}
    resampled = _resample_groups([groups[n] for n in names], int(samples), int(seed), _chunk_samples)
    scores = {n: s for n, (_, s) in zip(names, resampled)}
    results: List[Dict[str, Any]] = []
    for i, name_a in enumerate(names):
        for name_b in names[i + 1:]:
            if (name_a, name_b) in single_pairs:
                results.append(dict(single_pairs[(name_a, name_b)]))
                continue
            pair = _group_pair(groups[name_a], scores[name_a], groups[name_b], scores[name_b], confidence)
            results.append({"a": name_a, "b": name_b, "difference": pair["difference"], "ci": pair["ci"],
                            "test": TWO_LEVEL_TEST, "p": pair["p_bootstrap"], "p_holm": None,
                            "significant": False, "p_bootstrap": pair["p_bootstrap"], "mcnemar": None,
                            "note": pair["note"]})
    apply_holm(results, alpha)
    return results


def seed_paired_comparison(a: Sequence[QuestionOutcomes], b: Sequence[QuestionOutcomes], *, samples: int = 1000,
                           seed: int = 0, confidence: float = 0.95,
                           _chunk_samples: Optional[int] = None) -> Dict[str, Any]:
    """The same seeds evaluated twice: ``a[k]`` and ``b[k]`` are one checkpoint's outcomes
    (e.g. unperturbed and under a probe). ``mean(a) - mean(b)`` by a two-level bootstrap
    paired at both levels: per resample one draw of the seeds (used for ``a`` and ``b``),
    then one of the clusters (the stream of :func:`group_intervals` for one group).

    Returns ``{"difference", "ci", "p_bootstrap", "note"}`` as :func:`group_comparison`. Raises
    ``ValueError`` when the lists differ in length or the outcomes are not paired.
    """
    _check_settings(samples, seed, confidence)
    a, b = _check_group(a, "a"), _check_group(b, "b")
    if len(a) != len(b):
        raise ValueError(f"a has {len(a)} seeds and b {len(b)}; a seed-paired comparison needs the same seeds")
    for k, (x, y) in enumerate(zip(a, b)):
        try:
            _check_paired(x, y)
        except ValueError as error:
            raise ValueError(f"seed {k}: {error}") from None
    (_, scores_a), (_, scores_b) = _resample_groups([a, b], int(samples), int(seed), _chunk_samples,
                                                    same_seeds=True)
    return _group_pair(a, scores_a, b, scores_b, confidence)
