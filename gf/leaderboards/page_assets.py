"""The leaderboard page, ``leaderboard.html``: one self-contained file, its stylesheet and
script inlined, its plots as ``data:`` images.

Why the stylesheet and the script are files (``assets/board.css``, ``assets/board.js``,
shipped as package data and read with :mod:`importlib.resources`): they are CSS and
JavaScript, and are read, edited and linted as such, not as Python strings. The page
still loads nothing from anywhere: both are inlined, and allowed by their hashes in the
page's Content-Security-Policy.

The tables are written here, every cell already formatted by the rules of the Markdown
(:mod:`.cells`, :mod:`.probe_render`), as elements in the page's JSON (:func:`page_elements`);
the script builds them with DOM methods and text nodes only, so the data (entry names,
error texts) never goes through an HTML parser, and sorts a table on a header click.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from importlib import resources
from pathlib import PurePosixPath
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from gf.common.utils import finite_number as _number
from gf.leaderboards.cells import (
    BELOW_MARK,
    NA,
    STALE_TITLE,
    figure_cells,
    format_count,
    format_figure,
    format_p,
    has_groups,
    header_cells,
    interval_of,
    is_below,
    legend_text,
    mappings,
    pairs_header,
    pending_text,
    seed_count,
    seeds_text,
    source_text,
    stale_text,
    statistics_text,
    strict_json,
    table_columns,
    table_note,
    table_title,
    yes_no,
)
from gf.leaderboards.plots import plot_file_stem
from gf.leaderboards.probe_render import (PROBE_STALE_TITLE, category_cells, probe_names, probe_note, section_of,
                                          summary_cells, summary_header)

__all__ = ["asset", "plot_names", "render_html"]


@functools.lru_cache(maxsize=None)
def asset(name: str) -> str:
    """The text of ``assets/<name>`` (``board.css``, ``board.js``), read once, without the
    trailing newline (what the page's CSP hash covers is exactly what is inlined)."""
    return (resources.files("gf.leaderboards") / "assets" / name).read_text(encoding="utf-8").strip()


def _script_json(obj: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: every ``<``, ``>`` and
    ``&`` written as a ``\\u`` escape, so no data can close the element (``</script>``) or
    switch the HTML parser's script state (``<!--``); non-ASCII as escapes too."""
    text = json.dumps(strict_json(obj), ensure_ascii=True, allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def plot_names(board: Mapping[str, Any]) -> List[Tuple[str, str, str]]:
    """``(score, breakdown, probes)`` PNG file names per table: ``<stem>_score.png``,
    ``<stem>_breakdown.png`` and ``<stem>_probes.png``, with ``_2``, ``_3``... added to a stem
    two tables share (their names differ only in characters a file name cannot keep)."""
    seen: Dict[str, int] = {}
    names = []
    for table in mappings(board, "tables"):
        stem = plot_file_stem(table)
        seen[stem] = seen.get(stem, 0) + 1
        if seen[stem] > 1:
            stem = f"{stem}_{seen[stem]}"
        names.append((f"{stem}_score.png", f"{stem}_breakdown.png", f"{stem}_probes.png"))
    return names


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


# ---------------------------------------------------------------------------------------
# the tables as elements: ``[tag, {attribute: value}, child, ...]``, a child an element or a
# text; an attribute given as a list is a path into the plots (``["tables", 0, "score"]``)
# ---------------------------------------------------------------------------------------
def _sort_key(x: Any) -> str:
    return "" if _number(x) is None else json.dumps(x)


def _figure_td(key: str, value: Any, ci: Any, bold: bool, sd: Any = None) -> list:
    text = format_figure(value)
    td = ["td", {"class": "num", "data-col": key, "data-sort": _sort_key(value)},
          ["strong" if bold and text != NA else "span", {"class": "value"}, text]]
    if text != NA and _number(sd) is not None:
        td += [" ", ["span", {"class": "sd", "title": "sample sd over the seeds"}, f"± {format_figure(sd)}"]]
    interval = interval_of(ci) if text != NA else None
    if interval is not None:
        td += [" ", ["span", {"class": "ci"}, f"[{format_figure(interval[0])}, {format_figure(interval[1])}]"]]
    return td


def _plain_table(cls: str, header: Sequence[str], body: Sequence[tuple]) -> list:
    """``body``: ``(attributes, [(data-col, text), ...], names)``; the first ``names`` cells
    are names, the others figures."""
    trs = []
    for attrs, cells, names in body:
        trs.append(["tr", attrs, *(["td", {"class": "entry" if i < names else "num", "data-col": col}, text]
                                   for i, (col, text) in enumerate(cells))])
    return ["table", {"class": cls}, ["thead", {}, ["tr", {}, *(["th", {"scope": "col"}, h] for h in header)]],
            ["tbody", {}, *trs]]


def _list(title: str, items: Sequence[str], cls: str) -> list:
    if not items:
        return []
    return [["p", {"class": "note"}, title], ["ul", {"class": cls}, *(["li", {}, x] for x in items)]]


def _board_table(table: Mapping[str, Any]) -> list:
    header = [["th", {"scope": "col", "data-col": key},
               ["button", {"type": "button", "title": "sort by this column"}, label]]
              for key, label in header_cells(table)]
    body, grouped = [], has_groups(table)
    for row, figures in zip(mappings(table, "rows"), figure_cells(table)):
        entry = ["td", {"class": "entry"}, str(row.get("entry"))]
        if is_below(row):
            entry.append(["span", {"class": "below", "title": "significantly below the best measured row"},
                          BELOW_MARK])
        if row.get("kind") in ("reported", "stale"):
            entry.append(["span", {"class": "tag" + (" stale" if row["kind"] == "stale" else "")}, row["kind"]])
        tr = ["tr", {"data-entry": str(row.get("entry")), "data-kind": str(row.get("kind"))}, entry,
              *(_figure_td(key, value, ci, bold, sd) for key, value, ci, sd, bold in figures),
              ["td", {"class": "num", "data-col": "num_questions", "data-sort": _sort_key(row.get("num_questions"))},
               format_count(row.get("num_questions"))]]
        if grouped:
            tr.append(["td", {"class": "num", "data-col": "seeds", "data-sort": _sort_key(seed_count(row))},
                       seeds_text(row)])
        body.append(tr + [["td", {"class": "source"}, source_text(row)]])
    return ["table", {"class": "board"}, ["thead", {}, ["tr", {}, *header, ["th", {"scope": "col"}, "Source"]]],
            ["tbody", {}, *body]]


def _pairs(table: Mapping[str, Any], board: Mapping[str, Any]) -> list:
    pairs = mappings(table, "pairs")
    if not pairs:
        return []
    body = [["tr", {"data-a": str(p.get("a")), "data-b": str(p.get("b"))}, ["td", {}, str(p.get("a"))],
             ["td", {}, str(p.get("b"))], _figure_td("difference", p.get("difference"), p.get("ci"), False),
             ["td", {}, str(p.get("test") or NA)], ["td", {"class": "num"}, format_p(p.get("p"))],
             ["td", {"class": "num"}, format_p(p.get("p_holm"))], ["td", {}, yes_no(p.get("significant"))]]
            for p in pairs]
    return [["h3", {}, "Pairwise comparisons"],
            ["table", {"class": "pairs"}, ["thead", {}, ["tr", {}, *(["th", {"scope": "col"}, h]
                                                                      for h in pairs_header(board))]],
             ["tbody", {}, *body]]]


def _probes_box(table: Mapping[str, Any], board: Mapping[str, Any], image: Optional[list]) -> list:
    section = section_of(table)
    if section is None:
        return []
    probes, rows, columns = probe_names(section), mappings(section, "rows"), table_columns(section)
    box = ["div", {"class": "gf-probes"}, ["h3", {}, "Temporal sensitivity"],
           ["p", {"class": "note"}, probe_note(section, board)]]
    if not rows:
        box.append(["p", {"class": "note"}, "No probed rows yet."])
    else:
        cols = ["entry", "unperturbed"]
        for probe in probes:
            cols += [f"{probe}:score", f"{probe}:drop", f"{probe}:flips", f"{probe}:changed", f"{probe}:p_holm"]
        body = [({"data-probe-entry": str(r.get("entry"))}, list(zip(cols, summary_cells(r, probes))), 1) for r in rows]
        box.append(_plain_table("probes", summary_header(section, board), body))
    if rows and columns:
        body = [({"data-probe-entry": str(r.get("entry")), "data-category": str(c["key"])},
                 list(zip(["entry", "category", "unperturbed", *probes], category_cells(r, c, probes))), 2)
                for r in rows for c in columns]
        box += [["h3", {}, "Temporal sensitivity per category"],
                _plain_table("probe-categories", ["Entry", "Category", "Unperturbed", *probes], body)]
    box += _list("Probe results pending:", [str(p) for p in section.get("pending") or []], "pending")
    box += _list(PROBE_STALE_TITLE, [stale_text(s) for s in mappings(section, "stale")], "stale")
    box += _list("Probe results failed:", [f"{f.get('entry')}: {str(f.get('error') or 'unknown error').strip()}"
                                           for f in mappings(section, "failures")], "failures")
    box += _list("Notes:", [str(n) for n in section.get("notes") or []], "notes")
    if image is not None:
        box.append(["img", {"class": "plot", "src": image, "alt": f"{table_title(table)}: temporal sensitivity"}])
    return [box]


def _table_section(table: Mapping[str, Any], board: Mapping[str, Any], index: int, images: Mapping[str, Any]) -> list:
    title = table_title(table)
    section = ["section", {"class": "gf-table", "data-table": str(table.get("id") or title)}, ["h2", {}, title],
               ["p", {"class": "note"}, table_note(table)]]
    if mappings(table, "rows"):
        section += [_board_table(table), ["p", {"class": "legend"}, legend_text(board)]]
    else:
        section.append(["p", {"class": "note"}, "No rows yet."])
    pending = pending_text(table)
    if pending:
        section.append(["p", {"class": "pending"}, pending])
    section += _list(STALE_TITLE, [stale_text(s) for s in mappings(table, "stale")], "stale")
    failures = mappings(table, "failures")
    if failures:
        section += [["h3", {}, "Failed"], ["ul", {"class": "failures"}, *(
            ["li", {"data-entry": str(f.get("entry"))}, ["strong", {}, str(f.get("entry"))],
             ["pre", {"class": "error"}, str(f.get("error") or "unknown error").strip()]] for f in failures)]]
    section += _list("Notes:", [str(n) for n in table.get("notes") or []], "notes")
    section += _pairs(table, board)
    for kind, what in (("score", "per entry, with confidence intervals"), ("breakdown", "breakdown per column")):
        if kind in images:
            section.append(["img", {"class": "plot", "src": ["tables", index, kind], "alt": f"{title}: {what}"}])
    return section + _probes_box(table, board, ["tables", index, "probes"] if "probes" in images else None)


def page_elements(board: Mapping[str, Any], plots: Mapping[str, Any]) -> List[list]:
    """The children of the page's ``#gf-tables``: a section per table, then the plots that
    belong to no table (``plots``: ``{"tables": [{kind: data URI}], "other": [[name, data URI]]}``)."""
    tables = mappings(board, "tables")
    out = [_table_section(t, board, i, images) for i, (t, images) in enumerate(zip(tables, plots["tables"]))]
    if not tables:
        out.append(["p", {"class": "note"}, "No tables yet."])
    if plots["other"]:
        out.append(["section", {"class": "gf-other-plots"}, ["h2", {}, "Other plots"],
                    *(["img", {"class": "plot", "src": ["other", i, 1], "alt": name}]
                      for i, (name, _) in enumerate(plots["other"]))])
    return out


def render_html(board: Mapping[str, Any], plots: Mapping[str, bytes]) -> str:
    """The page (see the module docstring), the board embedded as JSON (``#gf-board``).
    ``plots``: file name, with or without a ``plots/`` folder, -> PNG bytes; each is shown
    next to its table, one that belongs to no table at the end.

    The Content-Security-Policy allows only this page's own script and style (by hash) and
    ``data:`` images: should data ever reach the DOM as markup, no script in it would run.
    """
    css, script = asset("board.css"), asset("board.js")
    by_name = {PurePosixPath(str(name)).name: data for name, data in plots.items() if data}
    names = [dict(zip(("score", "breakdown", "probes"), three)) for three in plot_names(board)]
    per_table = [{kind: _data_uri(by_name[name]) for kind, name in table.items() if name in by_name} for table in names]
    used = {name for table in names for name in table.values()}
    other = [[name, _data_uri(data)] for name, data in sorted(by_name.items()) if name not in used]
    plots_json = {"tables": per_table, "other": other}
    plots_json["page"] = page_elements(board, plots_json)
    name = str(board.get("name") or "unnamed")
    created = f"Created {board['created']}. " if board.get("created") else ""
    csp = (f"default-src 'none'; img-src data:; style-src {_csp_hash(css)}; script-src {_csp_hash(script)}; "
           f"base-uri 'none'; form-action 'none'")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=False)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>gf leaderboard: {html.escape(name)}</title>",
        f"<style>{css}</style>",
        "</head>",
        "<body>",
        f"<h1>gf leaderboard: {html.escape(name)}</h1>",
        f'<p class="note">{html.escape(created + statistics_text(board))} Click a column header to sort.</p>',
        '<div id="gf-tables"></div>',
        "<noscript><p>This page builds its tables with JavaScript; the same figures are in "
        "leaderboard.md, leaderboard.csv and leaderboard.json.</p></noscript>",
        f'<script type="application/json" id="gf-board">{_script_json(board)}</script>',
        f'<script type="application/json" id="gf-plots">{_script_json(plots_json)}</script>',
        f"<script>{script}</script>",
        "</body>",
        "</html>",
        "",
    ])
