"""gf.leaderboards.render / plots: the leaderboard's Markdown, CSV, JSON, HTML and PNG outputs.

One hand-made board (two tables; measured rows incl. an entry named with HTML and Markdown
specials, a reported row, a measured row without a score, a missing cell, a failure,
pending entries, pairs) is rendered to every format and read back: every format must show
the same figures, bold only the best *measured* value, mark exactly the flagged rows, and
escape the names. The browser tests run the page's own script in headless Chromium (skipped
only when no Chromium binary is installed), which is also an independent check of the
rounding: JavaScript's ``toFixed`` against the Python side.
"""
import copy
import csv
import io
import json
import os
import re
import shutil
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gf.leaderboards import plots as lb_plots
from gf.leaderboards.plots import plot_breakdown, plot_file_stem, plot_scores
from gf.leaderboards.render import (
    format_figure,
    md_escape,
    render_all,
    render_csv,
    render_html,
    render_json,
    render_markdown,
)

AWKWARD = 'a<b & "c" | *x* </script><!--'
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PROVENANCE = {"gf_version": "0.1.0", "git_commit": "abc123", "config_hash": "cfg1", "checkpoint_sha256": "ck1",
              "predictions_sha256": None, "split_fingerprint": "fp1", "date": "2026-11-30T19:00:00+00:00",
              "host": "node1", "result_key": "rk1"}


def _row(entry, score, ci, cells, n=600, below=False, kind="measured", **extra):
    row = {"entry": entry, "kind": kind, "score": score, "ci": ci, "cells": cells, "num_questions": n, **extra}
    if kind == "measured":
        row["significantly_below_best"] = below
        row.setdefault("provenance", dict(PROVENANCE, result_key=f"rk-{entry}"))
    return row


def make_board():
    """Rows in the order the board builder gives them (measured by score, then reported)."""
    return {
        "format": "gf-leaderboard", "version": 1, "name": "demo",
        "created": "2026-11-30T20:00:00+00:00",
        "statistics": {"confidence": 0.95, "bootstrap_samples": 1000, "seed": 0, "alpha": 0.05,
                       "correction": "holm"},
        "tables": [
            {
                "id": "synthetic/val", "benchmark": "synthetic", "evaluator": "star", "split": "val",
                "score_key": "mean", "score_label": "Mean",
                "columns": [{"key": "type/Interaction", "label": "Interaction"},
                            {"key": "type/Sequence", "label": "Sequence"}],
                "resampling_unit": "video",
                "rows": [
                    _row("demo_sup_grounded", 93.666, [91.02, 95.88],
                         # 80.125 is an exact binary tie: toFixed and the Markdown must both show 80.13
                         {"type/Interaction": {"value": 98.67, "ci": [96.0, 100.0]},
                          "type/Sequence": {"value": 80.125, "ci": [74.0, 86.0]}}),
                    _row(AWKWARD, 91.0049, [88.5, 93.4],
                         {"type/Interaction": {"value": 99.0, "ci": [97.0, 100.0]},
                          # 60.025 is 60.02499999...: "60.02", though 60.025 * 100 rounds up to 6002.5
                          "type/Sequence": {"value": 60.025, "ci": None}}),
                    _row("demo_sup", 46.5, [42.25, 50.75],
                         {"type/Interaction": {"value": 50.0, "ci": [45.0, 55.0]}}, below=True),  # no Sequence
                    _row("Glance-Focus (paper)", 99.5, None, {"type/Interaction": {"value": 99.9, "ci": None}},
                         n=None, kind="reported", source="Bai et al., NeurIPS 2023, Table 1"),
                ],
                "pairs": [
                    {"a": "demo_sup_grounded", "b": AWKWARD, "difference": 2.6611, "ci": [-0.5, 5.75],
                     "test": "paired_bootstrap", "p": 0.1234, "p_holm": 0.2468, "significant": False},
                    {"a": "demo_sup_grounded", "b": "demo_sup", "difference": 47.166, "ci": [42.0, 52.3],
                     "test": "paired_bootstrap", "p": 0.000999, "p_holm": 0.002997, "significant": True},
                ],
                "failures": [{"entry": "broken", "error": "CheckpointError: ckpt.pth: not a torch file | `x`"}],
                "pending": ["entry_x"],
            },
            {
                "id": "next qa/v2/test", "benchmark": "next qa/v2", "evaluator": "nextqa", "split": "test",
                "score_key": "accuracy", "score_label": "Acc", "columns": [], "resampling_unit": "question",
                "rows": [
                    _row("demo_sup_grounded", 61.2349, None, {}, n=100),
                    _row("twin", 61.226, [55.0, 67.5], {}, n=100),  # shows 61.23 too: both bold
                    _row("no_score", None, None, {}, n=0),
                ],
                "pairs": [{"a": "demo_sup_grounded", "b": "twin", "difference": 0.0089, "ci": [-0.004, 0.02],
                           "test": "paired_bootstrap", "p": None, "p_holm": None, "significant": None}],
                "failures": [], "pending": [],
            },
        ],
    }


# ---------------------------------------------------------------------------------------
# expectations, computed here without the renderer
# ---------------------------------------------------------------------------------------
def two(x):
    """2 decimals, half away from zero on the exact binary value (what toFixed does)."""
    if x is None:
        return "n/a"
    d = Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return format(d, "f")


def shown(value, ci):
    if value is None:
        return "n/a"
    return two(value) if not ci else f"{two(value)} [{two(ci[0])}, {two(ci[1])}]"


def expected_cells(table):
    """Per row: (entry, kind, {column key or "score": displayed text}, questions text)."""
    out = []
    for row in table["rows"]:
        texts = {"score": shown(row["score"], row.get("ci"))}
        for col in table["columns"]:
            cell = row["cells"].get(col["key"]) or {}
            texts[col["key"]] = shown(cell.get("value"), cell.get("ci"))
        n = row.get("num_questions")
        out.append((row["entry"], row["kind"], texts, "n/a" if n is None else str(n)))
    return out


#: Hand-made: which rows hold the best measured figure per column (reported rows never).
EXPECTED_BOLD = {
    "synthetic / val": {"score": {"demo_sup_grounded"}, "type/Interaction": {AWKWARD},
                        "type/Sequence": {"demo_sup_grounded"}},
    "next qa/v2 / test": {"score": {"demo_sup_grounded", "twin"}},
}
EXPECTED_BELOW = {"synthetic / val": {"demo_sup"}, "next qa/v2 / test": set()}


# ---------------------------------------------------------------------------------------
# reading the Markdown back
# ---------------------------------------------------------------------------------------
def md_unescape(text):
    return re.sub(r"\\(.)", r"\1", text)


def md_cells(line):
    inner = line.strip()[1:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner)]


def parse_markdown(md):
    """{table title: {"header": [...], "rows": [[cell, ...]], "pairs": [[...]], "probes": [[...]],
    "probe_cells": [[...]], "text": section}}; pairs, probes and probe_cells start with their header."""
    tables, current, target = {}, None, None
    for line in md.splitlines():
        if line.startswith("## "):
            current = tables.setdefault(md_unescape(line[3:]), {"header": None, "rows": [], "pairs": [], "text": [],
                                                                "probes": [], "probe_cells": []})
            target = "rows"
            continue
        if current is None:
            continue
        current["text"].append(line)
        if line.startswith("#### Temporal sensitivity per category"):
            target = "probe_cells"
        elif line.startswith("### Temporal sensitivity"):
            target = "probes"
        elif line.startswith("### "):
            target = "pairs"
        elif line.startswith("|"):
            cells = md_cells(line)
            if all(re.fullmatch(r"-+:?", c) for c in cells):
                continue
            if target == "rows" and current["header"] is None:
                current["header"] = cells
            elif target == "pairs" and not current["pairs"] and cells[0] == "A":
                current["pairs"].append(cells)
            else:
                current[target].append(cells)
    for t in tables.values():
        t["text"] = "\n".join(t["text"])
    return tables


def md_figure(cell):
    """(text without bold markers, bold?)"""
    bold = cell.startswith("**")
    return cell.replace("**", ""), bold


# ---------------------------------------------------------------------------------------
# reading the HTML back
# ---------------------------------------------------------------------------------------
class BoardHTML(HTMLParser):
    """Collects the embedded JSON scripts and the built rows (``<tr data-entry>``) with
    their cells: text, whether the value is ``<strong>``, and the ``▼`` mark."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts, self._script = {}, None
        self.rows, self._row, self._cell = [], None, None
        self.pairs_rows = []
        self.root_attrs = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.root_attrs = a
        if tag == "script":
            self._script = a.get("id") or "inline"
            self.scripts[self._script] = ""
        elif tag == "tr" and "data-entry" in a:
            self._row = {"entry": a["data-entry"], "kind": a.get("data-kind"), "cells": {}, "below": False,
                         "entry_text": ""}
            self.rows.append(self._row)
        elif tag == "td" and self._row is not None:
            self._cell = a.get("data-col") or a.get("class")
            self._row["cells"][self._cell] = {"text": "", "bold": False}
        elif tag == "strong" and self._cell is not None:
            self._row["cells"][self._cell]["bold"] = True
        elif tag == "span" and a.get("class") == "below" and self._row is not None:
            self._row["below"] = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None
        elif tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._script is not None:
            self.scripts[self._script] += data
        elif self._cell is not None:
            self._row["cells"][self._cell]["text"] += data


def parse_html(text):
    parser = BoardHTML()
    parser.feed(text)
    parser.close()
    return parser


def built_rows_by_table(parser, board):
    """The parsed rows split into tables by the boards' row counts (tables are built in order)."""
    out, pos = {}, 0
    for table in board["tables"]:
        n = len(table["rows"])
        out[f"{table['benchmark']} / {table['split']}"] = parser.rows[pos:pos + n]
        pos += n
    assert pos == len(parser.rows)
    return out


# ---------------------------------------------------------------------------------------
# the formats agree
# ---------------------------------------------------------------------------------------
def test_figures_round_half_away_from_zero_like_javascript_tofixed():
    # exact ties go away from zero (Python's ".2f" would give 80.12 and 0.12)
    assert format_figure(80.125) == "80.13" and format_figure(0.125) == "0.13"
    assert format(80.125, ".2f") == "80.12"  # why gf does not use it
    assert format_figure(2.675) == "2.67"  # the float is 2.67499999...: not a tie
    assert format_figure(60.025) == "60.02" and int(60.025 * 100 + 0.5) == 6003  # no scaling by 100 first
    assert format_figure(93.666) == "93.67" and format_figure(91.0049) == "91.00"
    assert format_figure(-0.004) == "0.00" and format_figure(-1.005) == "-1.00" and format_figure(-0.125) == "-0.13"
    for missing in (None, float("nan"), float("inf"), True, "12"):
        assert format_figure(missing) == "n/a"
    assert format_figure(100) == "100.00"


def test_markdown_csv_json_and_embedded_json_hold_the_same_figures(tmp_path):
    board = make_board()
    paths = render_all(board, tmp_path / "out")
    md = parse_markdown(paths["markdown"].read_text(encoding="utf-8"))
    with open(paths["csv"], newline="", encoding="utf-8") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == board  # full precision
    embedded = parse_html(paths["html"].read_text(encoding="utf-8")).scripts["gf-board"]
    assert json.loads(embedded) == board

    assert list(md) == ["synthetic / val", "next qa/v2 / test"]
    assert len(csv_rows) == sum(len(t["rows"]) for t in board["tables"])
    csv_iter = iter(csv_rows)
    for table in board["tables"]:
        title = f"{table['benchmark']} / {table['split']}"
        keys = ["score"] + [c["key"] for c in table["columns"]]
        assert md[title]["header"] == (["Entry", table["score_label"]] + [c["label"] for c in table["columns"]]
                                       + ["Questions", "Source"])
        expected = expected_cells(table)
        assert len(md[title]["rows"]) == len(expected)
        for cells, (entry, kind, texts, questions), row in zip(md[title]["rows"], expected, table["rows"]):
            assert md_unescape(cells[0]).removesuffix(" ▼") == entry
            assert [md_figure(c)[0] for c in cells[1:1 + len(keys)]] == [texts[k] for k in keys]
            assert cells[1 + len(keys)] == questions
            assert md_unescape(cells[-1]) == ("measured" if kind == "measured" else f"reported: {row['source']}")

            record = next(csv_iter)
            assert (record["benchmark"], record["split"], record["entry"], record["kind"]) == (
                table["benchmark"], table["split"], entry, kind)
            for key in keys:
                value = row["score"] if key == "score" else (row["cells"].get(key) or {}).get("value")
                ci = row.get("ci") if key == "score" else (row["cells"].get(key) or {}).get("ci")
                name = key
                assert record[name] == ("" if value is None else two(value))
                assert record[f"{name}_ci_low"] == ("" if not ci else two(ci[0]))
                assert record[f"{name}_ci_high"] == ("" if not ci else two(ci[1]))
                # CSV and Markdown agree figure for figure
                md_text = md_figure(cells[1 + keys.index(key)])[0]
                csv_text = "n/a" if not record[name] else record[name] + (
                    f" [{record[f'{name}_ci_low']}, {record[f'{name}_ci_high']}]" if record[f"{name}_ci_low"] else "")
                assert md_text == csv_text
            assert record["num_questions"] == ("" if row.get("num_questions") is None else str(row["num_questions"]))
            assert record["source"] == (row.get("source") or "")
    # spot checks, by hand
    grounded = md["synthetic / val"]["rows"][0]
    assert grounded[1] == "**93.67** [91.02, 95.88]" and grounded[3] == "**80.13** [74.00, 86.00]"
    assert md["synthetic / val"]["rows"][2][3] == "n/a"  # demo_sup has no Sequence cell
    assert md["synthetic / val"]["rows"][1][3] == "60.02"  # 60.025 is 60.0249999...: below the tie
    assert md["next qa/v2 / test"]["rows"][0][1] == "**61.23**"  # no interval: the figure alone
    assert md["next qa/v2 / test"]["rows"][2][1] == "n/a"


def test_markdown_bolds_the_best_measured_value_and_marks_the_flagged_rows():
    board = make_board()
    md = parse_markdown(render_markdown(board))
    for table in board["tables"]:
        title = f"{table['benchmark']} / {table['split']}"
        keys = ["score"] + [c["key"] for c in table["columns"]]
        bold = {k: set() for k in keys}
        below = set()
        for cells, row in zip(md[title]["rows"], table["rows"]):
            if cells[0].endswith(" ▼"):
                below.add(row["entry"])
            for k, cell in zip(keys, cells[1:]):
                if md_figure(cell)[1]:
                    bold[k].add(row["entry"])
            if row["kind"] == "reported":
                assert "**" not in "".join(cells), "a reported row is never bold"
                assert not cells[0].endswith(" ▼")
        assert {k: v for k, v in bold.items() if v} == EXPECTED_BOLD[title]
        assert below == EXPECTED_BELOW[title]
        assert below == {r["entry"] for r in table["rows"] if r.get("significantly_below_best")}
    text = md["synthetic / val"]["text"]
    assert "▼: significantly below the best measured row" in md_unescape(text)  # the legend line


def test_markdown_lists_pairs_failures_and_pending_and_escapes_names():
    board = make_board()
    text = render_markdown(board)
    md = parse_markdown(text)
    pairs = md["synthetic / val"]["pairs"]
    assert pairs[0] == ["A", "B", "Difference (A - B)", "Test", "p", "p (holm)", "Significant"]
    got = [[md_unescape(c) for c in row] for row in pairs[1:]]
    assert got == [
        ["demo_sup_grounded", AWKWARD, "2.66 [-0.50, 5.75]", "paired_bootstrap", "0.123", "0.247", "no"],
        ["demo_sup_grounded", "demo_sup", "47.17 [42.00, 52.30]", "paired_bootstrap", "<0.001", "0.003", "yes"],
    ]
    other = [[md_unescape(c) for c in row] for row in md["next qa/v2 / test"]["pairs"][1:]]
    assert other == [["demo_sup_grounded", "twin", "0.01 [0.00, 0.02]", "paired_bootstrap", "n/a", "n/a", "n/a"]]
    section = md["synthetic / val"]["text"]
    failure = [line for line in section.splitlines() if line.startswith("- broken")]
    assert [md_unescape(line) for line in failure] == ["- broken: CheckpointError: ckpt.pth: not a torch file | `x`"]
    assert "Pending" in section and "entry_x" in section
    # the awkward name never reaches the Markdown raw: no HTML tag, comment or cell break
    assert not re.search(r"(?<!\\)[<>&]", text), "no raw HTML or entity anywhere"
    assert all(len(row) == len(md["synthetic / val"]["header"]) for row in md["synthetic / val"]["rows"])
    assert 'a\\<b \\& "c" \\| \\*x\\* \\</script\\>\\<!--' in text
    # a multi-line error keeps its lines in a code block
    board["tables"][0]["failures"] = [{"entry": "broken", "error": "Traceback:\n  ```x```\nValueError: y"}]
    text = render_markdown(board)
    assert "  ````\n  Traceback:\n    ```x```\n  ValueError: y\n  ````" in text


def test_a_tables_notes_are_shown_in_the_markdown_and_the_page():
    """A table's notes (a seed group over some of its seeds, rows of other gf versions, a
    split without labels) were kept in leaderboard.json only: a reader of the Markdown or the
    page saw a group's mean with no word that it is over part of its seeds."""
    board = make_board()
    note = "grouped: 2 of its 3 seeds are finished and its figures are over those <seeds 0, 1>"
    board["tables"][0]["notes"] = [note]
    section = parse_markdown(render_markdown(board))["synthetic / val"]["text"]
    assert "Notes:" in section and "- " + md_escape(note) in section.splitlines()
    page = json.dumps(json.loads(parse_html(render_html(board, {})).scripts["gf-plots"])["page"])
    assert '"Notes:"' in page and json.dumps(note) in page  # built by the page's script as text
    board["tables"][0]["notes"] = []
    assert "Notes:" not in render_markdown(board).split("## ")[1]


def test_csv_has_columns_per_key_and_the_provenance():
    board = make_board()
    rows = list(csv.DictReader(io.StringIO(render_csv(board))))
    fields = list(rows[0])
    assert fields[:7] == ["benchmark", "split", "entry", "kind", "score", "score_ci_low", "score_ci_high"]
    assert fields[7:13] == ["type/Interaction", "type/Interaction_ci_low", "type/Interaction_ci_high",
                            "type/Sequence", "type/Sequence_ci_low", "type/Sequence_ci_high"]
    for name in ("num_questions", "source", "checkpoint_sha256", "split_fingerprint", "config_hash", "gf_version",
                 "git_commit", "date", "host"):
        assert name in fields
    grounded = rows[0]
    assert (grounded["checkpoint_sha256"], grounded["split_fingerprint"], grounded["config_hash"],
            grounded["gf_version"], grounded["git_commit"], grounded["host"]) == ("ck1", "fp1", "cfg1", "0.1.0",
                                                                                 "abc123", "node1")
    assert grounded["result_key"] == "rk-demo_sup_grounded" and grounded["predictions_sha256"] == ""
    assert rows[1]["entry"] == AWKWARD  # quoted by the csv module, read back exact
    reported = rows[3]
    assert reported["kind"] == "reported" and reported["checkpoint_sha256"] == "" and reported["score_ci_low"] == ""
    # a column key named like a fixed field does not overwrite it
    board["tables"][1]["columns"] = [{"key": "score", "label": "odd"}]
    board["tables"][1]["rows"][0]["cells"] = {"score": {"value": 1.0, "ci": None}}
    rows = list(csv.DictReader(io.StringIO(render_csv(board))))
    assert rows[4]["score"] == "61.23" and rows[4]["column:score"] == "1.00"


@pytest.mark.parametrize("name", ['=HYPERLINK("http://example.invalid","x")', "+1+1", "-2+3", "@SUM(A1)",
                                  "\tcmd", "\r=1"])
def test_csv_cells_a_spreadsheet_would_run_are_neutralised(name):
    """OWASP's CSV injection rule: a leading =, +, -, @, tab or CR gets a quote; numbers,
    negative ones included, stay numbers."""
    from gf.leaderboards.probe_render import render_probes_csv  # noqa: F401  (same writer)

    board = make_board()
    board["tables"][0]["rows"][1]["entry"] = name
    board["tables"][0]["rows"][3]["source"] = name
    board["tables"][0]["columns"][1]["key"] = name
    board["tables"][0]["rows"][0]["cells"][name] = {"value": -3.2, "ci": [-5.5, -1.0]}
    text = render_csv(board)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows[1]["entry"] == "'" + name and rows[3]["source"] == "'" + name
    assert "'" + name in rows[0]  # the header cell too
    assert rows[0]["'" + name] == "-3.20" and rows[0]["'" + name + "_ci_low"] == "-5.50"
    assert rows[0]["entry"] == "demo_sup_grounded" and rows[0]["score"] == "93.67"


def test_html_is_self_contained_and_escapes_the_data():
    board = make_board()
    png = plot_scores(board["tables"][0])
    page = render_html(board, {"plots/synthetic_val_score.png": png, "stray.png": png})
    # the data cannot end the script element or open a comment; the only markup is ours
    assert len(re.findall(r"</script", page, re.I)) == 3
    assert "<!--" not in page and "a<b" not in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?!data:)""", page, re.I), "nothing loaded from elsewhere"
    assert "http://" not in page and "https://" not in page
    assert "default-src 'none'" in page  # the Content-Security-Policy
    parsed = parse_html(page)
    assert json.loads(parsed.scripts["gf-board"]) == board
    plots = json.loads(parsed.scripts["gf-plots"])
    assert plots["tables"][0] == {"score": "data:image/png;base64," + __import__("base64").b64encode(png).decode()}
    assert plots["tables"][1] == {} and [p[0] for p in plots["other"]] == ["stray.png"]
    # the builder never parses data as HTML
    script = parsed.scripts["inline"]
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script
    board["name"] = "<i>x</i>"
    assert "<i>x</i>" not in render_html(board, {})


# ---------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------
def _bars(fig):
    from matplotlib.container import BarContainer

    (ax,) = fig.axes
    in_containers = sum(len(c) for c in ax.containers if isinstance(c, BarContainer))
    return len(ax.patches), in_containers


def test_plots_are_pngs_with_one_bar_per_measured_value():
    import matplotlib.image

    board = make_board()
    first, second = board["tables"]
    for table in (first, second):
        png = plot_scores(table)
        assert png.startswith(PNG_MAGIC)
        image = matplotlib.image.imread(io.BytesIO(png), format="png")
        assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0
        assert plot_scores(table) == png  # deterministic bytes
    # score: one bar per measured row with a score (no_score has none; reported rows are lines)
    assert _bars(lb_plots._score_figure(first)) == (3, 3)
    assert _bars(lb_plots._score_figure(second)) == (2, 2)
    (ax,) = lb_plots._score_figure(first).axes
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert [line.get_ydata()[0] for line in dashed] == [99.5]  # the reported score
    # breakdown: rows x columns, less demo_sup's missing Sequence cell
    assert _bars(lb_plots._breakdown_figure(first)) == (3 * 2 - 1, 3 * 2 - 1)
    breakdown = plot_breakdown(first)
    assert breakdown.startswith(PNG_MAGIC) and matplotlib.image.imread(io.BytesIO(breakdown)).std() > 0
    assert plot_breakdown(second) is None  # no columns
    # file stems are plain names whatever the benchmark is called
    assert plot_file_stem(first) == "synthetic_val"
    assert plot_file_stem(second) == "next_qa_v2_test"
    assert plot_file_stem({"benchmark": "../..", "split": "/"}) == "table"
    # a name that looks like mathtext is drawn as text (no parse error)
    table = copy.deepcopy(first)
    table["rows"][0]["entry"] = "a$\\frac{$b"
    assert plot_scores(table).startswith(PNG_MAGIC)


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------
def test_render_all_writes_atomically_and_leaves_other_files(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "leaderboard.md").write_text("old\n")
    os.link(out / "leaderboard.md", tmp_path / "old_md_link")  # sees the old inode's content
    (out / "notes.txt").write_text("mine\n")
    (out / "plots" / "gone_table_score.png").write_bytes(b"stale")
    replaced = []
    real_replace = os.replace

    def recording_replace(src, dst):
        replaced.append(Path(dst))
        return real_replace(src, dst)

    monkeypatch.setattr("gf.common.io.os.replace", recording_replace)
    board = make_board()
    paths = render_all(board, out)
    assert set(paths) == {"markdown", "csv", "json", "html", "plots"}
    assert paths["plots"] == [out / "plots" / "synthetic_val_score.png", out / "plots" / "synthetic_val_breakdown.png",
                              out / "plots" / "next_qa_v2_test_score.png"]
    written = [paths[k] for k in ("markdown", "csv", "json", "html")] + paths["plots"]
    record = out / ".gf_rendered.json"  # what it wrote, so that a later render removes what it no longer writes
    assert sorted(r for r in replaced if r != record) == sorted(written), "every output is renamed into place"
    assert record in replaced
    assert (tmp_path / "old_md_link").read_text() == "old\n", "the old file was replaced, not rewritten in place"
    assert paths["markdown"].read_text(encoding="utf-8") == render_markdown(board)
    assert paths["json"].read_text(encoding="utf-8") == render_json(board)
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == board
    for path in paths["plots"]:
        assert path.read_bytes().startswith(PNG_MAGIC)
    assert (out / "notes.txt").read_text() == "mine\n" and (out / "plots" / "gone_table_score.png").exists()
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".") and p != record]
    assert leftovers == []
    # a failing render leaves the previous files as they were, and no temporary file
    before = paths["html"].read_bytes()
    monkeypatch.setattr("gf.leaderboards.render.render_html", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        render_all(board, out)
    assert paths["html"].read_bytes() == before
    assert [p for p in out.rglob("*") if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------------------------------------
# the page in a browser
# ---------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium or chromium-browser binary on PATH: "
                                                             "the page's script cannot be run headless here")


def chromium(tmp_path, *args):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    return subprocess.run(cmd, capture_output=True, timeout=60, check=True, env={**os.environ, "HOME": str(tmp_path)})


@needs_chromium
def test_html_in_chromium_shows_the_same_figures_as_the_markdown(tmp_path):
    board = make_board()
    paths = render_all(board, tmp_path / "out")
    dom = chromium(tmp_path, "--dump-dom", paths["html"].as_uri()).stdout.decode("utf-8")
    parsed = parse_html(dom)
    assert parsed.root_attrs.get("data-gf-built") == "1", "the page's script ran to its end"
    md = parse_markdown(paths["markdown"].read_text(encoding="utf-8"))
    for title, built in built_rows_by_table(parsed, board).items():
        table = next(t for t in board["tables"] if f"{t['benchmark']} / {t['split']}" == title)
        keys = ["score"] + [c["key"] for c in table["columns"]]
        # board order, unsorted by default: one <tr> per row, names exact
        assert [(r["entry"], r["kind"]) for r in built] == [(r["entry"], r["kind"]) for r in table["rows"]]
        bold = {}
        for row, md_row, (entry, kind, texts, questions) in zip(built, md[title]["rows"], expected_cells(table)):
            assert [row["cells"][k]["text"] for k in keys] == [texts[k] for k in keys]
            assert [row["cells"][k]["text"] for k in keys] == [md_figure(c)[0] for c in md_row[1:1 + len(keys)]]
            assert row["cells"]["num_questions"]["text"] == questions
            assert [row["cells"][k]["bold"] for k in keys] == [md_figure(c)[1] for c in md_row[1:1 + len(keys)]]
            for k in keys:
                if row["cells"][k]["bold"]:
                    bold.setdefault(k, set()).add(entry)
            assert row["below"] == (entry in EXPECTED_BELOW[title])
            assert row["cells"]["entry"]["text"].startswith(entry)
        assert bold == EXPECTED_BOLD[title]
    assert len(re.findall(r'<img class="plot" src="data:image/png;base64,', dom)) == 3


@needs_chromium
def test_html_in_chromium_sorts_on_a_header_click(tmp_path):
    """Clicks are scripted in a copy of the page (without its CSP, which admits only the
    page's own script): sorting keeps reported rows below the measured ones and puts rows
    without a value last."""
    board = make_board()
    paths = render_all(board, tmp_path / "out")
    page = paths["html"].read_text(encoding="utf-8")
    page = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    clicks = """<script>
    var sections = document.querySelectorAll("section.gf-table");
    sections[0].querySelector('th[data-col="type/Interaction"] button').click();
    var score = sections[1].querySelector('th[data-col="score"] button');
    score.click(); score.click();
    </script></body>"""
    copy_path = tmp_path / "clicked.html"
    copy_path.write_text(page.replace("</body>", clicks), encoding="utf-8")
    parsed = parse_html(chromium(tmp_path, "--dump-dom", copy_path.as_uri()).stdout.decode("utf-8"))
    rows = built_rows_by_table(parsed, board)
    # Interaction, descending: 99.00, 98.67, 50.00; the reported 99.90 stays below
    assert [r["entry"] for r in rows["synthetic / val"]] == [AWKWARD, "demo_sup_grounded", "demo_sup",
                                                             "Glance-Focus (paper)"]
    # score clicked twice: ascending, the row without a score last
    assert [r["entry"] for r in rows["next qa/v2 / test"]] == ["twin", "demo_sup_grounded", "no_score"]


@needs_chromium
def test_html_in_chromium_screenshot_is_a_nontrivial_png(tmp_path):
    import matplotlib.image

    paths = render_all(make_board(), tmp_path / "out")
    shot = tmp_path / "shot.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", paths["html"].as_uri())
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20_000
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert image.shape[:2] == (900, 1200) and image.std() > 0.05


# ---------------------------------------------------------------------------------------
# seed groups
# ---------------------------------------------------------------------------------------
def _group_row(entry, score, sd, ci, cells, seeds, scores, **extra):
    worst = min(zip(scores, seeds))
    return _row(entry, score, ci, cells, sd=sd, group={"n": len(seeds), "seeds": list(seeds), "scores": list(scores),
                                                       "worst": {"seed": worst[1], "score": worst[0]}}, **extra)


def make_group_board():
    """One table mixing seed groups, single checkpoints and a reported row."""
    return {
        "format": "gf-leaderboard", "version": 1, "name": "seeds", "created": "2026-12-01T10:00:00+00:00",
        "statistics": {"confidence": 0.95, "bootstrap_samples": 1000, "seed": 0, "alpha": 0.05,
                       "correction": "holm"},
        "tables": [{
            "id": "synthetic/test", "benchmark": "synthetic", "evaluator": "star", "split": "test",
            "score_key": "mean", "score_label": "Mean",
            "columns": [{"key": "type/Interaction", "label": "Interaction"},
                        {"key": "type/Sequence", "label": "Sequence"}],
            "resampling_unit": "video (seed groups: seed, then video)",
            "rows": [
                _group_row("grounded", 90.125, 1.505, [87.5, 92.25],
                           {"type/Interaction": {"value": 95.0, "ci": [92.0, 97.5], "sd": 0.5},
                            "type/Sequence": {"value": 85.25, "ci": [80.0, 90.0], "sd": 2.75}},
                           seeds=[0, 1, 2], scores=[89.0, 91.5, 89.875]),
                _row("single", 88.0, [85.0, 91.0], {"type/Interaction": {"value": 96.0, "ci": [93.0, 99.0]},
                                                      "type/Sequence": {"value": 80.0, "ci": [74.0, 86.0]}}),
                _group_row("one_seed", 60.0, None, [55.0, 65.0],
                           {"type/Interaction": {"value": 61.0, "ci": [56.0, 66.0], "sd": None}},
                           seeds=[7], scores=[60.0], below=True),
                _row("Paper", 91.0, None, {}, n=None, kind="reported", source="Some paper"),
            ],
            "pairs": [{"a": "grounded", "b": "single", "difference": 2.125, "ci": [-1.0, 5.5],
                       "test": "two_level_bootstrap", "p": 0.2, "p_holm": 0.4, "significant": False,
                       "p_bootstrap": 0.2, "mcnemar": None}],
            "failures": [], "pending": ["grounded (seed 3)"], "notes": [],
        }],
    }


#: What every format shows per row: (score, Interaction, Sequence, Seeds).
GROUP_EXPECTED = {
    # sd 1.505 is the float 1.50499...: below the tie, so 1.50
    "grounded": ("90.13 ± 1.50 [87.50, 92.25]", "95.00 ± 0.50 [92.00, 97.50]", "85.25 ± 2.75 [80.00, 90.00]",
                 "3 (worst 89.00, seed 0)"),
    "single": ("88.00 [85.00, 91.00]", "96.00 [93.00, 99.00]", "80.00 [74.00, 86.00]", "1"),
    "one_seed": ("60.00 [55.00, 65.00]", "61.00 [56.00, 66.00]", "n/a", "1 (worst 60.00, seed 7)"),
    "Paper": ("91.00", "n/a", "n/a", "n/a"),
}


def test_a_seed_group_shows_mean_sd_and_its_seeds_in_markdown_csv_and_json(tmp_path):
    board = make_group_board()
    paths = render_all(board, tmp_path / "out")
    md = parse_markdown(paths["markdown"].read_text(encoding="utf-8"))["synthetic / test"]
    assert md["header"] == ["Entry", "Mean", "Interaction", "Sequence", "Questions", "Seeds", "Source"]
    for cells in md["rows"]:
        entry = md_unescape(cells[0]).removesuffix(" ▼")
        assert tuple(md_figure(c)[0] for c in cells[1:4]) + (md_unescape(cells[5]),) == GROUP_EXPECTED[entry]
    assert md["rows"][0][1] == "**90.13** ± 1.50 [87.50, 92.25]"  # bold is the mean only
    assert md["rows"][2][0] == "one_seed ▼"
    text = paths["markdown"].read_text(encoding="utf-8")
    assert "mean ± sd over its seeds (sample sd)" in text and "two-level bootstrap" in text

    with open(paths["csv"], newline="", encoding="utf-8") as fh:
        rows = {r["entry"]: r for r in csv.DictReader(fh)}
    fields = list(rows["grounded"])
    assert fields[4:8] == ["score", "score_ci_low", "score_ci_high", "score_sd"]
    assert fields[8:12] == ["type/Interaction", "type/Interaction_ci_low", "type/Interaction_ci_high",
                            "type/Interaction_sd"]
    for entry, expected in GROUP_EXPECTED.items():
        record = rows[entry]
        for key, shown_text in zip(("score", "type/Interaction", "type/Sequence"), expected):
            csv_text = "n/a" if not record[key] else (
                record[key] + (f" ± {record[key + '_sd']}" if record[key + "_sd"] else "")
                + (f" [{record[key + '_ci_low']}, {record[key + '_ci_high']}]" if record[key + "_ci_low"] else ""))
            assert csv_text == shown_text, (entry, key)
    assert (rows["grounded"]["n_seeds"], rows["grounded"]["seeds"], rows["grounded"]["worst_seed"],
            rows["grounded"]["worst_seed_score"]) == ("3", "0 1 2", "0", "89.00")
    assert (rows["single"]["n_seeds"], rows["single"]["seeds"], rows["Paper"]["n_seeds"]) == ("1", "", "")
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == board
    assert json.loads(parse_html(paths["html"].read_text(encoding="utf-8")).scripts["gf-board"]) == board
    # a board without seed groups has none of this
    plain = make_board()
    assert "Seeds" not in render_markdown(plain) and "_sd" not in render_csv(plain).splitlines()[0]


#: A minimal DOM for the page's script under Node (no browser here): elements with
#: attributes, children and textContent; prints each built row's cell texts, and each
#: table's column headers, as JSON.
NODE_DOM = r"""
const fs = require("fs");
const page = fs.readFileSync(process.argv[2], "utf8");
const json = id => page.match(new RegExp('<script type="application/json" id="' + id + '">([^<]*)</script>'))[1];
const script = page.match(/<script>([\s\S]*?)<\/script>/)[1];
class El {
  constructor(tag) { this.tag = tag; this.attrs = {}; this.children = []; this.text = null; }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; }
  removeAttribute(k) { delete this.attrs[k]; }
  appendChild(c) { this.children.push(c); return c; }
  addEventListener() {}
  get firstChild() { return this.children[0]; }
  get textContent() { return this.text !== null ? this.text : this.children.map(c => c.textContent).join(""); }
  set textContent(v) { this.text = String(v); }
}
const ids = {"gf-board": {textContent: json("gf-board")}, "gf-plots": {textContent: json("gf-plots")},
             "gf-tables": new El("div"), "gf-legend": {textContent: "legend"}};
global.document = {getElementById: id => ids[id], createElement: t => new El(t), documentElement: new El("html"),
                   createTextNode: t => { const n = new El("#text"); n.text = String(t); return n; }};
eval(script);
const rows = [], headers = [], probeRows = [], probeHeaders = {}, lists = [], images = [];
(function walk(e) {
  if (e.tag === "table" && e.attrs["class"] === "board") {
    headers.push(e.children[0].children[0].children.map(th => th.textContent));
  }
  if (e.tag === "table" && (e.attrs["class"] === "probes" || e.attrs["class"] === "probe-categories")) {
    probeHeaders[e.attrs["class"]] = e.children[0].children[0].children.map(th => th.textContent);
  }
  if (e.tag === "tr" && e.attrs["data-entry"] !== undefined) {
    const cells = {};
    e.children.forEach(td => { cells[td.attrs["data-col"] || td.attrs["class"]] = td.textContent; });
    rows.push({entry: e.attrs["data-entry"], cells: cells});
  }
  if (e.tag === "tr" && e.attrs["data-probe-entry"] !== undefined) {
    const cells = {};
    e.children.forEach(td => { cells[td.attrs["data-col"]] = td.textContent; });
    probeRows.push({entry: e.attrs["data-probe-entry"], category: e.attrs["data-category"] || null, cells: cells});
  }
  if (e.tag === "ul" && e.attrs["class"] !== undefined) {
    lists.push([e.attrs["class"], e.children.map(li => li.textContent)]);
  }
  if (e.tag === "img") { images.push(e.attrs["alt"]); }
  (e.children || []).forEach(walk);
})(ids["gf-tables"]);
console.log(JSON.stringify({rows: rows, headers: headers, probe_rows: probeRows, probe_headers: probeHeaders,
                            lists: lists, images: images}));
"""
NODE = shutil.which("node") or shutil.which("nodejs")


@pytest.mark.skipif(NODE is None, reason="no node binary on PATH: the page's script cannot be run here")
def test_the_pages_script_shows_a_seed_groups_mean_sd_and_seeds_like_the_markdown(tmp_path):
    paths = render_all(make_group_board(), tmp_path / "out")
    (tmp_path / "dom.js").write_text(NODE_DOM)
    out = subprocess.run([NODE, str(tmp_path / "dom.js"), str(paths["html"])], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    built = json.loads(out)
    assert built["headers"] == [["Entry", "Mean", "Interaction", "Sequence", "Questions", "Seeds", "Source"]]
    built = built["rows"]
    assert [r["entry"] for r in built] == list(GROUP_EXPECTED)
    for row in built:
        cells = row["cells"]
        assert (cells["score"], cells["type/Interaction"], cells["type/Sequence"], cells["seeds"]) == \
            GROUP_EXPECTED[row["entry"]], row
    # a board without seed groups gets no Seeds column
    plain = render_all(make_board(), tmp_path / "plain")
    built = json.loads(subprocess.run([NODE, str(tmp_path / "dom.js"), str(plain["html"])], capture_output=True,
                                      text=True, timeout=60, check=True).stdout)
    assert all("Seeds" not in h for h in built["headers"]) and len(built["headers"]) == 2
    assert all("seeds" not in r["cells"] for r in built["rows"])


def test_the_score_plot_draws_a_seed_groups_mean_as_its_bar_and_each_seed_as_a_dot():
    (table,) = make_group_board()["tables"]
    (ax,) = lb_plots._score_figure(table).axes
    assert [p.get_height() for p in ax.patches] == [90.125, 88.0, 60.0]
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert [(list(d.get_xdata()), list(d.get_ydata())) for d in dots] == [([0, 0, 0], [89.0, 91.5, 89.875]),
                                                                          ([2], [60.0])]
    assert plot_scores(table).startswith(PNG_MAGIC)


# ---------------------------------------------------------------------------------------
# temporal sensitivity
# ---------------------------------------------------------------------------------------
def make_probe_board():
    """The seed-group board with a temporal sensitivity section: a seed group and a single
    checkpoint (named with HTML/Markdown specials) under two probes, one probe result
    missing, a failure, a pending result and a note."""
    board = make_group_board()
    (table,) = board["tables"]
    grounded, single = table["rows"][0], table["rows"][1]
    table["rows"][1] = dict(single, entry=AWKWARD)
    table["probes"] = {
        "probes": ["shuffle", "zeros"], "probe_seed": 3, "score_key": "mean", "score_label": "Mean",
        "columns": table["columns"],
        "rows": [
            {"entry": "grounded", "kind": "measured", "group": {"n": 3, "seeds": [0, 1, 2]},
             "unperturbed": {k: grounded[k] for k in ("score", "sd", "ci", "cells")},
             "probes": {
                 "shuffle": {"score": 70.0, "sd": 2.25, "ci": [65.0, 75.0], "num_questions": 600,
                             "cells": {"type/Interaction": {"value": 80.0, "ci": [70.0, 90.0], "sd": 1.0},
                                       "type/Sequence": {"value": 60.125, "ci": None, "sd": None}},
                             # 20.125 and 12.125 are exact binary ties: toFixed and Python must both go up
                             "drop": 20.125, "drop_ci": [15.0, 25.5], "flip_rate": 12.125, "flip_rates": [10, 12.125, 14.25],
                             "coverage": {"questions": 600, "changed": 600, "unchanged": 0, "reasons": {}},
                             "seeds": [0, 1, 2], "test": "seed_paired_two_level_bootstrap", "p": 0.000999,
                             "p_holm": 0.002997, "significant": True, "mcnemar": None,
                             "provenance": {"checkpoint_sha256": "ck0; ck1; ck2", "result_key": "rk-g-shuffle"}},
                 "zeros": None}},
            {"entry": AWKWARD, "kind": "measured",
             "unperturbed": {k: single.get(k) for k in ("score", "sd", "ci", "cells")},
             "probes": {
                 "shuffle": {"score": 87.5, "ci": [84.0, 91.0], "num_questions": 600,
                             "cells": {"type/Interaction": {"value": 95.0, "ci": [92.0, 98.0]},
                                       "type/Sequence": {"value": 80.0, "ci": [74.0, 86.0]}},
                             "coverage": {"questions": 600, "changed": 150, "unchanged": 450,
                                          "reasons": {"the clip has one real frame": 450}},
                             "drop": 0.5, "drop_ci": [-1.0, 2.0], "flip_rate": 4.0, "test": "mcnemar", "p": 0.5,
                             "p_holm": 1.0, "significant": False, "mcnemar": {"only_a": 3, "only_b": 2, "p": 0.5},
                             "provenance": {"checkpoint_sha256": "ck1", "result_key": "rk-s-shuffle"}},
                 "zeros": {"score": 50.0, "ci": None, "num_questions": 600, "cells": {}, "drop": 38.0,
                           "drop_ci": None, "flip_rate": 60.0, "test": "mcnemar", "p": 0.25, "p_holm": 0.5,
                           "significant": False, "mcnemar": {"only_a": 40, "only_b": 2, "p": 0.25}}}},
        ],
        "failures": [{"entry": "grounded (seed 1) under zeros", "error": "ConfigError: x | <y>"}],
        "pending": ["one_seed under zeros"],
        "notes": ["demo_files: a predictions entry has no model to run under a probe, so it is not probed"],
    }
    return board


#: Hand-written: each format's summary row: Mean (unperturbed), then per probe Mean, drop, flips, questions changed,
#: p (holm); a result without a recorded coverage (an older gf's) shows n/a.
PROBE_EXPECTED = {
    "grounded": ["90.13 ± 1.50 [87.50, 92.25]",
                 "70.00 ± 2.25 [65.00, 75.00]", "20.13 [15.00, 25.50]", "12.13", "600/600", "0.003",
                 "n/a", "n/a", "n/a", "n/a", "n/a"],
    AWKWARD: ["88.00 [85.00, 91.00]",
              "87.50 [84.00, 91.00]", "0.50 [-1.00, 2.00]", "4.00", "150/600", "1.000",
              "50.00", "38.00", "60.00", "n/a", "0.500"],
}
#: Per category: (entry, category) -> unperturbed, shuffle, zeros.
PROBE_CATEGORIES = {
    ("grounded", "Interaction"): ["95.00 ± 0.50 [92.00, 97.50]", "80.00 ± 1.00 [70.00, 90.00]", "n/a"],
    ("grounded", "Sequence"): ["85.25 ± 2.75 [80.00, 90.00]", "60.13", "n/a"],
    (AWKWARD, "Interaction"): ["96.00 [93.00, 99.00]", "95.00 [92.00, 98.00]", "n/a"],
    (AWKWARD, "Sequence"): ["80.00 [74.00, 86.00]", "80.00 [74.00, 86.00]", "n/a"],
}
PROBE_HEADER = ["Entry", "Mean (unperturbed)", "shuffle: Mean", "shuffle: drop", "shuffle: flips (%)",
                "shuffle: questions changed", "shuffle: p (holm)", "zeros: Mean", "zeros: drop", "zeros: flips (%)",
                "zeros: questions changed", "zeros: p (holm)"]


def test_the_sensitivity_table_shows_the_same_figures_in_markdown_csv_and_json(tmp_path):
    board = make_probe_board()
    paths = render_all(board, tmp_path / "out")
    text = paths["markdown"].read_text(encoding="utf-8")
    md = parse_markdown(text)["synthetic / test"]
    assert md["probes"][0] == PROBE_HEADER
    assert {md_unescape(r[0]): [md_unescape(c) for c in r[1:]] for r in md["probes"][1:]} == PROBE_EXPECTED
    assert md["probe_cells"][0] == ["Entry", "Category", "Unperturbed", "shuffle", "zeros"]
    assert {(md_unescape(r[0]), r[1]): r[2:] for r in md["probe_cells"][1:]} == PROBE_CATEGORIES
    section = md_unescape(md["text"].split("### Temporal sensitivity", 1)[1])
    assert "probe seed 3" in section and "(seed_paired_two_level_bootstrap, mcnemar)" in section
    assert "- grounded (seed 1) under zeros: ConfigError: x | <y>" in section
    assert "Probe results pending: one_seed under zeros." in section and "not probed" in section
    assert not re.search(r"(?<!\\)[<>&]", text), "no raw HTML or entity anywhere"
    assert all(len(row) == len(PROBE_HEADER) for row in md["probes"])

    with open(paths["probes_csv"], newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["entry"], r["probe"]) for r in rows] == [("grounded", "shuffle"), ("grounded", "zeros"),
                                                        (AWKWARD, "shuffle"), (AWKWARD, "zeros")]
    g, g_zeros, s, s_zeros = rows
    assert (g["probe_seed"], g["n_seeds"], g["seeds"], g["unperturbed"], g["unperturbed_sd"]) == (
        "3", "3", "0 1 2", "90.13", "1.50")
    assert (g["score"], g["score_ci_low"], g["score_ci_high"], g["score_sd"], g["drop"], g["drop_ci_low"],
            g["drop_ci_high"], g["flip_rate"]) == ("70.00", "65.00", "75.00", "2.25", "20.13", "15.00", "25.50", "12.13")
    assert (g["questions_changed"], g["questions"], g["unchanged_reasons"]) == ("600", "600", "")
    assert (s["questions_changed"], s["questions"], s["unchanged_reasons"]) == ("150", "600",
                                                                        "the clip has one real frame: 450")
    assert (s_zeros["questions_changed"], s_zeros["questions"]) == ("", "")  # not recorded (a result of an older gf)
    assert (g["test"], g["p"], g["p_holm"], g["significant"]) == ("seed_paired_two_level_bootstrap", "0.000999",
                                                                  "0.002997", "true")
    assert (g["type/Interaction_unperturbed"], g["type/Interaction"], g["type/Interaction_ci_low"],
            g["type/Interaction_sd"], g["type/Sequence"], g["type/Sequence_ci_low"]) == (
        "95.00", "80.00", "70.00", "1.00", "60.13", "")
    assert (g["checkpoint_sha256"], g["result_key"]) == ("ck0; ck1; ck2", "rk-g-shuffle")
    assert (g_zeros["score"], g_zeros["flip_rate"], g_zeros["significant"], g_zeros["unperturbed"]) == (
        "", "", "", "90.13")
    assert (s["n_seeds"], s["seeds"], s["test"], s["p"], s["p_holm"], s["score_sd"]) == (
        "1", "", "mcnemar", "0.5", "1", "")
    assert (s_zeros["score"], s_zeros["drop"], s_zeros["drop_ci_low"], s_zeros["flip_rate"]) == (
        "50.00", "38.00", "", "60.00")
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == board
    assert json.loads(parse_html(paths["html"].read_text(encoding="utf-8")).scripts["gf-board"]) == board
    # the main table and CSV do not change with probes
    plain = make_group_board()
    plain["tables"][0]["rows"][1]["entry"] = AWKWARD
    assert paths["csv"].read_bytes().decode("utf-8") == render_csv(plain)  # CRLF line ends, as written
    assert text.startswith(render_markdown(plain).rstrip("\n"))


def test_a_board_without_probes_has_no_sensitivity_table_csv_or_plot(tmp_path):
    paths = render_all(make_board(), tmp_path / "out")
    assert "probes_csv" not in paths and not (tmp_path / "out/leaderboard_probes.csv").exists()
    assert not list((tmp_path / "out/plots").glob("*_probes.png"))
    assert "Temporal sensitivity" not in paths["markdown"].read_text(encoding="utf-8")
    assert lb_plots.plot_probes(make_board()["tables"][0]) is None


@pytest.mark.skipif(NODE is None, reason="no node binary on PATH: the page's script cannot be run here")
def test_the_pages_script_builds_the_sensitivity_table_like_the_markdown(tmp_path):
    paths = render_all(make_probe_board(), tmp_path / "out")
    (tmp_path / "dom.js").write_text(NODE_DOM)
    built = json.loads(subprocess.run([NODE, str(tmp_path / "dom.js"), str(paths["html"])], capture_output=True,
                                      text=True, timeout=60, check=True).stdout)
    assert built["probe_headers"]["probes"] == PROBE_HEADER
    assert built["probe_headers"]["probe-categories"] == ["Entry", "Category", "Unperturbed", "shuffle", "zeros"]
    summary = [r for r in built["probe_rows"] if r["category"] is None]
    keys = ["unperturbed"] + [f"{p}:{k}" for p in ("shuffle", "zeros") for k in ("score", "drop", "flips", "changed",
                                                                                       "p_holm")]
    assert {r["entry"]: [r["cells"][k] for k in keys] for r in summary} == PROBE_EXPECTED
    assert all(r["cells"]["entry"] == r["entry"] for r in summary)  # the name as text, exact
    per_category = {(r["entry"], r["cells"]["category"]): [r["cells"][k] for k in ("unperturbed", "shuffle", "zeros")]
                    for r in built["probe_rows"] if r["category"] is not None}
    assert per_category == PROBE_CATEGORIES
    lists = dict(built["lists"])
    assert lists["failures"] == ["grounded (seed 1) under zeros: ConfigError: x | <y>"]
    assert lists["pending"] == ["one_seed under zeros"] and "not probed" in lists["notes"][0]
    assert "synthetic / test: temporal sensitivity" in built["images"]


def test_the_sensitivity_plot_has_a_panel_per_entry_and_a_bar_per_figure(tmp_path):
    import matplotlib.image

    (table,) = make_probe_board()["tables"]
    fig = lb_plots._probes_figure(table)
    grounded, single = fig.axes
    # groups: Mean, Interaction, Sequence; bars: unperturbed, shuffle, zeros (grounded has no zeros result)
    assert [p.get_height() for p in grounded.patches] == [90.125, 95.0, 85.25, 70.0, 80.0, 60.125]
    assert [p.get_height() for p in single.patches] == [88.0, 96.0, 80.0, 87.5, 95.0, 80.0, 50.0]
    assert [t.get_text() for t in grounded.get_xticklabels()] == ["Mean", "Interaction", "Sequence"]
    assert [t.get_text() for t in grounded.get_legend().get_texts()] == ["unperturbed", "shuffle", "zeros"]
    assert grounded.get_title() == "grounded"
    png = lb_plots.plot_probes(table)
    assert png.startswith(PNG_MAGIC) and lb_plots.plot_probes(table) == png
    assert matplotlib.image.imread(io.BytesIO(png), format="png").std() > 0
    paths = render_all(make_probe_board(), tmp_path / "out")
    assert (tmp_path / "out/plots/synthetic_test_probes.png").read_bytes() == png
    assert tmp_path / "out/plots/synthetic_test_probes.png" in paths["plots"]


# ---------------------------------------------------------------------------------------
# stale rows (a kept result whose inputs changed since: gf.leaderboards.freshness)
# ---------------------------------------------------------------------------------------
STALE_REASON = "its checkpoint runs/b.pth changed (sha256 65e6b87bd81c... then, e749fad5a039... now)"
STALE_REFRESH = "gf leaderboard run --manifest projects/leaderboards/m.yaml --only old_b"


def make_stale_board():
    """make_board() with a stale row in its first table (after the measured rows)."""
    board = make_board()
    table = board["tables"][0]
    stale = {"entry": "old_b", "kind": "stale", "stale": True, "stale_reason": STALE_REASON, "score": None,
             "ci": None, "cells": {}, "num_questions": None, "provenance": dict(PROVENANCE, result_key="rk-old")}
    table["rows"].insert(3, stale)
    table["stale"] = [{"entry": "old_b", "reason": STALE_REASON, "refresh": STALE_REFRESH, "provenance": {}}]
    return board


def test_a_stale_row_shows_no_figure_in_any_format_and_is_never_best_or_compared(tmp_path):
    board = make_stale_board()
    paths = render_all(board, tmp_path / "out")
    text = paths["markdown"].read_text(encoding="utf-8")
    md = parse_markdown(text)["synthetic / val"]
    (row,) = [r for r in md["rows"] if r[0] == "old_b"]
    assert row[1:4] == ["n/a"] * 3 and row[-1] == "stale (see below)"
    assert [md_unescape(r[0]).removesuffix(" ▼") for r in md["rows"]] == [r["entry"] for r in board["tables"][0]["rows"]]
    for key, entries in EXPECTED_BOLD["synthetic / val"].items():  # best and bold as without it
        column = 1 + (["score"] + [c["key"] for c in board["tables"][0]["columns"]]).index(key)
        assert {md_unescape(r[0]).removesuffix(" ▼") for r in md["rows"] if md_figure(r[column])[1]} == entries
    assert "Stale (an input changed since the result was computed" in text
    assert f"- {md_escape(f'old_b: {STALE_REASON}. Refresh: {STALE_REFRESH}')}" in text

    with open(paths["csv"], newline="", encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))
    fields = list(records[0])
    assert fields[fields.index("source") + 1:fields.index("source") + 3] == ["stale", "stale_reason"]
    by_entry = {r["entry"]: r for r in records if r["split"] == "val"}
    assert (by_entry["old_b"]["kind"], by_entry["old_b"]["stale"], by_entry["old_b"]["score"]) == ("stale", "true", "")
    assert by_entry["old_b"]["stale_reason"] == STALE_REASON and by_entry["demo_sup"]["stale"] == "false"
    assert "stale" not in render_csv(make_board()).splitlines()[0]  # a board without one: as before
    assert json.loads(paths["json"].read_text(encoding="utf-8")) == board
    assert json.loads(parse_html(paths["html"].read_text(encoding="utf-8")).scripts["gf-board"]) == board
    if NODE is not None:
        (tmp_path / "dom.js").write_text(NODE_DOM)
        built = json.loads(subprocess.run([NODE, str(tmp_path / "dom.js"), str(paths["html"])], capture_output=True,
                                          text=True, timeout=60, check=True).stdout)
        (shown,) = [r for r in built["rows"] if r["entry"] == "old_b"]
        assert shown["cells"]["score"] == "n/a" and shown["cells"]["source"] == "stale (see below)"
        assert dict(built["lists"])["stale"] == [f"old_b: {STALE_REASON}. Refresh: {STALE_REFRESH}"]


# ---------------------------------------------------------------------------------------
# the page's stylesheet and script are files, inlined
# ---------------------------------------------------------------------------------------
def test_the_pages_stylesheet_and_script_are_the_asset_files_inlined_and_allowed_by_hash():
    import base64
    import hashlib
    from importlib import resources

    import gf.leaderboards

    folder = resources.files("gf.leaderboards") / "assets"
    css, script = ((folder / name).read_text(encoding="utf-8").strip() for name in ("board.css", "board.js"))
    page = render_html(make_board(), {})
    assert re.search(r"<style>(.*?)</style>", page, re.S).group(1) == css
    assert parse_html(page).scripts["inline"] == script
    for text, directive in ((css, "style-src"), (script, "script-src")):
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        assert f"{directive} 'sha256-{digest}'" in page
    package = Path(gf.leaderboards.__file__).parent
    for source in package.glob("*.py"):  # no CSS or JavaScript left in Python strings
        code = source.read_text(encoding="utf-8")
        assert "border-collapse" not in code and "createElement" not in code and "function (" not in code, source
    for name in ("render.py", "engine.py"):
        assert len((package / name).read_text(encoding="utf-8").splitlines()) < 600, name
