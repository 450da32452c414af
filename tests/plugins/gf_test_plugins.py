"""Components that the runner tests register through ``plugins:`` (as users would)."""
import os
import signal

import torch

from gf.common.registry import registry
from gf.tasks.videoqa import VideoQATask


@registry.register_task("videoqa_killed_at_step")
class KilledAtStepTask(VideoQATask):
    """Kills its own process (SIGKILL, no clean-up) at training step ``$GF_TEST_KILL_AT_STEP``."""

    calls = 0

    def train_step(self, model, batch):
        KilledAtStepTask.calls += 1
        if KilledAtStepTask.calls == int(os.environ["GF_TEST_KILL_AT_STEP"]):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().train_step(model, batch)


@registry.register_task("videoqa_nan_at_step")
class NanAtStepTask(VideoQATask):
    """Returns a NaN loss at training step ``$GF_TEST_NAN_AT_STEP``."""

    calls = 0

    def train_step(self, model, batch):
        NanAtStepTask.calls += 1
        out = super().train_step(model, batch)
        if NanAtStepTask.calls == int(os.environ["GF_TEST_NAN_AT_STEP"]):
            out["loss"] = out["loss"] * torch.tensor(float("nan"))
        return out
