"""The temporal sensitivity table of a board: each model entry under each probe of its
benchmark, compared with itself unperturbed.

Why a table of its own: a leaderboard ranks entries against each other; a probe compares
one entry with itself (the same checkpoint, the same questions, only what it sees of each
clip perturbed; see docs/probes.md), so its figures are a drop, a flip rate and a paired
test against the entry's own unperturbed answers, not a rank.

Built from the probe results the engine kept (``.../<split>/probe-<name>-s<seed>/``), each
compared only with the unperturbed result of the same checkpoint and evaluation config
(:data:`_SAME_MODEL`). The columns, the fields of each (entry, probe) cell, the test that
decides, and which results are listed as pending or stale: docs/leaderboards.md,
"Temporal sensitivity".
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from gf.evaluation.stats import apply_holm
from gf.leaderboards.freshness import ResultCheck
from gf.leaderboards.rows import Measured, Result, entries_for, group_row, load_results, resampling, single_row

__all__ = ["sensitivity_table"]

#: Provenance that must agree between a probe result and the unperturbed one it is compared with.
_SAME_MODEL = ("checkpoint_sha256", "config_hash", "split_fingerprint")


def sensitivity_table(manifest: Mapping[str, Any], check: ResultCheck, table: Mapping[str, Any],
                      measured: Sequence[Measured], outcomes: Mapping[str, Any], evaluator,
                      split_record: Optional[Mapping[str, Any]], statistics: Mapping[str, Any]) -> Dict[str, Any]:
    """The ``probes`` section of ``table``: rows in the order of the table's measured rows,
    then failures, pending and stale results and notes."""
    bench = manifest["benchmarks"][table["benchmark"]]
    out = {"probes": list(bench["probes"]), "probe_seed": int(bench.get("probe_seed", 0)),
           "score_key": table["score_key"], "score_label": table["score_label"], "columns": list(table["columns"]),
           "rows": [], "failures": [], "pending": [], "stale": [], "notes": []}
    by_name = {m.name: m for m in measured}
    main_rows = {r["entry"]: r for r in table["rows"] if r.get("kind") == "measured"}
    order = [r["entry"] for r in table["rows"] if r.get("kind") == "measured"]
    entries = entries_for(manifest, table["benchmark"], table["split"])
    skipped = [e["name"] for e in entries if e["predictions"]]
    if skipped:
        out["notes"].append(f"{', '.join(skipped)}: a predictions entry has no model to run under a probe, so it "
                            f"is not probed")
    models = [e for e in entries if not e["predictions"]]
    models.sort(key=lambda e: order.index(e["name"]) if e["name"] in order else len(order))
    for entry in models:
        found = {probe: load_results(check, entry, table["benchmark"], table["split"], split_record, out, probe,
                                     out["probe_seed"]) for probe in out["probes"]}
        if entry["name"] not in by_name:
            continue  # no unperturbed result yet: the main table lists it as pending or failed
        measured_entry = by_name[entry["name"]]
        row = _entry_row(measured_entry, main_rows[entry["name"]])
        for probe, results in found.items():
            cell = _probe_cell(measured_entry, probe, results, outcomes.get(entry["name"]), evaluator,
                               split_record, out, statistics)
            if cell is not None:
                cell["unperturbed"] = _unperturbed_over(measured_entry, cell, row["unperturbed"], evaluator,
                                                        split_record, out["score_key"], statistics)
            row["probes"][probe] = cell
        _settle_unperturbed(row, out)
        out["rows"].append(row)
    apply_holm([cell for row in out["rows"] for cell in row["probes"].values() if cell is not None],
               statistics["alpha"])  # across every probe test of the table
    return out


def _entry_row(entry: Measured, main_row: Mapping[str, Any]) -> Dict[str, Any]:
    """A row's unperturbed figures, as the table's own row shows them."""
    row = {"entry": entry.name, "kind": "measured",
           "unperturbed": {"score": main_row.get("score"), "sd": main_row.get("sd"), "ci": main_row.get("ci"),
                           "cells": main_row.get("cells") or {}},
           "probes": {}}
    if entry.is_group:
        row["group"] = {"n": len(entry.results), "seeds": [r.seed for r in entry.results]}
    return row


def _unperturbed_over(entry: Measured, cell: Mapping[str, Any], everything: Mapping[str, Any], evaluator,
                      split_record: Mapping[str, Any], score_key: str,
                      statistics: Mapping[str, Any]) -> Dict[str, Any]:
    """The entry's unperturbed figures over the seeds of ``cell`` (those with a usable probe
    result), so that a probe figure and its drop are read against the same seeds: a group's
    mean over all its seeds beside a probe figure over some of them would show a drop the
    table did not measure. All seeds (or a single checkpoint): the table's own row."""
    seeds = cell.get("seeds")
    if not entry.is_group or seeds == [r.seed for r in entry.results]:
        return dict(everything)
    subset = Measured(entry.name, True, [r for r in entry.results if r.seed in seeds])
    # the main table already noted anything about these seeds' outcomes: not said again
    figures, _ = group_row(subset, evaluator, split_record, {"score_key": score_key, "notes": []}, statistics)
    return {"score": figures["score"], "sd": figures["sd"], "ci": figures["ci"], "cells": figures["cells"],
            "seeds": list(seeds)}


def _settle_unperturbed(row: Dict[str, Any], out: Dict[str, Any]) -> None:
    """The row's unperturbed column: its probes' own when they are all over the same seeds;
    else all seeds, with a note that each probe's drop is over its own seeds (each probe's
    unperturbed figures are in its cell and in leaderboard_probes.csv)."""
    figures = [cell["unperturbed"] for cell in row["probes"].values() if cell is not None]
    if not figures:
        return
    if len({tuple(f.get("seeds") or ()) for f in figures}) == 1:
        row["unperturbed"] = figures[0]
        return
    out["notes"].append(f"{row['entry']}: its probes are over different seeds; its unperturbed column is over all "
                        f"its seeds, each probe's drop over that probe's seeds (leaderboard_probes.csv gives "
                        f"each probe's unperturbed figures)")


def _paired_results(entry: Measured, plain: Mapping[Optional[int], Result], probe: str,
                    results: Sequence[Result], out: Dict[str, Any]) -> List[Result]:
    """The probe results that have an unperturbed result (``plain``, by seed) of the same
    checkpoint and config."""
    paired = []
    for result in results:
        label = entry.name if result.seed is None else f"{entry.name} (seed {result.seed})"
        mine = plain.get(result.seed)
        if mine is None:
            continue  # that seed's unperturbed result is pending or failed: listed in the main table
        differing = [k for k in _SAME_MODEL if mine.provenance.get(k) != result.provenance.get(k)]
        if differing:
            out["pending"].append(f"{label} under {probe}")
            out["notes"].append(f"{label} under {probe}: made for another {', '.join(differing)} than its "
                                f"unperturbed result; rerun `gf leaderboard run` to evaluate it again")
            continue
        paired.append(result)
    return paired


def _probe_cell(entry: Measured, probe: str, results: Sequence[Result], plain_outcomes: Any, evaluator,
                split_record: Optional[Mapping[str, Any]], out: Dict[str, Any],
                statistics: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """One entry under one probe; None when no result is usable."""
    from gf.probes import coverage_warning  # torch: only where a board has probes

    plain = {r.seed: r for r in entry.results}
    results = _paired_results(entry, plain, probe, results, out)
    if not results or split_record is None:
        return None
    sub = {"score_key": out["score_key"], "notes": out["notes"]}
    build = group_row if entry.is_group else single_row
    row, probe_outcomes = build(Measured(f"{entry.name} under {probe}", entry.is_group, list(results)), evaluator,
                                split_record, sub, statistics)
    if entry.is_group and len(results) < len(entry.results):
        out["notes"].append(f"{entry.name} under {probe}: {len(results)} of its {len(entry.results)} seeds are "
                            f"finished; its figures, and the unperturbed ones it is compared with, are over those "
                            f"(seeds {', '.join(str(r.seed) for r in results)})")
    flips = [_flip_rate(plain[r.seed], r, f"{entry.name} under {probe}", out) for r in results]
    coverage = results[0].provenance.get("probe_coverage")  # the split's and probe's: alike for every seed
    warning = coverage_warning({**coverage, "probe": probe}) if isinstance(coverage, Mapping) else None
    if warning and f"WARNING: {warning}" not in out["notes"]:  # said once per probe, not per entry
        out["notes"].append(f"WARNING: {warning}")
    cell = {"score": row["score"], "ci": row["ci"], "cells": row["cells"], "num_questions": row["num_questions"],
            "coverage": coverage if isinstance(coverage, Mapping) else None,
            "flip_rate": None if None in flips else sum(flips) / len(flips), "drop": None, "drop_ci": None,
            "test": None, "p": None, "p_holm": None, "significant": False, "mcnemar": None,
            "provenance": row["provenance"]}
    if entry.is_group:
        cell.update(sd=row["sd"], seeds=[r.seed for r in results], flip_rates=flips)
    plain_scores = [plain[r.seed].report.get(out["score_key"]) for r in results]
    if cell["score"] is not None and None not in plain_scores:
        cell["drop"] = sum(plain_scores) / len(plain_scores) - cell["score"]
    if plain_outcomes is not None and probe_outcomes is not None:
        _test(cell, f"{entry.name} under {probe}", entry, results, (plain_outcomes, probe_outcomes), statistics,
              out)
    return cell


def _flip_rate(plain: Result, probed: Result, label: str, out: Dict[str, Any]) -> Optional[float]:
    """Percent of questions whose predicted answer differs between the two results."""
    from gf.common.errors import EvaluationError
    from gf.probes import flip_rate

    try:
        return 100.0 * flip_rate(plain.predictions, probed.predictions)
    except EvaluationError as error:
        out["notes"].append(f"{label}: no flip rate: {error}")
        return None


def _test(cell: Dict[str, Any], label: str, entry: Measured, results: Sequence[Result], outcomes: Tuple[Any, Any],
          statistics: Mapping[str, Any], out: Dict[str, Any]) -> None:
    """The paired test of the entry unperturbed against the entry under the probe, written
    into ``cell``; ``outcomes``: (unperturbed, probed)."""
    from gf.evaluation import stats
    from gf.leaderboards import seed_stats

    plain_outcomes, probe_outcomes = outcomes
    settings = resampling(statistics)
    try:
        if entry.is_group:
            by_seed = {r.seed: qo for r, qo in zip(entry.results, plain_outcomes)}
            plain = [by_seed[r.seed] for r in results]
            result = seed_stats.seed_paired_comparison(plain, probe_outcomes, **settings)
            test, p = seed_stats.SEED_PAIRED_TEST, result["p_bootstrap"]
        else:
            result = stats.paired_comparison(plain_outcomes, probe_outcomes, **settings)
            test, p = stats.deciding_test(plain_outcomes, result)
            cell["mcnemar"] = result["mcnemar"]
    except ValueError as error:  # scored on other questions: no paired test
        out["notes"].append(f"{entry.name}: no paired test under a probe: {error}")
        return
    if result["difference"] is None:
        return
    if result["note"]:  # its drop has no interval (and the bootstrap, where it decides, no p): say why
        out["notes"].append(f"{label}: {result['note']}")
    ci = result["ci"]
    cell.update(drop=result["difference"], drop_ci=list(ci) if ci is not None else None, test=test, p=p)
