"""Sharing one frozen text encoder between the models a leaderboard process evaluates.

Why: entries of one board are often variants of one model with the same frozen text
backbone; sharing it keeps one copy in memory and one cache of encoded texts, so each
question is encoded once per process rather than once per entry.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

__all__ = ["FrozenTextEncoderPool"]


class FrozenTextEncoderPool:
    """Lets models whose frozen text encoder is the same (its name, tokenisation settings and
    the backbone's weights) share it and its cache of encoded texts."""

    def __init__(self):
        self._first: Dict[Tuple[Any, ...], Any] = {}
        self.shared = 0

    def share(self, model, context: Tuple[Any, ...] = ()) -> bool:
        """``context``: what else changes the encoded states (mixed precision, device)."""
        from gf.models.checkpoint import weights_sha256

        encoder = getattr(model, "text_encoder", None)
        if encoder is None or not getattr(encoder, "use_cache", False):
            return False
        signature = (encoder.name, encoder.max_length, encoder.truncation, tuple(context),
                     weights_sha256(encoder.backbone.state_dict()))
        first = self._first.setdefault(signature, encoder)
        if first is encoder:
            return False
        encoder.backbone = first.backbone
        encoder.tokenizer = first.tokenizer
        encoder._cache = first._cache
        self.shared += 1
        return True
