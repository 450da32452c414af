"""The one way weights enter a gf model: checked, all or nothing.

A state dict that does not fit the model raises :class:`CheckpointMismatchError` listing
every missing, unexpected and shape-mismatched key, before anything is copied: a
partial load silently mixes trained and random weights. Both formats go through it: gf's
checkpoints (:mod:`gf.models.checkpoint`) and the authors' (after their keys are mapped,
:mod:`gf.models.glance_focus.reference_checkpoint`).
"""
from __future__ import annotations

from typing import List, Mapping, Tuple

import torch
from torch import nn

from gf.common.errors import CheckpointError


class CheckpointMismatchError(CheckpointError):
    """Every missing, unexpected and shape-mismatched key, before anything is copied."""

    def __init__(self, source: str, missing: List[str], unexpected: List[str],
                 mismatched: List[Tuple[str, tuple, tuple]]):
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        lines = [f"checkpoint {source} does not fit the model; nothing was loaded."]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): " + ", ".join(missing))
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): " + ", ".join(unexpected))
        if mismatched:
            lines.append(f"  shape mismatches ({len(mismatched)}): " + ", ".join(
                f"{k} checkpoint {tuple(a)} vs model {tuple(b)}" for k, a, b in mismatched))
        lines.append("  Check that the model config (sizes, number of answers/classes, text "
                     "encoder) matches the one the checkpoint was trained with.")
        super().__init__("\n".join(lines))


def load_state_dict_checked(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "<state dict>") -> None:
    """Load ``state`` into ``model`` only if every key and shape matches."""
    own = model.state_dict()
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    mismatched = sorted((k, tuple(state[k].shape), tuple(own[k].shape))
                        for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or mismatched:
        raise CheckpointMismatchError(source, missing, unexpected, mismatched)
    model.load_state_dict(dict(state), strict=True)
