"""The DETR-style encoder and the two-stage decoder of Glance-Focus.

Tensors inside are sequence-first ``[L, B, d]``, as ``nn.MultiheadAttention`` expects by
default; the model transposes at its boundary. Staying on the non-batch-first path of
``nn.MultiheadAttention`` also keeps it off the fused inference fast path, so eval-mode
outputs match the authors' numerics.

Masks are passed through unchanged: boolean (True = ignore) in ``paper``, and in
``reference`` the authors' float masks, reproduced on purpose (R4 in
docs/differences_from_authors.md).
"""
from __future__ import annotations

import copy
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _with_pos(x: Tensor, pos: Optional[Tensor]) -> Tensor:
    return x if pos is None else x + pos


class EncoderLayer(nn.Module):
    """Post-norm self-attention + ReLU FFN."""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, src: Tensor, key_padding_mask: Optional[Tensor] = None) -> Tensor:
        attended = self.self_attn(src, src, src, key_padding_mask=key_padding_mask, need_weights=False)[0]
        src = self.norm1(src + self.dropout1(attended))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout2(ffn))


class Encoder(nn.Module):
    def __init__(self, layer: EncoderLayer, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))

    def forward(self, src: Tensor, key_padding_mask: Optional[Tensor] = None) -> Tensor:
        for layer in self.layers:
            src = layer(src, key_padding_mask)
        return src


class DecoderLayer(nn.Module):
    """One layer serving both stages with the same weights, as in the paper.

    Glance: self-attention over the queries, cross-attention to the frames, FFN.
    Focus ("multi-level attention"): self-attention; the question selects event memories;
    the selected events select frames; the queries attend to the selected frames; FFN.
    ``cross_attn`` is shared by all three focus cross-attentions.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.cross_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.dropout = nn.Dropout(dropout)
        for i in range(1, 6):
            setattr(self, f"norm{i}", nn.LayerNorm(d_model))
            setattr(self, f"dropout{i}", nn.Dropout(dropout))

    def _self_attend(self, tgt: Tensor, query_pos: Tensor) -> Tensor:
        q = k = _with_pos(tgt, query_pos)
        out = self.self_attn(q, k, tgt, need_weights=False)[0]
        return self.norm1(tgt + self.dropout1(out))

    def _ffn(self, tgt: Tensor) -> Tensor:
        out = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm4(tgt + self.dropout4(out))

    def forward_glance(self, tgt: Tensor, query_pos: Tensor, frames: Tensor,
                       frame_pad: Optional[Tensor]) -> Tensor:
        tgt = self._self_attend(tgt, query_pos)
        out = self.cross_attn(_with_pos(tgt, query_pos), frames, frames,
                              key_padding_mask=frame_pad, need_weights=False)[0]
        tgt = self.norm3(tgt + self.dropout3(out))
        return self._ffn(tgt)

    def forward_focus(self, tgt: Tensor, query_pos: Tensor, text_query: Tensor,
                      events: Tensor, event_pad: Optional[Tensor],
                      frames: Tensor, frame_pad: Optional[Tensor],
                      text_pad: Optional[Tensor], residual: bool = False) -> Tensor:
        """``residual=False`` is the authors' chain: each selection is a LayerNorm of a pure
        attention output, so the QA query sees only a normalised mixture of frames and
        cannot tell a strong question-event match from none. ``residual=True`` keeps the
        question (and then the selected events) in the stream, as in a standard layer."""
        tgt = self._self_attend(tgt, query_pos)
        selected_events = self.cross_attn(text_query, events, events,
                                          key_padding_mask=event_pad, need_weights=False)[0]
        selected_events = self.dropout2(selected_events)
        selected_events = self.norm2(text_query + selected_events if residual else selected_events)
        selected_frames = self.cross_attn(selected_events, frames, frames,
                                          key_padding_mask=frame_pad, need_weights=False)[0]
        selected_frames = self.dropout3(selected_frames)
        selected_frames = self.norm3(selected_events + selected_frames if residual else selected_frames)
        out = self.cross_attn(_with_pos(tgt, query_pos), selected_frames, selected_frames,
                              key_padding_mask=text_pad, need_weights=False)[0]
        tgt = self.norm5(tgt + self.dropout5(out))
        return self._ffn(tgt)


class Decoder(nn.Module):
    """Runs the layers and returns every layer's output through the final LayerNorm."""

    def __init__(self, layer: DecoderLayer, num_layers: int, d_model: int, zero_init_targets: bool = True):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        # DETR starts the targets at zero. Then every value of the first self-attention is
        # the same vector, so its projections can never learn; starting from the queries
        # avoids that (used by the corrected arch; the reference keeps zeros).
        self.zero_init_targets = zero_init_targets

    def _run(self, step: str, query_pos: Tensor, *args, **kwargs) -> Tensor:
        """Each layer's ``step`` (``forward_glance``/``forward_focus``) in turn, every output through the norm."""
        tgt = torch.zeros_like(query_pos) if self.zero_init_targets else query_pos
        outs = []
        for layer in self.layers:
            tgt = getattr(layer, step)(tgt, query_pos, *args, **kwargs)
            outs.append(self.norm(tgt))
        return torch.stack(outs)  # [layers, Q+1, B, d]

    def glance(self, query_pos: Tensor, frames: Tensor, frame_pad: Optional[Tensor]) -> Tensor:
        return self._run("forward_glance", query_pos, frames, frame_pad)

    def focus(self, query_pos: Tensor, **memories) -> Tensor:
        return self._run("forward_focus", query_pos, **memories)
