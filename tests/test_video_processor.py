"""Frame sampling to max_feats and the registered video_features processor."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

import gf.processors  # noqa: F401  (registers the built-in processors)
from gf.common.registry import registry
from gf.processors.video import VideoFeatureProcessor, sample_frames


def _indexed(num_frames: int, dim: int = 3) -> torch.Tensor:
    """Row i holds the value i everywhere, so sampled rows reveal their indices."""
    return torch.arange(num_frames, dtype=torch.float32)[:, None].repeat(1, dim)


def test_short_video_is_zero_padded_at_the_end_with_mask():
    feats = torch.randn(3, 4) + 10.0  # no zero rows of its own
    frames, mask = sample_frames(feats, 5)
    assert frames.shape == (5, 4) and mask.shape == (5,)
    assert mask.dtype == torch.bool
    assert mask.tolist() == [True, True, True, False, False]
    assert torch.equal(frames[:3], feats)
    assert torch.equal(frames[3:], torch.zeros(2, 4))


@pytest.mark.parametrize("num_frames,max_feats", [(81, 80), (100, 80), (159, 80), (1000, 7), (97, 13), (12345, 80)])
def test_long_video_uses_the_floor_rule(num_frames, max_feats):
    frames, mask = sample_frames(_indexed(num_frames), max_feats)
    expected_rows = [math.floor(Fraction(j * num_frames, max_feats)) for j in range(max_feats)]
    assert frames[:, 0].long().tolist() == expected_rows
    assert torch.equal(frames, _indexed(num_frames)[expected_rows])
    assert mask.all() and mask.shape == (max_feats,)


def test_equal_length_is_identity():
    feats = torch.randn(80, 16)
    frames, mask = sample_frames(feats, 80)
    assert torch.equal(frames, feats)
    assert mask.all()


def test_train_and_eval_processors_sample_alike():
    feats = _indexed(200)
    train, evaluation = VideoFeatureProcessor(80, train=True), VideoFeatureProcessor(80, train=False)
    assert torch.equal(train(feats)["video"], evaluation(feats)["video"])
    assert torch.equal(train(feats)["video"], sample_frames(feats, 80)[0])


def test_empty_and_malformed_inputs_are_errors():
    with pytest.raises(ValueError, match="no frames"):
        sample_frames(torch.zeros(0, 1024), 80)
    with pytest.raises(ValueError, match=r"2-D \[T, D\].*\(8, 16, 32\)"):
        sample_frames(torch.zeros(8, 16, 32), 80)
    with pytest.raises(ValueError, match="max_feats"):
        sample_frames(torch.zeros(4, 2), 0)


def test_processor_is_registered_and_returns_video_and_mask():
    assert registry.get_processor_class("video_features") is VideoFeatureProcessor
    assert "video_features" in registry.list_processors()
    proc = VideoFeatureProcessor(max_feats=6, feature_dim=4)
    out = proc(torch.ones(4, 4))
    assert set(out) == {"video", "video_mask"}
    assert out["video"].shape == (6, 4)
    assert out["video_mask"].tolist() == [True] * 4 + [False] * 2


def test_processor_feature_dim_mismatch_names_both_dims():
    proc = VideoFeatureProcessor(max_feats=8, feature_dim=1024)
    with pytest.raises(ValueError, match=r"dimension 2048.*feature_dim=1024"):
        proc(torch.zeros(10, 2048))


def test_processor_from_config():
    from omegaconf import OmegaConf

    proc = VideoFeatureProcessor.from_config({"name": "video_features", "max_feats": 5, "feature_dim": 2})
    assert (proc.max_feats, proc.feature_dim) == (5, 2)
    proc = VideoFeatureProcessor.from_config(OmegaConf.create({"max_feats": 7}))
    assert proc(torch.ones(3, 9))["video"].shape == (7, 9)
    assert VideoFeatureProcessor.from_config({}).max_feats == 80
    with pytest.raises(ValueError, match="max_feat"):
        VideoFeatureProcessor.from_config({"max_feat": 5})


@pytest.mark.parametrize("feature_dim", [True, False, 0, -1, 2.0])
def test_processor_refuses_a_feature_dim_that_is_not_a_count(feature_dim):
    # True == 1 for Python, so it used to pass as a dimension of 1 (max_feats refused it)
    with pytest.raises(ValueError, match="feature_dim must be a positive integer or None"):
        VideoFeatureProcessor(max_feats=8, feature_dim=feature_dim)
