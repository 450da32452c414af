"""The outputs of a leaderboard board: Markdown, CSV, JSON, one self-contained HTML page and
PNG plots.

Why several formats from one board: the Markdown goes into READMEs and pull requests, the
CSV into spreadsheets, the JSON back into gf (``gf leaderboard show`` re-renders from it
without evaluating anything), and the HTML page is what a person opens to sort and look.
They are all rendered from the same board by one set of rules (rounding, bold, ``n/a``, the
CSV's fields: docs/leaderboards.md, "Reading the board"), so they cannot disagree: one
rounding rule (:func:`format_figure`, not ``format(x, ".2f")``, which rounds exact
ties to even) for every format, the page's cells included (they are formatted here too).
Seed groups, temporal probes (:mod:`.probe_render`) and stale rows add their columns,
sections, CSV fields and plots only to a board that has them; what each adds:
docs/leaderboards.md, "Seed groups", "Temporal sensitivity" and "Stale rows".

Every file is written through :func:`gf.common.io.atomic_write`: a viewer never sees half
a page, and a run killed mid-write leaves the previous version.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

from gf.common.io import atomic_write, atomic_write_text
from gf.common.utils import PathLike
from gf.leaderboards.cells import (
    BELOW_MARK,
    NA,
    cell_figures,
    csv_flag,
    csv_interval,
    csv_names,
    csv_number,
    figure_cells,
    format_count,
    format_figure,
    format_p,
    format_value,
    has_groups,
    header_cells,
    is_below,
    legend_text,
    mappings,
    md_escape,
    md_list,
    md_stale,
    md_table,
    pairs_header,
    pending_text,
    row_group,
    safe_csv_writer,
    seed_count,
    seeds_text,
    source_text,
    statistics_text,
    strict_json,
    table_columns,
    table_note,
    table_title,
    yes_no,
)
from gf.leaderboards.page_assets import plot_names as _plot_names
from gf.leaderboards.page_assets import render_html
from gf.leaderboards.plots import plot_breakdown, plot_probes, plot_scores
from gf.leaderboards.probe_render import probe_markdown, render_probes_csv

__all__ = [
    "format_figure",
    "render_all",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
]

#: Provenance fields the CSV always has (in this order); others found in the board follow.
PROVENANCE_FIELDS = ("checkpoint_sha256", "split_fingerprint", "config_hash", "gf_version", "git_commit",
                     "date", "host")
#: What the CSV of a board with a seed group says of each row's seeds.
SEED_FIELDS = ("n_seeds", "seeds", "worst_seed", "worst_seed_score")


# ---------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------
def _md_code_block(text: str, indent: str = "") -> List[str]:
    """``text`` verbatim in a fenced block whose fence is longer than any backtick run in it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [indent + fence] + [indent + line for line in text.splitlines()] + [indent + fence]


def render_markdown(board: Mapping[str, Any]) -> str:
    """The board as Markdown, a section per table (rounding, bold and marks:
    docs/leaderboards.md, "Reading the board")."""
    lines = [f"# gf leaderboard: {md_escape(board.get('name') or 'unnamed')}", ""]
    if board.get("created"):
        lines += [f"Created {md_escape(board['created'])}. {md_escape(statistics_text(board))}", ""]
    else:
        lines += [md_escape(statistics_text(board)), ""]
    tables = mappings(board, "tables")
    if not tables:
        lines += ["No tables yet.", ""]
    for table in tables:
        lines += [f"## {md_escape(table_title(table))}", "", md_escape(table_note(table)), ""]
        if mappings(table, "rows"):
            lines += _md_rows(table) + ["", md_escape(legend_text(board)), ""]
        else:
            lines += ["No rows yet.", ""]
        pending = pending_text(table, md_escape)
        if pending:
            lines += [pending, ""]
        lines += md_stale(table)
        failures = mappings(table, "failures")
        if failures:
            lines += ["Failed:", ""]
            for failure in failures:
                error = str(failure.get("error") or "unknown error")
                if "\n" in error.strip():
                    lines += [f"- {md_escape(failure.get('entry'))}:", ""] + _md_code_block(error.strip(), "  ")
                else:
                    lines.append(f"- {md_escape(failure.get('entry'))}: {md_escape(error.strip())}")
            lines.append("")
        lines += md_list("Notes:", [str(n) for n in table.get("notes") or []])
        pairs = mappings(table, "pairs")
        if pairs:
            lines += [f"### Pairwise comparisons: {md_escape(table_title(table))}", ""]
            body = [[md_escape(p.get("a")), md_escape(p.get("b")), format_value(p.get("difference"), p.get("ci")),
                     md_escape(p.get("test") or NA), md_escape(format_p(p.get("p"))),
                     md_escape(format_p(p.get("p_holm"))), yes_no(p.get("significant"))] for p in pairs]
            lines += md_table([md_escape(h) for h in pairs_header(board)],
                              ["---", "---", "---:", "---", "---:", "---:", "---"], body) + [""]
        lines += probe_markdown(table, board)
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_rows(table: Mapping[str, Any]) -> List[str]:
    """A table's rows as a Markdown table (a "Seeds" column when it has a seed group)."""
    header, groups = header_cells(table), has_groups(table)
    align = ["---"] + ["---:"] * (len(header) - 1) + ["---"]
    body = []
    for row, figures in zip(mappings(table, "rows"), figure_cells(table)):
        entry = md_escape(row.get("entry")) + (f" {BELOW_MARK}" if is_below(row) else "")
        cells = [entry] + [_md_figure(value, ci, bold, sd) for _, value, ci, sd, bold in figures]
        cells.append(format_count(row.get("num_questions")))
        if groups:
            cells.append(md_escape(seeds_text(row)))
        body.append(cells + [md_escape(source_text(row))])
    return md_table([md_escape(label) for _, label in header] + ["Source"], align, body)


def _md_figure(value: Any, ci: Any, bold: bool, sd: Any = None) -> str:
    text = format_value(value, ci, sd)
    if bold and text != NA:
        figure, _, rest = text.partition(" ")
        return f"**{figure}**" + (f" {rest}" if rest else "")
    return text


# ---------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------
def _csv_layout(board: Mapping[str, Any]) -> Tuple[List[str], Dict[str, str]]:
    """The CSV header and the field name of each column key (a key that equals another
    field would overwrite it). The fields, in order: docs/leaderboards.md, "Reading the
    board", "Seed groups" and "Stale rows"."""
    groups = any(has_groups(t) for t in mappings(board, "tables"))
    stale = ("stale", "stale_reason") if _has_stale(board) else ()
    suffixes = ("_ci_low", "_ci_high", "_sd") if groups else ("_ci_low", "_ci_high")
    head = ["benchmark", "split", "entry", "kind", "score", *("score" + x for x in suffixes)]
    tail = ["num_questions", *(SEED_FIELDS if groups else ()), "significantly_below_best", "source", *stale,
            *PROVENANCE_FIELDS]
    # Provenance keys named like a row field (e.g. "score") are left out: they would overwrite it.
    tail += sorted({str(k) for t in mappings(board, "tables") for r in mappings(t, "rows")
                    for k in (r.get("provenance") or {}) if str(k) not in head + tail})
    names = csv_names((c for t in mappings(board, "tables") for c in table_columns(t)), set(head + tail), suffixes)
    return head + [f for name in names.values() for f in (name, *(name + x for x in suffixes))] + tail, names


def _has_stale(board: Mapping[str, Any]) -> bool:
    return any(r.get("kind") == "stale" for t in mappings(board, "tables") for r in mappings(t, "rows"))


def _csv_seed_fields(row: Mapping[str, Any]) -> Dict[str, str]:
    group = row_group(row) or {}
    worst = group.get("worst") if isinstance(group.get("worst"), Mapping) else {}
    return {"score_sd": csv_number(row.get("sd")),
            "n_seeds": format_count(seed_count(row)).replace(NA, ""),
            "seeds": " ".join(str(x) for x in group.get("seeds") or []),
            "worst_seed": "" if worst.get("seed") is None else str(worst["seed"]),
            "worst_seed_score": csv_number(worst.get("score"))}


def render_csv(board: Mapping[str, Any]) -> str:
    """One CSV row per (table, row), figures rounded like the Markdown; empty where not
    measured."""
    fields, names = _csv_layout(board)
    groups = "score_sd" in fields
    provenance = set(fields[fields.index(PROVENANCE_FIELDS[0]):]) - set(names.values())
    buf = io.StringIO()
    writer = safe_csv_writer(buf, fields)
    writer.writeheader()
    for table in mappings(board, "tables"):
        for row in mappings(table, "rows"):
            record: Dict[str, Any] = {
                "benchmark": table.get("benchmark") or "", "split": table.get("split") or "",
                "entry": row.get("entry") or "", "kind": row.get("kind") or "", "score": csv_number(row.get("score")),
                **csv_interval("score", row.get("ci")),
                "num_questions": format_count(row.get("num_questions")).replace(NA, ""),
                "significantly_below_best": csv_flag(row.get("significantly_below_best")),
                "source": row.get("source") or "",
            }
            if "stale" in fields:
                record.update(stale="true" if row.get("kind") == "stale" else "false",
                              stale_reason=row.get("stale_reason") or "")
            for col in table_columns(table):
                name = names[str(col["key"])]
                value, cell_ci, sd = cell_figures(row, col["key"])
                record.update({name: csv_number(value), **csv_interval(name, cell_ci)})
                if groups:
                    record[f"{name}_sd"] = csv_number(sd)
            if groups:
                record.update(_csv_seed_fields(row))
            for key, value in (row.get("provenance") or {}).items():
                if str(key) in provenance:
                    record[str(key)] = "" if value is None else value
            writer.writerow(record)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------
def render_json(board: Mapping[str, Any]) -> str:
    """The board at full precision, ``indent=2`` (what ``gf leaderboard show`` reads back)."""
    return json.dumps(strict_json(board), indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"


# ---------------------------------------------------------------------------------------
# all outputs
# ---------------------------------------------------------------------------------------
def render_all(board: Mapping[str, Any], out_dir: PathLike) -> Dict[str, Any]:
    """Write ``leaderboard.{md,csv,json,html}`` and ``plots/<stem>_{score,breakdown}.png``
    into ``out_dir``; return ``{"markdown", "csv", "json", "html": Path, "plots": [Path,
    ...]}``. A board with probes also gets ``leaderboard_probes.csv`` (``"probes_csv"``) and
    ``plots/<stem>_probes.png``. The probe CSV and plots an earlier render wrote and this one
    does not (a table gone, or without probes now) are removed, since they would show
    figures the board no longer has; other files in ``out_dir`` are left alone: the folder
    may hold things gf did not write."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    earlier = _written_before(out)
    now = ["plots/" + n for names in _plot_names(board) for n in names] + ["leaderboard_probes.csv"]
    _record_written(out, sorted(set(earlier) | set(now)))  # first: a kill while writing forgets nothing
    plots: Dict[str, bytes] = {}
    plot_paths: List[Path] = []
    for table, (score_name, breakdown_name, probes_name) in zip(mappings(board, "tables"), _plot_names(board)):
        for name, png in ((score_name, plot_scores(table)), (breakdown_name, plot_breakdown(table)),
                          (probes_name, plot_probes(table))):
            if png is None:
                continue
            path = out / "plots" / name
            with atomic_write(path, "wb", encoding=None) as fh:
                fh.write(png)
            plots[name] = png
            plot_paths.append(path)
    paths = {"json": out / "leaderboard.json", "csv": out / "leaderboard.csv",
             "markdown": out / "leaderboard.md", "html": out / "leaderboard.html"}
    atomic_write_text(paths["json"], render_json(board))
    atomic_write_text(paths["csv"], render_csv(board))
    probes_csv = render_probes_csv(board)
    if probes_csv is not None:
        paths["probes_csv"] = out / "leaderboard_probes.csv"
        atomic_write_text(paths["probes_csv"], probes_csv)
    atomic_write_text(paths["markdown"], render_markdown(board))
    atomic_write_text(paths["html"], render_html(board, plots))
    written = [p.relative_to(out).as_posix() for p in plot_paths + [paths.get("probes_csv")] if p is not None]
    _remove_earlier_outputs(out, earlier, written)
    return {**paths, "plots": plot_paths}


#: What render_all wrote last (plots and the probe CSV): what a later render may remove.
_WRITTEN = ".gf_rendered.json"


def _written_before(out: Path) -> List[str]:
    """The optional outputs an earlier render wrote ([] when unknown or unreadable)."""
    try:
        names = json.loads((out / _WRITTEN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _record_written(out: Path, names: List[str]) -> None:
    atomic_write_text(out / _WRITTEN, json.dumps(names) + "\n")


def _remove_earlier_outputs(out: Path, earlier: List[str], written: List[str]) -> None:
    """Remove the outputs of an earlier render that this one did not write again (see
    :func:`render_all`), then record what this one wrote."""
    allowed = {p.relative_to(out).as_posix() for p in (out / "plots").glob("*.png")} | {"leaderboard_probes.csv"}
    for name in set(earlier) - set(written):
        if name in allowed:  # a name gf writes, inside the folder
            (out / name).unlink(missing_ok=True)
    _record_written(out, sorted(written))
