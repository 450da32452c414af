"""Predictions never read the ground truth: the batch's ``answer``, ``spans`` and
``event_classes`` may train the model, but removing or scrambling them at prediction time
leaves every prediction bit-identical, and ``GlanceFocus.predict`` drops them before the
forward pass."""
import pytest
import torch

from test_glance_focus_model import random_batch, tiny_model

GROUND_TRUTH = ("answer", "spans", "event_classes")
PREDICTIONS = ("pred_answer", "pred_spans", "pred_logits")
COMBOS = [(memory, arch) for memory in ("sup", "uns") for arch in ("paper", "reference")]


def _model(text_encoder, memory, arch):
    overrides = dict(memory=memory, arch=arch)
    if arch == "reference":
        overrides["frame_pos"] = "none"
    return tiny_model(text_encoder, **overrides).eval()


def _scrambled(batch):
    """The same questions and videos with other answers and other annotated events
    (different counts, centres, widths and classes)."""
    out = dict(batch)
    out["answer"] = (batch["answer"] + 1) % 4
    out["spans"] = [torch.tensor([[0.9, 0.05], [0.1, 0.2], [0.4, 0.4]]), torch.tensor([[0.5, 0.5]])]
    out["event_classes"] = [torch.tensor([6, 0, 2]), torch.tensor([5])]
    return out


def _without_ground_truth(batch):
    return {k: v for k, v in batch.items() if k not in GROUND_TRUTH}


def _assert_identical(a, b, keys):
    for key in keys:
        assert torch.equal(a[key], b[key]), f"{key} changed with the ground truth"


@pytest.mark.parametrize("memory,arch", COMBOS)
def test_forward_predictions_do_not_depend_on_ground_truth(memory, arch, tiny_text_encoder):
    """The forward pass itself: a labelled batch (the loss is computed) gives the same
    predictions as the batch with scrambled labels and as the unlabelled batch."""
    model = _model(tiny_text_encoder, memory, arch)
    batch = random_batch(model)
    with torch.no_grad():
        labelled = model(batch)
        scrambled = model(_scrambled(batch))
        bare = model(_without_ground_truth(batch))
    assert "loss" in labelled and "loss" not in bare  # the labels really were read (by the loss)
    _assert_identical(labelled, scrambled, PREDICTIONS)
    _assert_identical(labelled, bare, PREDICTIONS)


@pytest.mark.parametrize("memory,arch", COMBOS)
def test_predict_drops_ground_truth_before_the_forward_pass(memory, arch, tiny_text_encoder, monkeypatch):
    model = _model(tiny_text_encoder, memory, arch)
    seen = []
    forward = model.forward

    def recording_forward(batch):
        seen.append(set(batch))
        return forward(batch)

    monkeypatch.setattr(model, "forward", recording_forward)  # predict calls self.forward
    batch = random_batch(model)
    full = model.predict(batch)
    scrambled = model.predict(_scrambled(batch))
    bare = model.predict(_without_ground_truth(batch))
    assert len(seen) == 3
    for keys in seen:
        assert keys == {"video", "video_mask", "text"}, f"forward saw {sorted(keys)}"
    assert set(batch) >= set(GROUND_TRUTH)  # the caller's batch is left as it was
    _assert_identical(full, scrambled, ("scores", "prediction", "pred_spans", "pred_logits"))
    _assert_identical(full, bare, ("scores", "prediction", "pred_spans", "pred_logits"))
