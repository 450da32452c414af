"""Optimizers (``run.optimizer``) and learning-rate schedules (``run.lr_sched``), registered by name.

An optimizer is a factory ``(params, lr, weight_decay) -> torch.optim.Optimizer``; a
schedule is a factory ``(optimizer, total_steps, warmup_steps, **kw) -> LambdaLR`` so that
the runner can checkpoint and resume both through their standard ``state_dict``. A
schedule whose factor does not depend on ``total_steps`` sets ``length_free = True`` on its
factory: only under such a schedule may a resumed run change its length (the others would
change the rate of the steps done).
"""
from __future__ import annotations

import math

from gf.common.registry import registry


@registry.register_optimizer("adam")
def adam(params, lr: float, weight_decay: float = 0.0):
    """The authors' optimizer (Adam, L2 penalty through ``weight_decay``)."""
    import torch

    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


@registry.register_optimizer("adamw")
def adamw(params, lr: float, weight_decay: float = 0.0):
    import torch

    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


@registry.register_optimizer("sgd")
def sgd(params, lr: float, weight_decay: float = 0.0):
    """SGD with momentum 0.9."""
    import torch

    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


@registry.register_lr_scheduler("constant")
def constant_schedule(optimizer, total_steps: int, warmup_steps: int = 0, **_):
    """The authors' recipe: a constant learning rate (optionally after a linear warm-up)."""
    return _warmup_then(optimizer, total_steps, warmup_steps, lambda progress: 1.0)


constant_schedule.length_free = True


def _warmup_then(optimizer, total_steps: int, warmup_steps: int, decay):
    """A linear warm-up, then ``decay(progress)``, progress going from 0 to 1 over the remaining steps."""
    from torch.optim.lr_scheduler import LambdaLR

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return decay(min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps)))

    return LambdaLR(optimizer, factor)


@registry.register_lr_scheduler("cosine")
def cosine_schedule(optimizer, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0, **_):
    return _warmup_then(optimizer, total_steps, warmup_steps,
                        lambda progress: min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@registry.register_lr_scheduler("linear")
def linear_schedule(optimizer, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0, **_):
    return _warmup_then(optimizer, total_steps, warmup_steps, lambda progress: 1 - (1 - min_lr_ratio) * progress)
