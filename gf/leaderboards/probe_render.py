"""The temporal sensitivity table (:mod:`.probe_table`) in the board's Markdown and in its
own CSV, ``leaderboard_probes.csv``; the page shows the same cells (:mod:`.page_assets`)
and :func:`gf.leaderboards.plots.plot_probes` draws it.

The rules are the board's (:mod:`.render`), but nothing here bolds or marks: a probe
compares an entry with itself, not entries with each other. The CSV is long, one row per
(table, entry, probe), so a spreadsheet can filter by probe. The sections' columns and the
CSV's fields: docs/leaderboards.md, "Temporal sensitivity".
"""
from __future__ import annotations

import io
from typing import Any, Dict, List, Mapping, Optional, Sequence

from gf.common.utils import finite_number as _number
from gf.leaderboards.cells import (
    cell_figures,
    correction_of,
    csv_flag,
    csv_interval,
    csv_names,
    csv_number,
    format_count,
    format_figure,
    format_p,
    format_value,
    mappings,
    md_escape,
    md_list,
    md_stale,
    md_table,
    row_group,
    safe_csv_writer,
    score_label,
    table_columns,
    table_title,
)

__all__ = ["probe_markdown", "render_probes_csv"]

CSV_HEAD = ("benchmark", "split", "entry", "probe", "probe_seed", "n_seeds", "seeds", "unperturbed", "unperturbed_sd",
            "score", "score_ci_low", "score_ci_high", "score_sd", "drop", "drop_ci_low", "drop_ci_high", "flip_rate",
            "questions_changed", "questions", "unchanged_reasons", "test", "p", "p_holm", "significant")
#: Summary columns per probe: score, drop, flips, questions changed, p.
PER_PROBE = 5
CSV_TAIL = ("checkpoint_sha256", "result_key")
#: What the section says above its list of stale probe results (the page says the same).
PROBE_STALE_TITLE = "Probe results stale (an input changed since they were computed; not shown):"


# ---------------------------------------------------------------------------------------
# reading the section (tolerant, as the board's renderer)
# ---------------------------------------------------------------------------------------
def section_of(table: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    section = table.get("probes")
    return section if isinstance(section, Mapping) else None


def probe_names(section: Mapping[str, Any]) -> List[str]:
    return [str(p) for p in section.get("probes") or []]


def probe_cell(row: Mapping[str, Any], probe: str) -> Mapping[str, Any]:
    """An entry's figures under ``probe``; ``{}`` when there are none."""
    cell = (row.get("probes") or {}).get(probe)
    return cell if isinstance(cell, Mapping) else {}


def _tests(section: Mapping[str, Any]) -> List[str]:
    found = [probe_cell(r, p).get("test") for r in mappings(section, "rows") for p in probe_names(section)]
    return list(dict.fromkeys(str(t) for t in found if t))


def probe_note(section: Mapping[str, Any], board: Mapping[str, Any]) -> str:
    """What the probe section's figures are (the Markdown's note and the page's)."""
    label = score_label(section)
    correction = correction_of(board)
    tests = ", ".join(_tests(section)) or "none yet"
    return (f"Each model entry evaluated again with what it sees of each clip perturbed (probe seed "
            f"{section.get('probe_seed')}; see docs/probes.md). Per probe: the {label} under it, its drop from the "
            f"unperturbed {label} (points, with the paired interval), flips (the percentage of questions whose "
            f"answer changes) and p: the paired test against the same entry unperturbed ({tests}), "
            f"{correction}-adjusted across the probe tests of this table. A model not trained under a probe shows "
            f"how much it relies on what the probe removes, not what it could do without it.")


# ---------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------
def probe_markdown(table: Mapping[str, Any], board: Mapping[str, Any]) -> List[str]:
    """The Markdown lines of ``table``'s temporal sensitivity section ([] without probes)."""
    section = section_of(table)
    if section is None:
        return []
    title = md_escape(table_title(table))
    lines = [f"### Temporal sensitivity: {title}", "", md_escape(probe_note(section, board)), ""]
    if mappings(section, "rows"):
        lines += _md_summary(section, board) + [""]
        if table_columns(section):
            lines += [f"#### Temporal sensitivity per category: {title}", ""] + _md_categories(section) + [""]
    else:
        lines += ["No probed rows yet.", ""]
    pending = [str(p) for p in section.get("pending") or []]
    if pending:
        lines += ["Probe results pending: " + ", ".join(md_escape(p) for p in pending) + ".", ""]
    lines += md_stale(section, PROBE_STALE_TITLE)
    # the entry on one line first, so that a line break ending it reads as the main table's does
    lines += md_list("Probe results failed:", [" ".join(str(f.get("entry")).splitlines()) + ": "
                                               + str(f.get("error") or "unknown error").strip()
                                               for f in mappings(section, "failures")])
    return lines + md_list("Notes:", [str(n) for n in section.get("notes") or []])


def summary_cells(row: Mapping[str, Any], probes: Sequence[str]) -> List[str]:
    """A row of the summary table as text: entry, unperturbed score, then per probe its
    score, drop, flips, questions changed and Holm-adjusted p (the page writes the same)."""
    plain = row.get("unperturbed") or {}
    cells = [str(row.get("entry")), format_value(plain.get("score"), plain.get("ci"), plain.get("sd"))]
    for probe in probes:
        cell = probe_cell(row, probe)
        cells += [format_value(cell.get("score"), cell.get("ci"), cell.get("sd")),
                  format_value(cell.get("drop"), cell.get("drop_ci")), format_figure(cell.get("flip_rate")),
                  format_changed(cell), format_p(cell.get("p_holm"))]
    return cells


def _coverage(cell: Mapping[str, Any]) -> Mapping[str, Any]:
    coverage = cell.get("coverage")
    return coverage if isinstance(coverage, Mapping) else {}


def format_changed(cell: Mapping[str, Any]) -> str:
    """``changed/questions``: the questions whose clip the probe changed (n/a for a result without the count)."""
    coverage = _coverage(cell)
    if not isinstance(coverage.get("changed"), int) or not isinstance(coverage.get("questions"), int):
        return "n/a"
    return f"{coverage['changed']}/{coverage['questions']}"


def summary_header(section: Mapping[str, Any], board: Mapping[str, Any], escape=str) -> List[str]:
    """The summary table's header (the Markdown's, escaped; the page's)."""
    label, correction = escape(score_label(section)), escape(correction_of(board))
    header = ["Entry", f"{label} (unperturbed)"]
    for probe in map(escape, probe_names(section)):
        header += [f"{probe}: {label}", f"{probe}: drop", f"{probe}: flips (%)", f"{probe}: questions changed",
                   f"{probe}: p ({correction})"]
    return header


def _md_summary(section: Mapping[str, Any], board: Mapping[str, Any]) -> List[str]:
    header = summary_header(section, board, md_escape)
    body = []
    for row in mappings(section, "rows"):
        cells = summary_cells(row, probe_names(section))
        # the entry and p-values ("<0.001") are escaped; figures with [intervals] are written as the main table's
        body.append([md_escape(text) if i == 0 or (i > 1 and (i - 2) % PER_PROBE == PER_PROBE - 1) else text
                     for i, text in enumerate(cells)])
    return md_table(header, ["---"] + ["---:"] * (len(header) - 1), body)


def category_cells(row: Mapping[str, Any], col: Mapping[str, Any], probes: Sequence[str]) -> List[str]:
    """A row of the per-category table as text: entry, category, its unperturbed figure,
    then its figure under each probe (the page writes the same)."""
    plain = row.get("unperturbed") or {}
    cells = [str(row.get("entry")), str(col.get("label") or col["key"]), format_value(*cell_figures(plain, col["key"]))]
    return cells + [format_value(*cell_figures(probe_cell(row, p), col["key"])) for p in probes]


def _md_categories(section: Mapping[str, Any]) -> List[str]:
    probes = probe_names(section)
    header = ["Entry", "Category", "Unperturbed"] + [md_escape(p) for p in probes]
    body = [[md_escape(text) if i < 2 else text for i, text in enumerate(category_cells(row, col, probes))]
            for row in mappings(section, "rows") for col in table_columns(section)]
    return md_table(header, ["---", "---"] + ["---:"] * (len(header) - 2), body)


# ---------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------
def _csv_p(p: Any) -> str:
    x = _number(p)
    return "" if x is None else f"{x:.4g}"


def _csv_record(table: Mapping[str, Any], section: Mapping[str, Any], row: Mapping[str, Any], probe: str,
                names: Mapping[str, str]) -> Dict[str, Any]:
    cell = probe_cell(row, probe)
    # the unperturbed figures over this probe's own seeds (the row's may be over others)
    plain = cell.get("unperturbed") if isinstance(cell.get("unperturbed"), Mapping) else row.get("unperturbed") or {}
    group = row_group(row)
    seeds = cell.get("seeds") if group else None
    record = {"benchmark": table.get("benchmark") or "", "split": table.get("split") or "",
              "entry": row.get("entry") or "", "probe": probe, "probe_seed": section.get("probe_seed", ""),
              "n_seeds": format_count(len(seeds)) if seeds else ("1" if cell else ""),
              "seeds": " ".join(str(s) for s in seeds or []), "unperturbed": csv_number(plain.get("score")),
              "unperturbed_sd": csv_number(plain.get("sd")), "score": csv_number(cell.get("score")),
              **csv_interval("score", cell.get("ci")),
              "score_sd": csv_number(cell.get("sd")), "drop": csv_number(cell.get("drop")),
              **csv_interval("drop", cell.get("drop_ci")),
              "flip_rate": csv_number(cell.get("flip_rate")), **_csv_coverage(cell), "test": cell.get("test") or "",
              "p": _csv_p(cell.get("p")), "p_holm": _csv_p(cell.get("p_holm")),
              "significant": csv_flag(cell.get("significant")) if cell else ""}
    for col in table_columns(section):
        name = names[str(col["key"])]
        value, cell_ci, sd = cell_figures(cell, col["key"])
        record.update({f"{name}_unperturbed": csv_number(cell_figures(plain, col["key"])[0]), name: csv_number(value),
                       **csv_interval(name, cell_ci), f"{name}_sd": csv_number(sd)})
    provenance = cell.get("provenance") if isinstance(cell.get("provenance"), Mapping) else {}
    record.update({k: "" if provenance.get(k) is None else provenance[k] for k in CSV_TAIL})
    return record


def _csv_coverage(cell: Mapping[str, Any]) -> Dict[str, str]:
    """``questions_changed``, ``questions`` and ``unchanged_reasons`` ("reason: count; ..."), empty when unknown."""
    coverage = _coverage(cell)
    reasons = coverage.get("reasons") if isinstance(coverage.get("reasons"), Mapping) else {}
    count = {k: str(v) if isinstance(v, int) and not isinstance(v, bool) else "" for k, v in coverage.items()}
    return {"questions_changed": count.get("changed", ""), "questions": count.get("questions", ""),
            "unchanged_reasons": "; ".join(f"{reason}: {n}" for reason, n in reasons.items())}


def render_probes_csv(board: Mapping[str, Any]) -> Optional[str]:
    """``leaderboard_probes.csv``; None when no table has probes."""
    if all(section_of(t) is None for t in mappings(board, "tables")):
        return None
    names = csv_names((c for t in mappings(board, "tables") for c in table_columns(section_of(t) or {})),
                      set(CSV_HEAD + CSV_TAIL), ("_unperturbed", "_ci_low", "_ci_high", "_sd"))
    middle = [f for n in names.values() for f in (f"{n}_unperturbed", n, f"{n}_ci_low", f"{n}_ci_high", f"{n}_sd")]
    buf = io.StringIO()
    writer = safe_csv_writer(buf, [*CSV_HEAD, *middle, *CSV_TAIL])
    writer.writeheader()
    for table in mappings(board, "tables"):
        section = section_of(table)
        for row in mappings(section or {}, "rows"):
            for probe in probe_names(section):
                writer.writerow(_csv_record(table, section, row, probe, names))
    return buf.getvalue()
