"""Assemble a board from whatever results a leaderboard's output folder holds.

Nothing here evaluates a model or reads the benchmark's data: the results (predictions and
reports) and the per-split records that :mod:`.engine` saved are enough, so ``gf leaderboard
show`` can merge the results of several shards, or re-render after a crash.

Figures: each row's official score and breakdown cells are the evaluator's report,
unchanged; the intervals and paired tests come from :mod:`.stats`, computed on the same
per-question outcomes (the evaluator's :meth:`~gf.evaluation.base.Evaluator.question_categories`
says which cells a question counts in). Where the outcomes do not reproduce a report's
figure, that figure keeps no interval rather than a wrong one.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from gf.common.errors import EvaluationError
from gf.common.io import load_json
from gf.common.utils import PathLike
from gf.leaderboards.results import ResultPaths, read_json_or_none, split_file

__all__ = ["BOARD_FORMAT", "assemble_board", "load_saved_manifest"]

logger = logging.getLogger("gf.leaderboard")

BOARD_FORMAT = "gf-leaderboard"
BOARD_VERSION = 1
#: A cell's accuracy recomputed from per-question outcomes must match the report to this.
_TOLERANCE = 1e-6


def load_saved_manifest(root: PathLike) -> Dict[str, Any]:
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise EvaluationError(f"{root} holds no leaderboard (no manifest.json): run `gf leaderboard run --manifest "
                              f"M` first, or give the folder it wrote")
    return load_json(path, "leaderboard manifest record")["manifest"]


def _items_for(manifest: Mapping[str, Any], benchmark: str, split: str) -> List[str]:
    names = []
    for entry in manifest["entries"]:
        if entry["predictions"]:
            if split in (entry["predictions"].get(benchmark) or {}):
                names.append(entry["name"])
        elif entry["benchmarks"] is None or benchmark in entry["benchmarks"]:
            names.append(entry["name"])
    return names


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


def _table(manifest: Mapping[str, Any], root: Path, benchmark: str, split: str,
           statistics: Mapping[str, Any]) -> Dict[str, Any]:
    from gf.evaluation import get_evaluator
    from gf.leaderboards import stats

    table: Dict[str, Any] = {"id": f"{benchmark}/{split}", "benchmark": benchmark, "split": split,
                             "evaluator": None, "score_key": None, "score_label": None, "columns": [],
                             "resampling_unit": None, "rows": [], "pairs": [], "failures": [], "pending": [],
                             "notes": []}
    split_record = read_json_or_none(split_file(root, benchmark, split), "leaderboard split record")
    measured: List[Tuple[Dict[str, Any], Any]] = []
    evaluator = None
    for name in _items_for(manifest, benchmark, split):
        paths = ResultPaths(root, name, benchmark, split)
        done = paths.done_record()
        if done is None or split_record is None:
            failed = read_json_or_none(paths.failed, "leaderboard failure record")
            if failed is not None:
                table["failures"].append({"entry": name, "error": failed.get("error", "")})
            else:
                table["pending"].append(name)
            continue
        if split_record.get("fingerprint") != done["provenance"].get("split_fingerprint"):
            table["pending"].append(name)  # computed on other annotations/features: wait for the rerun
            table["notes"].append(f"{name}: its result was computed on another version of the split; rerun "
                                  f"`gf leaderboard run` to evaluate it on this one")
            continue
        report = load_json(paths.report, "leaderboard report")
        predictions = load_json(paths.predictions, "leaderboard predictions")["predictions"]
        if evaluator is None:
            table["evaluator"] = done["evaluator"]
            evaluator = get_evaluator(done["evaluator"])
            table["score_key"] = report.get("primary_metric", "overall")
            table["score_label"] = getattr(evaluator, "score_label", "Overall")
        measured.append(({"entry": name, "kind": "measured", "report": report, "provenance": done["provenance"]},
                         predictions))

    if evaluator is None and split_record is not None:
        evaluator = get_evaluator(split_record["evaluator"])
        table["evaluator"] = split_record["evaluator"]
        table["score_label"] = getattr(evaluator, "score_label", "Overall")
        table["score_key"] = "mean" if getattr(evaluator, "macro_breakdown", None) else "overall"

    # columns: the official breakdowns, in the report's order
    if measured:
        first = measured[0][0]["report"]
        labels = []
        for b, cells in first.get("breakdowns", {}).items():
            for c in cells:
                labels.append((f"{b}/{c}", evaluator.column_label(b, c) if evaluator else c))
        counts: Dict[str, int] = {}
        for _, label in labels:
            counts[label] = counts.get(label, 0) + 1
        table["columns"] = [{"key": k, "label": label if counts[label] == 1 else f"{k.split('/')[0]}: {label}"}
                            for k, label in labels]

    rows, outcomes = [], {}
    samples, seed, confidence = statistics["bootstrap_samples"], statistics["seed"], statistics["confidence"]
    for row, predictions in measured:
        report = row.pop("report")
        score = report.get(table["score_key"])
        cells = {k: {"value": v.get("accuracy"), "ci": None} for k, v in _report_cells(report).items()}
        row.update(score=score, ci=None, cells=cells, num_questions=report.get("num_questions"),
                   significantly_below_best=False)
        macro_over = None
        if getattr(evaluator, "macro_breakdown", None) and report.get("mean_over") is not None:
            macro_over = [f"{evaluator.macro_breakdown}/{c}" for c in report["mean_over"]]
        found = _outcomes(evaluator, predictions, split_record.get("info", {}), split_record.get("videos", {}),
                          macro_over, list(split_record.get("videos") or sorted(predictions)))
        if found is not None:
            qo, categorised = found
            point, point_cells = stats.point_scores(qo)
            if not categorised and getattr(evaluator, "macro_breakdown", None):
                table["notes"].append(f"{row['entry']}: the evaluator does not say which category each question "
                                      f"is in, so its macro score has no interval")
            elif _close(point, score):
                intervals = stats.bootstrap_intervals(qo, samples=samples, seed=seed, confidence=confidence)
                row["ci"] = list(intervals["score"]) if intervals["score"] is not None else None
                for key, cell in cells.items():
                    if key in point_cells and _close(point_cells[key], cell["value"]):
                        ci = intervals["cells"].get(key)
                        cell["ci"] = list(ci) if ci is not None else None
                outcomes[row["entry"]] = qo
            else:
                table["notes"].append(f"{row['entry']}: per-question outcomes give {point} where the report says "
                                      f"{score}; no interval or test is shown for it (an evaluator whose "
                                      f"question_categories disagree with its report)")
        rows.append(row)
    if any(o is not None for o in outcomes.values()):
        units = {qo.clusters.max() + 1 < len(qo.question_ids) for qo in outcomes.values()}
        table["resampling_unit"] = "video" if True in units else "question"

    rows.sort(key=lambda r: (r["score"] is None, -(r["score"] or 0.0)))
    if len(outcomes) >= 2:
        ordered = {r["entry"]: outcomes[r["entry"]] for r in rows if r["entry"] in outcomes}
        try:
            pairs = stats.compare_all(ordered, samples=samples, seed=seed, confidence=confidence,
                                      alpha=statistics["alpha"])
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

    for figure in manifest.get("reported", []):
        if figure["benchmark"] == benchmark and figure["split"] == split:
            rows.append({"entry": figure["name"], "kind": "reported", "score": figure["score"], "ci": None,
                         "cells": {k: {"value": v, "ci": None} for k, v in figure["cells"].items()},
                         "num_questions": None, "source": figure["source"], "significantly_below_best": False})
            if not table["columns"]:
                table["columns"] = [{"key": k, "label": k.split("/", 1)[-1]} for k in figure["cells"]]
    table["rows"] = rows
    versions = {(r["provenance"].get("gf_version"), r["provenance"].get("git_commit")) for r in rows
                if r["kind"] == "measured"}
    if len(versions) > 1:
        table["notes"].append("the rows were computed by different gf versions or commits ("
                              + "; ".join(f"{v or '?'} {c or ''}".strip() for v, c in sorted(versions, key=str))
                              + "); rerun the older ones if gf's scoring or model code changed between them")
    if split_record is not None and not outcomes and measured:
        table["notes"].append("no labelled questions: scores are n/a (e.g. a test split whose answers are hidden)")
    return table


def assemble_board(root: PathLike) -> Dict[str, Any]:
    """The board of a leaderboard output folder (schema: ``gf-leaderboard`` version 1)."""
    from datetime import datetime, timezone

    root = Path(root)
    manifest = load_saved_manifest(root)
    statistics = dict(manifest["statistics"])
    tables = [_table(manifest, root, bname, split, statistics)
              for bname, bench in manifest["benchmarks"].items() for split in bench["splits"]]
    return {"format": BOARD_FORMAT, "version": BOARD_VERSION, "name": manifest["name"],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "statistics": {**statistics, "correction": "holm"}, "tables": tables}
