"""The rows of a board's table, and the finished results they are computed from.

Shared by :mod:`.board` (a table's rows) and :mod:`.probe_table` (the same rows under a
probe): which entries a table has, loading an entry's current result (or listing it as
failed, pending or stale: :mod:`.freshness`), and a single checkpoint's or a seed group's
row, with its per-question outcomes for the paired tests (:mod:`gf.evaluation.stats`,
:mod:`.seed_stats`).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gf.leaderboards.freshness import ResultCheck, read_done, read_result_files
from gf.leaderboards.results import ResultPaths, read_json_or_none

__all__ = ["Measured", "Result", "entries_for", "group_row", "load_results", "resampling", "single_row"]

#: A cell's accuracy recomputed from per-question outcomes must match the report to this.
_TOLERANCE = 1e-6


def resampling(statistics: Mapping[str, Any]) -> Dict[str, Any]:
    """The resampling settings of the manifest's ``statistics`` (for intervals and tests)."""
    return dict(samples=statistics["bootstrap_samples"], seed=statistics["seed"],
                confidence=statistics["confidence"])


def entries_for(manifest: Mapping[str, Any], benchmark: str, split: str) -> List[Mapping[str, Any]]:
    entries = []
    for entry in manifest["entries"]:
        if entry["predictions"]:
            if split in (entry["predictions"].get(benchmark) or {}):
                entries.append(entry)
        elif entry["benchmarks"] is None or benchmark in entry["benchmarks"]:
            entries.append(entry)
    return entries


@dataclass
class Result:
    """One finished result: an entry's, or one seed's of a seed group."""

    seed: Optional[int]
    evaluator: str
    report: Dict[str, Any]
    predictions: Dict[str, Any]
    provenance: Dict[str, Any]


@dataclass
class Measured:
    """An entry with its finished results (one, or one per finished seed of a group)."""

    name: str
    is_group: bool
    results: List[Result]


def load_results(check: ResultCheck, entry: Mapping[str, Any], benchmark: str, split: str,
                 split_record: Optional[Mapping[str, Any]], table: Dict[str, Any], probe: Optional[str] = None,
                 probe_seed: Optional[int] = None) -> List[Result]:
    """The finished, current results of ``entry`` (one per seed of a seed group) by
    :func:`load_result`; the others are listed in ``table``."""
    seeds = entry.get("seeds") if entry.get("checkpoints") else None
    found = [load_result(check, entry["name"], seed, benchmark, split, split_record, table, probe, probe_seed)
             for seed in (seeds or [None])]
    return [r for r in found if r is not None]


def load_result(check: ResultCheck, name: str, seed: Optional[int], benchmark: str, split: str,
                split_record: Optional[Mapping[str, Any]], table: Dict[str, Any], probe: Optional[str] = None,
                probe_seed: Optional[int] = None) -> Optional[Result]:
    """A finished, current result (under ``probe``, if given); else None, with the entry (and
    seed, and probe) listed in ``table`` as failed, pending or stale (a kept result whose
    inputs or files changed since, or that was computed on another version of the split:
    :mod:`.freshness`)."""
    label = name if seed is None else f"{name} (seed {seed})"
    if probe is not None:
        label += f" under {probe}"
    paths = ResultPaths(check.root, name, benchmark, split, seed=seed, probe=probe, probe_seed=probe_seed)
    done, damaged = read_done(paths)
    if damaged is not None:
        return _mark_stale(check, table, label, name, [damaged], None)
    if done is not None and table.get("split_problem"):  # a damaged split record: nothing on it can be checked
        return _mark_stale(check, table, label, name, [table["split_problem"]], done)
    if done is None or split_record is None:
        failed = read_json_or_none(paths.failed, "leaderboard failure record")
        if failed is not None:
            table["failures"].append({"entry": label, "error": failed.get("error", "")})
        else:
            table["pending"].append(label)
        return None
    scope = done["provenance"].get("split_fingerprint_scope", "features")
    on_record = split_record.get("annotations_fingerprint" if scope == "annotations" else "fingerprint")
    problems = [] if on_record == done["provenance"].get("split_fingerprint") else [
        "its result was computed on another version of the split (a later run evaluated other entries on the "
        "split as it is now)"]
    # the split's files changed on disk since (a feature file means nothing to a result scored without them)
    problems += [why for kind, why in split_record.get("changed") or []
                 if not (scope == "annotations" and kind == "features")]
    problems += check.problems(paths, done, name, benchmark, split, seed)
    if not problems:
        report, predictions, problems = read_result_files(paths, list(split_record["videos"]))
    if problems:
        return _mark_stale(check, table, label, name, problems, done)
    return Result(seed=seed, evaluator=done["evaluator"], report=report, predictions=predictions,
                   provenance=done["provenance"])


def _mark_stale(check: ResultCheck, table: Dict[str, Any], label: str, name: str, problems: Sequence[str],
                done: Optional[Mapping[str, Any]]) -> None:
    """List a kept result that is not current under ``table["stale"]``: what changed, and the
    command that evaluates it again."""
    table["stale"].append({"entry": label, "reason": "; ".join(problems), "refresh": check.refresh_command(name),
                           "provenance": dict((done or {}).get("provenance") or {})})
    return None


def _outcomes(evaluator, records: Mapping[str, Mapping[str, Any]], info: Mapping[str, Any],
              videos: Mapping[str, str], macro_over: Optional[List[str]], order: List[str]):
    """The per-question outcomes of one result, in the split's question order; None when the
    split is unlabelled. Cells are None when the evaluator cannot say per question."""
    from gf.evaluation.core import outcome
    from gf.evaluation.stats import QuestionOutcomes

    known = {q: outcome(records[q]) for q in order}
    qids = [q for q in order if known[q] is not None]
    if not qids:
        return None
    correct = np.array([bool(known[q]) for q in qids])
    video_index: Dict[str, int] = {}
    clusters = np.array([video_index.setdefault(videos.get(q, q), len(video_index)) for q in qids], dtype=np.int64)
    cells: Dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(qids), dtype=bool))
    try:
        for i, q in enumerate(qids):
            for breakdown, categories in evaluator.question_categories(q, records[q], info).items():
                for category in categories:
                    cells[f"{breakdown}/{category}"][i] = True
        categorised = True
    except NotImplementedError:
        cells, categorised = {}, False
    macro = tuple(macro_over) if macro_over is not None and categorised else None
    return QuestionOutcomes(question_ids=tuple(qids), correct=correct, clusters=clusters, cells=dict(cells),
                            macro_over=macro), categorised


def _report_cells(report: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {f"{b}/{c}": cell for b, cells in report.get("breakdowns", {}).items() for c, cell in cells.items()}


def _close(a: Optional[float], b: Optional[float]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=0, abs_tol=_TOLERANCE)


def _checked_outcomes(label: str, result: Result, evaluator, split_record: Mapping[str, Any],
                      score_key: str, table: Dict[str, Any]):
    """The result's per-question outcomes and which of its report's cells they reproduce,
    when they reproduce its official score; else None (with a note when that is a surprise)."""
    from gf.evaluation import stats

    report = result.report
    macro_over = None
    if getattr(evaluator, "macro_breakdown", None) and report.get("mean_over") is not None:
        macro_over = [f"{evaluator.macro_breakdown}/{c}" for c in report["mean_over"]]
    found = _outcomes(evaluator, result.predictions, split_record.get("info", {}), split_record.get("videos", {}),
                      macro_over, list(split_record.get("videos") or sorted(result.predictions)))
    if found is None:
        return None
    qo, categorised = found
    point, point_cells = stats.point_scores(qo)
    if not categorised and getattr(evaluator, "macro_breakdown", None):
        table["notes"].append(f"{label}: the evaluator does not say which category each question is in, so its "
                              f"macro score has no interval")
        return None
    if not _close(point, report.get(score_key)):
        table["notes"].append(f"{label}: per-question outcomes give {point} where the report says "
                              f"{report.get(score_key)}; no interval or test is shown for it (an evaluator whose "
                              f"question_categories disagree with its report)")
        return None
    if not categorised and _report_cells(report):  # an evaluator without question_categories (it is optional)
        table["notes"].append(f"{label}: the evaluator does not say which category each question is in, so its "
                              f"breakdown cells have no interval")
    reproduced = {key: key in point_cells and _close(point_cells[key], cell.get("accuracy"))
                  for key, cell in _report_cells(report).items()}
    return qo, reproduced


def single_row(entry: Measured, evaluator, split_record: Mapping[str, Any], table: Dict[str, Any],
                statistics: Mapping[str, Any]):
    """A single checkpoint's (or predictions file's) row, and its outcomes for the pairs."""
    from gf.evaluation import stats

    [result] = entry.results
    report = result.report
    cells = {k: {"value": v.get("accuracy"), "ci": None} for k, v in _report_cells(report).items()}
    row = {"entry": entry.name, "kind": "measured", "provenance": result.provenance,
           "score": report.get(table["score_key"]), "ci": None, "cells": cells,
           "num_questions": report.get("num_questions"), "significantly_below_best": False}
    checked = _checked_outcomes(entry.name, result, evaluator, split_record, table["score_key"], table)
    if checked is None:
        return row, None
    qo, reproduced = checked
    intervals = stats.bootstrap_intervals(qo, **resampling(statistics))
    row["ci"] = list(intervals["score"]) if intervals["score"] is not None else None
    for key, cell in cells.items():
        if reproduced.get(key) and intervals["cells"].get(key) is not None:
            cell["ci"] = list(intervals["cells"][key])
    return row, qo


def _shared_provenance(results: Sequence[Result]) -> Dict[str, Any]:
    """A group's provenance: each field's value where its seeds agree, else their values
    joined with "; " in seed order (each seed's own is under the row's ``members``; the
    seeds themselves under ``group``)."""
    keys = [k for k in dict.fromkeys(k for r in results for k in r.provenance) if k != "seed"]
    out = {}
    for key in keys:
        values = [r.provenance.get(key) for r in results]
        out[key] = values[0] if all(v == values[0] for v in values) else "; ".join(str(v) for v in values)
    return out


def _mean_sd_or_none(values: Sequence[Any]) -> Tuple[Optional[float], Optional[float]]:
    from gf.leaderboards.seed_stats import mean_sd

    if not values or any(v is None for v in values):
        return None, None
    return mean_sd(values)


def group_row(entry: Measured, evaluator, split_record: Mapping[str, Any], table: Dict[str, Any],
               statistics: Mapping[str, Any]):
    """A seed group's row: per figure the mean and sample sd over its finished seeds and the
    two-level interval (:mod:`.seed_stats`); and its seeds' outcomes for the pairs."""
    from gf.leaderboards import seed_stats

    results = entry.results
    scores = [r.report.get(table["score_key"]) for r in results]
    score, sd = _mean_sd_or_none(scores)
    cells, by_seed = {}, [_report_cells(r.report) for r in results]
    for key in by_seed[0]:
        value, cell_sd = _mean_sd_or_none([seed_cells.get(key, {}).get("accuracy") for seed_cells in by_seed])
        cells[key] = {"value": value, "ci": None, "sd": cell_sd}
    worst = None if score is None else min(zip(scores, [r.seed for r in results]))
    row = {"entry": entry.name, "kind": "measured", "provenance": _shared_provenance(results),
           "score": score, "sd": sd, "ci": None, "cells": cells,
           "num_questions": results[0].report.get("num_questions"), "significantly_below_best": False,
           "group": {"n": len(results), "seeds": [r.seed for r in results], "scores": scores,
                     "worst": None if worst is None else {"seed": worst[1], "score": worst[0]}},
           "members": [{"seed": r.seed, "score": s, "provenance": r.provenance} for r, s in zip(results, scores)]}
    checked = [_checked_outcomes(f"{entry.name} (seed {r.seed})", r, evaluator, split_record, table["score_key"],
                                 table) for r in results]
    if any(c is None for c in checked):
        return row, None
    members = [qo for qo, _ in checked]
    intervals = seed_stats.group_intervals(members, **resampling(statistics))
    row["ci"] = list(intervals["score"]) if intervals["score"] is not None else None
    for key, cell in cells.items():
        if all(reproduced.get(key) for _, reproduced in checked) and intervals["cells"].get(key) is not None:
            cell["ci"] = list(intervals["cells"][key])
    return row, members
