"""Components that the runner tests register through ``plugins:`` (as users would)."""
import os
import signal

import torch

from gf.common.registry import registry
from gf.runners.hooks import HookBase
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


@registry.register_hook("count_calls")
class CountCallsHook(HookBase):
    """Counts how often the runner calls each hook point (class-level, read by the test)."""

    counts: dict = {}
    evaluated: list = []

    def _count(self, point):
        CountCallsHook.counts[point] = CountCallsHook.counts.get(point, 0) + 1

    def before_train(self):
        self._count("before_train")

    def before_epoch(self):
        self._count("before_epoch")

    def before_step(self):
        self._count("before_step")

    def after_forward(self):
        self._count("after_forward")

    def after_step(self):
        self._count("after_step")

    def after_epoch(self):
        self._count("after_epoch")

    def after_train(self):
        self._count("after_train")

    def after_eval(self, dataset, split, tag, report):
        self._count("after_eval")
        CountCallsHook.evaluated.append((dataset, split, tag))


@registry.register_hook("loss_of_the_first_batch")
class LossOfTheFirstBatch(HookBase):
    """Before the first optimizer step, the model's losses on that step's batch in eval
    mode (no dropout), i.e. what the weights it starts from compute."""

    losses: dict = {}

    def before_step(self):
        if self.runner.step != 0:
            return
        model = self.runner.model
        model.eval()
        with torch.no_grad():
            out = model(self.runner.batch)
        model.train()
        LossOfTheFirstBatch.losses = {k: float(v) for k, v in out["losses"].items()}
