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
        if record is not None and record.get("answer") is not None and record["answer"] != result["answer"]:
            raise EvaluationError(f"{path}: question {qid!r} has answer {result['answer']} but the split's "
                                  f"annotation says {record['answer']}: the file was made for other annotations")
        out[qid] = {"prediction": result["prediction"], "answer": result["answer"],
                    "fields": dict(record.get("fields") or {}) if record is not None else {}}
    return out
