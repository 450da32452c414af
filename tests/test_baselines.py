"""The baselines of "does the model use the video, and its order?": ``model.video_input``.

``none`` (blind) answers from the text alone (not even the clip's length reaches it);
``mean`` (atemporal) sees what the frames show, and how many real frames there are, but not
their order. Both are the same model otherwise (text encoder, answer head, runner),
so the gap between them and the full model is what the video, and its order, add.
"""
import json

import pytest
import torch

from gf.common.errors import ConfigError
from gf.models.glance_focus import GlanceFocus

from test_glance_focus_model import TINY, random_batch, tiny_model


def _scores(model, batch):
    with torch.no_grad():
        return model(batch)["pred_answer"]


def _permuted(batch, real=7):
    """The same clips, their first ``real`` frames in another order, padding after them."""
    out = dict(batch)
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    video = batch["video"].clone()
    video[:, :real] = video[:, perm]
    out["video"] = video
    return out


def _padded(batch, real=7):
    out = dict(batch)
    mask = torch.zeros_like(batch["video_mask"])
    mask[:, :real] = True
    out["video_mask"] = mask
    return out


@pytest.mark.parametrize("answer_mode", ["mc", "oe"])
def test_blind_model_ignores_the_video(answer_mode, tiny_text_encoder):
    model = tiny_model(tiny_text_encoder, video_input="none", answer_mode=answer_mode).eval()
    batch = random_batch(model, with_labels=False)
    other = dict(batch, video=torch.randn_like(batch["video"]) * 3)
    torch.testing.assert_close(_scores(model, batch), _scores(model, other), atol=0, rtol=0)
    # nor its length: zeros over the real frames told it through the mask (5 or 10 real frames
    # changed the answers), nor the batch's padded length
    for real in (1, 5, 10):
        torch.testing.assert_close(_scores(model, batch), _scores(model, _padded(other, real)), atol=0, rtol=0)
    longer = dict(batch, video=torch.randn(batch["video"].shape[0], 40, batch["video"].shape[-1]),
                  video_mask=torch.ones(batch["video"].shape[0], 40, dtype=torch.bool))
    torch.testing.assert_close(_scores(model, batch), _scores(model, longer), atol=0, rtol=0)
    full = tiny_model(tiny_text_encoder, answer_mode=answer_mode).eval()
    assert not torch.allclose(_scores(full, batch), _scores(full, other))


@pytest.mark.parametrize("answer_mode", ["mc", "oe"])
def test_atemporal_model_sees_the_frames_but_not_their_order(answer_mode, tiny_text_encoder):
    model = tiny_model(tiny_text_encoder, video_input="mean", answer_mode=answer_mode).eval()
    batch = _padded(random_batch(model, with_labels=False))
    torch.testing.assert_close(_scores(model, batch), _scores(model, _permuted(batch)), atol=1e-5, rtol=0)
    brighter = dict(batch, video=batch["video"] + 1.0)  # other content: another answer
    assert not torch.allclose(_scores(model, batch), _scores(model, brighter))
    # padding is not averaged in: changing it changes nothing
    padding = batch["video"].clone()
    padding[:, 7:] = 100.0
    torch.testing.assert_close(_scores(model, batch), _scores(model, dict(batch, video=padding)), atol=1e-5, rtol=0)
    full = tiny_model(tiny_text_encoder, answer_mode=answer_mode).eval()
    assert not torch.allclose(_scores(full, batch), _scores(full, _permuted(batch)))


def test_an_unknown_video_input_is_refused(tiny_text_encoder):
    with pytest.raises(ConfigError, match="video_input must be one of 'frames', 'none', 'mean'"):
        GlanceFocus(dict(TINY, text_encoder=tiny_text_encoder, video_input="blind"))


@pytest.mark.parametrize("video_input", ["none", "mean"])
def test_baselines_train_and_evaluate_on_the_demo_through_the_cli(video_input, tmp_path, plugin_path):
    from gf.cli import main as gf_main
    from gf.common.safe_load import torch_load_safe

    from test_runner import write_config

    cfg = write_config(tmp_path, epochs=1, dropout=0.0)
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", f"model.video_input={video_input}"]) == 0
    out = tmp_path / "out"
    assert torch_load_safe(out / "checkpoint_best.pth")["extra"]["model_config"]["video_input"] == video_input
    report = json.loads((out / "eval/test_best_report.json").read_text())
    assert report["num_questions"] == 12
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(out / "checkpoint_best.pth"),
                    "--splits", "test", "--options", f"model.video_input={video_input}"]) == 0
    again = json.loads((out / "eval/test_eval_report.json").read_text())
    assert again["overall"] == report["overall"]
