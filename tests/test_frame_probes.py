"""The demo's frame probes: a clip's frames in a fixed shuffled order, or zeros."""
import pytest
import torch

from gf.common.errors import ConfigError
from gf.common.registry import registry

TINY = dict(train_per_type=2, val_per_type=1, test_per_type=1, feature_dim=8, max_event_frames=3, max_gap_frames=1)


def build(tmp_path, probe):
    cls = registry.get_builder_class("synthetic_star")
    return cls({"data_root": str(tmp_path), "max_feats": 24, "generator": TINY, "frame_probe": probe})


def test_shuffle_permutes_only_the_real_frames_the_same_way_every_time(tmp_path):
    plain = build(tmp_path, None).build_datasets(["train"])["train"]
    shuffled = build(tmp_path, "shuffle").build_datasets(["train"])["train"]
    moved = 0
    for i in range(len(plain)):
        a, b = plain[i], shuffled[i]
        n = int(a["video_mask"].sum())
        assert torch.equal(a["video_mask"], b["video_mask"])
        assert torch.equal(b["video"][n:], a["video"][n:])  # padding stays padding
        rows_a = sorted(map(tuple, a["video"][:n].tolist()))
        assert rows_a == sorted(map(tuple, b["video"][:n].tolist()))  # the same frames ...
        moved += not torch.equal(a["video"][:n], b["video"][:n])  # ... in another order
        assert torch.equal(b["video"], shuffled[i]["video"])  # fixed per clip, epoch after epoch
        assert torch.equal(a["spans"], b["spans"])  # the annotations are untouched
    assert moved == len(plain)


def test_zeros_removes_the_video(tmp_path):
    sample = build(tmp_path, "zeros").build_datasets(["val"])["val"][0]
    assert not sample["video"].any() and sample["video_mask"].any()


def test_an_unknown_probe_is_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"datasets\.synthetic_star\.frame_probe"):
        build(tmp_path, "reverse")
