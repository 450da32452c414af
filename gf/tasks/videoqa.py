"""The VideoQA task: one training step, one evaluation step, and scoring.

Multiple choice and open-ended differ only in what the model's answer head scores (the
options, or an answer vocabulary); both are handled here, the builder says which. What a
benchmark needs beyond its metrics (STAR's test-server file) is its evaluator's
``after_evaluation``, which :meth:`VideoQATask.evaluate` calls.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional

import torch

from gf.common.errors import NonFiniteLossError
from gf.common.registry import registry
from gf.common.utils import describe_ids
from gf.datasets.videoqa import IGNORE_INDEX
from gf.evaluation.base import Evaluator

logger = logging.getLogger(__name__)


def _flag_incomplete(written: Iterable[Any], skipped: Mapping[str, Any], report: Dict[str, Any]) -> None:
    """Say loudly (a warning, a report note) that the evaluator's files, e.g. STAR's EvalAI
    submission, lack the skipped questions: written as they are, they look complete."""
    files = ", ".join(str(p) for p in written)
    source = f" {skipped['skip_file']}" if skipped.get("skip_file") else ""
    note = (f"WARNING: {files} hold(s) no answer for the {skipped['questions']} question(s) left out by the skip file"
            f"{source}: a test server counts those {skipped['questions']} as missing "
            f"(wrong), so this is not a complete submission")
    logger.warning(note)
    report["notes"].append(note)


def _server_files(evaluator, predictions, split: str, output_dir: Path, tag: str,
                  provenance: Optional[Mapping[str, Any]]) -> list:
    """The evaluator's own files (``after_evaluation``), but none for a probed evaluation.
    Why: they are for a test server (STAR's EvalAI submission), which cannot be told the
    video was perturbed, so a probed one would be uploaded as the model's own answers."""
    probe = (provenance or {}).get("probe")
    if probe is None:
        return evaluator.after_evaluation(predictions, split=split, output_dir=output_dir, tag=tag)
    if type(evaluator).after_evaluation is not Evaluator.after_evaluation:
        print(f"[gf] probe {probe}: no test-server file (e.g. STAR's submission) is written for the probed {split} "
              f"answers; submit the unperturbed evaluation's", flush=True)
    return []


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
        finite = torch.isfinite(out["scores"].reshape(len(batch["question_id"]), -1)).all(-1)
        if not bool(finite.all()):  # argmax of NaN scores is 0: an answer nobody computed
            bad = [q for q, ok in zip(batch["question_id"], finite.tolist()) if not ok]
            raise NonFiniteLossError(f"the model's answer scores are NaN/Inf for question(s) {describe_ids(bad)}; "
                                     f"the weights (or these questions' inputs) are broken, so no prediction is "
                                     f"written for them")
        preds = out["prediction"].tolist()
        answers = batch.get("answer")
        answers = answers.tolist() if answers is not None else [None] * len(preds)
        return {str(qid): {"prediction": int(pred),
                           "answer": None if ans is None or ans == IGNORE_INDEX else int(ans),
                           "fields": dict(fields or {})}
                for qid, pred, ans, fields in zip(batch["question_id"], preds, answers, batch["fields"])}

    @staticmethod
    def evaluate(benchmark: str, split: str, predictions: Dict[str, Dict[str, Any]], info: Mapping[str, Any], *,
                 expected_ids: Optional[Iterable[Any]] = None, output_dir=None, tag: str = "final",
                 provenance: Optional[Mapping[str, Any]] = None,
                 skipped: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Score with the benchmark's registered evaluator (``info``: what the builder says
        about the data, e.g. the answer vocabulary). With ``output_dir``, the predictions
        (written first, so they survive a scoring error), the evaluator's own files
        (``after_evaluation``, e.g. STAR's submission) and the report, last, are saved there
        as ``<split>_<tag>_*``: a seed whose test reports exist counts as finished, so a run
        killed before its submission is written must not have one. ``provenance`` (weights,
        checkpoint, split fingerprint) is recorded in both files; a probed evaluation's
        (``provenance["probe"]``) gets no evaluator files (:func:`_server_files`). ``skipped``: the questions a
        skip file left out (:func:`~gf.evaluation.evaluate_predictions`), which the evaluator's
        files then lack (:func:`_flag_incomplete`)."""
        from gf.evaluation import PredictionsFile, evaluate_predictions, get_evaluator, save_predictions, save_report
        from gf.evaluation.base import output_file

        evaluator = get_evaluator(benchmark)
        vocab = info.get("answer_vocab")
        if output_dir is not None:
            save_predictions(output_file(output_dir, split, tag, "predictions.json"), benchmark, split, predictions,
                             answer_vocab=vocab, provenance=provenance)
        pf = PredictionsFile(benchmark=benchmark, split=split, predictions=predictions, answer_vocab=vocab)
        report = evaluate_predictions(pf, info, expected_ids=expected_ids, provenance=provenance, skipped=skipped)
        report["tag"] = tag
        if output_dir is not None:  # the report last: a run whose reports are all there has ended
            written = _server_files(evaluator, predictions, split, Path(output_dir), tag, provenance)
            if written and skipped:
                _flag_incomplete(written, skipped, report)
            save_report(output_file(output_dir, split, tag, "report.json"), report, command="gf",
                        fix="delete it, or give the run another output folder (run.output_dir)")
        return report
