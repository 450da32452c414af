"""PNG plots of a leaderboard table: the official score with its confidence interval, the
per-category breakdown, and (a table with temporal probes) the sensitivity plot.

Why pictures next to the tables: a column of numbers with intervals hides how much the
intervals overlap; bars with whiskers show at a glance which differences are within noise.
Only measured rows become bars: a figure copied from a paper has no interval and was not
measured on the same split, so it is drawn as a dashed reference line, never as a bar
that invites a comparison the statistics did not make.

The figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, without
pyplot: no global figure registry to leak into, no GUI backend chosen by the environment,
safe in a worker process. PNGs are written at a fixed dpi without the "Software" metadata
entry (which names the matplotlib version), so the same table gives the same bytes.

The sensitivity plot draws each bar with its interval; its layout (one panel per entry)
and why: docs/leaderboards.md, "Temporal sensitivity".
"""
from __future__ import annotations

import io
import re
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from gf.common.utils import finite_number as _number
from gf.leaderboards.cells import cell_figures, mappings, score_label, table_columns, table_title
from gf.leaderboards.probe_render import probe_names, section_of

__all__ = ["plot_breakdown", "plot_file_stem", "plot_probes", "plot_scores"]

#: Fixed resolution: plots are compared by eye across runs and embedded in the HTML page.
DPI = 100
#: Tick labels longer than this are shortened with "…" (the full names are in the tables).
MAX_LABEL = 28
_MEASURED_COLOR = "#4c72b0"
_REPORTED_COLOR = "#555555"


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------
def _interval(ci: Any) -> Optional[Tuple[float, float]]:
    """``(low, high)`` when ``ci`` is a pair of finite numbers, else None (no whisker)."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return None
    low, high = _number(ci[0]), _number(ci[1])
    if low is None or high is None:
        return None
    return min(low, high), max(low, high)


def _plain(text: Any) -> str:
    """``text`` on one line with ``$`` escaped, so that matplotlib does not read a name like
    ``a$b$`` as mathtext (which can fail to parse or change the name)."""
    return " ".join(str(text).split()).replace("$", r"\$")


def _label(text: Any) -> str:
    """An entry or column name as a tick or legend label: plain, and shortened."""
    s = " ".join(str(text).split())
    if len(s) > MAX_LABEL:
        s = s[:MAX_LABEL - 1] + "…"
    return _plain(s)


def _rows(table: Mapping[str, Any], kind: str) -> List[Mapping[str, Any]]:
    return [r for r in mappings(table, "rows") if r.get("kind") == kind]


def _title(table: Mapping[str, Any], what: str) -> str:
    return _plain(f"{table_title(table)}: {what}")


def _new_figure(width: float, height: float):
    """A pyplot-free Figure on the Agg canvas (see the module docstring for why)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    fig.clear()  # a pyplot-free Figure is not registered anywhere; clearing frees its artists now
    return buf.getvalue()


def _errors(values: Sequence[float], intervals: Sequence[Optional[Tuple[float, float]]]):
    """Asymmetric error bar lengths for ``ax.errorbar`` (0 where there is no interval)."""
    below = [v - ci[0] if ci else 0.0 for v, ci in zip(values, intervals)]
    above = [ci[1] - v if ci else 0.0 for v, ci in zip(values, intervals)]
    return [[max(b, 0.0) for b in below], [max(a, 0.0) for a in above]]


def _figures_at(figures: Any, key: Optional[str]) -> Tuple[Optional[float], Optional[Tuple[float, float]]]:
    """``(value, interval)`` of the official score (``key`` None) or a cell of a row or figure set."""
    if not isinstance(figures, Mapping):
        return None, None
    if key is None:
        return _number(figures.get("score")), _interval(figures.get("ci"))
    value, ci, _ = cell_figures(figures, key)
    return _number(value), _interval(ci)


def _bars(ax, xs: Sequence[float], values: Sequence[float], intervals: Sequence[Optional[Tuple[float, float]]],
          *, elinewidth: float = 0.8, capsize: float = 2, **bar: Any) -> None:
    """Bars (``bar``: ``ax.bar``'s options) with black whiskers on those that have an interval."""
    ax.bar(xs, values, **bar)
    with_ci = [i for i, ci in enumerate(intervals) if ci]
    if with_ci:
        sub = [values[i] for i in with_ci]
        ax.errorbar([xs[i] for i in with_ci], sub, yerr=_errors(sub, [intervals[i] for i in with_ci]),
                    fmt="none", ecolor="black", elinewidth=elinewidth, capsize=capsize)


def _series(ax, figures: Any, keys: Sequence[Optional[str]], k: int, width: float, **bar: Any) -> List[float]:
    """The ``k``-th bar of each group (group ``j`` shows ``keys[j]``: the score for None, else
    a cell) where ``figures`` has a value, by :func:`_bars`; returns the values and interval
    tops (for the y limit)."""
    xs, values, intervals = [], [], []
    for j, key in enumerate(keys):
        value, ci = _figures_at(figures, key)
        if value is not None:
            xs.append(j - 0.4 + width * (k + 0.5))
            values.append(value)
            intervals.append(ci)
    _bars(ax, xs, values, intervals, width=width * 0.95, **bar)
    return values + [ci[1] for ci in intervals if ci]


def _grid(ax, ylabel: str = "accuracy (%)") -> None:
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _top(values: Sequence[Optional[float]]) -> float:
    """Upper y limit: scores are percentages, so 0..100 unless a value goes beyond."""
    finite = [v for v in values if v is not None]
    return max([100.0] + [v * 1.05 for v in finite])


# ---------------------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------------------
def plot_file_stem(table: Mapping[str, Any]) -> str:
    """``<benchmark>_<split>`` reduced to letters, digits, ``.``, ``_`` and ``-``.

    Benchmark and split names come from configs and may hold ``/``, spaces or ``..``: the
    stem must stay one plain file name inside ``plots/`` whatever they are.
    """
    parts = [str(table.get(k)) for k in ("benchmark", "split") if table.get(k) not in (None, "")]
    raw = "_".join(parts) if parts else str(table.get("id") or "table")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("._")
    return stem or "table"


def _seed_dots(ax, rows: Sequence[Mapping[str, Any]]) -> None:
    """Each seed's score of a seed group, as dots on its bar (the bar is their mean)."""
    labelled = False
    for x, row in enumerate(rows):
        group = row.get("group") if isinstance(row.get("group"), Mapping) else {}
        scores = [v for v in (_number(s) for s in group.get("scores") or []) if v is not None]
        if scores:
            ax.plot([x] * len(scores), scores, linestyle="none", marker="o", markersize=4, color="white",
                    markeredgecolor="black", label=None if labelled else "one seed")
            labelled = True


def _score_figure(table: Mapping[str, Any]):
    """The score plot as a Figure: one bar per measured row with a score (whiskers: its
    interval; a seed group's bar is its mean, with a dot per seed), one dashed line per
    reported row with a score. Kept separate from
    :func:`plot_scores` so tests can count the bars."""
    measured = [(r, _number(r.get("score"))) for r in _rows(table, "measured")]
    measured = [(r, v) for r, v in measured if v is not None]
    reported = [(r, _number(r.get("score"))) for r in _rows(table, "reported")]
    reported = [(r, v) for r, v in reported if v is not None]

    fig = _new_figure(max(4.0, 1.0 + 0.8 * len(measured)), 4.2)
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(len(measured)))
    values = [v for _, v in measured]
    intervals = [_interval(r.get("ci")) for r, _ in measured]
    if measured:
        _bars(ax, xs, values, intervals, elinewidth=1.2, capsize=4, width=0.6, color=_MEASURED_COLOR,
              label="measured")
        _seed_dots(ax, [r for r, _ in measured])
        ax.set_xticks(xs)
        ax.set_xticklabels([_label(r.get("entry")) for r, _ in measured], rotation=30, ha="right")
    else:
        ax.set_xticks([])
        ax.text(0.5, 0.5, "no measured score", transform=ax.transAxes, ha="center", va="center",
                color=_REPORTED_COLOR)
    ax.set_xlim(-0.6, max(len(measured), 1) - 0.4)
    for row, value in reported:
        ax.axhline(value, color=_REPORTED_COLOR, linestyle="--", linewidth=1.0)
        ax.annotate(f"{_label(row.get('entry'))} (reported) {value:.2f}", xy=(1.0, value),
                    xycoords=("axes fraction", "data"), xytext=(-4, 2), textcoords="offset points",
                    ha="right", va="bottom", fontsize=8, color=_REPORTED_COLOR,
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.0})
    ax.set_ylim(0.0, _top(values + [v for _, v in reported] + [ci[1] for ci in intervals if ci]))
    _grid(ax, _plain(f"{score_label(table, 'score')} (%)"))
    ax.set_title(_title(table, score_label(table, "score")))
    fig.tight_layout()
    return fig


def _breakdown_figure(table: Mapping[str, Any]):
    """The breakdown as a Figure, or None when the table has no columns: one group per
    column, one bar per measured row that has a value there (whiskers: its interval);
    reported values as dashed segments across their group."""
    columns = table_columns(table)
    if not columns:
        return None
    measured = _rows(table, "measured")
    reported = _rows(table, "reported")
    n = max(len(measured), 1)
    width = 0.8 / n

    # The legend sits right of the axes; the figure is widened for it so the bars keep their room.
    fig = _new_figure(max(3.5, 1.2 + len(columns) * (0.5 + 0.35 * n)) + 2.8, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    palette = [f"C{i}" for i in range(10)]
    all_values: List[Optional[float]] = []
    for i, row in enumerate(measured):
        color = palette[i % len(palette)]
        hatch = None if i < len(palette) else "//"  # more rows than colours: tell them apart
        # The legend entry must exist even when the row has no value in any column.
        all_values += _series(ax, row, [c["key"] for c in columns], i, width, color=color, hatch=hatch,
                              label=_label(row.get("entry")))
    for i, row in enumerate(reported):
        labelled = False
        for j, col in enumerate(columns):
            value, _ = _figures_at(row, col["key"])
            if value is None:
                continue
            all_values.append(value)
            ax.plot([j - 0.4, j + 0.4], [value, value], color=_REPORTED_COLOR,
                    linestyle=["--", ":", "-."][i % 3], linewidth=1.2,
                    label=None if labelled else f"{_label(row.get('entry'))} (reported)")
            labelled = True
    ax.set_xticks(list(range(len(columns))))
    ax.set_xticklabels([_label(c.get("label") or c.get("key")) for c in columns], rotation=20, ha="right")
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(0.0, _top(all_values))
    _grid(ax)
    ax.set_title(_title(table, "breakdown"))
    if measured or reported:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def plot_scores(table: Mapping[str, Any]) -> bytes:
    """PNG bytes of the official score per measured row with interval whiskers; reported
    rows as dashed labelled lines."""
    return _png(_score_figure(table))


def plot_breakdown(table: Mapping[str, Any]) -> Optional[bytes]:
    """PNG bytes of the per-column breakdown as grouped bars, or None when the table has
    no breakdown columns (there is nothing to draw, and an empty plot would mislead)."""
    fig = _breakdown_figure(table)
    return None if fig is None else _png(fig)


def _probe_panel(ax, row: Mapping[str, Any], groups: Sequence[Tuple[Optional[str], str]],
                 probes: Sequence[str], legend: bool) -> List[float]:
    """One entry's panel; returns the plotted values and interval tops (for the y limit)."""
    series = [("unperturbed", row.get("unperturbed"))] + [(p, (row.get("probes") or {}).get(p)) for p in probes]
    width = 0.8 / len(series)
    tops: List[float] = []
    for k, (name, figures) in enumerate(series):
        color = _MEASURED_COLOR if k == 0 else f"C{k % 10}"
        tops += _series(ax, figures, [key for key, _ in groups], k, width, color=color,
                        label=_label(name) if legend else None)
    ax.set_xticks(list(range(len(groups))))
    ax.set_xticklabels([_label(label) for _, label in groups], rotation=20, ha="right")
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_title(_plain(_label(row.get("entry"))), fontsize=10)
    _grid(ax)
    return tops


def _probes_figure(table: Mapping[str, Any]):
    """The sensitivity plot as a Figure, or None when the table has no probed row. Kept
    separate from :func:`plot_probes` so tests can count the bars."""
    section = section_of(table)
    if section is None:
        return None
    rows = mappings(section, "rows")
    if not rows:
        return None
    probes = probe_names(section)
    columns = table_columns(section)
    label = score_label(section, "score")
    groups = [(None, label)] + [(str(c["key"]), str(c.get("label") or c["key"])) for c in columns]
    fig = _new_figure(max(4.0, 1.2 + len(groups) * (0.5 + 0.22 * (1 + len(probes)))) + 2.4, 0.8 + 2.8 * len(rows))
    axes = [fig.add_subplot(len(rows), 1, i + 1) for i in range(len(rows))]
    tops = []
    for i, (ax, row) in enumerate(zip(axes, rows)):
        tops += _probe_panel(ax, row, groups, probes, legend=i == 0)
    for ax in axes:
        ax.set_ylim(0.0, _top(tops))
    axes[0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.suptitle(_title(table, f"temporal sensitivity (probe seed {section.get('probe_seed')})"), fontsize=11)
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 1.0 - 0.4 / fig.get_figheight()))  # 0.4 in for the title, above the panels
    return fig


def plot_probes(table: Mapping[str, Any]) -> Optional[bytes]:
    """PNG bytes of the table's temporal sensitivity, or None when it has no probes or no
    probed row."""
    fig = _probes_figure(table)
    return None if fig is None else _png(fig)
