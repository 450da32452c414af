"""Reading a board and formatting its figures: what every output of it shares.

:mod:`.render` (Markdown, CSV, JSON), :mod:`.probe_render` (the temporal sensitivity
section) and :mod:`.page_assets` (the HTML page) all format with these, so all follow the
same rules (docs/leaderboards.md, "Reading the board"). Reading a board is tolerant: a
missing key is "not measured", not a crash.
"""
from __future__ import annotations

import csv
import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from gf.common.utils import finite_number as _number
from gf.common.utils import spreadsheet_safe

NA = "n/a"
BELOW_MARK = "▼"


def rounded(x: Any, places: int = 2) -> Optional[Decimal]:
    """``x`` rounded half away from zero on its exact value (``None`` if not a finite number)."""
    x = _number(x)
    if x is None:
        return None
    return Decimal(x).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def format_figure(x: Any, places: int = 2, na: str = NA) -> str:
    """``x`` with ``places`` decimals, half away from zero on its exact binary value (no
    ``-0.00``); ``na`` for None and anything that is not a finite number."""
    d = rounded(x, places)
    if d is None:
        return na
    text = format(abs(d), "f")
    return "-" + text if d < 0 else text  # Decimal("-0.00") < 0 is False: no "-0.00"


def interval_of(ci: Any) -> Optional[Tuple[Any, Any]]:
    """``ci`` as ``(low, high)`` when it is a pair with at least one number, else None."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and any(_number(v) is not None for v in ci):
        return ci[0], ci[1]
    return None


def format_value(value: Any, ci: Any = None, sd: Any = None) -> str:
    """``93.67 [91.02, 95.88]``: the value and its interval; with a seed group's ``sd``,
    ``93.67 ± 1.20 [91.02, 95.88]``; ``n/a`` when there is no value."""
    text = format_figure(value)
    if text == NA:
        return text
    if _number(sd) is not None:
        text += f" ± {format_figure(sd)}"
    interval = interval_of(ci)
    if interval is None:
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


def mappings(section: Mapping[str, Any], key: str) -> List[Mapping[str, Any]]:
    """The mappings listed under ``key`` of a board, table or probe section (``tables``,
    ``rows``, ``pairs``, ``failures``, ``stale``); anything else there is skipped."""
    return [x for x in section.get(key) or [] if isinstance(x, Mapping)]


def table_columns(table: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    return [c for c in mappings(table, "columns") if c.get("key") is not None]


def row_group(row: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    group = row.get("group")
    return group if isinstance(group, Mapping) else None


def has_groups(table: Mapping[str, Any]) -> bool:
    return any(row_group(r) is not None for r in mappings(table, "rows"))


def score_label(table: Mapping[str, Any], default: str = "Score") -> str:
    return str(table.get("score_label") or table.get("score_key") or default)


def table_title(table: Mapping[str, Any]) -> str:
    parts = [str(table.get(k)) for k in ("benchmark", "split") if table.get(k) not in (None, "")]
    return " / ".join(parts) if parts else str(table.get("id") or "table")


#: What the board says above its list of stale results (the page says the same).
STALE_TITLE = ("Stale (an input changed since the result was computed, so it shows no figures and is neither "
               "ranked nor compared):")


def stale_text(item: Mapping[str, Any]) -> str:
    """``entry: what changed. Refresh: command``, one stale result as the board lists it."""
    text = f"{item.get('entry')}: {str(item.get('reason') or 'its inputs changed').strip()}"
    return text + (f". Refresh: {item['refresh']}" if item.get("refresh") else "")


def md_list(title: str, texts: Sequence[str]) -> List[str]:
    """``title`` and a Markdown bullet per text (escaped, one line each); [] without texts."""
    return ([title, ""] + [f"- {md_escape(t)}" for t in texts] + [""]) if texts else []


def md_stale(section: Mapping[str, Any], title: str = STALE_TITLE) -> List[str]:
    """The Markdown list of a table's (or probe section's) stale results; [] without any."""
    return md_list(title, [stale_text(s) for s in mappings(section, "stale")])


def statistics_text(board: Mapping[str, Any]) -> str:
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
    if any(has_groups(t) for t in mappings(board, "tables")):
        text += (" A seed group's figures are mean ± sd over its seeds (sample sd); its interval resamples the "
                 "seeds, then the videos (two-level bootstrap), and so do its paired tests.")
    return text


def legend_text(board: Mapping[str, Any]) -> str:
    stats = board.get("statistics") or {}
    alpha, correction = stats.get("alpha", 0.05), stats.get("correction")
    adjusted = f"{correction}-adjusted " if correction else ""
    return (f"Bold: best measured value per column. {BELOW_MARK}: significantly below the best measured row "
            f"(paired test, {adjusted}p < {alpha}). Reported rows are figures from their source, not measured "
            f"here: never bold, never compared.")


_MD_SPECIAL = re.compile(r"[\\`*\[\]<>&|~#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def md_escape(text: Any) -> str:
    """``text`` as literal Markdown inline text on one line: newlines become spaces, and the
    characters that could start emphasis, code, links, HTML or entities, or end a table
    cell (``|``) get a backslash. ``_`` inside a word (``demo_sup``) cannot start emphasis
    and is left as is, so names stay readable in the raw file."""
    one_line = " ".join(str(text).splitlines())
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), one_line)


def md_table(header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


class _SafeDictWriter(csv.DictWriter):
    """A ``csv.DictWriter`` whose every cell, header included, goes through
    :func:`~gf.common.utils.spreadsheet_safe`."""

    def writeheader(self):
        return self.writer.writerow([spreadsheet_safe(str(f)) for f in self.fieldnames])

    def writerow(self, rowdict):
        return super().writerow({k: spreadsheet_safe(v) for k, v in rowdict.items()})


def safe_csv_writer(buf, fields: Sequence[str]) -> csv.DictWriter:
    """The writer of every CSV the board writes: cells a spreadsheet would run are neutralised,
    and lines end in CRLF (RFC 4180), which also makes the csv module quote a cell holding a
    lone carriage return (with "\n" line ends it would not, and the row would break)."""
    return _SafeDictWriter(buf, fieldnames=list(fields), lineterminator="\r\n")


def csv_number(x: Any) -> str:
    return format_figure(x, na="")


def csv_interval(name: str, ci: Any) -> Dict[str, str]:
    """An interval's two CSV fields, ``<name>_ci_low`` and ``<name>_ci_high`` (empty if none)."""
    low, high = interval_of(ci) or (None, None)
    return {f"{name}_ci_low": csv_number(low), f"{name}_ci_high": csv_number(high)}


def csv_flag(flag: Any) -> str:
    return {True: "true", False: "false"}.get(flag, "")


def csv_names(columns: Iterable[Mapping[str, Any]], taken: Set[str], suffixes: Sequence[str]) -> Dict[str, str]:
    """Each column key's CSV field name, in order of first appearance. A key whose name, or a
    name with one of ``suffixes``, equals a field already ``taken`` would overwrite it, so
    it becomes ``column:<key>`` (again until it is free); ``taken`` grows by the names given."""
    names: Dict[str, str] = {}
    for col in columns:
        key = str(col["key"])
        if key in names:
            continue
        name = key
        while {name, *(name + x for x in suffixes)} & taken:
            name = f"column:{name}"
        names[key] = name
        taken.update({name, *(name + x for x in suffixes)})
    return names


def cell_figures(figures: Mapping[str, Any], key: Any) -> Tuple[Any, Any, Any]:
    """``(value, ci, sd)`` of a breakdown cell of a row (or of a probe's figure set);
    ``(None, None, None)`` when absent."""
    cell = (figures.get("cells") or {}).get(key)
    if not isinstance(cell, Mapping):
        return None, None, None
    return cell.get("value"), cell.get("ci"), cell.get("sd")


def strict_json(obj: Any) -> Any:
    """``obj`` as strict JSON data: NaN and infinities become null (``json.dumps`` would
    write ``NaN``, which ``JSON.parse`` and most readers reject), tuples become lists."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------
# a table's cells as text, shared by the Markdown and the page (one set of rules)
# ---------------------------------------------------------------------------------------
def yes_no(flag: Any) -> str:
    return "yes" if flag is True else "no" if flag is False else NA


def seed_count(row: Mapping[str, Any]) -> Any:
    """How many seeds a row's figures are over: its group's ``n``, 1 for a single measured row, else None."""
    group = row_group(row)
    if group is not None:
        return group.get("n")
    return 1 if row.get("kind") == "measured" else None


def seeds_text(row: Mapping[str, Any]) -> str:
    """The "Seeds" column: ``3 (worst 78.20, seed 1)`` for a group, ``1`` for a single
    measured checkpoint, ``n/a`` for a reported row."""
    text = format_count(seed_count(row))
    worst = (row_group(row) or {}).get("worst")
    if isinstance(worst, Mapping) and _number(worst.get("score")) is not None:
        text += f" (worst {format_figure(worst['score'])}, seed {worst.get('seed')})"
    return text


def figure_cells(table: Mapping[str, Any]) -> List[List[Tuple[str, Any, Any, Any, bool]]]:
    """Per row, ``(key, value, ci, sd, bold)`` of its score (key ``score``) and of each
    column; bold: the best measured value as shown (docs/leaderboards.md, "Reading the
    board")."""
    rows = mappings(table, "rows")
    keys = [None] + [c["key"] for c in table_columns(table)]
    figures = [[(row.get("score"), row.get("ci"), row.get("sd")) if key is None else cell_figures(row, key)
                for key in keys] for row in rows]
    shown = [[rounded(f[0]) if row.get("kind") == "measured" else None for f in figs]
             for row, figs in zip(rows, figures)]
    tops = [max((s[j] for s in shown if s[j] is not None), default=None) for j in range(len(keys))]
    return [[("score" if key is None else str(key), *fig, tops[j] is not None and s[j] == tops[j])
             for j, (key, fig) in enumerate(zip(keys, figs))] for figs, s in zip(figures, shown)]


def is_below(row: Mapping[str, Any]) -> bool:
    return row.get("kind") == "measured" and row.get("significantly_below_best") is True


def source_text(row: Mapping[str, Any]) -> str:
    if row.get("kind") == "reported":
        source = row.get("source")
        return f"reported: {source}" if source not in (None, "") else "reported"
    if row.get("kind") == "stale":
        return "stale (see below)"
    return str(row.get("kind") or "measured")


def table_note(table: Mapping[str, Any]) -> str:
    bits = []
    if table.get("evaluator"):
        bits.append(f"evaluator {table['evaluator']}")
    # no result finished and no split record: the evaluator, so its score's name, is not known yet
    bits.append(f"score: {score_label(table, default='not known yet (no result has finished)')}")
    if table.get("resampling_unit"):
        bits.append(f"intervals resample by {table['resampling_unit']}")
    text = "; ".join(bits)
    return text[:1].upper() + text[1:] + "."


def correction_of(board: Mapping[str, Any]) -> str:
    return (board.get("statistics") or {}).get("correction") or "adjusted"


def pairs_header(board: Mapping[str, Any]) -> List[str]:
    return ["A", "B", "Difference (A - B)", "Test", "p", f"p ({correction_of(board)})", "Significant"]


def header_cells(table: Mapping[str, Any]) -> List[Tuple[str, str]]:
    """``(key, label)`` of a table's sortable columns, Source (last, not sortable) left out:
    entry, score, each column, questions, and "Seeds" when the table has a seed group."""
    return ([("entry", "Entry"), ("score", score_label(table))]
            + [(str(c["key"]), str(c.get("label") or c["key"])) for c in table_columns(table)]
            + [("num_questions", "Questions")] + ([("seeds", "Seeds")] if has_groups(table) else []))


def pending_text(table: Mapping[str, Any], escape: Callable[[Any], str] = str) -> Optional[str]:
    pending = [escape(str(p)) for p in table.get("pending") or []]
    if not pending:
        return None
    return "Pending (not finished yet, e.g. another shard is still running): " + ", ".join(pending) + "."
