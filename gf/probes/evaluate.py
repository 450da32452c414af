"""``gf evaluate --probe NAME ...``: a checkpoint's answers with and without each probe.

Why beside the unperturbed evaluation, in one command: a probe's figure alone says little;
what tells whether a model uses the video, and its order, is the change from the same
checkpoint's unperturbed answers on the same questions -- the accuracy drop, the share of
answers that flip, and a paired test. The files written (each probe's under its own tag,
never over the unperturbed ones), the table printed and the ``<split>_<tag>_probes.json``
record: docs/probes.md, "Using them".
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from gf.common.io import atomic_write_text, sha256sum
from gf.evaluation import get_evaluator, load_predictions
from gf.evaluation.base import output_file
from gf.probes.compare import probe_test
from gf.probes.dataset import ProbedDataset, coverage_warning

__all__ = ["evaluate_with_probes", "probe_tag", "format_probe_table", "drop_probes_record"]


def probe_tag(tag: str, probe: str, seed: int) -> str:
    """The file tag of a probed evaluation: ``<tag>_probe-<name>-s<seed>``
    (``gf.evaluation.base.PROBE_TAG``, which ``gf evaluate --tag`` refuses)."""
    return f"{tag}_probe-{probe}-s{seed}"


def drop_probes_record(runner, dataset: str, split: str, tag: str) -> None:
    """Remove ``<split>_<tag>_probes.json`` (rank 0) before the evaluation that rewrites
    ``<split>_<tag>_predictions.json``. Why: the record compares that file with the probed
    ones; after another checkpoint's plain evaluation, or a ``--probe`` run killed before its
    comparison is written, it would give figures the files beside it do not."""
    if not runner.is_main:
        return
    path = output_file(runner.eval_dir(dataset), split, tag, "probes.json")
    if path.exists():
        path.unlink()
        print(f"[gf] removed {path}: it compared probes with the {split} predictions this evaluation rewrites "
              f"(gf evaluate --probe computes it again)", flush=True)


def _side(path: Path, predictions) -> Dict[str, Any]:
    """What a comparison was computed from: the file, its sha256 and its provenance (weights,
    checkpoint, probe)."""
    return {"file": path.name, "sha256": sha256sum(path), "provenance": predictions.provenance}


def _by_category(plain, probed, evaluator, info, videos) -> Dict[str, Dict[str, Any]]:
    """``probe_test`` per breakdown cell: ``{"<breakdown>/<cell>": result}``."""
    cells: Dict[str, List[str]] = defaultdict(list)
    for qid, record in plain.predictions.items():
        if record.get("answer") is None:
            continue
        for breakdown, names in evaluator.question_categories(qid, record, info).items():
            for cell in names:
                cells[f"{breakdown}/{cell}"].append(qid)
    return {cell: probe_test(plain, probed, ids=ids, videos=videos) for cell, ids in cells.items()}


def read_side(path: Path) -> Tuple[Any, Dict[str, Any]]:
    """A predictions file and its side of a comparison (:func:`_side`): read and hashed once,
    however many comparisons it is in."""
    predictions = load_predictions(path)
    return predictions, _side(path, predictions)


def compare_files(plain: Tuple[Any, Dict[str, Any]], probed_path: Path, benchmark: str,
                  info: Mapping[str, Any], videos: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Overall and per-category comparison of two saved predictions files of one split: the
    unperturbed one as :func:`read_side` gives it (read once for all of a split's probes) and
    the probed one's path; ``videos`` (question id -> video) lets the paired test resample
    whole videos where a video holds several questions (:func:`~gf.probes.compare.probe_test`)."""
    (plain_predictions, plain_side), probed = plain, load_predictions(probed_path)
    result = probe_test(plain_predictions, probed, videos=videos)
    result["categories"] = _by_category(plain_predictions, probed, get_evaluator(benchmark), info, videos)
    result["unperturbed"], result["probed"] = plain_side, _side(probed_path, probed)
    return result


def _changed(r: Mapping[str, Any]) -> str:
    coverage = r.get("coverage")
    return "?" if not coverage else f"{coverage['changed']}/{coverage['questions']}"


def _p(r: Mapping[str, Any]) -> str:
    """The deciding p and its test (``n/a`` where the bootstrap cannot vary)."""
    test = {"mcnemar": "McNemar", "paired_bootstrap": "bootstrap"}.get(r.get("test"), r.get("test") or "")
    return f"{'n/a' if r.get('p') is None else format(r['p'], '.2g'):>9} {test}"


def format_probe_table(split: str, rows: Mapping[str, Mapping[str, Any]]) -> str:
    """The printed table: one line per probe, then a warning for each probe that changed
    none, or few."""
    lines = [f"[gf] probes on {split}: questions whose clip changed, accuracy (unperturbed -> probed), drop, answers flipped, "
             f"p (McNemar where each video has one question, else the video bootstrap)",
             f"  {'probe':<14} {'changed':>9} {'accuracy':>17} {'drop':>7} {'flipped':>8} {'p':>9} test"]
    for probe, r in rows.items():
        if r["accuracy"] is None:
            lines.append(f"  {probe:<14} {_changed(r):>9} {'(no labels)':>17} {'':>7} {100 * r['flip_rate']:>7.2f}% "
                         f"{'':>9}")
            continue
        lines.append(f"  {probe:<14} {_changed(r):>9} {r['accuracy']:>7.2f} -> {r['accuracy_probe']:>6.2f} "
                     f"{r['drop']:>7.2f} {100 * r['flip_rate']:>7.2f}% {_p(r)}")
    warnings = [coverage_warning(r["coverage"]) for r in rows.values() if r.get("coverage")]
    lines += [f"  WARNING: {w}" for w in warnings if w]
    return "\n".join(lines)


def evaluate_with_probes(runner, splits: Sequence[str], probes: Sequence[str], probe_seed: int,
                         tag: str) -> Dict[str, Dict[str, Any]]:
    """Evaluate ``splits`` of every dataset unperturbed and under each probe; returns the
    comparisons keyed by ``<dataset>/<split>`` (rank 0; other ranks take part and get {})."""
    comparisons: Dict[str, Dict[str, Any]] = {}
    for name in runner.dataset_names():  # what cannot apply is refused before any split is evaluated
        for split in splits:
            for probe in probes:
                ProbedDataset(runner.datasets[name].splits[split], probe, probe_seed)
    for name in runner.dataset_names():
        ds = runner.datasets[name]
        for split in splits:
            drop_probes_record(runner, name, split, tag)
            runner.evaluate_split(split, tag=tag, dataset=name)
            original = ds.splits[split]
            rows: Dict[str, Any] = {}
            videos = original.video_ids() if runner.is_main else None  # the paired test resamples whole videos
            out = runner.eval_dir(name)
            plain = read_side(output_file(out, split, tag, "predictions.json")) if runner.is_main else None
            for probe in probes:
                ds.splits[split] = probed = ProbedDataset(original, probe, probe_seed)
                try:
                    runner.evaluate_split(split, tag=probe_tag(tag, probe, probe_seed), dataset=name)
                finally:
                    ds.splits[split] = original
                if runner.is_main:
                    probed_file = output_file(out, split, probe_tag(tag, probe, probe_seed), "predictions.json")
                    rows[probe] = compare_files(plain, probed_file, ds.benchmark, ds.info, videos)
                    rows[probe]["coverage"] = probed.coverage()  # what the figures are about
            if runner.is_main:
                record = {"dataset": name, "split": split, "tag": tag, "probe_seed": probe_seed, "probes": rows}
                atomic_write_text(output_file(out, split, tag, "probes.json"), json.dumps(record, indent=2))
                print(format_probe_table(split, rows), flush=True)
                comparisons[f"{name}/{split}"] = rows
    return comparisons
