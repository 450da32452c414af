"""Evaluate a predictions file with its benchmark's evaluator, print and save the report.

The evaluator is looked up in the registry (kind ``evaluator``) by the ``benchmark``
written in the predictions file, so a plugin benchmark that registers its own evaluator
is scored by every command without changes here.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from gf.common.errors import ConfigError, EvaluationError, RegistryError
from gf.common.io import PathLike, atomic_write_json, check_replaceable, same_file
from gf.common.registry import registry
from gf.evaluation.core import check_complete, nothing_to_score
from gf.evaluation.predictions import FORMAT_NAME as PREDICTIONS_FORMAT
from gf.evaluation.predictions import (PredictionsFile, check_provenance, load_predictions,
                                      read_json_object)

__all__ = ["COVERAGE_NOT_CHECKED", "check_distinct_paths", "check_report_path", "evaluate_predictions",
           "format_report", "get_evaluator", "merge_provenance", "save_report"]

#: The note of a report whose predictions were not checked against the split's questions.
COVERAGE_NOT_CHECKED = ("question coverage not checked against the split: pass the dataset config to check "
                        "that every question is predicted")

#: Fields every report has (:func:`~gf.evaluation.core.base_report`, read by
#: :func:`format_report`): what marks a file as a gf report, which a rerun may replace.
_REPORT_KEYS = frozenset({"benchmark", "overall", "num_correct", "num_questions", "num_predictions"})


def get_evaluator(benchmark: str, where: str = "predictions"):
    """An instance of the evaluator registered for ``benchmark``."""
    try:
        return registry.get("evaluator", benchmark)()
    except RegistryError as e:
        raise EvaluationError(f"{where}: no evaluator for benchmark {benchmark!r}: {e} If a plugin registers it, "
                              f"import it first (gf evaluate --plugins MODULE).") from None


def evaluate_predictions(pred_file: Union[PredictionsFile, PathLike], info: Optional[Mapping[str, Any]] = None, *,
                         expected_ids: Optional[Iterable[Any]] = None,
                         provenance: Optional[Mapping[str, Any]] = None,
                         skipped: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Score a predictions file (or a loaded one).

    ``info`` is what the evaluator may need beyond the predictions (``answer_vocab``,
    ``all_reasoning_types``, ...); the file's own answer vocabulary fills
    ``answer_vocab`` when ``info`` has none. ``expected_ids``: the split's question ids;
    every one must be predicted and nothing else (the error names the ids). Without them
    the report says so: ``coverage_checked`` is False and a note asks for the dataset
    config. Zero predictions is an error ("nothing to score"), never an empty success.
    ``skipped`` (:func:`gf.datasets.videoqa.skipped_questions`): the questions a skip file
    took out of the split; the report records them (``skipped``) with a note that its
    figures are over a subset, since ``expected_ids`` are then only the questions left.

    The report records the scoring gf's version (``gf_version``) and ``provenance``: the
    file's own merged with the one given here (:func:`merge_provenance`).
    """
    from gf.version import __version__

    if not isinstance(pred_file, PredictionsFile):
        pred_file = load_predictions(pred_file)
    where = os.fspath(pred_file.path) if pred_file.path else "predictions"
    given = check_provenance(provenance, "evaluate_predictions", error=ConfigError) or {}
    evaluator = get_evaluator(pred_file.benchmark, where)
    if not pred_file.predictions:
        raise EvaluationError(nothing_to_score(pred_file.benchmark, where if pred_file.path else None))
    if expected_ids is not None:
        # Before the evaluator's own check (the built-in ones make it too), so that the message
        # names the questions a skip file left out and speaks of the split, not of expected_ids;
        # also keeps the report's claim true for a plugin evaluator that ignores expected_ids.
        expected_ids = list(expected_ids)
        check_complete([str(q) for q in pred_file.predictions], expected_ids, pred_file.benchmark,
                       skipped=skipped, advice="Predict every question of the split exactly once.")
    info = dict(info or {})
    if info.get("answer_vocab") is None and pred_file.answer_vocab is not None:
        info["answer_vocab"] = pred_file.answer_vocab
    report = evaluator.evaluate(pred_file.predictions, info, expected_ids=expected_ids)
    report.setdefault("notes", [])
    report["coverage_checked"] = expected_ids is not None
    if expected_ids is None:
        report["notes"].append(COVERAGE_NOT_CHECKED)
    if skipped:
        report["skipped"] = {k: v for k, v in skipped.items() if k != "ids"}  # a count, not the whole list
        report["notes"].append(skipped_note(skipped))
    report["split"] = pred_file.split
    if pred_file.path is not None:
        report["predictions_file"] = os.fspath(pred_file.path)
    report["gf_version"] = __version__
    report["provenance"] = merge_provenance(pred_file.provenance or {}, given)
    return report


def skipped_note(skipped: Mapping[str, Any]) -> str:
    """The report's note on questions a skip file took out of the split."""
    source = f" (skip file {skipped['skip_file']})" if skipped.get("skip_file") else ""
    return (f"{skipped['questions']} question(s) of the split were left out{source}: every figure here, and the "
            f"coverage check, is over the questions left, a subset, not comparable to the official results")


def merge_provenance(recorded: Mapping[str, Any], given: Mapping[str, Any]) -> Dict[str, Any]:
    """The file's provenance updated by ``given``; a value ``given`` replaces with a different
    one stays beside it as ``predictions_file_<key>``. Why: the file's split fingerprint
    says what the predictions were made on, the given one what they were scored against;
    a report that kept only the latter would hide that the split changed in between."""
    merged = {**recorded, **given}
    for key, value in recorded.items():
        if key in given and given[key] != value:
            merged[f"predictions_file_{key}"] = value
    return merged


def _labelled(paths: Any, kind: str) -> List[Tuple[str, str]]:
    """``[(label, path)]`` from a mapping label -> path or an iterable of paths (None skipped)."""
    if paths is None:
        return []
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    items = paths.items() if isinstance(paths, Mapping) else ((None, p) for p in paths)
    out = []
    for label, path in items:
        if path is None:
            continue
        try:
            text = os.fsdecode(os.fspath(path))
        except TypeError:
            raise ConfigError(f"{label or kind}: expected a path, got {type(path).__name__} {path!r}") from None
        out.append((str(label) if label is not None else f"{kind} {text}", text))
    return out


def check_distinct_paths(inputs: Any, outputs: Any) -> None:
    """Refuse outputs that would overwrite an input, or each other.

    ``inputs`` / ``outputs``: a mapping label -> path (labels appear in the message, e.g.
    ``{"--predictions": p}``) or an iterable of paths; None entries are skipped. Paths are
    compared as :func:`~gf.common.io.same_file` does. Raises
    :class:`~gf.common.errors.ConfigError` naming both.
    """
    ins, outs = _labelled(inputs, "input"), _labelled(outputs, "output")
    for i, (out_label, out_path) in enumerate(outs):
        for in_label, in_path in ins:
            if same_file(out_path, in_path):
                raise ConfigError(f"{out_label} ({out_path}) is the same file as {in_label} ({in_path}); "
                                  f"writing it would destroy the input. Choose another output path.")
        for other_label, other_path in outs[:i]:
            if same_file(out_path, other_path):
                raise ConfigError(f"{out_label} ({out_path}) and {other_label} ({other_path}) are the same "
                                  f"file; one output would overwrite the other. Choose distinct paths.")


def check_report_path(path: PathLike, option: str = "the report path", command: str = "gf evaluate",
                      fix: str = "delete it or choose another path") -> None:
    """Refuse a report path that is a folder or an existing file other than a gf report.
    Why: a typo'd ``--report`` must never replace the config, a checkpoint, a predictions
    file or the user's notes (the inputs included); a rerun replaces its own report."""
    data = read_json_object(path)  # read once for both questions (it may be a large predictions file)
    if data is not None and data.get("format") == PREDICTIONS_FORMAT:
        raise ConfigError(f"{option} {os.fspath(path)} is a gf predictions file, and the report would replace "
                          f"it. Choose another {option}.")
    check_replaceable(path, option, owned=lambda _: data is not None and _REPORT_KEYS <= data.keys(),
                      command=command, kind="JSON report", fix=fix)


def save_report(path: PathLike, report: Mapping[str, Any], *, command: str = "gf evaluate",
                fix: str = "delete it or choose another path") -> None:
    """Write the report as JSON atomically (NaN refused: missing figures are null).

    Only a gf report at ``path`` is replaced (:func:`check_report_path`; ``command`` and
    ``fix`` word its refusal), never the file the report scored: that would destroy what
    the report was computed from.
    """
    scored = report.get("predictions_file") if isinstance(report, Mapping) else None
    if scored:
        check_distinct_paths({"the predictions file scored": scored}, {"the report path": path})
    check_report_path(path, command=command, fix=fix)
    atomic_write_json(path, report, allow_nan=False)


def _acc(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _table(title: str, cells: Mapping[str, Mapping[str, Any]], with_unlabelled: bool) -> List[str]:
    headers = [title, "accuracy", "correct", "total"] + (["unlabelled"] if with_unlabelled else [])
    rows = [[name, _acc(c["accuracy"]), str(c["correct"]), str(c["total"])]
            + ([str(c.get("unlabelled", 0))] if with_unlabelled else [])
            for name, c in cells.items()]
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]

    def line(cols: List[str]) -> str:
        return "  ".join([cols[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cols[1:], widths[1:])]).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


def format_report(report: Mapping[str, Any]) -> str:
    """A readable text rendering of every figure: headline, then one table per breakdown."""
    split = f" ({report['split']})" if report.get("split") else ""
    lines = [f"{report.get('benchmark', '?')}{split}: {report['num_predictions']} predictions, "
             f"{report['num_questions']} scored, {report['unlabelled']} unlabelled"]
    provenance = report.get("provenance")
    if isinstance(provenance, Mapping) and provenance.get("checkpoint_sha256"):
        checkpoint = f" ({provenance['checkpoint']})" if provenance.get("checkpoint") else ""
        lines.append(f"  checkpoint sha256 {provenance['checkpoint_sha256']}{checkpoint}")
    if isinstance(provenance, Mapping) and provenance.get("probe"):  # perturbed answers, not the model's own score
        lines.append(f"  under probe {provenance['probe']} (seed {provenance.get('probe_seed')}): the video was "
                     f"perturbed (docs/probes.md)")
    labels = [("overall", "overall (micro accuracy)", _acc(report["overall"]),
               f"{report['num_correct']}/{report['num_questions']}")]
    if "mean" in report:
        over = ", ".join(report.get("mean_over") or []) or "no type"
        labels.append(("mean", "mean of type accuracies", _acc(report["mean"]), f"over {over}"))
    width = max(len(label) for _, label, _, _ in labels)
    for key, label, value, detail in labels:
        primary = "  <- primary metric" if len(labels) > 1 and report.get("primary_metric") == key else ""
        lines.append(f"  {label.ljust(width)}  {value.rjust(6)}  {detail}{primary}")
    with_unlabelled = bool(report.get("unlabelled"))
    for name, cells in report.get("breakdowns", {}).items():
        lines.append("")
        lines.extend("  " + row for row in _table(name, cells, with_unlabelled))
    notes = report.get("notes") or []
    if notes:
        lines.append("")
        lines.extend(f"note: {n}" for n in notes)
    return "\n".join(lines) + "\n"
