"""The ``grounding_diagnostics`` hook: does the grounded score's pointer find the event?

Why: gf's grounded answer score (``GroundedAnswerScore``) answers temporal questions only
once its pointer lands on the event the question names; when that match never emerges the
model stays near chance on those questions whatever else it learned. This hook measures
it after every epoch on the first validation split, where the annotations say which event
each question names (:mod:`gf.datasets.grounding`). What it logs, how a slot counts as an
event, and what it does with another model or without annotations: docs/seed_sensitivity.md,
"What was measured". Why it stays idle rather than failing on a model without the pointer:
one config serves every demo variant.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Dict

import torch
from torch.utils.data import DataLoader

from gf.common.errors import ConfigError
from gf.common.registry import registry
from gf.runners.hooks import HookBase, MetricLogger

__all__ = ["GroundingDiagnostics", "grounding_metrics"]

logger = logging.getLogger("gf.runner")


@torch.no_grad()
def grounding_metrics(model, loader) -> Dict[str, float]:
    """The hook's figures over ``loader`` (``collate_videoqa`` batches) with ``model`` as it is."""
    from gf.models.glance_focus.criterion import grounding_slots

    hits: Dict[str, int] = defaultdict(int)  # metric -> questions (or events) on target
    total: Dict[str, int] = defaultdict(int)  # metric -> questions (or events) measured

    def count(name: str, hit: torch.Tensor, mask: torch.Tensor) -> None:
        hits[name] += int((hit & mask).sum())
        total[name] += int(mask.sum())

    positions: Dict[int, int] = defaultdict(int)  # anchor slot position -> questions (naming an event)
    device = next(model.parameters()).device
    for batch in loader:
        # what prediction gets: nothing of the annotations reaches the model
        inputs = {"question_id": batch["question_id"], "text": batch["text"],
                  "video": batch["video"].to(device), "video_mask": batch["video_mask"].to(device)}
        out = model(inputs)
        pointer = out.get("pointer")
        if pointer is None:
            raise ConfigError("grounding_diagnostics: the model has no grounded-score pointer; use a model with "
                              "grounded_answer: true (e.g. demo_sup_grounded) or drop the hook from run.hooks")
        k = int(pointer["num_texts"])
        b = len(batch["question_id"])
        indices = model.criterion.matcher(out["pred_logits"], out["pred_spans"], batch["spans"], batch["event_classes"])
        order = pointer["order"][::k]
        named = grounding_slots(indices, order, batch["named_event"])
        answer = grounding_slots(indices, order, batch["answer_event"])
        # one pointer per question: the mean over its option texts
        anchor = pointer["anchor_logits"].softmax(-1).view(b, k, -1).mean(1).argmax(-1).cpu()
        weights = pointer["weights"].view(b, k, -1).mean(1).argmax(-1).cpu()
        has_named = batch["named_event"] >= 0
        has_answer = has_named & (batch["answer_event"] >= 0)
        for position in anchor[has_named].tolist():
            positions[position] += 1
        types = [str((f or {}).get("type", "")) for f in batch["fields"]]
        for name, hit, mask in (("anchor_on_named", anchor == named, has_named),
                                ("pointer_on_answer", weights == answer, has_answer)):
            count(name, hit, mask)
            for t in set(types) - {""}:
                of_type = torch.tensor([x == t for x in types])
                count(f"{name}/{t}", hit, mask & of_type)
        predicted = out["pred_logits"].argmax(-1).cpu()
        for i, (src, tgt) in enumerate(indices):
            if len(src):
                target = batch["event_classes"][i].reshape(-1)[tgt].long()
                correct = predicted[i, src.cpu()] == target
                count("glance_cls_acc", correct, torch.ones_like(correct))
    metrics = {k: 100.0 * hits[k] / n for k, n in sorted(total.items()) if n}
    if positions:
        metrics["anchor_mode_share"] = 100.0 * max(positions.values()) / sum(positions.values())
    return metrics


@registry.register_hook("grounding_diagnostics")
class GroundingDiagnostics(HookBase):
    """Logs :func:`grounding_metrics` on ``run.valid_splits[0]`` after every epoch (rank 0)."""

    def __init__(self):
        self._skipped = False

    def after_epoch(self) -> None:
        r = self.runner
        if not r.is_main or not r.cfg.run.valid_splits or self._skipped:
            return
        config = getattr(r.model, "config", None)
        if not (getattr(config, "grounded_answer", False) and getattr(config, "memory", None) == "sup"):
            self._skipped = True
            logger.warning("grounding_diagnostics: the model has no grounded-score pointer on supervised memories "
                           "(grounded_answer: true, memory: sup); nothing to measure, the hook stays idle")
            return
        from gf.datasets.videoqa import collate_videoqa

        split = r.cfg.run.valid_splits[0]
        dataset = r.datasets[r.train_dataset].splits[split]
        loader = DataLoader(dataset, batch_size=r.cfg.run.eval_batch_size, shuffle=False, num_workers=0,
                            collate_fn=collate_videoqa)
        was_training = r.model.training
        r.model.eval()
        # an observer: the loader's iterator draws a seed from the global RNG, which would
        # change the rest of the run; with the state restored, a run trains the same with
        # or without this hook
        with torch.random.fork_rng(devices=[]):
            try:
                metrics = grounding_metrics(r.model, loader)
            finally:
                r.model.train(was_training)
        record: Dict[str, Any] = {"kind": f"grounding_{split}", "epoch": r.epoch, "step": r.step, **metrics}
        for hook in r.hooks:
            if isinstance(hook, MetricLogger):
                hook.write(record)
                break
        summary = ", ".join(f"{k} {v:.1f}" for k, v in metrics.items() if "/" not in k)
        print(f"[gf] grounding {split} epoch {r.epoch + 1}: {summary}", flush=True)
