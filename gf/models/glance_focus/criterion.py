"""Glance-Focus losses: QA cross-entropy plus the supervised or unsupervised memory losses.

Where they differ from the authors' (unmatched queries learn "no event" in ``arch: paper``,
R7; samples without events give no event loss, not NaN, R10): docs/differences_from_authors.md.
Under torch.distributed the L1, class and pointer losses are divided by the counts summed
over ranks (as DETR does), so N processes of batch B train as one process of batch N*B;
on one process they are the plain means, bit for bit.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gf.common import dist
from gf.common.errors import ModelInputError

from .config import GlanceFocusConfig
from .matcher import Assignment, HungarianMatcher
from .spans import generalized_temporal_iou, span_cxw_to_xx


def grounding_slots(indices: List[Assignment], order: Tensor, events: Tensor) -> Tensor:
    """[B] position, in each video's sorted slots (``order`` [B, Q]), of the slot the matcher
    assigned to annotated event ``events[b]``; -1 where there is none (no event named, or
    that event left unmatched)."""
    out = torch.full((len(indices),), -1, dtype=torch.long)
    order = order.detach().cpu()
    for b, ((src, tgt), event) in enumerate(zip(indices, events.tolist())):
        if event < 0:
            continue
        hit = (tgt.cpu() == event).nonzero().flatten()
        if hit.numel():
            slot = int(src.cpu()[hit[0]])
            out[b] = int((order[b] == slot).nonzero().flatten()[0])
    return out


def _pointer_over_ranks(pointer: Dict[str, Tensor], indices: List[Assignment], named: Tensor,
                        answer_events: Optional[Tensor]) -> Tensor:
    """``loss_pointer`` under torch.distributed: its two means divided by their counts summed
    over the ranks. Why: how many questions name an event differs between ranks, so per-rank
    means would not average (DDP) to the mean over all the questions. Every rank makes the
    same all_reduce calls whatever its data (none may return early: the others would hang);
    whether ``answer_events`` is given is the same on every rank (a batch key)."""
    logits = pointer["anchor_logits"]
    rows = named >= 0  # an empty selection sums to a zero that keeps the graph (and DDP) whole
    ce = F.cross_entropy(logits[rows], named[rows].to(logits.device), reduction="sum")
    loss = dist.sum_over_ranks_mean(ce, rows.sum())
    if answer_events is None:
        return loss
    k = int(pointer["num_texts"])
    answer = grounding_slots(indices, pointer["order"][::k], answer_events).repeat_interleave(k)
    both = rows & (answer >= 0)
    picked = pointer["weights"][both].gather(1, answer[both].to(logits.device).unsqueeze(1))
    return loss - dist.sum_over_ranks_mean(torch.log(picked.clamp_min(1e-6)).sum(), both.sum())


UNLABELLED = -100  # F.cross_entropy's ignore_index: gf.datasets.videoqa.IGNORE_INDEX, an unlabelled question


def check_answers(answers: Tensor, scores: Tensor) -> None:
    """``answer`` of a batch: one index per question in ``[0, K)`` (options or vocabulary), or
    ``-100`` for an unlabelled one; else a ModelInputError naming the key. Why: torch's
    ``Target 4 is out of bounds`` names neither the key nor the range (one check, no loop)."""
    b, k = scores.shape
    if tuple(answers.shape) != (b,):
        raise ModelInputError(f"batch['answer'] must hold one index per question ({b}); got shape "
                              f"{tuple(answers.shape)}")
    bad = ((answers < 0) | (answers >= k)) & (answers != UNLABELLED)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise ModelInputError(f"batch['answer'][{i}] is {int(answers[i])}, outside [0, {k}) (the model scores {k} "
                              f"options or answers per question; -100 marks an unlabelled question)")


def check_events(spans: Sequence[Tensor], classes: Sequence[Tensor], batch: int) -> None:
    """``spans`` and ``event_classes``: one entry per video, and as many spans (``[n, 2]``) as
    classes in each; else a ModelInputError naming the video. Why: the matcher would pair
    them by position and fail with an index error, or silently drop the extra ones."""
    if len(spans) != batch or len(classes) != batch:
        raise ModelInputError(f"batch['spans'] and batch['event_classes'] must hold one entry per video ({batch}); "
                              f"got {len(spans)} and {len(classes)}")
    for i, (s, c) in enumerate(zip(spans, classes)):
        if s.numel() % 2 or s.numel() // 2 != c.numel():
            raise ModelInputError(f"video {i} of the batch: batch['spans'][{i}] has shape {tuple(s.shape)} and "
                                  f"batch['event_classes'][{i}] {tuple(c.shape)}; give one (centre, width) span "
                                  f"per event class, [n, 2] and [n]")


class GlanceFocusCriterion(nn.Module):
    def __init__(self, config: GlanceFocusConfig):
        super().__init__()
        self.memory = config.memory
        self.reference = config.arch == "reference"
        self.weights = dict(config.loss_weights)
        if config.pointer_loss:
            self.weights["loss_pointer"] = float(config.pointer_loss)
        self.matcher = HungarianMatcher(cost_cls=config.cost_cls, cost_l1=config.cost_l1)
        empty_weight = torch.ones(config.event_pred_dim)
        empty_weight[-1] = config.eos_coef
        self.register_buffer("empty_weight", empty_weight, persistent=False)

    def forward(self, outputs: Dict[str, Tensor], answers: Tensor,
                target_spans: Optional[Sequence[Tensor]] = None,
                target_classes: Optional[Sequence[Tensor]] = None, *,
                named_events: Optional[Tensor] = None, answer_events: Optional[Tensor] = None) -> Dict[str, object]:
        check_answers(answers, outputs["pred_answer"])
        losses: Dict[str, Tensor] = {"loss_qa": F.cross_entropy(outputs["pred_answer"], answers)}
        extra: Dict[str, object] = {}
        if self.memory == "sup":
            if target_spans is None or target_classes is None:
                raise ModelInputError("supervised Glance-Focus needs 'spans' and 'event_classes' in the batch "
                                 "(use memory: uns for benchmarks without event annotations)")
            check_events(target_spans, target_classes, len(answers))
            indices = self.matcher(outputs["pred_logits"], outputs["pred_spans"], target_spans, target_classes)
            extra["matcher_indices"] = indices
            losses["loss_l1"] = self.loss_l1(outputs["pred_spans"], target_spans, indices)
            losses["loss_cls"] = self.loss_cls_supervised(outputs["pred_logits"], target_classes, indices)
            if "loss_pointer" in self.weights and "pointer" in outputs and named_events is not None:
                losses["loss_pointer"] = self.loss_pointer(outputs["pointer"], indices, named_events, answer_events)
        else:
            losses["loss_giou"] = self.loss_giou(outputs["pred_spans"])
            losses["loss_cls"] = self.loss_semantic_diversity(outputs["pred_logits"])
            losses["loss_cert"] = self.loss_certainty(outputs["pred_logits"])
        total = sum(self.weights[k] * v for k, v in losses.items() if k in self.weights)
        return {"loss": total, "losses": losses, **extra}

    # -- supervised -----------------------------------------------------------------
    @staticmethod
    def _matched(indices: List[Assignment]):
        batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
        src_idx = torch.cat([src for src, _ in indices])
        return batch_idx, src_idx

    def loss_l1(self, pred_spans: Tensor, target_spans: Sequence[Tensor], indices: List[Assignment]) -> Tensor:
        batch_idx, src_idx = self._matched(indices)
        if src_idx.numel() == 0:
            zero = pred_spans.sum() * 0.0
            return dist.sum_over_ranks_mean(zero, 0)  # a collective under torchrun; zero on one process
        src = pred_spans[batch_idx.to(pred_spans.device), src_idx.to(pred_spans.device)]
        tgt = torch.cat([t.reshape(-1, 2)[j] for t, (_, j) in zip(target_spans, indices)]).to(src)
        l1 = F.l1_loss(src, tgt, reduction="none")
        return dist.sum_over_ranks_mean(l1.sum(), l1.numel()) if dist.is_dist() else l1.mean()

    def loss_cls_supervised(self, pred_logits: Tensor, target_classes: Sequence[Tensor],
                            indices: List[Assignment]) -> Tensor:
        device = pred_logits.device
        batch_idx, src_idx = self._matched(indices)
        if src_idx.numel() == 0:
            zero = pred_logits.sum() * 0.0
            return dist.sum_over_ranks_mean(zero, 0)  # a collective under torchrun; zero on one process
        matched_classes = torch.cat([c.reshape(-1)[j] for c, (_, j) in zip(target_classes, indices)]).to(device)
        weight = self.empty_weight.to(pred_logits)
        if self.reference:
            logits = pred_logits[batch_idx.to(device), src_idx.to(device)]
            nll = F.cross_entropy(logits, matched_classes.long(), weight, reduction="none")
            return dist.sum_over_ranks_mean(nll.sum(), nll.numel()) if dist.is_dist() else nll.mean()
        # Corrected (R7): unmatched queries of a video with events target the background class.
        has_events = torch.tensor([int(c.numel()) > 0 for c in target_classes], device=device)
        background = pred_logits.shape[-1] - 1
        targets = torch.full(pred_logits.shape[:2], background, dtype=torch.long, device=device)
        targets[batch_idx.to(device), src_idx.to(device)] = matched_classes.long()
        logits, targets = pred_logits[has_events].transpose(1, 2), targets[has_events]
        if not dist.is_dist():
            return F.cross_entropy(logits, targets, weight)
        # the weighted mean's divisor is the targets' summed weight, over every rank
        return dist.sum_over_ranks_mean(F.cross_entropy(logits, targets, weight, reduction="sum"), weight[targets].sum())

    @staticmethod
    def loss_pointer(pointer: Dict[str, Tensor], indices: List[Assignment], named_events: Tensor,
                     answer_events: Optional[Tensor]) -> Tensor:
        """Cross-entropy of the pointer's anchor on the slot matched to the named event, plus
        the negative log of its shifted weights on the slot matched to the answer event.

        Only questions that name an event count (a question without one, "What will the
        person do next?", gives the pointer nothing to aim at); the answer event counts only
        with a named one, since the shift is the question's "before"/"after". A named event
        the matcher left unmatched (more events than slots) counts for nothing.
        """
        k = int(pointer["num_texts"])
        named = grounding_slots(indices, pointer["order"][::k], named_events).repeat_interleave(k)
        if dist.is_dist():
            return _pointer_over_ranks(pointer, indices, named, answer_events)
        logits = pointer["anchor_logits"]
        rows = named >= 0
        if not bool(rows.any()):
            return logits.sum() * 0.0
        loss = F.cross_entropy(logits[rows], named[rows].to(logits.device))
        if answer_events is not None:
            answer = grounding_slots(indices, pointer["order"][::k], answer_events).repeat_interleave(k)
            both = rows & (answer >= 0)
            if bool(both.any()):
                picked = pointer["weights"][both].gather(1, answer[both].to(logits.device).unsqueeze(1))
                loss = loss - torch.log(picked.clamp_min(1e-6)).mean()
        return loss

    # -- unsupervised ---------------------------------------------------------------
    @staticmethod
    def loss_giou(pred_spans: Tensor) -> Tensor:
        """Temporal diversity: mean of the upper-triangular pairwise gIoU of each video's spans."""
        per_video = []
        for spans in pred_spans:
            xx = span_cxw_to_xx(spans)
            per_video.append(torch.triu(generalized_temporal_iou(xx, xx), diagonal=1).mean())
        return torch.stack(per_video).mean()

    @staticmethod
    def loss_semantic_diversity(pred_logits: Tensor) -> Tensor:
        """Negative entropy of the query-averaged class distribution (lower = more diverse)."""
        mean_prob = pred_logits.softmax(-1).mean(dim=1)
        return (mean_prob * torch.log(mean_prob + 1e-6)).sum(-1).mean()

    @staticmethod
    def loss_certainty(pred_logits: Tensor) -> Tensor:
        """Mean entropy of each query's class distribution (lower = more certain)."""
        prob = pred_logits.softmax(-1)
        return (-(prob * torch.log(prob + 1e-6)).sum(-1)).mean(-1).mean()
