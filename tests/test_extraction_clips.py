"""gf extract with clip-level backbones and two streams: real H.264 videos written by PyAV,
random-init video models built on the spot (torchvision ``r2plus1d_18`` with no weights at
32 px, a tiny VideoMAE saved with ``save_pretrained`` into a temporary folder), nothing
downloaded.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from gf.common.errors import CheckpointError, ConfigError
from gf.datasets.feature_stores import open_feature_store
from gf.extraction.clips import sample_clips

from test_extraction import as_dict, gf_extract, wds_members
from video_fixtures import save_tiny_videomae, write_test_videos

R21D = ["--backbone", "torchvision:r2plus1d_18", "--input-size", "32", "--clip-len", "4"]
TIMES = np.arange(25) / 10.0  # v1: 25 frames at 10 fps, 2.5 s


def extract(videos, out, *flags):
    """``gf extract`` over ``videos`` into ``out`` in this process (``--workers 0`` unless given)."""
    workers = [] if "--workers" in flags else ["--workers", "0"]
    return gf_extract("--videos", videos, "--out", out, "--no-progress", *workers, *flags)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_test_videos(folder, corrupt=False)
    return folder


@pytest.fixture(scope="module")
def clip_run(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("clips") / "out"
    assert extract(videos, out, *R21D, "--num-clips", "3") == 0
    return out


@pytest.fixture(scope="module")
def tiny_videomae(tmp_path_factory):
    return save_tiny_videomae(tmp_path_factory.mktemp("hf") / "tiny-videomae")


# ---------------------------------------------------------------------------------------
# where clips lie
# ---------------------------------------------------------------------------------------
def test_clips_are_centred_on_equal_segments_and_report_the_seconds_they_cover():
    c = sample_clips(TIMES, 2.5, 0.0, 2.5, clip_len=4, num_clips=3)
    assert c.indices.tolist() == [[3, 4, 5, 6], [11, 12, 13, 14], [19, 20, 21, 22]]
    assert np.allclose(c.spans, [[0.3, 0.7], [1.1, 1.5], [1.9, 2.3]])  # first frame's time, last frame's end
    assert np.allclose(c.centres, [0.5, 1.3, 2.1])
    assert c.centre_frames.tolist() == [5, 13, 21]  # the frame shown at each centre
    # a stride skips frames; clips that would reach past the video are shifted inside it
    c = sample_clips(TIMES, 2.5, 0.0, 2.5, clip_len=8, clip_stride=2, num_clips=2)
    assert c.indices.tolist() == [list(range(0, 16, 2)), list(range(10, 26, 2))]
    assert np.allclose(c.spans, [[0.0, 1.5], [1.0, 2.5]])  # the last frame ends at the video's end
    # a window shorter than a clip repeats its last frame; every frame stays inside the window
    c = sample_clips(TIMES, 2.5, 1.0, 1.3, clip_len=4, num_clips=1)
    assert c.indices.tolist() == [[10, 11, 12, 12]] and np.allclose(c.spans, [[1.0, 1.3]])
    # a rate: round(length x rate) clips
    assert len(sample_clips(TIMES, 2.5, 0.0, 2.5, clip_len=4, clips_per_second=2).indices) == 5
    assert len(sample_clips(TIMES, 2.5, 1.0, 1.3, clip_len=4, clips_per_second=1).indices) == 1  # at least one


@pytest.mark.parametrize("clip_len,stride,offset", [(9, 1, 0.5), (9, 3, 0.5), (8, 1, 0.0), (8, 2, -0.5), (8, 3, -1.0)])
def test_the_appearance_frame_is_the_clips_middle_frame_by_position_near_the_rows_time(clip_len, stride, offset):
    """As clips.py says: at a constant rate the row's time is half a frame into the middle
    frame (odd clip_len), at its start (even, stride 1), or (stride - 1) / 2 frames before it."""
    times = np.arange(300) / 30.0
    c = sample_clips(times, 10.0, 0.0, 10.0, clip_len=clip_len, clip_stride=stride, num_clips=4)
    assert np.array_equal(c.centre_frames, c.indices[:, clip_len // 2])
    assert np.allclose((c.centres - times[c.centre_frames]) * 30.0, offset)


# ---------------------------------------------------------------------------------------
# one backbone, one row per clip
# ---------------------------------------------------------------------------------------
def test_torchvision_clip_rows_times_spans_and_recipe(clip_run):
    members = wds_members(clip_run)
    store = open_feature_store(clip_run)
    assert sorted(store.keys()) == ["v1", "v2", "v3"]
    assert store["v1"].shape == (3, 512) and not torch.allclose(store["v1"][0], store["v1"][1])
    meta = json.loads(members["v1.json"])
    assert meta["spans"] == [[0.3, 0.7], [1.1, 1.5], [1.9, 2.3]] and meta["times"] == [0.5, 1.3, 2.1]
    recipe = json.loads((clip_run / "features.json").read_text())
    assert recipe["backbone"]["name"] == "torchvision:r2plus1d_18" and recipe["backbone"]["feature_dim"] == 512
    assert recipe["backbone"]["weights"]["text"] == "random-init seed 0"
    assert recipe["backbone"]["data_config"]["crop_size"] == [32, 32]
    assert recipe["backbone"]["data_config"]["mean"] == [0.43216, 0.394666, 0.37645]  # the weights enum's own
    clips = recipe["sampling"]["clips"]
    assert (clips["clip_len"], clips["clip_stride"], clips["num_clips"], clips["layout"]) == (4, 1, 3, ["clips"])
    assert recipe["sampling"]["num_frames"] is None and "torchvision" in recipe["software"]


def test_torchvision_rows_are_the_pooled_features_before_the_head_of_those_frames(clip_run, videos):
    """Recomputed from decord's frames with the weights enum's transform: catches other
    frames, another preprocessing, or logits instead of the pooled features."""
    import decord
    import torchvision
    from torchvision.models.video import R2Plus1D_18_Weights
    from torchvision.transforms._presets import VideoClassification

    torch.manual_seed(0)
    model = torchvision.models.video.r2plus1d_18(weights=None)
    model.fc = torch.nn.Identity()
    preset = R2Plus1D_18_Weights.DEFAULT.transforms()
    transform = VideoClassification(crop_size=[32, 32], resize_size=[37, 49], mean=preset.mean, std=preset.std)
    frames = decord.VideoReader(str(videos / "v1.mp4")).get_batch([11, 12, 13, 14]).asnumpy()
    clip = transform(torch.from_numpy(frames).permute(0, 3, 1, 2))
    with torch.no_grad():
        expected = model.eval()(clip[None])[0]
    assert torch.allclose(open_feature_store(clip_run)["v1"][1], expected, rtol=2e-3, atol=2e-3)


def test_clips_batched_across_videos_in_workers_give_the_same_rows(clip_run, videos, tmp_path):
    assert extract(videos, tmp_path / "w2", *R21D, "--num-clips", "3", "--workers", "2", "--batch-size", "2") == 0
    a, b = as_dict(open_feature_store(clip_run)), as_dict(open_feature_store(tmp_path / "w2"))
    assert sorted(a) == sorted(b)
    for key in a:
        assert np.allclose(a[key], b[key], rtol=1e-2, atol=1e-3), key


def test_windows_give_clips_inside_each_questions_window(videos, tmp_path):
    ann = tmp_path / "w.jsonl"
    ann.write_text(json.dumps({"question_id": "Sequence_T1_1", "video_id": "v1", "start": 0.5, "end": 1.5}) + "\n")
    assert extract(videos, tmp_path / "out", *R21D, "--clips-per-second", "2", "--windows", ann) == 0
    meta = json.loads(wds_members(tmp_path / "out")["Sequence_T1_1.json"])
    assert meta["spans"] == [[0.6, 1.0], [1.1, 1.5]] and meta["times"] == [0.8, 1.3]  # 1 s x 2 clips/s, inside
    assert open_feature_store(tmp_path / "out")["Sequence_T1_1"].shape == (2, 512)


def test_hf_videomae_from_a_folder_rows_recipe_and_its_pooling(tiny_videomae, videos, tmp_path):
    from transformers import VideoMAEModel

    out = tmp_path / "out"
    assert extract(videos, out, "--backbone", f"hf:{tiny_videomae}", "--num-clips", "2", "--format", "npy") == 0
    rows = open_feature_store(out)["v2"]
    assert rows.shape == (2, 32)
    recipe = json.loads((out / "features.json").read_text())
    assert recipe["backbone"]["name"] == "hf:tiny-videomae"  # the folder's name, not the machine's path
    assert recipe["backbone"]["weights"]["kind"] == "folder" and len(recipe["backbone"]["weights"]["sha256"]) == 64
    assert recipe["sampling"]["clips"]["clip_len"] == 4  # the model's own num_frames
    meta = json.loads((out / "meta" / "v2.json").read_text())
    # v2: 20 frames at 10 fps; the second clip is frames 14..17
    assert meta["spans"][1] == [1.4, 1.8]
    import decord
    from torchvision.transforms._presets import VideoClassification

    frames = decord.VideoReader(str(videos / "v2.mp4")).get_batch([14, 15, 16, 17]).asnumpy()
    clip = VideoClassification(crop_size=[32, 32], resize_size=[32], mean=[0.485, 0.456, 0.406],
                               std=[0.229, 0.224, 0.225])(torch.from_numpy(frames).permute(0, 3, 1, 2))
    model = VideoMAEModel.from_pretrained(tiny_videomae).eval()
    with torch.no_grad():
        expected = model(pixel_values=clip.permute(1, 0, 2, 3)[None]).last_hidden_state.mean(1)[0]
    assert torch.allclose(rows[1], expected, rtol=2e-3, atol=2e-3)


def test_hf_refusals_name_the_option(tiny_videomae, videos, tmp_path):
    with pytest.raises(ConfigError, match="no such folder.*--pretrained"):
        extract(videos, tmp_path / "a", "--backbone", f"hf:{tmp_path / 'nothing'}")
    with pytest.raises(ConfigError, match="takes clips of exactly 4 frames"):
        extract(videos, tmp_path / "b", "--backbone", f"hf:{tiny_videomae}", "--clip-len", "8")
    unsafe = tmp_path / "bin-only"
    unsafe.mkdir()
    (unsafe / "config.json").write_text((tiny_videomae / "config.json").read_text())
    with pytest.raises(CheckpointError, match="only .safetensors"):
        extract(videos, tmp_path / "c", "--backbone", f"hf:{unsafe}")
    assert not any((tmp_path / n).exists() for n in "abc")


CLIP_NORM = {"image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}


def test_hf_pretrained_takes_the_hub_models_preprocessor_config(tiny_videomae, videos, tmp_path, monkeypatch):
    """--pretrained read preprocessor_config.json only from a local folder, so a Hub model
    got ImageNet mean/std and a bilinear resize to its image size whatever its processor
    says; now the file is resolved through the Hub cache (here a fake one, offline)."""
    import huggingface_hub.constants

    repo, revision = tmp_path / "hf" / "models--someorg--tiny-videomae", "1" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    shutil.copytree(tiny_videomae, repo / "snapshots" / revision)
    (repo / "snapshots" / revision / "preprocessor_config.json").write_text(json.dumps(
        {"size": {"shortest_edge": 40}, "crop_size": {"height": 32, "width": 32}, "resample": 3, **CLIP_NORM}))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "out"
    assert extract(videos, out, "--backbone", "hf:someorg/tiny-videomae", "--pretrained", "--num-clips", "2") == 0
    data = json.loads((out / "features.json").read_text())["backbone"]["data_config"]
    assert data == {"crop_size": [32, 32], "resize_size": [40], "mean": CLIP_NORM["image_mean"],
                    "std": CLIP_NORM["image_std"], "interpolation": "bicubic"}


@pytest.mark.parametrize("text, match", [
    ('{"size": {"shortest_edge": 32},', r"preprocessor_config.json: invalid JSON at line 1"),
    ('{"size": "big"}', r"preprocessor_config.json: size must be a positive int.*got 'big'"),
    ('{"image_mean": [0.5, 0.5]}', r"preprocessor_config.json: image_mean must be a list of 3 numbers"),
    ('{"resample": 9}', r"preprocessor_config.json: resample 9 is not one gf applies"),
    ("[1, 2]", r"preprocessor_config.json: not a preprocessor config")])
def test_a_bad_local_preprocessor_config_is_a_one_line_error_naming_it(tmp_path, text, match):
    """A damaged file gave a raw TypeError / JSONDecodeError traceback."""
    from types import SimpleNamespace

    from gf.common.errors import DataFileError
    from gf.extraction.clip_backbone import _hf_config

    (tmp_path / "preprocessor_config.json").write_text(text)
    with pytest.raises((CheckpointError, DataFileError), match=match):
        _hf_config(str(tmp_path), SimpleNamespace(image_size=32))


def test_the_int_size_form_transformers_reads_is_read_too(tmp_path):
    """``"size": 32`` is the legacy form of ``{"shortest_edge": 32}`` (a square for crop_size)."""
    from types import SimpleNamespace

    from gf.extraction.clip_backbone import _hf_config

    (tmp_path / "preprocessor_config.json").write_text('{"size": 36, "crop_size": 32, "resample": 2}')
    got = _hf_config(str(tmp_path), SimpleNamespace(image_size=32))
    assert got["resize_size"] == [36] and got["crop_size"] == [32, 32]


# ---------------------------------------------------------------------------------------
# two streams on one time grid
# ---------------------------------------------------------------------------------------
def test_appearance_and_motion_rows_line_up_in_time(clip_run, videos, tmp_path):
    import decord
    import timm
    from PIL import Image

    out = tmp_path / "two"
    assert extract(videos, out, "--backbone", "test_efficientnet", "--input-size", "64",
                   "--motion-backbone", "torchvision:r2plus1d_18", "--motion-input-size", "32", "--clip-len", "4",
                   "--num-clips", "3") == 0
    rows = open_feature_store(out)["v1"]
    assert rows.shape == (3, 256 + 512)
    meta = json.loads(wds_members(out)["v1.json"])
    assert meta["times"] == [0.5, 1.3, 2.1] and meta["frame_times"] == [0.5, 1.3, 2.1]
    assert all(s <= t < e for t, (s, e) in zip(meta["frame_times"], meta["spans"]))
    # the motion half is the clip-level run's row; the appearance half the clip's middle frame
    assert torch.allclose(rows[:, 256:], open_feature_store(clip_run)["v1"], rtol=1e-2, atol=1e-3)
    torch.manual_seed(0)
    model = timm.create_model("test_efficientnet", num_classes=0).eval()
    transform = timm.data.create_transform(**timm.data.resolve_model_data_config(
        model, args={"input_size": (3, 64, 64)}), is_training=False)
    frames = decord.VideoReader(str(videos / "v1.mp4")).get_batch([5, 13, 21]).asnumpy()
    with torch.no_grad():
        expected = model(torch.stack([transform(Image.fromarray(f)) for f in frames]))
    assert torch.allclose(rows[:, :256], expected, rtol=2e-3, atol=2e-3)
    recipe = json.loads((out / "features.json").read_text())
    assert recipe["backbone"]["name"] == "test_efficientnet"
    assert recipe["motion_backbone"]["name"] == "torchvision:r2plus1d_18"
    assert recipe["output"]["columns"] == {"appearance": [0, 256], "motion": [256, 768]}
    assert recipe["sampling"]["clips"]["layout"] == ["appearance", "motion"]


def test_a_rerun_with_another_motion_stream_is_refused(videos, tmp_path):
    base = ["--backbone", "test_efficientnet", "--input-size", "64", "--motion-input-size", "32", "--clip-len", "4",
            "--num-clips", "2"]
    assert extract(videos, tmp_path / "o", *base, "--motion-backbone", "torchvision:r2plus1d_18") == 0
    with pytest.raises(ConfigError, match="another recipe.*motion_backbone.name"):
        extract(videos, tmp_path / "o", *base, "--motion-backbone", "torchvision:r3d_18")


def _cache_pretrained(tmp_path, monkeypatch):
    """Seeded weights where torchvision's and timm's downloads look first (the torch hub
    cache under TORCH_HOME, the Hugging Face cache), so ``--pretrained`` and
    ``--motion-pretrained`` load them offline through the libraries' own code; returns
    their state dicts (r2plus1d_18's, test_efficientnet's)."""
    import huggingface_hub.constants
    import timm
    import torchvision
    from safetensors.torch import save_file

    torch.manual_seed(5)
    r21d = torchvision.models.get_model("r2plus1d_18").state_dict()
    hub = tmp_path / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(r21d, hub / torchvision.models.get_model_weights("r2plus1d_18").DEFAULT.url.rsplit("/", 1)[1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    torch.manual_seed(6)
    eff = timm.create_model("test_efficientnet").state_dict()
    repo, revision = tmp_path / "hf" / "models--timm--test_efficientnet.r160_in1k", "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots" / revision).mkdir(parents=True)
    save_file(eff, repo / "snapshots" / revision / "model.safetensors")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    return r21d, eff


def test_each_stream_takes_its_own_weights_and_predict_rebuilds_them(videos, tmp_path, monkeypatch):
    """--pretrained covers both streams unless --motion-weights gives the motion stream's;
    --motion-pretrained downloads the motion stream's beside --weights FILE. gf predict's
    options rebuild either mix from the recipe."""
    from safetensors.torch import save_file

    from gf.datasets.feature_recipe import identity
    from gf.extraction.extract import extract as run_extract
    from gf.inference.predict import extraction_options

    r21d, eff = _cache_pretrained(tmp_path, monkeypatch)
    save_file(r21d, tmp_path / "r21d.safetensors")
    save_file(eff, tmp_path / "eff.safetensors")
    base = ["--backbone", "test_efficientnet", "--input-size", "64", "--motion-backbone", "torchvision:r2plus1d_18",
            "--motion-input-size", "32", "--clip-len", "4", "--num-clips", "2"]
    runs = {"both": ["--pretrained"], "files": ["--weights", tmp_path / "eff.safetensors", "--motion-weights",
                                                tmp_path / "r21d.safetensors"],
            "motion_hub": ["--weights", tmp_path / "eff.safetensors", "--motion-pretrained"],
            "appearance_hub": ["--pretrained", "--motion-weights", tmp_path / "r21d.safetensors"]}
    for name, flags in runs.items():
        assert extract(videos, tmp_path / name, *base, *flags) == 0, name
    rows = {name: open_feature_store(tmp_path / name)["v1"] for name in runs}
    for name in runs:  # the same weights, whether from the hub caches or the files
        assert torch.allclose(rows[name], rows["files"], rtol=1e-3, atol=1e-4), name
    recipes = {name: json.loads((tmp_path / name / "features.json").read_text()) for name in runs}
    kinds = {name: (r["backbone"]["weights"]["kind"], r["motion_backbone"]["weights"]["kind"])
             for name, r in recipes.items()}
    assert kinds == {"both": ("pretrained", "pretrained"), "files": ("file", "file"),
                     "motion_hub": ("file", "pretrained"), "appearance_hub": ("pretrained", "file")}
    listing = tmp_path / "one.txt"
    listing.write_text(str(videos / "v1.mp4") + "\n")
    given = {"motion_hub": {"weights": str(tmp_path / "eff.safetensors")},
             "appearance_hub": {"motion_weights": str(tmp_path / "r21d.safetensors")}}
    for name, files in given.items():  # what gf predict runs for a checkpoint of each mix
        run_extract(extraction_options(recipes[name], listing, tmp_path / f"again_{name}", **files))
        again = json.loads((tmp_path / f"again_{name}" / "features.json").read_text())
        for part in ("backbone", "motion_backbone"):
            assert identity(again)[part] == identity(recipes[name])[part], (name, part)


def test_pretrained_weights_that_cannot_be_fetched_are_a_download_error(videos, tmp_path, monkeypatch):
    """Exit 6 (a download failed), not 4 (a checkpoint that does not fit): offline, with
    nothing in the Hub cache."""
    import huggingface_hub.constants

    from gf.common.errors import DownloadError

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    with pytest.raises(DownloadError, match="timm could not load the pretrained weights of 'test_efficientnet'"):
        extract(videos, tmp_path / "out", "--backbone", "test_efficientnet", "--pretrained")
    assert not (tmp_path / "out").exists()


def test_torchvision_pretrained_weights_are_read_weights_only_into_the_model(monkeypatch):
    """--pretrained with a torchvision backbone asks torch.hub for weights_only=True (its
    default is False: the download would be unpickled) and the model gets exactly the state
    dict given, its head then dropped."""
    import torchvision
    import torchvision.models._api

    from gf.extraction.clip_backbone import create_clip_backbone

    torch.manual_seed(7)
    given = torchvision.models.get_model("r2plus1d_18").state_dict()
    calls = []

    def fake_download(url, *args, **kwargs):
        calls.append((url, args, kwargs))
        return given

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", fake_download)
    bb = create_clip_backbone("torchvision:r2plus1d_18", pretrained=True, seed=0, input_size=32,
                              clip_len=4)
    enum = torchvision.models.get_model_weights("r2plus1d_18").DEFAULT
    assert len(calls) == 1 and calls[0][0] == enum.url and not calls[0][1]
    assert calls[0][2].get("weights_only") is True and calls[0][2].get("check_hash") is True
    got = bb.model.state_dict()
    assert set(got) == {k for k in given if not k.startswith("fc.")}  # the head is an identity
    assert all(torch.equal(got[k], given[k]) for k in got)
    assert bb.weights["kind"] == "pretrained" and bb.weights["hub"] == enum.url


_UNPICKLED = []


def _unpickled():
    _UNPICKLED.append(True)
    return torch.zeros(1)


class _Loud:
    """Unpickling it calls :func:`_unpickled`: what a crafted weights file could run."""

    def __reduce__(self):
        return (_unpickled, ())


def test_torchvision_pretrained_weights_that_need_unpickling_are_refused(tmp_path, monkeypatch):
    """A file in torch.hub's cache that only a full unpickle reads (here one that calls a
    function of this module) is refused before anything in it runs."""
    import torchvision

    from gf.common.errors import DownloadError
    from gf.extraction.clip_backbone import create_clip_backbone

    state = dict(torchvision.models.get_model("r2plus1d_18").state_dict(), extra=_Loud())
    hub = tmp_path / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    enum = torchvision.models.get_model_weights("r2plus1d_18").DEFAULT
    torch.save(state, hub / enum.url.rsplit("/", 1)[1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    _UNPICKLED.clear()
    with pytest.raises(DownloadError, match="Weights only load failed"):
        create_clip_backbone("torchvision:r2plus1d_18", pretrained=True, input_size=32, clip_len=4)
    assert not _UNPICKLED


def test_a_stream_with_random_weights_is_said(videos, tmp_path, caplog):
    """A forgotten --pretrained (or --motion-weights) gives features of a random network:
    the run says which stream, and what to give."""
    import timm
    from safetensors.torch import save_file

    save_file(timm.create_model("test_efficientnet").state_dict(), tmp_path / "eff.safetensors")
    assert extract(videos, tmp_path / "two", "--backbone", "test_efficientnet", "--input-size", "64",
                   "--weights", tmp_path / "eff.safetensors", "--motion-backbone", "torchvision:r2plus1d_18",
                   "--motion-input-size", "32", "--clip-len", "4", "--num-clips", "2") == 0
    said = [r.getMessage() for r in caplog.records if "random weights" in r.getMessage()]
    assert said == ["gf extract: the motion backbone torchvision:r2plus1d_18 has random weights (seed 0): its "
                    "features are for tests and benchmarks only; give --motion-weights FILE or --motion-pretrained "
                    "for features a model can learn from"]
    caplog.clear()
    assert extract(videos, tmp_path / "one", *R21D, "--num-clips", "2", "--seed", "3") == 0
    said = [r.getMessage() for r in caplog.records if "random weights" in r.getMessage()]
    assert said == ["gf extract: the backbone torchvision:r2plus1d_18 has random weights (seed 3): its features are "
                    "for tests and benchmarks only; give --weights FILE or --pretrained for features a model can "
                    "learn from"]


@pytest.mark.parametrize("flags,match", [
    ([*R21D, "--num-frames", "4"], "--num-frames: a clip-level run places clips"),
    (["--backbone", "test_efficientnet", "--clip-len", "4"], "--clip-len applies to clip backbones"),
    (["--backbone", "test_efficientnet", "--clip-stride", "2"], "--clip-stride applies to clip backbones"),
    (["--backbone", "test_efficientnet", "--motion-backbone", "resnet18"], "--motion-backbone 'resnet18': a clip model"),
    ([*R21D, "--motion-backbone", "torchvision:r3d_18"], "goes with a frame .timm. --backbone"),
    ([*R21D, "--motion-weights", "w.pth"], "--motion-weights applies to --motion-backbone"),
    ([*R21D, "--motion-pretrained"], "--motion-pretrained applies to --motion-backbone; .* use --pretrained"),
    (["--backbone", "test_efficientnet", "--motion-pretrained"], "--motion-pretrained applies to clip backbones"),
    (["--backbone", "test_efficientnet", "--motion-backbone", "torchvision:r2plus1d_18", "--motion-weights", "w.pth",
      "--motion-pretrained"], "either --motion-weights FILE or --motion-pretrained"),
    ([*R21D, "--num-clips", "0"], "--num-clips must be an integer >= 1"),
    ([*R21D, "--clips-per-second", "nan"], "--clips-per-second must be a finite number > 0"),
    ([*R21D[:-1], "0"], "--clip-len must be an integer >= 1"),
    ([*R21D, "--clip-stride", "0"], "--clip-stride must be an integer >= 1"),
    (["--backbone", "test_efficientnet", "--motion-backbone", "torchvision:r2plus1d_18", "--motion-input-size", "-1"],
     "--motion-input-size must be an integer >= 1"),
    ([*R21D, "--clips-per-second", "1", "--format", "h5"], "--format h5 stores one"),
    (["--backbone", "torchvision:no_such_net"], "not a torchvision video model"),
    (["--backbone", "torchvision:s3d", "--input-size", "32", "--clip-len", "4"], "cannot run on clips of 4 frames"),
])
def test_clip_options_are_checked_and_a_refused_run_leaves_nothing(videos, tmp_path, flags, match):
    with pytest.raises(ConfigError, match=match):
        extract(videos, tmp_path / "out", *flags)
    assert not (tmp_path / "out").exists()


def test_the_command_reports_clips(videos, tmp_path, capsys):
    assert extract(videos, tmp_path / "o", *R21D, "--num-clips", "2") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["clips"] == 6 and "clips_per_s" in report and "frames" not in report
