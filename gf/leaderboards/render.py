"""The outputs of a leaderboard board: Markdown, CSV, JSON, one self-contained HTML page and
PNG plots.

Why several formats from one board: the Markdown goes into READMEs and pull requests, the
CSV into spreadsheets, the JSON back into gf (``gf leaderboard show`` re-renders from it
without evaluating anything), and the HTML page is what a person opens to sort and look.
They are all rendered from the same board by the rules below, so they cannot disagree:

* figures are rounded to 2 decimals by one rule in every format: half away from zero on the
  float's exact binary value (:func:`format_figure`). That is exactly what JavaScript's
  ``Number.prototype.toFixed`` does, so the page's script shows the same digits as the
  Markdown and CSV (Python's ``format(x, ".2f")`` rounds exact ties such as ``80.125`` to
  even and would disagree);
* "best" is the highest value of a column among *measured* rows, compared at the displayed
  precision (rows that show the same best figure are all bold). A reported row is a figure
  copied from a paper: it was not measured on this split with these intervals, so it is
  never bold and never marked;
* ``None`` (not measured) shows as ``n/a`` (an empty field in the CSV, where a reader
  parses numbers).

Every file is written through :func:`gf.common.io.atomic_write`: a viewer never sees half
a page, and a run killed mid-write leaves the previous version.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import math
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from gf.common.io import atomic_write, atomic_write_text
from gf.common.utils import PathLike
from gf.common.utils import finite_number as _number
from gf.leaderboards.plots import plot_breakdown, plot_file_stem, plot_scores

__all__ = [
    "format_figure",
    "render_all",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
]

NA = "n/a"
BELOW_MARK = "▼"
#: Provenance fields the CSV always has (in this order); others found in the board follow.
PROVENANCE_FIELDS = ("checkpoint_sha256", "split_fingerprint", "config_hash", "gf_version", "git_commit",
                     "date", "host")
_CENT = Decimal("0.01")


# ---------------------------------------------------------------------------------------
# numbers
# ---------------------------------------------------------------------------------------
def _rounded(x: Any, places: int = 2) -> Optional[Decimal]:
    """``x`` rounded half away from zero on its exact value (see the module docstring)."""
    x = _number(x)
    if x is None:
        return None
    return Decimal(x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def format_figure(x: Any, places: int = 2, na: str = NA) -> str:
    """``x`` with ``places`` decimals as JavaScript's ``toFixed`` writes it (no ``-0.00``);
    ``na`` for None and anything that is not a finite number."""
    d = _rounded(x, places)
    if d is None:
        return na
    text = format(abs(d), "f")
    return "-" + text if d < 0 else text  # Decimal("-0.00") < 0 is False: no "-0.00"


def _interval(ci: Any) -> Optional[Tuple[Any, Any]]:
    """``ci`` as ``(low, high)`` when it is a pair with at least one number, else None."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and any(_number(v) is not None for v in ci):
        return ci[0], ci[1]
    return None


def format_value(value: Any, ci: Any = None) -> str:
    """``93.67 [91.02, 95.88]``: the value and its interval; ``n/a`` when there is no value."""
    text = format_figure(value)
    interval = _interval(ci)
    if text == NA or interval is None:
        return text
    return f"{text} [{format_figure(interval[0])}, {format_figure(interval[1])}]"


def format_p(p: Any) -> str:
    """A p-value: 3 decimals, or ``<0.001`` (a bootstrap p has no meaningful digits below that)."""
    x = _number(p)
    if x is None:
        return NA
    return "<0.001" if x < 0.001 else format_figure(x, 3)


def format_count(n: Any) -> str:
    x = _number(n)
    if x is None:
        return NA
    return str(int(x)) if float(x).is_integer() else format_figure(x)


def _yes_no(flag: Any) -> str:
    return "yes" if flag is True else "no" if flag is False else NA


# ---------------------------------------------------------------------------------------
# reading a board (tolerant: a missing key is "not measured", not a crash)
# ---------------------------------------------------------------------------------------
def _tables(board: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    return [t for t in board.get("tables") or [] if isinstance(t, Mapping)]


def _table_rows(table: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    return [r for r in table.get("rows") or [] if isinstance(r, Mapping)]


def _columns(table: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    return [c for c in table.get("columns") or [] if isinstance(c, Mapping) and c.get("key") is not None]


def _cell(row: Mapping[str, Any], key: str) -> Tuple[Any, Any]:
    """``(value, ci)`` of a breakdown cell; ``(None, None)`` when absent."""
    cell = (row.get("cells") or {}).get(key)
    if not isinstance(cell, Mapping):
        return None, None
    return cell.get("value"), cell.get("ci")


def _score_label(table: Mapping[str, Any]) -> str:
    return str(table.get("score_label") or table.get("score_key") or "Score")


def _title(table: Mapping[str, Any]) -> str:
    parts = [str(table.get(k)) for k in ("benchmark", "split") if table.get(k) not in (None, "")]
    return " / ".join(parts) if parts else str(table.get("id") or "table")


def _best(table: Mapping[str, Any]) -> Dict[Optional[str], set]:
    """Row indices holding the best measured figure per column (``None``: the score).

    Compared at the displayed precision, so rows showing the same best figure are all
    bold; reported rows never take part (see the module docstring)."""
    rows = _table_rows(table)
    out: Dict[Optional[str], set] = {}
    keys: List[Optional[str]] = [None] + [c["key"] for c in _columns(table)]
    for key in keys:
        values = {}
        for i, row in enumerate(rows):
            if row.get("kind") != "measured":
                continue
            d = _rounded(row.get("score") if key is None else _cell(row, key)[0])
            if d is not None:
                values[i] = d
        top = max(values.values(), default=None)
        out[key] = {i for i, d in values.items() if d == top} if top is not None else set()
    return out


def _is_below(row: Mapping[str, Any]) -> bool:
    return row.get("kind") == "measured" and row.get("significantly_below_best") is True


def _source_text(row: Mapping[str, Any]) -> str:
    if row.get("kind") == "reported":
        source = row.get("source")
        return f"reported: {source}" if source not in (None, "") else "reported"
    return str(row.get("kind") or "measured")


def _statistics_text(board: Mapping[str, Any]) -> str:
    """One sentence on how the intervals and tests were made (from ``board["statistics"]``)."""
    stats = board.get("statistics") or {}
    confidence = _number(stats.get("confidence"))
    level = f"{confidence * 100:g}% " if confidence is not None else ""
    parts = [f"Scores are percentages; [low, high] is the {level}confidence interval"]
    samples, seed = stats.get("bootstrap_samples"), stats.get("seed")
    if samples is not None:
        parts.append(f" from {samples} bootstrap resamples" + (f" (seed {seed})" if seed is not None else ""))
    text = "".join(parts) + "."
    alpha, correction = stats.get("alpha"), stats.get("correction")
    if alpha is not None:
        text += f" Pairs of measured rows are compared with paired tests at alpha {alpha}"
        text += f", p-values adjusted by {correction}." if correction else "."
    return text


def _legend_text(board: Mapping[str, Any]) -> str:
    stats = board.get("statistics") or {}
    alpha, correction = stats.get("alpha", 0.05), stats.get("correction")
    adjusted = f"{correction}-adjusted " if correction else ""
    return (f"Bold: best measured value per column. {BELOW_MARK}: significantly below the best measured row "
            f"(paired test, {adjusted}p < {alpha}). Reported rows are figures from their source, not measured "
            f"here: never bold, never compared.")


def _table_note(table: Mapping[str, Any]) -> str:
    bits = []
    if table.get("evaluator"):
        bits.append(f"evaluator {table['evaluator']}")
    bits.append(f"score: {_score_label(table)}")
    if table.get("resampling_unit"):
        bits.append(f"intervals resample by {table['resampling_unit']}")
    text = "; ".join(bits)
    return text[:1].upper() + text[1:] + "."


# ---------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"[\\`*\[\]<>&|~#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def md_escape(text: Any) -> str:
    """``text`` as literal Markdown inline text on one line: newlines become spaces, and the
    characters that could start emphasis, code, links, HTML or entities, or end a table
    cell (``|``) get a backslash. ``_`` inside a word (``demo_sup``) cannot start emphasis
    and is left as is, so names stay readable in the raw file."""
    one_line = " ".join(str(text).splitlines())
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), one_line)


def _md_table(header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def _md_code_block(text: str, indent: str = "") -> List[str]:
    """``text`` verbatim in a fenced block whose fence is longer than any backtick run in it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [indent + fence] + [indent + line for line in text.splitlines()] + [indent + fence]


def render_markdown(board: Mapping[str, Any]) -> str:
    """The board as Markdown: per table a heading, the table (see the module docstring for
    rounding, bold and marks), a legend line, pending entries, failures with their error
    text, and the pairwise comparisons."""
    lines = [f"# gf leaderboard: {md_escape(board.get('name') or 'unnamed')}", ""]
    if board.get("created"):
        lines += [f"Created {md_escape(board['created'])}. {md_escape(_statistics_text(board))}", ""]
    else:
        lines += [md_escape(_statistics_text(board)), ""]
    tables = _tables(board)
    if not tables:
        lines += ["No tables yet.", ""]
    for table in tables:
        lines += [f"## {md_escape(_title(table))}", "", md_escape(_table_note(table)), ""]
        rows, columns, best = _table_rows(table), _columns(table), _best(table)
        if rows:
            header = ["Entry", md_escape(_score_label(table))] + [md_escape(c.get("label") or c["key"])
                                                                  for c in columns] + ["Questions", "Source"]
            align = ["---", "---:"] + ["---:"] * len(columns) + ["---:", "---"]
            body = []
            for i, row in enumerate(rows):
                entry = md_escape(row.get("entry"))
                if _is_below(row):
                    entry += f" {BELOW_MARK}"
                cells = [entry, _md_figure(row.get("score"), row.get("ci"), i in best[None])]
                for col in columns:
                    value, ci = _cell(row, col["key"])
                    cells.append(_md_figure(value, ci, i in best[col["key"]]))
                cells += [format_count(row.get("num_questions")), md_escape(_source_text(row))]
                body.append(cells)
            lines += _md_table(header, align, body) + ["", md_escape(_legend_text(board)), ""]
        else:
            lines += ["No rows yet.", ""]
        pending = [str(p) for p in table.get("pending") or []]
        if pending:
            lines += ["Pending (not finished yet, e.g. another shard is still running): "
                      + ", ".join(md_escape(p) for p in pending) + ".", ""]
        failures = [f for f in table.get("failures") or [] if isinstance(f, Mapping)]
        if failures:
            lines += ["Failed:", ""]
            for failure in failures:
                error = str(failure.get("error") or "unknown error")
                if "\n" in error.strip():
                    lines += [f"- {md_escape(failure.get('entry'))}:", ""] + _md_code_block(error.strip(), "  ")
                else:
                    lines.append(f"- {md_escape(failure.get('entry'))}: {md_escape(error.strip())}")
            lines.append("")
        pairs = [p for p in table.get("pairs") or [] if isinstance(p, Mapping)]
        if pairs:
            correction = (board.get("statistics") or {}).get("correction") or "adjusted"
            lines += [f"### Pairwise comparisons: {md_escape(_title(table))}", ""]
            header = ["A", "B", "Difference (A - B)", "Test", "p", md_escape(f"p ({correction})"), "Significant"]
            body = [[md_escape(p.get("a")), md_escape(p.get("b")), format_value(p.get("difference"), p.get("ci")),
                     md_escape(p.get("test") or NA), md_escape(format_p(p.get("p"))),
                     md_escape(format_p(p.get("p_holm"))), _yes_no(p.get("significant"))] for p in pairs]
            lines += _md_table(header, ["---", "---", "---:", "---", "---:", "---:", "---"], body) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _md_figure(value: Any, ci: Any, bold: bool) -> str:
    text = format_value(value, ci)
    if bold and text != NA:
        figure, _, rest = text.partition(" ")
        return f"**{figure}**" + (f" {rest}" if rest else "")
    return text


# ---------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------
def _csv_number(x: Any) -> str:
    return format_figure(x, na="")


def _csv_layout(board: Mapping[str, Any]) -> Tuple[List[str], Dict[str, str]]:
    """The CSV header and the field name of each column key.

    Fixed fields, then value/ci_low/ci_high per column key (the union over all tables, in
    order of first appearance), then counts, source and provenance (the listed fields, then
    any other the board holds, sorted). A column key that equals another field name would
    overwrite it, so it becomes ``column:<key>``."""
    head = ["benchmark", "split", "entry", "kind", "score", "score_ci_low", "score_ci_high"]
    tail = ["num_questions", "significantly_below_best", "source", *PROVENANCE_FIELDS]
    # Provenance keys named like a row field (e.g. "score") are left out: they would overwrite it.
    tail += sorted({str(k) for t in _tables(board) for r in _table_rows(t)
                    for k in (r.get("provenance") or {}) if str(k) not in head + tail})
    taken = set(head + tail)
    names: Dict[str, str] = {}
    middle: List[str] = []
    for table in _tables(board):
        for col in _columns(table):
            key = str(col["key"])
            if key in names:
                continue
            name = key
            while {name, f"{name}_ci_low", f"{name}_ci_high"} & taken:
                name = f"column:{name}"
            names[key] = name
            middle += [name, f"{name}_ci_low", f"{name}_ci_high"]
            taken.update(middle[-3:])
    return head + middle + tail, names


def csv_fields(board: Mapping[str, Any]) -> List[str]:
    """The CSV header (see :func:`_csv_layout`)."""
    return _csv_layout(board)[0]


def render_csv(board: Mapping[str, Any]) -> str:
    """One CSV row per (table, row), figures rounded like the Markdown; empty where not
    measured."""
    fields, names = _csv_layout(board)
    provenance = set(fields[fields.index(PROVENANCE_FIELDS[0]):]) - set(names.values())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for table in _tables(board):
        for row in _table_rows(table):
            ci = _interval(row.get("ci")) or (None, None)
            record: Dict[str, Any] = {
                "benchmark": table.get("benchmark") or "", "split": table.get("split") or "",
                "entry": row.get("entry") or "", "kind": row.get("kind") or "",
                "score": _csv_number(row.get("score")), "score_ci_low": _csv_number(ci[0]),
                "score_ci_high": _csv_number(ci[1]),
                "num_questions": format_count(row.get("num_questions")).replace(NA, ""),
                "significantly_below_best": {True: "true", False: "false"}.get(row.get("significantly_below_best"), ""),
                "source": row.get("source") or "",
            }
            for col in _columns(table):
                name = names[str(col["key"])]
                value, cell_ci = _cell(row, col["key"])
                low, high = _interval(cell_ci) or (None, None)
                record.update({name: _csv_number(value), f"{name}_ci_low": _csv_number(low),
                               f"{name}_ci_high": _csv_number(high)})
            for key, value in (row.get("provenance") or {}).items():
                if str(key) in provenance:
                    record[str(key)] = "" if value is None else value
            writer.writerow(record)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------
def _strict(obj: Any) -> Any:
    """``obj`` as strict JSON data: NaN and infinities become null (``json.dumps`` would
    write ``NaN``, which ``JSON.parse`` and most readers reject), tuples become lists."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def render_json(board: Mapping[str, Any]) -> str:
    """The board at full precision, ``indent=2`` (what ``gf leaderboard show`` reads back)."""
    return json.dumps(_strict(board), indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"


# ---------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------
def _script_json(obj: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: every ``<``, ``>`` and
    ``&`` written as a ``\\u`` escape, so no data can close the element (``</script>``) or
    switch the HTML parser's script state (``<!--``); non-ASCII as escapes too."""
    text = json.dumps(_strict(obj), ensure_ascii=True, allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; font-size: 1.3em; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; }
th { background: #f3f3f3; }
th button { font: inherit; font-weight: bold; border: 0; background: none; cursor: pointer; padding: 0; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.ci { color: #666; font-size: 0.9em; }
tr[data-kind="reported"] td { font-style: italic; color: #555; background: #fafafa; }
.tag { font-size: 0.8em; border: 1px solid #999; border-radius: 3px; padding: 0 0.3em; margin-left: 0.4em; }
.below { color: #b22; margin-left: 0.3em; }
.note, .legend { color: #555; font-size: 0.9em; }
pre.error { background: #fff4f4; border: 1px solid #e0b4b4; padding: 0.4em; white-space: pre-wrap; }
img.plot { max-width: 100%; margin: 0.5em 1em 0.5em 0; border: 1px solid #eee; }
""".strip()

# Builds the page from the embedded board with DOM methods and textContent only: the data
# (entry names, error texts) never goes through an HTML parser. fixed() is the JavaScript
# half of format_figure (toFixed, without "-0.00"); best/sorting follow the module docstring.
_SCRIPT = r"""
(function () {
  "use strict";
  var board = JSON.parse(document.getElementById("gf-board").textContent);
  var plots = JSON.parse(document.getElementById("gf-plots").textContent);
  var root = document.getElementById("gf-tables");
  var NA = "n/a";

  function num(x) { return (typeof x === "number" && isFinite(x)) ? x : null; }
  function given(x) { return x !== undefined && x !== null && x !== ""; }
  function fixed(x, places) {
    x = num(x);
    if (x === null) { return NA; }
    var s = Math.abs(x).toFixed(places);
    return (x < 0 && /[1-9]/.test(s)) ? "-" + s : s;
  }
  function interval(ci) {
    if (!Array.isArray(ci) || ci.length !== 2 || (num(ci[0]) === null && num(ci[1]) === null)) { return null; }
    return "[" + fixed(ci[0], 2) + ", " + fixed(ci[1], 2) + "]";
  }
  function pvalue(p) { p = num(p); return p === null ? NA : (p < 0.001 ? "<0.001" : fixed(p, 3)); }
  function count(n) { n = num(n); return n === null ? NA : (Number.isInteger(n) ? String(n) : fixed(n, 2)); }
  function yesNo(flag) { return flag === true ? "yes" : (flag === false ? "no" : NA); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function rows(table) { return (table.rows || []).filter(function (r) { return r && typeof r === "object"; }); }
  function columns(table) {
    return (table.columns || []).filter(function (c) { return c && c.key !== undefined && c.key !== null; });
  }
  function cell(row, key) {
    var c = (row.cells || {})[key];
    return (c && typeof c === "object") ? c : {value: null, ci: null};
  }
  function title(table) {
    var parts = [table.benchmark, table.split].filter(given);
    return parts.length ? parts.map(String).join(" / ") : String(table.id || "table");
  }
  function rounded(x) { var t = fixed(x, 2); return t === NA ? null : parseFloat(t); }
  function best(table, getter) {
    var top = null, values = [];
    rows(table).forEach(function (r, i) {
      var v = r.kind === "measured" ? rounded(getter(r)) : null;
      values.push(v);
      if (v !== null && (top === null || v > top)) { top = v; }
    });
    return values.map(function (v) { return top !== null && v === top; });
  }
  function figureCell(key, value, ci, bold) {
    var td = el("td", {"class": "num", "data-col": key});
    var text = fixed(value, 2);
    td.appendChild(el(bold && text !== NA ? "strong" : "span", {"class": "value"}, text));
    var range = text === NA ? null : interval(ci);
    if (range !== null) {
      td.appendChild(document.createTextNode(" "));
      td.appendChild(el("span", {"class": "ci"}, range));
    }
    td.setAttribute("data-sort", num(value) === null ? "" : String(value));
    return td;
  }
  function sourceText(row) {
    if (row.kind === "reported") {
      return given(row.source) ? "reported: " + row.source : "reported";
    }
    return String(row.kind || "measured");
  }

  function sortBy(tbody, headers, index, kind) {
    var th = headers[index];
    var dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
    if (kind === "text" && th.getAttribute("aria-sort") === null) { dir = "ascending"; }
    headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var sign = dir === "ascending" ? 1 : -1;
    var trs = Array.prototype.slice.call(tbody.children).map(function (tr, pos) { return {tr: tr, pos: pos}; });
    function key(tr) {
      var td = tr.children[index];
      if (kind === "text") { return tr.getAttribute("data-entry"); }
      var s = td.getAttribute("data-sort");
      return s === null || s === "" ? null : parseFloat(s);
    }
    trs.sort(function (a, b) {
      // Measured rows stay above reported ones; missing values last; ties keep board order.
      var ga = a.tr.getAttribute("data-kind") === "measured" ? 0 : 1;
      var gb = b.tr.getAttribute("data-kind") === "measured" ? 0 : 1;
      if (ga !== gb) { return ga - gb; }
      var ka = key(a.tr), kb = key(b.tr);
      if (ka === null || kb === null) { return (ka === null) - (kb === null) || a.pos - b.pos; }
      var c = kind === "text" ? (ka < kb ? -1 : (ka > kb ? 1 : 0)) : ka - kb;
      return c !== 0 ? sign * c : a.pos - b.pos;
    });
    trs.forEach(function (o) { tbody.appendChild(o.tr); });
  }

  function buildTable(table, index) {
    var section = el("section", {"class": "gf-table", "data-table": table.id || title(table)});
    section.appendChild(el("h2", {}, title(table)));
    var note = [];
    if (table.evaluator) { note.push("evaluator " + table.evaluator); }
    note.push("score: " + String(table.score_label || table.score_key || "Score"));
    if (table.resampling_unit) { note.push("intervals resample by " + table.resampling_unit); }
    var noteText = note.join("; ");
    section.appendChild(el("p", {"class": "note"}, noteText.charAt(0).toUpperCase() + noteText.slice(1) + "."));
    var rs = rows(table), cols = columns(table);
    if (rs.length) {
      var t = el("table", {"class": "board"});
      var thead = el("thead"), hr = el("tr"), headers = [];
      var scoreLabel = String(table.score_label || table.score_key || "Score");
      var defs = [["Entry", "text", "entry"], [scoreLabel, "num", "score"]];
      cols.forEach(function (c) { defs.push([String(c.label || c.key), "num", String(c.key)]); });
      defs.push(["Questions", "num", "num_questions"]);
      defs.forEach(function (d, i) {
        var th = el("th", {"scope": "col", "data-col": d[2]});
        var button = el("button", {"type": "button", "title": "sort by this column"}, d[0]);
        th.appendChild(button);
        headers.push(th);
        hr.appendChild(th);
      });
      var sourceTh = el("th", {"scope": "col"}, "Source");
      hr.appendChild(sourceTh);
      thead.appendChild(hr);
      t.appendChild(thead);
      var tbody = el("tbody");
      defs.forEach(function (d, i) {
        headers[i].firstChild.addEventListener("click", function () { sortBy(tbody, headers, i, d[1]); });
      });
      var bestScore = best(table, function (r) { return r.score; });
      var bestCols = cols.map(function (c) { return best(table, function (r) { return cell(r, c.key).value; }); });
      rs.forEach(function (row, i) {
        var tr = el("tr", {"data-entry": String(row.entry), "data-kind": String(row.kind)});
        var entry = el("td", {"class": "entry"}, String(row.entry));
        if (row.kind === "measured" && row.significantly_below_best === true) {
          var mark = {"class": "below", "title": "significantly below the best measured row"};
          entry.appendChild(el("span", mark, "\u25bc"));
        }
        if (row.kind === "reported") { entry.appendChild(el("span", {"class": "tag"}, "reported")); }
        tr.appendChild(entry);
        tr.appendChild(figureCell("score", row.score, row.ci, bestScore[i]));
        cols.forEach(function (c, j) {
          var x = cell(row, c.key);
          tr.appendChild(figureCell(String(c.key), x.value, x.ci, bestCols[j][i]));
        });
        var q = el("td", {"class": "num", "data-col": "num_questions"}, count(row.num_questions));
        q.setAttribute("data-sort", num(row.num_questions) === null ? "" : String(row.num_questions));
        tr.appendChild(q);
        tr.appendChild(el("td", {"class": "source"}, sourceText(row)));
        tbody.appendChild(tr);
      });
      t.appendChild(tbody);
      section.appendChild(t);
      section.appendChild(el("p", {"class": "legend"}, document.getElementById("gf-legend").textContent));
    } else {
      section.appendChild(el("p", {"class": "note"}, "No rows yet."));
    }
    var pending = table.pending || [];
    if (pending.length) {
      section.appendChild(el("p", {"class": "pending"},
        "Pending (not finished yet, e.g. another shard is still running): " + pending.map(String).join(", ") + "."));
    }
    var failures = (table.failures || []).filter(function (f) { return f && typeof f === "object"; });
    if (failures.length) {
      section.appendChild(el("h3", {}, "Failed"));
      var ul = el("ul", {"class": "failures"});
      failures.forEach(function (f) {
        var li = el("li", {"data-entry": String(f.entry)});
        li.appendChild(el("strong", {}, String(f.entry)));
        li.appendChild(el("pre", {"class": "error"}, String(f.error || "unknown error").trim()));
        ul.appendChild(li);
      });
      section.appendChild(ul);
    }
    var pairs = (table.pairs || []).filter(function (p) { return p && typeof p === "object"; });
    if (pairs.length) {
      var correction = (board.statistics || {}).correction || "adjusted";
      section.appendChild(el("h3", {}, "Pairwise comparisons"));
      var pt = el("table", {"class": "pairs"});
      var ph = el("tr");
      ["A", "B", "Difference (A - B)", "Test", "p", "p (" + correction + ")", "Significant"].forEach(function (h) {
        ph.appendChild(el("th", {"scope": "col"}, h));
      });
      var phead = el("thead"); phead.appendChild(ph); pt.appendChild(phead);
      var pbody = el("tbody");
      pairs.forEach(function (p) {
        var tr = el("tr", {"data-a": String(p.a), "data-b": String(p.b)});
        tr.appendChild(el("td", {}, String(p.a)));
        tr.appendChild(el("td", {}, String(p.b)));
        tr.appendChild(figureCell("difference", p.difference, p.ci, false));
        tr.appendChild(el("td", {}, given(p.test) ? String(p.test) : NA));
        tr.appendChild(el("td", {"class": "num"}, pvalue(p.p)));
        tr.appendChild(el("td", {"class": "num"}, pvalue(p.p_holm)));
        tr.appendChild(el("td", {}, yesNo(p.significant)));
        pbody.appendChild(tr);
      });
      pt.appendChild(pbody);
      section.appendChild(pt);
    }
    var images = plots.tables[index] || {};
    [["score", "per entry, with confidence intervals"], ["breakdown", "breakdown per column"]].forEach(function (k) {
      if (images[k[0]]) {
        section.appendChild(el("img", {"class": "plot", "src": images[k[0]], "alt": title(table) + ": " + k[1]}));
      }
    });
    return section;
  }

  var tables = (board.tables || []).filter(function (t) { return t && typeof t === "object"; });
  if (!tables.length) { root.appendChild(el("p", {"class": "note"}, "No tables yet.")); }
  tables.forEach(function (table, i) { root.appendChild(buildTable(table, i)); });
  if (plots.other.length) {
    var other = el("section", {"class": "gf-other-plots"});
    other.appendChild(el("h2", {}, "Other plots"));
    plots.other.forEach(function (p) { other.appendChild(el("img", {"class": "plot", "src": p[1], "alt": p[0]})); });
    root.appendChild(other);
  }
  document.documentElement.setAttribute("data-gf-built", "1");
})();
""".strip()


def _plot_names(board: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """``(score, breakdown)`` PNG file names per table: ``<stem>_score.png`` and
    ``<stem>_breakdown.png``, with ``_2``, ``_3``... added to a stem two tables share (their
    names differ only in characters a file name cannot keep)."""
    seen: Dict[str, int] = {}
    names = []
    for table in _tables(board):
        stem = plot_file_stem(table)
        seen[stem] = seen.get(stem, 0) + 1
        if seen[stem] > 1:
            stem = f"{stem}_{seen[stem]}"
        names.append((f"{stem}_score.png", f"{stem}_breakdown.png"))
    return names


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def render_html(board: Mapping[str, Any], plots: Mapping[str, bytes]) -> str:
    """One self-contained page: the board embedded as JSON (``#gf-board``), the tables built
    from it by the inline script (sortable; see :data:`_SCRIPT`), and ``plots`` (file name,
    with or without a ``plots/`` folder, -> PNG bytes) inline as ``data:`` images next to
    their table; a plot that belongs to no table is shown at the end.

    A Content-Security-Policy allows only this page's own script and style (by hash) and
    ``data:`` images: the page loads nothing from anywhere, and should data ever reach the
    DOM as markup, no script in it would run.
    """
    by_name = {PurePosixPath(str(name)).name: data for name, data in plots.items() if data}
    used = set()
    per_table = []
    for score_name, breakdown_name in _plot_names(board):
        entry = {}
        for kind, name in (("score", score_name), ("breakdown", breakdown_name)):
            if name in by_name:
                entry[kind] = _data_uri(by_name[name])
                used.add(name)
        per_table.append(entry)
    other = [[name, _data_uri(data)] for name, data in sorted(by_name.items()) if name not in used]
    name = str(board.get("name") or "unnamed")
    created = f"Created {board['created']}. " if board.get("created") else ""
    csp = (f"default-src 'none'; img-src data:; style-src {_csp_hash(_CSS)}; script-src {_csp_hash(_SCRIPT)}; "
           f"base-uri 'none'; form-action 'none'")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp, quote=False)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>gf leaderboard: {html.escape(name)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>gf leaderboard: {html.escape(name)}</h1>",
        f'<p class="note">{html.escape(created + _statistics_text(board))} Click a column header to sort.</p>',
        f'<p id="gf-legend" hidden>{html.escape(_legend_text(board))}</p>',
        '<div id="gf-tables"></div>',
        "<noscript><p>This page builds its tables with JavaScript; the same figures are in "
        "leaderboard.md, leaderboard.csv and leaderboard.json.</p></noscript>",
        f'<script type="application/json" id="gf-board">{_script_json(board)}</script>',
        f'<script type="application/json" id="gf-plots">{_script_json({"tables": per_table, "other": other})}</script>',
        f"<script>{_SCRIPT}</script>",
        "</body>",
        "</html>",
        "",
    ])


# ---------------------------------------------------------------------------------------
# all outputs
# ---------------------------------------------------------------------------------------
def render_all(board: Mapping[str, Any], out_dir: PathLike) -> Dict[str, Any]:
    """Write ``leaderboard.{md,csv,json,html}`` and ``plots/<stem>_{score,breakdown}.png``
    into ``out_dir``, each atomically; return ``{"markdown", "csv", "json", "html": Path,
    "plots": [Path, ...]}``. Other files in ``out_dir`` (e.g. plots of tables no longer in
    the board) are left alone: the folder may hold things gf did not write."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots: Dict[str, bytes] = {}
    plot_paths: List[Path] = []
    for table, (score_name, breakdown_name) in zip(_tables(board), _plot_names(board)):
        for name, png in ((score_name, plot_scores(table)), (breakdown_name, plot_breakdown(table))):
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
    atomic_write_text(paths["markdown"], render_markdown(board))
    atomic_write_text(paths["html"], render_html(board, plots))
    return {**paths, "plots": plot_paths}
