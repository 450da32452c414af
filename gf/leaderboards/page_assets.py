"""The leaderboard page, ``leaderboard.html``: one self-contained file, its stylesheet and
script inlined, its plots as ``data:`` images.

Why the stylesheet and the script are files (``assets/board.css``, ``assets/board.js``,
shipped as package data and read with :mod:`importlib.resources`): they are CSS and
JavaScript, and are read, edited and linted as such, not as Python strings. The page
still loads nothing from anywhere: both are inlined, and allowed by their hashes in the
page's Content-Security-Policy.

The script builds the tables from the board embedded in the page, with DOM methods and
``textContent`` only, so the data (entry names, error texts) never goes through an HTML
parser. Its ``fixed()`` is the JavaScript half of
:func:`~gf.leaderboards.cells.format_figure` (``toFixed``, without ``-0.00``); "best",
the marks, the seed groups' ``± sd`` and "Seeds" column, stale rows and the sorting
follow the render module's docstring; the temporal sensitivity section follows
:mod:`gf.leaderboards.probe_render` (the same cells as its Markdown).
"""
from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from importlib import resources
from pathlib import PurePosixPath
from typing import Any, Dict, List, Mapping, Tuple

from gf.leaderboards.cells import board_tables, legend_text, statistics_text, strict_json
from gf.leaderboards.plots import plot_file_stem

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
    for table in board_tables(board):
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


def render_html(board: Mapping[str, Any], plots: Mapping[str, bytes]) -> str:
    """One self-contained page: the board embedded as JSON (``#gf-board``), the tables built
    from it by the inline script (sortable; ``assets/board.js``), and ``plots`` (file name,
    with or without a ``plots/`` folder, -> PNG bytes) inline as ``data:`` images next to
    their table; a plot that belongs to no table is shown at the end.

    A Content-Security-Policy allows only this page's own script and style (by hash) and
    ``data:`` images: the page loads nothing from anywhere, and should data ever reach the
    DOM as markup, no script in it would run.
    """
    css, script = asset("board.css"), asset("board.js")
    by_name = {PurePosixPath(str(name)).name: data for name, data in plots.items() if data}
    used = set()
    per_table = []
    for score_name, breakdown_name, probes_name in plot_names(board):
        entry = {}
        for kind, name in (("score", score_name), ("breakdown", breakdown_name), ("probes", probes_name)):
            if name in by_name:
                entry[kind] = _data_uri(by_name[name])
                used.add(name)
        per_table.append(entry)
    other = [[name, _data_uri(data)] for name, data in sorted(by_name.items()) if name not in used]
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
        f'<p id="gf-legend" hidden>{html.escape(legend_text(board))}</p>',
        '<div id="gf-tables"></div>',
        "<noscript><p>This page builds its tables with JavaScript; the same figures are in "
        "leaderboard.md, leaderboard.csv and leaderboard.json.</p></noscript>",
        f'<script type="application/json" id="gf-board">{_script_json(board)}</script>',
        f'<script type="application/json" id="gf-plots">{_script_json({"tables": per_table, "other": other})}</script>',
        f"<script>{script}</script>",
        "</body>",
        "</html>",
        "",
    ])
