"""A predictions entry's files, read as prediction records of the split they are scored on.

Why separate from the engine: a file made elsewhere must be checked against the split
before it is scored (same benchmark, same labels, same categories), and NExT-QA's official
result format has no categories, which then come from the split's own records.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict

from gf.common.errors import EvaluationError

__all__ = ["read_predictions"]

logger = logging.getLogger("gf.leaderboard")


def read_predictions(path: Path, ds, benchmark: str, split: str) -> Dict[str, Dict[str, Any]]:
    """A predictions file as records for this split: gf's format, or the benchmark's own
    results format, read by its evaluator (NExT-QA's official result file; categories come
    from the split's own records)."""
    from gf.evaluation import is_predictions_file, load_predictions, match_split

    if is_predictions_file(path):
        pf = load_predictions(path)
        _refuse_probed(path, pf.provenance or {})
        if pf.benchmark != ds.benchmark:
            raise EvaluationError(f"{path} holds {pf.benchmark} predictions; benchmark {benchmark} is scored "
                                  f"as {ds.benchmark}")
        if pf.split != split:
            logger.warning("%s says split %r; scoring it as %s/%s", path, pf.split, benchmark, split)
        return match_split(pf, ds.splits[split].records)  # scored against the split, not its own labels
    from gf.evaluation import get_evaluator

    records = {r["question_id"]: r for r in ds.splits[split].records}
    results = get_evaluator(ds.benchmark).read_results_file(path)
    out = {}
    for qid, result in results.items():
        record = records.get(qid)
        if record is None:  # not in the split: the coverage check names them all
            out[qid] = {"prediction": result["prediction"], "answer": result["answer"], "fields": {}}
            continue
        _check_label(path, qid, result["answer"], record.get("answer"))
        out[qid] = {"prediction": result["prediction"], "answer": record.get("answer"),
                    "fields": dict(record.get("fields") or {})}
    return out


def _refuse_probed(path: Path, provenance: Dict[str, Any]) -> None:
    """Refuse the answers of a probed evaluation (``gf evaluate --probe``, a leaderboard's
    probe folder). Why: a board ranks a predictions entry as the model's own measured score,
    and a perturbed-video score read as that is a wrong number on the board."""
    if provenance.get("probe"):
        raise EvaluationError(f"{path} holds predictions under probe {provenance['probe']} (seed "
                              f"{provenance.get('probe_seed')}), not the model's own answers; give the unperturbed "
                              f"predictions file")


def _check_label(path: Path, qid: str, theirs: Any, ours: Any) -> None:
    """Refuse a results file whose label is not the split's, as ``match_split`` does for gf's
    format. Why also when the split's label is None (its labels hidden, ``unlabelled_splits``):
    an official results file always carries labels, and scoring them would put the file's own
    labels on the board under the name of a split whose labels nobody may score against."""
    if theirs == ours:
        return
    if ours is None:
        raise EvaluationError(f"{path}: question {qid!r} has answer {theirs} but the split hides its labels (its "
                              f"answer is None: unlabelled_splits, or a test split without answers): an official "
                              f"results file carries its own labels, which are never scored in place of the split's. "
                              f"Score it on a split whose labels the config gives, or on the benchmark's evaluation "
                              f"server.")
    raise EvaluationError(f"{path}: question {qid!r} has answer {theirs} but the split's annotation says {ours}: the "
                          f"file was made for other annotations")
