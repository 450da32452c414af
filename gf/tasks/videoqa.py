"""The VideoQA task: one training step, one evaluation step, and scoring.

Multiple choice and open-ended differ only in what the model's answer head scores (the
options, or an answer vocabulary); both are handled here, the builder says which.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import torch

from gf.common.registry import registry

IGNORE_INDEX = -100


@registry.register_task("videoqa")
class VideoQATask:
    def train_step(self, model, batch: Mapping[str, Any]) -> Dict[str, Any]:
        out = model(batch)
        answers = batch["answer"].to(out["pred_answer"].device)
        labelled = answers >= 0
        correct = (out["pred_answer"].argmax(-1) == answers) & labelled
        return {"loss": out["loss"], "losses": {k: float(v.detach()) for k, v in out["losses"].items()},
                "correct": int(correct.sum()), "count": int(labelled.sum())}

    @torch.no_grad()
    def valid_step(self, model, batch: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
        """Prediction records keyed by question id, ready for ``gf.evaluation``."""
        out = model.predict(batch)
        preds = out["prediction"].tolist()
        answers = batch.get("answer")
        answers = answers.tolist() if answers is not None else [None] * len(preds)
        records = {}
        for qid, pred, ans, fields in zip(batch["question_id"], preds, answers, batch["fields"]):
            records[str(qid)] = {"prediction": int(pred),
                                 "answer": None if ans is None or ans == IGNORE_INDEX else int(ans),
                                 "fields": dict(fields or {})}
        return records

    @staticmethod
    def evaluate(benchmark: str, split: str, predictions: Dict[str, Dict[str, Any]],
                 answer_vocab: Optional[List[str]] = None, expected_ids=None, **options) -> Dict[str, Any]:
        """Score with the benchmark's evaluator; ``options`` go to it (e.g. EgoTaskQA's
        ``all_reasoning_types``, which fixes its category rows)."""
        from gf.evaluation import evaluate_predictions
        from gf.evaluation.predictions import PredictionsFile

        pf = PredictionsFile(benchmark=benchmark, split=split, predictions=predictions, answer_vocab=answer_vocab)
        return evaluate_predictions(pf, expected_ids=expected_ids, **options)
