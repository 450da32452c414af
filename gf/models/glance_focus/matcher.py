"""Hungarian matching of predicted events to annotated events (DETR style)."""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from gf.common.errors import ConfigError, NonFiniteLossError

Assignment = Tuple[Tensor, Tensor]


class HungarianMatcher(torch.nn.Module):
    """One-to-one assignment per video minimising ``cost_l1 * L1 - cost_cls * p[class]``.

    Targets with no events get empty assignments (R10 in docs/differences_from_authors.md).
    """

    def __init__(self, cost_cls: float = 1.0, cost_l1: float = 1.0):
        super().__init__()
        if cost_cls == 0 and cost_l1 == 0:
            raise ConfigError("matcher costs cost_cls and cost_l1 cannot both be 0")
        self.cost_cls = cost_cls
        self.cost_l1 = cost_l1

    @torch.no_grad()
    def forward(self, pred_logits: Tensor, pred_spans: Tensor,
                target_spans: Sequence[Tensor], target_classes: Sequence[Tensor]) -> List[Assignment]:
        """pred_logits [B, Q, C], pred_spans [B, Q, 2]; targets: B tensors [n_i, 2] / [n_i]."""
        batch, num_queries = pred_spans.shape[:2]
        num_classes = pred_logits.shape[-1]
        empty = (torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))
        sizes = [int(t.shape[0]) for t in target_spans]
        if sum(sizes) == 0:
            return [empty for _ in range(batch)]
        tgt_ids = torch.cat([c.reshape(-1).long() for c in target_classes]).to(pred_logits.device)
        if tgt_ids.numel() and (int(tgt_ids.min()) < 0 or int(tgt_ids.max()) >= num_classes):
            raise ConfigError(
                f"event class ids must lie in [0, {num_classes}) (event_pred_dim={num_classes}); "
                f"got min {int(tgt_ids.min())}, max {int(tgt_ids.max())}. Set the model's "
                f"event_pred_dim to the number of event classes + 1."
            )
        tgt_spans = torch.cat([s.reshape(-1, 2).float() for s in target_spans]).to(pred_spans.device)
        prob = pred_logits.flatten(0, 1).softmax(-1)
        cost = self.cost_l1 * torch.cdist(pred_spans.flatten(0, 1).float(), tgt_spans, p=1) \
            - self.cost_cls * prob[:, tgt_ids]
        cost = cost.view(batch, num_queries, -1).cpu()
        if not torch.isfinite(cost).all():  # scipy would fail on it with an unrelated message
            raise NonFiniteLossError("the matching cost is not finite: the predicted spans or class logits hold "
                                     "NaN/Inf")
        out: List[Assignment] = []
        for i, c in enumerate(cost.split(sizes, -1)):
            if sizes[i] == 0:
                out.append(empty)
                continue
            rows, cols = linear_sum_assignment(c[i].numpy())
            out.append((torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64)))
        return out
