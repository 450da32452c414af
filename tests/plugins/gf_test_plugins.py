"""Components that the runner tests register through ``plugins:`` (as users would)."""
import os
import signal
from pathlib import Path

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


@registry.register_hook("sleep_before_train")
class SleepBeforeTrain(HookBase):
    """Holds the run (and its output lock) for ``$GF_TEST_SLEEP`` seconds before training."""

    def before_train(self):
        import time

        time.sleep(float(os.environ.get("GF_TEST_SLEEP", "5")))


class _KillOnReplace:
    """``os`` for gf.common.io whose ``replace`` kills the process (SIGKILL) instead of
    renaming a finished temporary file onto ``$GF_TEST_KILL_ON_REPLACE`` (a file name)."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def replace(self, src, dst):
        if str(dst).endswith(os.environ["GF_TEST_KILL_ON_REPLACE"]):
            os.kill(os.getpid(), signal.SIGKILL)
        return self._real.replace(src, dst)


if os.environ.get("GF_TEST_KILL_ON_REPLACE"):
    import gf.common.io as _io

    _io.os = _KillOnReplace(os)


@registry.register_hook("poison_spans_at_step")
class PoisonSpansAtStep(HookBase):
    """Sets the span head's weights to NaN before step ``$GF_TEST_POISON_AT_STEP``: the
    predicted spans, and so the matching cost, become NaN inside the forward pass."""

    def before_step(self):
        if self.runner.step + 1 == int(os.environ.get("GF_TEST_POISON_AT_STEP", "3")):
            with torch.no_grad():
                for p in self.runner.model.span_head.parameters():
                    p.fill_(float("nan"))


@registry.register_hook("fail_on_rank_1_after_first_epoch")
class FailOnRank1AfterFirstEpoch(HookBase):
    """Only rank 1 fails, after its first epoch: rank 0 goes on into the next epoch's
    collectives, as when one process meets a bad sample the others do not."""

    def after_epoch(self):
        from gf.common import dist
        from gf.common.errors import TrainingError

        if dist.get_rank() == 1:
            raise TrainingError("rank 1 failed on purpose")


@registry.register_hook("count_steps_with_state")
class CountStepsWithStateHook(HookBase):
    """Counts training steps over the whole run, resumes included: the count is its own
    resume state (``state_dict``), so a resumed run goes on from the count in its checkpoint."""

    seen: list = []

    def __init__(self):
        self.steps = 0

    def after_step(self):
        self.steps += 1

    def after_train(self):
        CountStepsWithStateHook.seen.append(self.steps)

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


if os.environ.get("GF_TEST_SLOW_LEADERBOARD_WORKER"):
    import gf.leaderboards.parallel as _parallel

    _evaluate_items = _parallel.evaluate_items

    def _slow_evaluate_items(*args, **kwargs):
        """A ``--jobs`` worker marks itself (a file named by its pid in the folder
        ``$GF_TEST_SLOW_LEADERBOARD_WORKER``) and takes two minutes before its items."""
        import time

        (Path(os.environ["GF_TEST_SLOW_LEADERBOARD_WORKER"]) / str(os.getpid())).touch()
        time.sleep(120)
        return _evaluate_items(*args, **kwargs)

    _parallel.evaluate_items = _slow_evaluate_items


@registry.register_hook("count_epochs_with_state")
class CountEpochsWithStateHook(HookBase):
    """Counts finished epochs in ``after_epoch``; the count is its resume state, so the
    checkpoint of an epoch must be written after this hook's ``after_epoch`` of that epoch."""

    def __init__(self):
        self.epochs = 0

    def after_epoch(self):
        self.epochs += 1

    def state_dict(self):
        return {"epochs": self.epochs}

    def load_state_dict(self, state):
        self.epochs = state["epochs"]


NAMED_COUNTER_TOTALS: dict = {}  # what -> the count at the end of the run


def _same_class_name_counter(what):
    """Two hooks whose classes are both named ``Counter`` (as two plugins' may be): each counts
    ``what`` (steps or epochs) over the whole run, resumes included; the count is its state."""

    class Counter(HookBase):
        def __init__(self):
            self.n = 0

        def after_step(self):
            self.n += what == "steps"

        def after_epoch(self):
            self.n += what == "epochs"

        def after_train(self):
            NAMED_COUNTER_TOTALS[what] = self.n

        def state_dict(self):
            return {"n": self.n}

        def load_state_dict(self, state):
            self.n = state["n"]

    return Counter


registry.register_hook("count_steps_named_counter")(_same_class_name_counter("steps"))
registry.register_hook("count_epochs_named_counter")(_same_class_name_counter("epochs"))


@registry.register_hook("numpy_state")
class NumpyStateHook(HookBase):
    """Keeps a numpy float as its state, which a weights-only load refuses."""

    def __init__(self):
        self.last = None

    def after_epoch(self):
        import numpy as np

        self.last = np.float64(self.runner.epoch_stats["loss"])

    def state_dict(self):
        return {"last": self.last}

    def load_state_dict(self, state):
        self.last = state["last"]
