"""Learning-rate schedules, registered by name (``run.lr_sched`` in configs).

Each is a factory ``(optimizer, total_steps, warmup_steps, **kw) -> LambdaLR`` so that the
runner can checkpoint and resume them through the standard ``state_dict``.
"""
from __future__ import annotations

import math

from gf.common.registry import registry


def _warmup(step: int, warmup_steps: int) -> float:
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


@registry.register_lr_scheduler("constant")
def constant_schedule(optimizer, total_steps: int, warmup_steps: int = 0, **_):
    """The authors' recipe: a constant learning rate (optionally after a linear warm-up)."""
    from torch.optim.lr_scheduler import LambdaLR

    return LambdaLR(optimizer, lambda s: _warmup(s, warmup_steps))


@registry.register_lr_scheduler("cosine")
def cosine_schedule(optimizer, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0, **_):
    from torch.optim.lr_scheduler import LambdaLR

    def factor(step: int) -> float:
        if step < warmup_steps:
            return _warmup(step, warmup_steps)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


@registry.register_lr_scheduler("linear")
def linear_schedule(optimizer, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0, **_):
    from torch.optim.lr_scheduler import LambdaLR

    def factor(step: int) -> float:
        if step < warmup_steps:
            return _warmup(step, warmup_steps)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 1 - (1 - min_lr_ratio) * progress

    return LambdaLR(optimizer, factor)
