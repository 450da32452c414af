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
    from gf.evaluation import is_predictions_file, load_predictions

    records = {r["question_id"]: r for r in ds.splits[split].records}
    if is_predictions_file(path):
        pf = load_predictions(path)
        if pf.benchmark != ds.benchmark:
            raise EvaluationError(f"{path} holds {pf.benchmark} predictions; benchmark {benchmark} is scored "
                                  f"as {ds.benchmark}")
        if pf.split != split:
            logger.warning("%s says split %r; scoring it as %s/%s", path, pf.split, benchmark, split)
        for qid, record in pf.predictions.items():  # a file is scored against the split, not its own labels
            mine = records.get(qid)
            if mine is None:
                continue  # the coverage check names every such question
            if record.get("answer") != mine.get("answer"):
                raise EvaluationError(f"{path}: question {qid!r} has answer {record.get('answer')!r} but the split's "
                                      f"annotation says {mine.get('answer')!r}: the file was made for other "
                                      f"annotations (or carries labels the split hides)")
            fields = record.get("fields") or {}
            differing = [k for k, v in (mine.get("fields") or {}).items() if k in fields and fields[k] != v]
            if differing:
                raise EvaluationError(f"{path}: question {qid!r}: fields {', '.join(differing)} differ from the "
                                      f"split's annotation; categories come from the split")
        return {qid: dict(r, fields={**(r.get("fields") or {}), **(records[qid].get("fields") or {})})
                if qid in records else r for qid, r in pf.predictions.items()}
    from gf.evaluation import get_evaluator

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
