"""Assemble a board from whatever results a leaderboard's output folder holds.

Nothing here evaluates a model or reads the benchmark's data: the results (predictions and
reports) and the per-split records that :mod:`.engine` saved are enough, so ``gf leaderboard
show`` can merge the results of several shards, or re-render after a crash.

Figures: each row's official score and breakdown cells are the evaluator's report,
unchanged; the intervals and paired tests come from :mod:`gf.evaluation.stats` and
:mod:`.seed_stats`, computed on the same per-question outcomes (:mod:`.rows`), and a
benchmark with ``probes:`` adds its temporal sensitivity table (:mod:`.probe_table`). Only
current results become figures: each kept result is checked against its inputs
(:mod:`.freshness`), and one that no longer matches is listed as stale, with no figures.
What a row, a seed group's row and a stale row hold: docs/leaderboards.md, "The
statistics", "Seed groups" and "Stale rows".
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from gf.common.errors import ConfigError
from gf.common.utils import PathLike
from gf.evaluation.stats import QuestionOutcomes, n_clusters
from gf.leaderboards.cells import table_title
from gf.leaderboards.freshness import ResultCheck, split_data_problems
from gf.leaderboards.results import split_file
from gf.leaderboards.rows import Measured, entries_for, group_row, load_results, resampling, single_row
from gf.leaderboards.split_records import read_split_record

__all__ = ["BOARD_FORMAT", "assemble_board"]

logger = logging.getLogger("gf.leaderboard")

BOARD_FORMAT = "gf-leaderboard"
BOARD_VERSION = 1


def _stale_row(name: str, stale: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """The row of an entry none of whose results is current but some are stale: no figures
    (a figure of inputs that changed is not this entry's), never ranked or compared."""
    reason = stale[0]["reason"] if len(stale) == 1 else "; ".join(f"{s['entry']}: {s['reason']}" for s in stale)
    return {"entry": name, "kind": "stale", "stale": True, "stale_reason": reason, "score": None, "ci": None,
            "cells": {}, "num_questions": None, "provenance": stale[0]["provenance"]}


def _load(manifest: Mapping[str, Any], check: ResultCheck, benchmark: str, split: str,
          split_record: Optional[Mapping[str, Any]], table: Dict[str, Any]) -> Tuple[List[Measured], List[Dict]]:
    """The entries with current results, and the stale rows of those with none."""
    measured, stale_rows = [], []
    for entry in entries_for(manifest, benchmark, split):
        seeds = entry.get("seeds") if entry.get("checkpoints") else None
        before = len(table["stale"])
        results = load_results(check, entry, benchmark, split, split_record, table)
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
            measured.append(Measured(name=entry["name"], is_group=bool(seeds), results=results))
        elif len(table["stale"]) > before:
            stale_rows.append(_stale_row(entry["name"], table["stale"][before:]))
    return measured, stale_rows


def _evaluator_loader(root: Path, split_record: Optional[Mapping[str, Any]]):
    """``get_evaluator`` for one table. A built-in (or already loaded) evaluator is used as is;
    one that is unknown makes it import the plugins the split's benchmark config loaded (its
    ``plugins:``, recorded with the split; ``show`` reads no config) and try again, so a plugin
    the config needed only for a model or builder, missing here, does not fail the board. An
    evaluator still unknown is refused naming the folder and the command that loads it."""
    from gf.common.config import load_plugins
    from gf.common.errors import EvaluationError
    from gf.evaluation import get_evaluator

    def load(name: str):
        try:
            return get_evaluator(name)
        except EvaluationError:  # unknown here: the benchmark config's plugins may register it
            pass
        load_plugins((split_record or {}).get("plugins") or [], f"{root}: the benchmark config's plugins:")
        try:
            return get_evaluator(name)  # its own message is replaced below
        except EvaluationError:
            raise EvaluationError(f"{root}: its results were scored by evaluator {name!r}, which no loaded module "
                                  f"registers; load the plugin that registers it: gf leaderboard show {root} "
                                  f"--plugins MODULE") from None
    return load


def _set_evaluator(table: Dict[str, Any], measured: Sequence[Measured], split_record: Optional[Mapping[str, Any]],
                   get_evaluator):
    """The table's evaluator, official score and columns (the report's breakdowns, in order)."""
    if measured:
        first = measured[0].results[0]
        evaluator = get_evaluator(first.evaluator)
        table["evaluator"] = first.evaluator
        table["score_key"] = first.report.get("primary_metric", "overall")
        table["score_label"] = getattr(evaluator, "score_label", "Overall")
    elif split_record is not None:  # nothing measured yet: the split record names the evaluator
        evaluator = get_evaluator(split_record["evaluator"])
        table["evaluator"] = split_record["evaluator"]
        table["score_label"] = getattr(evaluator, "score_label", "Overall")
        table["score_key"] = "mean" if getattr(evaluator, "macro_breakdown", None) else "overall"
        return evaluator
    else:
        return None
    labels = [(f"{b}/{c}", evaluator.column_label(b, c)) for b, cells in first.report.get("breakdowns", {}).items()
              for c in cells]
    counts = Counter(label for _, label in labels)
    table["columns"] = [{"key": k, "label": label if counts[label] == 1 else f"{k.split('/')[0]}: {label}"}
                        for k, label in labels]
    return evaluator


def _resampling_unit(table: Dict[str, Any], outcomes: Mapping[str, Any]) -> None:
    """The table's ``resampling_unit``. Rows on a split whose questions are all about one video
    get no interval (:func:`gf.evaluation.stats.bootstrap_intervals`): a note says so rather
    than leave n/a unexplained."""
    if not outcomes:
        return
    firsts = [o if isinstance(o, QuestionOutcomes) else o[0] for o in outcomes.values()]
    unit = "video" if any(qo.clusters.max() + 1 < len(qo.question_ids) for qo in firsts) else "question"
    if any(not isinstance(o, QuestionOutcomes) for o in outcomes.values()):
        unit += f" (seed groups: seed, then {unit})"
    table["resampling_unit"] = unit
    if n_clusters(firsts[0]) < 2:
        table["notes"].append("the questions are all about one video: resampling it cannot vary a "
                              "score, so there are no intervals")


def _pairs(table: Dict[str, Any], rows: List[Dict[str, Any]], outcomes: Mapping[str, Any],
           statistics: Mapping[str, Any]) -> None:
    """Every pair of measured rows with outcomes, Holm-adjusted; rows below the best marked."""
    from gf.evaluation import stats
    from gf.leaderboards import seed_stats

    if len(outcomes) < 2:
        return
    ordered = {r["entry"]: outcomes[r["entry"]] for r in rows if r["entry"] in outcomes}
    grouped = any(not isinstance(o, QuestionOutcomes) for o in ordered.values())
    try:
        pairs = (seed_stats.compare_groups if grouped else stats.compare_all)(ordered, **resampling(statistics),
                                                                              alpha=statistics["alpha"])
    except ValueError as e:  # entries scored on different questions cannot be paired
        pairs = []
        table["notes"].append(f"no paired tests: {e}")
    table["pairs"] = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()} for p in pairs]
    _pair_notes(table)
    best = next(iter(ordered))
    below = {p["b"] if p["a"] == best else p["a"] for p in table["pairs"]
             if p["significant"] and best in (p["a"], p["b"])}
    for row in rows:
        if row["entry"] in below:
            row["significantly_below_best"] = True


def _pair_notes(table: Dict[str, Any]) -> None:
    """Why a pair shows n/a for its interval (and bootstrap p), or a raised p: one note per
    distinct text, naming its pairs, so that a one-video split does not repeat it for every
    pair (the few-videos note gives each pair's own p, so it stays one per pair)."""
    by_note: Dict[str, List[str]] = {}
    for p in table["pairs"]:
        if p.get("note"):
            by_note.setdefault(p["note"], []).append(f"{p['a']} vs {p['b']}")
    for note, names in by_note.items():
        table["notes"].append(f"{'; '.join(names)}: {note}")


def _reported_rows(manifest: Mapping[str, Any], table: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The table's reported figures. Their cells must be the evaluator's (the columns of the
    measured results' reports): a cell the table has no column for would be missing from
    every output without a word, so it is refused. Without measured results the reported
    cells are the columns."""
    rows = []
    known = [str(c["key"]) for c in table["columns"]]
    for i, figure in enumerate(manifest.get("reported", [])):
        if figure["benchmark"] != table["benchmark"] or figure["split"] != table["split"]:
            continue
        unknown = [k for k in figure["cells"] if known and k not in known]
        if unknown:
            raise ConfigError(f"{manifest.get('path')}: reported[{i}] ({figure['name']}).cells: "
                              f"{', '.join(map(repr, unknown))} is not a cell of {table_title(table)} (evaluator "
                              f"{table['evaluator']}); its cells are {', '.join(known)}")
        rows.append({"entry": figure["name"], "kind": "reported", "score": figure["score"], "ci": None,
                     "cells": {k: {"value": v, "ci": None} for k, v in figure["cells"].items()},
                     "num_questions": None, "source": figure["source"], "significantly_below_best": False})
        if not known:  # every reported figure's cells, not only the first one's
            table["columns"] += [{"key": k, "label": k.split("/", 1)[-1]} for k in figure["cells"]
                                 if k not in {c["key"] for c in table["columns"]}]
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
    table = {"id": f"{benchmark}/{split}", "benchmark": benchmark, "split": split, "evaluator": None,
             "score_key": None, "score_label": None, "columns": [], "resampling_unit": None, "rows": [],
             "pairs": [], "failures": [], "pending": [], "stale": [], "notes": []}
    split_record, table["split_problem"] = read_split_record(split_file(check.root, benchmark, split))
    if split_record is not None:  # a split changed on disk since: no figure on it is current
        split_record = {**split_record, "changed": split_data_problems(split_record, check.hashes)}
    measured, stale_rows = _load(manifest, check, benchmark, split, split_record, table)
    del table["split_problem"]  # each kept result on the split now says it as its stale reason
    evaluator = _set_evaluator(table, measured, split_record, _evaluator_loader(check.root, split_record))
    rows, outcomes = [], {}
    for entry in measured:
        row, found = (group_row if entry.is_group else single_row)(entry, evaluator, split_record, table,
                                                                     statistics)
        rows.append(row)
        if found is not None:
            outcomes[entry.name] = found
    _resampling_unit(table, outcomes)
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
