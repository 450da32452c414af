"""An event-grounded option score for multiple choice (``grounded_answer: true``), gf's own.

Why: in Glance-Focus an option meets the events only as a sum of attention outputs under
LayerNorm, so "is this option the event right after the one the question names" has to be
learned as a nonlinear function of a mixture; on the demo benchmark it is memorised
instead. This head states the relation directly (:class:`GroundedAnswerScore`); its score
is added to the answer head's and the rest of the model is unchanged. What it changed on
the demo: README.md, "Demo (offline, CPU)". With supervised memories it reads each slot as
the glance classifies it (``GlanceFocus._sorted_memories``): on the demo that is what made
Sequence learnable from the predicted events; reading the raw memory prompts it was not
reliably.

The option's tokens are those where the K texts of a question differ, so the head does not
depend on the text template (:func:`option_token_masks`).
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def option_token_masks(token_ids: Sequence[Sequence[int]], num_options: int,
                       length: int) -> Tuple[Tensor, Tensor]:
    """Boolean masks [N, length] of each text's option tokens and question tokens.

    ``token_ids`` holds the N = B*K texts' ids, grouped by question. Within a group the
    question tokens are those the texts share (the longest common prefix and suffix) and
    the option tokens are the rest. A text with no token of its own (its option is the
    others' common prefix, "the box" beside "the box lid", or the options are identical, or
    truncation left identical texts) uses all its tokens as option, and keeps the shared
    ones as question: the question is what the texts have in common whatever the option,
    so a question mask is empty only when the texts share no token at all (the head then
    points nowhere in particular, see :meth:`GroundedAnswerScore.forward`).
    """
    n = len(token_ids)
    option = torch.zeros(n, length, dtype=torch.bool)
    question = torch.zeros(n, length, dtype=torch.bool)
    for start in range(0, n, num_options):
        group: List[Sequence[int]] = [list(ids)[:length] for ids in token_ids[start:start + num_options]]
        shortest = min(len(ids) for ids in group)
        prefix = 0
        while prefix < shortest and all(ids[prefix] == group[0][prefix] for ids in group):
            prefix += 1
        suffix = 0
        while (suffix < shortest - prefix
               and all(ids[len(ids) - 1 - suffix] == group[0][len(group[0]) - 1 - suffix] for ids in group)):
            suffix += 1
        for k, ids in enumerate(group):
            i = start + k
            question[i, :prefix] = True
            question[i, len(ids) - suffix: len(ids)] = True
            if len(ids) - suffix > prefix:
                option[i, prefix: len(ids) - suffix] = True
            else:
                option[i, : len(ids)] = True
    return option, question


def masked_mean(states: Tensor, mask: Tensor) -> Tensor:
    """Mean over dim 1 of the positions ``mask`` keeps (0 where it keeps none)."""
    weights = mask.to(states.dtype).unsqueeze(-1)
    return (states * weights).sum(1) / weights.sum(1).clamp_min(1.0)


class GroundedAnswerScore(nn.Module):
    """score_k = <event the question points to, option k>.

    The question points in two steps: it names an event (each question word votes for the
    memories it matches, as "what did the person do with the book" or "the object they
    washed" need), then says whether it means that event, the one before it or
    the one after it (a 3-way gate from the question, as "right before X" / "right after
    X" need). Memories are in temporal order, so "before" and "after" are a shift of the
    anchor weights by one slot.
    """

    def __init__(self, d_model: int, num_event_classes: Optional[int] = None):
        super().__init__()
        # supervised memories: the model feeds class probabilities through this embedding
        self.event_embed = None
        if num_event_classes:
            self.event_embed = nn.Linear(num_event_classes, d_model, bias=False)
            # initialised like nn.Embedding (unit-variance rows): a one-hot class must weigh
            # as much as the slot's position embedding added to it
            nn.init.normal_(self.event_embed.weight)
        self.anchor_query = nn.Linear(d_model, d_model)
        self.anchor_key = nn.Linear(d_model, d_model)
        self.shift = nn.Linear(d_model, 3)  # the named event, the one before it, the one after it
        self.selected_proj = nn.Linear(d_model, d_model)
        self.option_proj = nn.Linear(d_model, d_model)
        self.scale = 1.0 / math.sqrt(d_model)

    def forward(self, memories: Tensor, text_states: Tensor, question_mask: Tensor,
                option_mask: Tensor):
        """memories [N, Q, d] in temporal order; text_states [N, L, d]; masks [N, L]. -> the
        score [N, 1] and the pointer ``{"anchor_logits": [N, Q], "weights": [N, Q]}``: where
        the question points before the before/after shift (the event it names, as logits over
        the slots) and after it (the event the options are compared with, as probabilities).
        The pointer loss (``pointer_loss``) and the ``grounding_diagnostics`` hook read them.
        A text without question tokens (its texts share none) has no word to vote: its
        anchor logits are zero, a uniform pointer, where all -inf would make every score NaN.
        """
        question = masked_mean(text_states, question_mask)
        # each question word votes for the memories it matches (no pooling first: pooled,
        # the few words that name the event are drowned by the words every question shares)
        votes = torch.einsum("nld,nqd->nlq", self.anchor_query(text_states), self.anchor_key(memories)) * self.scale
        mute = ~question_mask.any(dim=1)  # the zero fill keeps logsumexp and its gradient finite
        votes = votes.masked_fill(~question_mask.unsqueeze(-1), float("-inf")).masked_fill(mute[:, None, None], 0.0)
        anchor_logits = votes.logsumexp(dim=1).masked_fill(mute[:, None], 0.0)
        anchor = torch.softmax(anchor_logits, dim=1)
        before = F.pad(anchor, (0, 1))[:, 1:]   # slot j gets the weight of anchor j + 1
        after = F.pad(anchor, (1, 0))[:, :-1]   # slot j gets the weight of anchor j - 1
        gate = torch.softmax(self.shift(question), dim=-1)
        weights = gate[:, :1] * anchor + gate[:, 1:2] * before + gate[:, 2:] * after
        selected = torch.einsum("nq,nqd->nd", weights, memories)
        option = masked_mean(text_states, option_mask)
        score = (self.selected_proj(selected) * self.option_proj(option)).sum(-1) * self.scale
        return score.unsqueeze(-1), {"anchor_logits": anchor_logits, "weights": weights}
