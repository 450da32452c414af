"""Assemble a board from whatever results a leaderboard's output folder holds.

Nothing here evaluates a model or reads the benchmark's data: the results (predictions and
reports) and the per-split records that :mod:`.engine` saved are enough, so ``gf leaderboard
show`` can merge the results of several shards, or re-render after a crash.

Figures: each row's official score and breakdown cells are the evaluator's report,
unchanged; the intervals and paired tests come from :mod:`.stats`, computed on the same
per-question outcomes (the evaluator's :meth:`~gf.evaluation.base.Evaluator.question_categories`
says which cells a question counts in). Where the outcomes do not reproduce a report's
figure, that figure keeps no interval rather than a wrong one.

A seed group's row (an entry with ``checkpoints:``) holds, per figure, the mean over its
finished seeds' reports and their sample sd (``sd``), with the two-level interval of
:mod:`.seed_stats`; ``group`` says how many seeds, which, each one's score and the worst;
``members`` keeps each seed's provenance. Its pairs use the two-level paired bootstrap,
those of two single checkpoints the tests of :mod:`.stats`, with Holm across all of them.

A table of a benchmark with ``probes:`` also holds ``probes``, its temporal sensitivity
table (:mod:`.probe_table`); a table without probes is exactly as before.

Only current results become figures. Each kept result is checked against its inputs (its
checkpoint or predictions file, its config files, what the manifest says of it, its own
predictions and report, and the split it was computed on; :mod:`.freshness`): one that no
longer matches is listed in the table's ``stale`` (what changed, and the command that
evaluates it again), and an entry with no current result but a stale one gets a row of
kind ``stale`` with no figures, after the measured rows: never bold, never ranked, never
in a pair. A seed group's stale seeds are left out of its row like unfinished ones.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gf.common.errors import GfError
from gf.common.io import load_json
from gf.common.utils import PathLike
from gf.leaderboards.freshness import ResultCheck, question_problems, read_done
from gf.leaderboards.results import ResultPaths, read_json_or_none, split_file
from gf.leaderboards.stats import QuestionOutcomes

__all__ = ["BOARD_FORMAT", "assemble_board", "load_saved_manifest"]

logger = logging.getLogger("gf.leaderboard")

BOARD_FORMAT = "gf-leaderboard"
BOARD_VERSION = 1
#: A cell's accuracy recomputed from per-question outcomes must match the report to this.
_TOLERANCE = 1e-6


def load_saved_manifest(root: PathLike) -> Dict[str, Any]:
    """The manifest the last run of the leaderboard in ``root`` read (``Manifest.to_dict()`` form)."""
    from gf.leaderboards.folder import load_saved_record

    return load_saved_record(root)["manifest"]


def _entries_for(manifest: Mapping[str, Any], benchmark: str, split: str) -> List[Mapping[str, Any]]:
    entries = []
    for entry in manifest["entries"]:
        if entry["predictions"]:
            if split in (entry["predictions"].get(benchmark) or {}):
                entries.append(entry)
        elif entry["benchmarks"] is None or benchmark in entry["benchmarks"]:
            entries.append(entry)
    return entries


@dataclass
class _Result:
    """One finished result: an entry's, or one seed's of a seed group."""

    seed: Optional[int]
    evaluator: str
    report: Dict[str, Any]
    predictions: Dict[str, Any]
    provenance: Dict[str, Any]


@dataclass
class _Measured:
    """An entry with its finished results (one, or one per finished seed of a group)."""

    name: str
    is_group: bool
    results: List[_Result]


def _load_result(check: ResultCheck, name: str, seed: Optional[int], benchmark: str, split: str,
                 split_record: Optional[Mapping[str, Any]], table: Dict[str, Any], probe: Optional[str] = None,
                 probe_seed: Optional[int] = None) -> Optional[_Result]:
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
    problems += check.problems(paths, done, name, benchmark, split, seed)
    if not problems:
        try:
            report = load_json(paths.report, "leaderboard report")
            predictions = load_json(paths.predictions, "leaderboard predictions")["predictions"]
            if split_record.get("videos"):
                problems += question_problems(predictions, list(split_record["videos"]), paths.predictions)
        except (GfError, KeyError, TypeError) as error:
            problems.append(f"its files cannot be read ({error})")
    if problems:
        return _mark_stale(check, table, label, name, problems, done)
    return _Result(seed=seed, evaluator=done["evaluator"], report=report, predictions=predictions,
                   provenance=done["provenance"])


def _mark_stale(check: ResultCheck, table: Dict[str, Any], label: str, name: str, problems: Sequence[str],
                done: Optional[Mapping[str, Any]]) -> None:
    """List a kept result that is not current under ``table["stale"]``: what changed, and the
    command that evaluates it again."""
    table["stale"].append({"entry": label, "reason": "; ".join(problems), "refresh": check.refresh_command(name),
                           "provenance": dict((done or {}).get("provenance") or {})})
    return None


def _stale_row(name: str, stale: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """The row of an entry none of whose results is current but some are stale: no figures
    (a figure of inputs that changed is not this entry's), never ranked or compared."""
    reason = stale[0]["reason"] if len(stale) == 1 else "; ".join(f"{s['entry']}: {s['reason']}" for s in stale)
    return {"entry": name, "kind": "stale", "stale": True, "stale_reason": reason, "score": None, "ci": None,
            "cells": {}, "num_questions": None, "provenance": stale[0]["provenance"]}


def _load(manifest: Mapping[str, Any], check: ResultCheck, benchmark: str, split: str,
          split_record: Optional[Mapping[str, Any]], table: Dict[str, Any]) -> Tuple[List[_Measured], List[Dict]]:
    """The entries with current results, and the stale rows of those with none."""
    measured, stale_rows = [], []
    for entry in _entries_for(manifest, benchmark, split):
        seeds = entry.get("seeds") if entry.get("checkpoints") else None
        before = len(table["stale"])
        results = [r for r in (_load_result(check, entry["name"], seed, benchmark, split, split_record, table)
                               for seed in (seeds or [None])) if r is not None]
        if seeds and results and len(results) < len(seeds):
            table["notes"].append(f"{entry['name']}: {len(results)} of its {len(seeds)} seeds are finished and "
                                  f"current; its row is over those (seeds {', '.join(str(r.seed) for r in results)})")
        new = check.new_checkpoints(entry) if seeds else []
        if new:
            table["pending"] += [f"{entry['name']} (new checkpoint {path})" for path in new]
            table["notes"].append(f"{entry['name']}: its checkpoints pattern now also matches {', '.join(new)}, "
                                  f"which the last run did not evaluate; its row is over its other seeds. Refresh: "
                                  f"{check.refresh_command(entry['name'])}")
        if results:
            measured.append(_Measured(name=entry["name"], is_group=bool(seeds), results=results))
        elif len(table["stale"]) > before:
            stale_rows.append(_stale_row(entry["name"], table["stale"][before:]))
    return measured, stale_rows


def _outcomes(evaluator, records: Mapping[str, Mapping[str, Any]], info: Mapping[str, Any],
              videos: Mapping[str, str], macro_over: Optional[List[str]], order: List[str]):
    """The per-question outcomes of one result, in the split's question order; None when the
    split is unlabelled. Cells are None when the evaluator cannot say per question."""
    from gf.evaluation.core import outcome
    from gf.leaderboards.stats import QuestionOutcomes

    qids = [q for q in order if outcome(records[q]) is not None]
    if not qids:
        return None
    correct = np.array([bool(outcome(records[q])) for q in qids])
    video_index: Dict[str, int] = {}
    clusters = np.array([video_index.setdefault(videos.get(q, q), len(video_index)) for q in qids], dtype=np.int64)
    cells: Dict[str, np.ndarray] = {}
    try:
        for i, q in enumerate(qids):
            for breakdown, categories in evaluator.question_categories(q, records[q], info).items():
                for category in categories:
                    key = f"{breakdown}/{category}"
                    if key not in cells:
                        cells[key] = np.zeros(len(qids), dtype=bool)
                    cells[key][i] = True
        categorised = True
    except NotImplementedError:
        cells, categorised = {}, False
    macro = tuple(macro_over) if macro_over is not None and categorised else None
    return QuestionOutcomes(question_ids=tuple(qids), correct=correct, clusters=clusters, cells=cells,
                            macro_over=macro), categorised


def _report_cells(report: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    return {f"{b}/{c}": cell for b, cells in report.get("breakdowns", {}).items() for c, cell in cells.items()}


def _close(a: Optional[float], b: Optional[float]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=0, abs_tol=_TOLERANCE)


def _checked_outcomes(label: str, result: _Result, evaluator, split_record: Mapping[str, Any],
                      score_key: str, table: Dict[str, Any]):
    """The result's per-question outcomes and which of its report's cells they reproduce,
    when they reproduce its official score; else None (with a note when that is a surprise)."""
    from gf.leaderboards import stats

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
    reproduced = {key: key in point_cells and _close(point_cells[key], cell.get("accuracy"))
                  for key, cell in _report_cells(report).items()}
    return qo, reproduced


def _single_row(entry: _Measured, evaluator, split_record: Mapping[str, Any], table: Dict[str, Any],
                statistics: Mapping[str, Any]):
    """A single checkpoint's (or predictions file's) row, and its outcomes for the pairs."""
    from gf.leaderboards import stats

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
    intervals = stats.bootstrap_intervals(qo, samples=statistics["bootstrap_samples"], seed=statistics["seed"],
                                          confidence=statistics["confidence"])
    row["ci"] = list(intervals["score"]) if intervals["score"] is not None else None
    for key, cell in cells.items():
        if reproduced.get(key) and intervals["cells"].get(key) is not None:
            cell["ci"] = list(intervals["cells"][key])
    return row, qo


def _shared_provenance(results: Sequence[_Result]) -> Dict[str, Any]:
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


def _group_row(entry: _Measured, evaluator, split_record: Mapping[str, Any], table: Dict[str, Any],
               statistics: Mapping[str, Any]):
    """A seed group's row: per figure the mean and sample sd over its finished seeds and the
    two-level interval (:mod:`.seed_stats`); and its seeds' outcomes for the pairs."""
    from gf.leaderboards import seed_stats

    results = entry.results
    scores = [r.report.get(table["score_key"]) for r in results]
    score, sd = _mean_sd_or_none(scores)
    cells = {}
    for key in _report_cells(results[0].report):
        value, cell_sd = _mean_sd_or_none([_report_cells(r.report).get(key, {}).get("accuracy") for r in results])
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
    intervals = seed_stats.group_intervals(members, samples=statistics["bootstrap_samples"],
                                           seed=statistics["seed"], confidence=statistics["confidence"])
    row["ci"] = list(intervals["score"]) if intervals["score"] is not None else None
    for key, cell in cells.items():
        if all(reproduced.get(key) for _, reproduced in checked) and intervals["cells"].get(key) is not None:
            cell["ci"] = list(intervals["cells"][key])
    return row, members


def _new_table(benchmark: str, split: str) -> Dict[str, Any]:
    return {"id": f"{benchmark}/{split}", "benchmark": benchmark, "split": split, "evaluator": None,
            "score_key": None, "score_label": None, "columns": [], "resampling_unit": None, "rows": [],
            "pairs": [], "failures": [], "pending": [], "stale": [], "notes": []}


def _set_evaluator(table: Dict[str, Any], measured: Sequence[_Measured], split_record: Optional[Mapping[str, Any]]):
    """The table's evaluator, official score and columns (the report's breakdowns, in order)."""
    from gf.evaluation import get_evaluator

    if measured:
        first = measured[0].results[0]
        evaluator = get_evaluator(first.evaluator)
        table["evaluator"] = first.evaluator
        table["score_key"] = first.report.get("primary_metric", "overall")
        table["score_label"] = getattr(evaluator, "score_label", "Overall")
    elif split_record is not None:
        evaluator = get_evaluator(split_record["evaluator"])
        table["evaluator"] = split_record["evaluator"]
        table["score_label"] = getattr(evaluator, "score_label", "Overall")
        table["score_key"] = "mean" if getattr(evaluator, "macro_breakdown", None) else "overall"
        return evaluator
    else:
        return None
    labels = [(f"{b}/{c}", evaluator.column_label(b, c)) for b, cells in first.report.get("breakdowns", {}).items()
              for c in cells]
    counts: Dict[str, int] = {}
    for _, label in labels:
        counts[label] = counts.get(label, 0) + 1
    table["columns"] = [{"key": k, "label": label if counts[label] == 1 else f"{k.split('/')[0]}: {label}"}
                        for k, label in labels]
    return evaluator


def _resampling_unit(outcomes: Mapping[str, Any]) -> Optional[str]:
    if not outcomes:
        return None
    firsts = [o if isinstance(o, QuestionOutcomes) else o[0] for o in outcomes.values()]
    unit = "video" if any(qo.clusters.max() + 1 < len(qo.question_ids) for qo in firsts) else "question"
    if any(not isinstance(o, QuestionOutcomes) for o in outcomes.values()):
        unit += f" (seed groups: seed, then {unit})"
    return unit


def _pairs(table: Dict[str, Any], rows: List[Dict[str, Any]], outcomes: Mapping[str, Any],
           statistics: Mapping[str, Any]) -> None:
    """Every pair of measured rows with outcomes, Holm-adjusted; rows below the best marked."""
    from gf.leaderboards import seed_stats, stats

    if len(outcomes) < 2:
        return
    ordered = {r["entry"]: outcomes[r["entry"]] for r in rows if r["entry"] in outcomes}
    grouped = any(not isinstance(o, QuestionOutcomes) for o in ordered.values())
    settings = dict(samples=statistics["bootstrap_samples"], seed=statistics["seed"],
                    confidence=statistics["confidence"], alpha=statistics["alpha"])
    try:
        pairs = (seed_stats.compare_groups if grouped else stats.compare_all)(ordered, **settings)
    except ValueError as e:  # entries scored on different questions cannot be paired
        pairs = []
        table["notes"].append(f"no paired tests: {e}")
    table["pairs"] = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()} for p in pairs]
    best = next(iter(ordered))
    for pair in table["pairs"]:
        if pair["significant"] and best in (pair["a"], pair["b"]):
            other = pair["b"] if pair["a"] == best else pair["a"]
            for row in rows:
                if row["entry"] == other:
                    row["significantly_below_best"] = True


def _reported_rows(manifest: Mapping[str, Any], table: Dict[str, Any]) -> List[Dict[str, Any]]:
    rows = []
    for figure in manifest.get("reported", []):
        if figure["benchmark"] == table["benchmark"] and figure["split"] == table["split"]:
            rows.append({"entry": figure["name"], "kind": "reported", "score": figure["score"], "ci": None,
                         "cells": {k: {"value": v, "ci": None} for k, v in figure["cells"].items()},
                         "num_questions": None, "source": figure["source"], "significantly_below_best": False})
            if not table["columns"]:
                table["columns"] = [{"key": k, "label": k.split("/", 1)[-1]} for k in figure["cells"]]
    return rows


def _version_note(rows: Sequence[Mapping[str, Any]]) -> Optional[str]:
    versions = set()
    for row in rows:
        for provenance in ([m["provenance"] for m in row["members"]] if "members" in row
                           else [row.get("provenance") or {}] if row["kind"] == "measured" else []):
            versions.add((provenance.get("gf_version"), provenance.get("git_commit")))
    if len(versions) <= 1:
        return None
    return ("the rows were computed by different gf versions or commits ("
            + "; ".join(f"{v or '?'} {c or ''}".strip() for v, c in sorted(versions, key=str))
            + "); rerun the older ones if gf's scoring or model code changed between them")


def _table(manifest: Mapping[str, Any], check: ResultCheck, benchmark: str, split: str,
           statistics: Mapping[str, Any]) -> Dict[str, Any]:
    table = _new_table(benchmark, split)
    split_record = read_json_or_none(split_file(check.root, benchmark, split), "leaderboard split record")
    measured, stale_rows = _load(manifest, check, benchmark, split, split_record, table)
    evaluator = _set_evaluator(table, measured, split_record)
    rows, outcomes = [], {}
    for entry in measured:
        row, found = (_group_row if entry.is_group else _single_row)(entry, evaluator, split_record, table,
                                                                     statistics)
        rows.append(row)
        if found is not None:
            outcomes[entry.name] = found
    table["resampling_unit"] = _resampling_unit(outcomes)
    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0)))
    _pairs(table, rows, outcomes, statistics)
    if any(r.get("group") for r in rows) and table["pairs"]:
        table["notes"].append("pairs with a seed group are tested with the paired two-level bootstrap (its seeds, "
                              "then the table's resampling unit); McNemar's test compares two single checkpoints "
                              "only")
    table["rows"] = rows + stale_rows + _reported_rows(manifest, table)
    note = _version_note(table["rows"])
    if note:
        table["notes"].append(note)
    if split_record is not None and not outcomes and measured:
        table["notes"].append("no labelled questions: scores are n/a (e.g. a test split whose answers are hidden)")
    if manifest["benchmarks"][benchmark].get("probes"):
        from gf.leaderboards.probe_table import sensitivity_table

        table["probes"] = sensitivity_table(manifest, check, table, measured, outcomes, evaluator, split_record,
                                            statistics)
    return table


def assemble_board(root: PathLike) -> Dict[str, Any]:
    """The board of a leaderboard output folder (schema: ``gf-leaderboard`` version 1)."""
    from datetime import datetime, timezone

    from gf.leaderboards.folder import load_saved_record

    record = load_saved_record(root)
    check = ResultCheck(Path(root), record)
    manifest = record["manifest"]
    statistics = dict(manifest["statistics"])
    tables = [_table(manifest, check, bname, split, statistics)
              for bname, bench in manifest["benchmarks"].items() for split in bench["splits"]]
    return {"format": BOARD_FORMAT, "version": BOARD_VERSION, "name": manifest["name"],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "statistics": {**statistics, "correction": "holm"}, "tables": tables}
