"""gf predict with checkpoints trained on clip-level and two-stream recipes.

Each recipe's features are extracted by `gf extract` from PyAV-written videos with
random-init video models (torchvision ``r2plus1d_18`` at 32 px; a tiny VideoMAE saved into
a folder as the motion stream), a tiny model is trained on them in STAR's layout, and
`gf predict` on each video must give the probabilities `gf evaluate` gives on its clip.
"""
import json

import pytest

from gf.common.errors import CheckpointError, ConfigError
from gf.cli import main as gf_main

from test_predict_video import OPTIONS, predict_matches_evaluate, train_on_extracted
from video_fixtures import save_tiny_videomae

CLIP_RECIPE = ("--backbone", "torchvision:r2plus1d_18", "--input-size", "32", "--clip-len", "4", "--num-clips", "4")


@pytest.fixture(scope="module")
def videomae_folder(tmp_path_factory):
    return save_tiny_videomae(tmp_path_factory.mktemp("hf") / "tiny-videomae", layers=1, seed=2)


@pytest.fixture(scope="module")
def clip_trained(tmp_path_factory):
    return train_on_extracted(tmp_path_factory.mktemp("clip"), CLIP_RECIPE, max_feats=4)


@pytest.fixture(scope="module")
def two_stream_trained(tmp_path_factory, videomae_folder):
    flags = ("--backbone", "test_efficientnet", "--input-size", "64", "--motion-backbone", f"hf:{videomae_folder}",
             "--clips-per-second", "2")
    return train_on_extracted(tmp_path_factory.mktemp("two"), flags, max_feats=5)


def test_predict_on_a_clip_level_recipe_gives_evaluates_answer_and_clip_times(clip_trained):
    from gf.inference.predict import answer_video

    root, cfg, videos, ids = clip_trained
    recipe = json.loads((root / "data/STAR/vis_db/extracted/features.json").read_text())
    assert recipe["sampling"]["clips"]["num_clips"] == 4
    ckpt, _ = predict_matches_evaluate(clip_trained, count=4)
    answer = answer_video(ckpt, videos / f"{ids[0]}.mp4", "q", OPTIONS)  # 2.0 s at 10 fps
    assert answer.frame_times == [0.3, 0.8, 1.3, 1.8]  # the clips' centres, not frame times


def test_predict_on_a_two_stream_recipe_needs_the_motion_folder(two_stream_trained, videomae_folder, tmp_path,
                                                                 capsys):
    root, cfg, videos, ids = two_stream_trained
    recipe = json.loads((root / "data/STAR/vis_db/extracted/features.json").read_text())
    assert recipe["motion_backbone"]["name"] == "hf:tiny-videomae" and recipe["output"]["feature_dim"] == 256 + 32
    ckpt = root / "out" / "checkpoint_best.pth"
    args = ["predict", "--checkpoint", str(ckpt), "--video", str(videos / f"{ids[0]}.mp4"), "--question", "q",
            "--options", *OPTIONS]
    assert gf_main(args) == 2  # the folder is not recorded as a path: it must be given
    err = capsys.readouterr().err
    assert "made with the model folder tiny-videomae (sha256 " in err and "give it with --motion-weights" in err
    other = tmp_path / "other"
    other.mkdir()
    for f in videomae_folder.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(dict(config, layer_norm_eps=1e-6)))
    from gf.inference.predict import answer_video

    with pytest.raises(CheckpointError, match="has sha256 .* use that model folder"):
        answer_video(ckpt, videos / f"{ids[0]}.mp4", "q", OPTIONS, motion_weights=str(other))
    with pytest.raises(ConfigError, match="give that folder"):
        answer_video(ckpt, videos / f"{ids[0]}.mp4", "q", OPTIONS, motion_weights=str(other / "config.json"))
    predict_matches_evaluate(two_stream_trained, count=4, motion_weights=str(videomae_folder))
