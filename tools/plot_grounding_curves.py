"""Plot the grounded pointer's curves, epoch by epoch, for several runs side by side.

Reads each run folder's ``log.jsonl``: the ``grounding_val`` records written by the
``grounding_diagnostics`` hook (pointer anchor on the named event, shifted pointer on the
answer event, glance event-class accuracy) and the per-epoch val reports (accuracy per
question type). One panel per measure, one line per run. Used for
``docs/why_seeds_failed.md``; not a test (pytest does not collect it). Example::

    python tools/plot_grounding_curves.py --out docs/images/grounding_curves.png \\
        "seed 42, answer loss only=/tmp/exp/base_s42" "seed 0, answer loss only=/tmp/exp/base_s0"
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List

PANELS = (
    ("grounding_val", "anchor_on_named", "pointer anchor on the named event (%)"),
    ("grounding_val", "pointer_on_answer", "shifted pointer on the answer event (%)"),
    ("grounding_val", "glance_cls_acc", "glance: matched events classified right (%)"),
    ("val_val", "Sequence", "val accuracy, Sequence (%)"),
)


def read_curves(run: Path) -> Dict[str, Dict[str, List[float]]]:
    """``{kind: {metric: [value per epoch]}}``: ``grounding_val`` from ``run/log.jsonl``,
    ``val_val`` (accuracy per type) from the per-epoch reports ``run/eval/val_epoch<N>_report.json``."""
    curves: Dict[str, Dict[str, List[float]]] = {}
    for line in (run / "log.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("kind") != "grounding_val":
            continue
        for key, value in record.items():
            if isinstance(value, (int, float)) and key not in ("epoch", "step", "time"):
                curves.setdefault("grounding_val", {}).setdefault(key, []).append(float(value))
    reports = sorted(run.glob("eval/val_epoch*_report.json"), key=lambda p: int(p.stem.split("_")[1][5:]))
    for path in reports:
        cells = json.loads(path.read_text(encoding="utf-8"))["breakdowns"]["type"]
        for qtype, cell in cells.items():
            curves.setdefault("val_val", {}).setdefault(qtype, []).append(float(cell["accuracy"]))
    return curves


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4))
    for spec in args.runs:
        label, _, folder = spec.partition("=")
        curves = read_curves(Path(folder))
        for ax, (kind, metric, _) in zip(axes, PANELS):
            values = curves.get(kind, {}).get(metric)
            if values:
                ax.plot(range(1, len(values) + 1), values, marker=".", label=label)
    for ax, (_, _, title) in zip(axes, PANELS):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
