"""Temporal spans: conversions and (generalized) IoU.

gf keeps every span in (centre, width) form, normalised to [0, 1] of the clip, because
that is what the model's span head predicts (a sigmoid over two numbers). Converting at
the dataset boundary and nowhere else avoids the authors' (start, end) targets for that
head (R5 in docs/differences_from_authors.md, B1 in docs/data_formats.md).
"""
from __future__ import annotations

import torch
from torch import Tensor

from gf.common.errors import ModelInputError

_EPS = 1e-7


def span_cxw_to_xx(spans: Tensor) -> Tensor:
    """(centre, width) -> (start, end), on the last dimension."""
    half = 0.5 * spans[..., 1]
    return torch.stack([spans[..., 0] - half, spans[..., 0] + half], dim=-1)


def span_xx_to_cxw(spans: Tensor) -> Tensor:
    """(start, end) -> (centre, width), on the last dimension."""
    return torch.stack([0.5 * (spans[..., 0] + spans[..., 1]), spans[..., 1] - spans[..., 0]], dim=-1)


def temporal_iou(spans1: Tensor, spans2: Tensor) -> tuple[Tensor, Tensor]:
    """Pairwise IoU and union of (start, end) spans: [N, 2] x [M, 2] -> [N, M]."""
    len1 = spans1[:, 1] - spans1[:, 0]
    len2 = spans2[:, 1] - spans2[:, 0]
    left = torch.max(spans1[:, None, 0], spans2[None, :, 0])
    right = torch.min(spans1[:, None, 1], spans2[None, :, 1])
    inter = (right - left).clamp(min=0)
    union = len1[:, None] + len2[None, :] - inter
    # Two zero-width spans at one point have union 0; their IoU is 0, not 0/0 = NaN.
    return inter / union.clamp(min=_EPS), union


def generalized_temporal_iou(spans1: Tensor, spans2: Tensor) -> Tensor:
    """Pairwise generalized IoU of (start, end) spans, in [-1, 1]."""
    spans1, spans2 = spans1.float(), spans2.float()
    # `<`, not `not >=`: NaN spans pass through, so the loss becomes NaN and the runner's
    # NaN guard reports the step and questions instead of this check masking it.
    if bool((spans1[:, 1] < spans1[:, 0]).any() or (spans2[:, 1] < spans2[:, 0]).any()):
        raise ModelInputError("generalized_temporal_iou needs (start, end) spans with end >= start")
    iou, union = temporal_iou(spans1, spans2)
    left = torch.min(spans1[:, None, 0], spans2[None, :, 0])
    right = torch.max(spans1[:, None, 1], spans2[None, :, 1])
    enclosing = (right - left).clamp(min=0)
    # Collapsed predictions (sigmoid-saturated widths) can make the enclosing span empty;
    # the authors' code turned that into a NaN loss mid-training.
    return iou - (enclosing - union) / enclosing.clamp(min=_EPS)
