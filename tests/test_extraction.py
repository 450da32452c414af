"""gf extract: real H.264 videos written by PyAV, a tiny timm CNN with random init.

The backbone is ``test_efficientnet`` (timm's test model) at 64 px, seeded, so no weights are
downloaded and a run takes well under a second; the command is called as ``gf extract``
would call it: a parser built by ``add_arguments``, then ``run``.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gf.common.errors import CheckpointError, ConfigError, DataFileError
from gf.datasets.feature_stores import open_feature_store
from gf.extraction import decode
from gf.extraction.cli import add_arguments, run

from video_fixtures import write_test_videos, write_video

BACKBONE = "test_efficientnet"
DEFAULTS = {"--backbone": BACKBONE, "--input-size": "64", "--num-frames": "4", "--workers": "0"}


def gf_extract(*argv):
    parser = argparse.ArgumentParser(prog="gf extract")
    add_arguments(parser)
    return run(parser.parse_args([str(a) for a in argv]))


def extract(videos, out, *extra):
    """``gf extract`` with the test defaults, each replaced by the same flag in ``extra``."""
    flags = {k: v for k, v in DEFAULTS.items() if k not in extra and not (k == "--num-frames" and "--fps" in extra)}
    return gf_extract("--videos", videos, "--out", out, "--no-progress", *[x for kv in flags.items() for x in kv],
                      *extra)


def wds_members(out):
    """``{member name: bytes}`` of every shard in ``out``."""
    members = {}
    for shard in sorted(Path(out).glob("features-*.tar")):
        with tarfile.open(shard) as tf:
            for m in tf.getmembers():
                members[m.name] = tf.extractfile(m).read()
    return members


def load_npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def as_dict(store):
    return {k: store[k].numpy() for k in store.keys()}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_test_videos(folder)
    good = folder / "good.txt"  # a list file: the three readable videos
    good.write_text("# readable ones\nv1.mp4\nv2.mp4\n\nv3.mp4\n")
    return folder


@pytest.fixture(scope="module")
def base_run(videos, tmp_path_factory):
    """One run over the folder with the corrupt and the empty file; returns (out, error)."""
    out = tmp_path_factory.mktemp("base") / "out"
    with pytest.raises(DataFileError) as err:
        extract(videos, out)
    return out, err.value


@pytest.fixture(scope="module")
def good_run(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("good") / "out"
    assert extract(videos / "good.txt", out) == 0
    return out


# ---------------------------------------------------------------------------------------
def test_extracts_features_frame_times_float16_recipe_and_lists_failures(base_run):
    out, err = base_run
    import timm

    assert err.exit_code == 3
    assert "2 of 5 videos failed" in str(err) and str(out / "failures.jsonl") in str(err)
    # the keys are video ids: a builder's skip_file (question ids) cannot take them as they are
    assert "they are video ids: a builder's skip_file takes the ids of those videos' questions" in str(err)
    members = wds_members(out)
    assert sorted(members) == ["v1.json", "v1.npy", "v2.json", "v2.npy", "v3.json", "v3.npy"]
    for name in ("v1", "v2", "v3"):
        arr = load_npy(members[f"{name}.npy"])
        assert arr.dtype == np.float16 and arr.shape == (4, 256)
        assert np.isfinite(arr).all() and not np.allclose(arr[0], arr[1])  # frames differ, so do features
    meta = json.loads(members["v1.json"])
    # v1: 25 frames at 10 fps; 4 segments of 0.625 s, the frame shown at each centre
    assert meta["times"] == [0.3, 0.9, 1.5, 2.1]
    assert meta["key"] == "v1" and meta["source"] == "v1.mp4" and meta["decoder"] == "decord"
    assert meta["duration"] == pytest.approx(2.5) and meta["video_frames"] == 25
    assert json.loads(members["v2.json"])["times"] == [0.2, 0.7, 1.2, 1.7]

    store = open_feature_store(out)  # the builders' reader, unchanged
    assert sorted(store.keys()) == ["v1", "v2", "v3"]
    assert torch.equal(store["v1"], torch.from_numpy(load_npy(members["v1.npy"]).astype(np.float32)))

    failures = {f["key"]: f for f in map(json.loads, (out / "failures.jsonl").read_text().splitlines())}
    assert set(failures) == {"bad", "empty"}
    assert failures["empty"]["reason"] == "empty file (0 bytes)"
    assert failures["bad"]["reason"].startswith("cannot decode: decord:") and "pyav:" in failures["bad"]["reason"]
    assert (out / "failed_keys.txt").read_text().split() == sorted(failures)

    recipe = json.loads((out / "features.json").read_text())
    model = timm.create_model(BACKBONE, num_classes=0)
    expected_config = dict(timm.data.resolve_model_data_config(model, args={"input_size": (3, 64, 64)}))
    assert recipe["backbone"]["name"] == BACKBONE
    assert recipe["backbone"]["weights"]["text"] == "random-init seed 0"
    assert recipe["backbone"]["data_config"] == json.loads(json.dumps(expected_config))
    assert recipe["backbone"]["feature_dim"] == 256
    assert recipe["sampling"]["num_frames"] == 4 and recipe["sampling"]["fps"] is None
    assert recipe["output"]["format"] == "webdataset" and recipe["output"]["dtype"] == "float16"
    assert recipe["software"]["gf"] and recipe["created"]


def test_features_are_the_backbones_pooled_prelogits_on_its_own_preprocessing(base_run, videos):
    """Recomputed here from decord's frames with timm's transform and the classifier-free
    head: catches another normalisation, a missing crop, or logits instead of pre-logits."""
    import decord
    import timm
    from PIL import Image

    out, _ = base_run
    torch.manual_seed(0)
    model = timm.create_model(BACKBONE, num_classes=0).eval()
    cfg = timm.data.resolve_model_data_config(model, args={"input_size": (3, 64, 64)})
    transform = timm.data.create_transform(**cfg, is_training=False)
    frames = decord.VideoReader(str(videos / "v1.mp4")).get_batch([3, 9, 15, 21]).asnumpy()
    x = torch.stack([transform(Image.fromarray(f)) for f in frames])
    with torch.no_grad():
        expected = model.forward_head(model.forward_features(x), pre_logits=True)
    got = open_feature_store(out)["v1"]
    assert torch.allclose(got, expected, rtol=2e-3, atol=2e-4)  # float16 storage


def test_fps_sampling_times_and_progress_bar(videos, tmp_path, capsys):
    (tmp_path / "one.txt").write_text(str(videos / "v2.mp4") + "\n")  # absolute path in a list
    gf_extract("--videos", tmp_path / "one.txt", "--out", tmp_path / "out", "--fps", "2",
               *[x for kv in DEFAULTS.items() if kv[0] != "--num-frames" for x in kv])
    assert "video/s" in capsys.readouterr().err  # the progress bar (on by default)
    meta = json.loads(wds_members(tmp_path / "out")["v2.json"])
    assert meta["times"] == [0.2, 0.7, 1.2, 1.7]  # 2.0 s x 2 fps = 4 frames, centred in 0.5 s steps
    assert open_feature_store(tmp_path / "out")["v2"].shape == (4, 256)
    recipe = json.loads((tmp_path / "out" / "features.json").read_text())
    assert recipe["sampling"]["fps"] == 2.0 and recipe["sampling"]["num_frames"] is None


def test_windows_key_by_question_id_with_times_inside_the_window(videos, tmp_path, monkeypatch):
    windows = [
        {"question_id": "Interaction_T1_1", "video_id": "v1", "start": 0.5, "end": 1.5, "question": "q?"},
        {"question_id": "Sequence_T2_7", "video_id": "v1", "start": 1.0, "end": 2.4},
        {"question_id": "Feasibility_T4_3", "video_id": "v3", "start": 0.21, "end": 0.9},
        {"question_id": "Prediction_T3_9", "video_id": "v2", "start": 5.0, "end": 6.0},  # after v2's end
        {"question_id": "Interaction_T1_2", "video_id": "nope", "start": 0.0, "end": 1.0},  # no such video
        {"question_id": "Interaction_T1_3", "video_id": "v3", "start": 2.0, "end": 3.3},  # clipped (tolerance)
    ]
    ann = tmp_path / "train.jsonl"
    ann.write_text("".join(json.dumps(w) + "\n" for w in windows))
    calls = []
    real = decode.decode_video
    monkeypatch.setattr(decode, "decode_video", lambda path, *a, **k: calls.append(Path(path).name) or real(path, *a, **k))
    out = tmp_path / "out"
    with pytest.raises(DataFileError, match=r"2 of 6 questions failed.*failed_keys\.txt, which a builder's "
                                            r"skip_file takes\)"):
        extract(videos, out, "--windows", ann)
    assert sorted(calls) == ["v1.mp4", "v2.mp4", "v3.mp4"]  # v1 decoded once for its two questions
    store = open_feature_store(out)
    assert sorted(store.keys()) == ["Feasibility_T4_3", "Interaction_T1_1", "Interaction_T1_3", "Sequence_T2_7"]
    members = wds_members(out)
    for w in windows:
        name = f"{w['question_id']}.json"
        if name not in members:
            continue
        meta = json.loads(members[name])
        assert meta["video_id"] == w["video_id"] and meta["window"] == [w["start"], w["end"]]
        assert len(meta["times"]) == 4 and meta["times"] == sorted(meta["times"])
        assert all(w["start"] <= t < w["end"] for t in meta["times"]), meta["times"]
        assert store[w["question_id"]].shape == (4, 256)
    assert json.loads(members["Interaction_T1_1.json"])["times"] == [0.6, 0.8, 1.1, 1.3]
    clipped = json.loads(members["Interaction_T1_3.json"])
    assert clipped["window_used"] == [2.0, 3.0] and clipped["times"] == [2.1, 2.3, 2.6, 2.8]
    assert "window_used" not in json.loads(members["Sequence_T2_7.json"])
    records = {f["key"]: f for f in map(json.loads, (out / "failures.jsonl").read_text().splitlines())}
    failures = {k: f["reason"] for k, f in records.items()}
    assert set(failures) == {"Prediction_T3_9", "Interaction_T1_2"}
    assert failures["Prediction_T3_9"] == ("window 5-6 s is outside the 2.0 s video: it starts at or after the "
                                           "video's end")
    assert records["Prediction_T3_9"]["kind"] == "window" and records["Prediction_T3_9"]["window"] == [5.0, 6.0]
    assert failures["Interaction_T1_2"].startswith("no video file for video_id 'nope'")
    assert records["Interaction_T1_2"]["kind"] == "no-video"
    recipe = json.loads((out / "features.json").read_text())
    import hashlib

    assert recipe["sampling"]["windows"] == [{"file": "train.jsonl",
                                              "sha256": hashlib.sha256(ann.read_bytes()).hexdigest()}]


@pytest.mark.parametrize("content, match", [
    ('{"question_id": "q1", "video_id": "v1", "start": 0, "end": 1}\n{"question_id": "q2", "video_id": "v1", '
     '"start": 1}\n', r"train\.jsonl:2 \(question_id 'q2'\): 'start' and 'end' must be numbers"),
    ('[{"question_id": "q1", "video_id": "v1", "start": 0, "end": 1}, {"question_id": "q1", "video_id": "v2", '
     '"start": 0, "end": 1}]', r"train\.jsonl: record 1 \(question_id 'q1'\): question_id 'q1' also at"),
    ('{"question_id": "q1", "video_id": "v1", "start": 2, "end": 1}\n', r"train\.jsonl:1 .*empty or negative"),
    ('{"question_id": "q1", "video_id": "v1", "start": 0, "end": 1}\n{not json\n', r"train\.jsonl:2: malformed"),
])
def test_windows_file_errors_name_file_line_and_key(videos, tmp_path, content, match):
    (tmp_path / "train.jsonl").write_text(content)
    with pytest.raises(DataFileError, match=match):
        extract(videos, tmp_path / "out", "--windows", tmp_path / "train.jsonl")
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_resume_after_kill_decodes_only_what_is_missing(videos, tmp_path, monkeypatch):
    out = tmp_path / "out"
    calls = []
    real = decode.decode_video

    def killed_at_v3(path, *a, **k):
        calls.append(Path(path).name)
        if path.endswith("v3.mp4"):
            raise KeyboardInterrupt  # the run is killed while decoding the third video
        return real(path, *a, **k)

    monkeypatch.setattr(decode, "decode_video", killed_at_v3)
    with pytest.raises(KeyboardInterrupt):
        extract(videos / "good.txt", out, "--shard-size", "1", "--batch-size", "4")
    assert sorted(p.name for p in out.glob("*.tar")) == ["features-000000.tar", "features-000001.tar"]
    assert not list(out.glob(".*.tmp"))

    # a writer killed mid-shard leaves its temporary file: it is removed, never read
    (out / ".features-000002.tar.abcd1234.tmp").write_bytes(b"half a shard")
    calls.clear()
    monkeypatch.setattr(decode, "decode_video", lambda path, *a, **k: calls.append(Path(path).name) or real(path, *a, **k))
    assert extract(videos / "good.txt", out, "--shard-size", "1") == 0
    assert calls == ["v3.mp4"]
    assert not (out / ".features-000002.tar.abcd1234.tmp").exists()
    assert sorted(open_feature_store(out).keys()) == ["v1", "v2", "v3"]

    calls.clear()
    assert extract(videos / "good.txt", out, "--shard-size", "1") == 0
    assert calls == []  # everything is in complete shards: nothing is decoded

    # shards.json is rewritten from the shards' headers on every run: a lost one loses nothing
    (out / "shards.json").unlink()
    os.unlink(out / "features-000001.tar")
    assert extract(videos / "good.txt", out, "--shard-size", "1") == 0
    assert calls == ["v2.mp4"] and len(open_feature_store(out)) == 3


def test_a_damaged_shard_is_refused_not_trusted(good_run, videos, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(good_run, out)
    shard = out / "features-000000.tar"
    shard.write_bytes(shard.read_bytes()[:3000])  # cut by a copy (gf extract renames only whole shards)
    with pytest.raises(DataFileError, match="features-000000.tar: the webdataset shard is truncated or damaged"):
        extract(videos / "good.txt", out)


def test_a_shard_damaged_without_changing_size_is_reread_and_its_lost_samples_extracted(good_run, videos, tmp_path):
    """A zero-filled tail (a crash, a preallocating copy) reads as a shorter tar of the same
    size: the rerun trusted shards.json's key list, skipped the lost samples and wrote
    done with 3 stored while the store held 1; now it reads the shard as the store does."""
    out = tmp_path / "out"
    shutil.copytree(good_run, out)
    shard = out / "features-000000.tar"
    with tarfile.open(shard) as tf:
        cut = tf.getmembers()[2].offset  # the second sample's first header
    data = shard.read_bytes()
    shard.write_bytes(data[:cut] + bytes(len(data) - cut))
    assert len(open_feature_store(out)) == 1
    assert extract(videos / "good.txt", out) == 0
    assert sorted(open_feature_store(out).keys()) == ["v1", "v2", "v3"]
    assert json.loads((out / "state.json").read_text())["stored"] == 3


def test_all_formats_read_back_equal_through_open_feature_store(videos, good_run, tmp_path):
    reference = as_dict(open_feature_store(good_run))
    for fmt, name, kw in (("npy", ".", {}), ("pth", "features.pth", {}), ("h5", "features.h5", {})):
        out = tmp_path / fmt
        assert extract(videos / "good.txt", out, "--format", fmt) == 0
        store = open_feature_store(out / name, **kw)  # as a builder opens it: path (+ detected format) only
        got = as_dict(store)
        assert sorted(got) == sorted(reference)
        for key in reference:
            assert np.array_equal(got[key], reference[key]), (fmt, key)
    assert json.loads((tmp_path / "npy" / "meta" / "v1.json").read_text())["times"] == [0.3, 0.9, 1.5, 2.1]
    assert np.load(tmp_path / "npy" / "v1.npy").dtype == np.float16
    assert set(json.loads((tmp_path / "pth" / "frames.json").read_text())) == {"v1", "v2", "v3"}
    assert not (tmp_path / "pth" / ".parts").exists()
    pth = torch.load(tmp_path / "pth" / "features.pth", weights_only=True)
    assert all(v.dtype == torch.float16 for v in pth.values())
    import h5py

    with h5py.File(tmp_path / "h5" / "features.h5") as fh:
        assert fh["features"].dtype == np.float16 and fh["features"].shape == (3, 4, 256)


def test_weights_from_state_dict_and_safetensors_pickled_object_refused(videos, tmp_path):
    import timm

    one = tmp_path / "one.txt"
    one.write_text(str(videos / "v2.mp4") + "\n")
    extract(one, tmp_path / "seed7", "--seed", "7")
    reference = open_feature_store(tmp_path / "seed7")["v2"]

    torch.manual_seed(7)
    model = timm.create_model(BACKBONE, num_classes=0)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    from safetensors.torch import save_file

    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    for name in ("w.pth", "w.safetensors"):
        out = tmp_path / name.replace(".", "_")
        assert extract(one, out, "--weights", tmp_path / name) == 0
        assert torch.equal(open_feature_store(out)["v2"], reference), name
        weights = json.loads((out / "features.json").read_text())["backbone"]["weights"]
        import hashlib

        assert weights == {"kind": "file", "file": name,
                           "sha256": hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()}

    # a classification checkpoint (with its head) loads: the head is not used for features
    classifier = timm.create_model(BACKBONE, num_classes=10)
    classifier.load_state_dict(model.state_dict(), strict=False)
    torch.save({"state_dict": classifier.state_dict()}, tmp_path / "cls.pth")
    assert extract(one, tmp_path / "cls", "--weights", tmp_path / "cls.pth") == 0
    assert torch.equal(open_feature_store(tmp_path / "cls")["v2"], reference)

    torch.save(model, tmp_path / "pickled.pth")  # a whole pickled module: loading it would unpickle code
    with pytest.raises(CheckpointError, match="pickled object") as err:
        extract(one, tmp_path / "pickled", "--weights", tmp_path / "pickled.pth")
    assert err.value.exit_code == 4
    other = timm.create_model("test_resnet", num_classes=0)
    torch.save(other.state_dict(), tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="does not fit timm model 'test_efficientnet'"):
        extract(one, tmp_path / "other", "--weights", tmp_path / "other.pth")


def test_rerun_with_another_recipe_is_refused(good_run, videos, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(good_run, out)
    before = (out / "features.json").read_text()
    for extra, field in ((["--seed", "1"], "backbone.weights.seed"), (["--num-frames", "5"], "sampling.num_frames"),
                         (["--input-size", "48"], "backbone.data_config.input_size"),
                         (["--format", "npy"], "output.format")):
        with pytest.raises(ConfigError, match=rf"another recipe .*{field}") as err:
            extract(videos / "good.txt", out, *extra)
        assert err.value.exit_code == 2
    assert (out / "features.json").read_text() == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    np.save(foreign / "x.npy", np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="holds files but no features.json"):
        extract(videos / "good.txt", foreign, "--format", "npy")


def test_verify_against_itself_and_a_different_seed(good_run, videos, tmp_path, capsys):
    npy = tmp_path / "npy"
    extract(videos / "good.txt", npy, "--format", "npy")
    report = tmp_path / "report.json"
    assert gf_extract("--verify", npy, "--out", good_run, "--report", report) == 0
    summary = json.loads(report.read_text())["summary"]
    assert summary["mean_cosine"] == 1.0 and summary["min_cosine"] == 1.0 and summary["ok"]
    assert summary["compared"] == 3 and summary["only_in_output"] == summary["only_in_reference"] == 0
    assert "mean cosine 1.000000" in capsys.readouterr().out

    extract(videos / "good.txt", tmp_path / "seed1", "--seed", "1")
    with pytest.raises(DataFileError, match="3 keys below cosine 0.99") as err:
        gf_extract("--verify", tmp_path / "seed1", "--out", good_run)
    assert err.value.exit_code == 3

    os.unlink(npy / "v2.npy")
    with pytest.raises(DataFileError, match="1 keys only in the output"):
        gf_extract("--verify", npy, "--out", good_run)
    torch.save({"v1": torch.zeros(5, 256)}, tmp_path / "ref.pth")
    with pytest.raises(DataFileError, match="1 shape mismatches"):
        gf_extract("--verify", tmp_path / "ref.pth", "--out", good_run, "--min-cosine", "-1")


def test_timeout_is_a_failure_with_its_reason(videos, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(DataFileError, match="3 of 3 videos failed"):
        extract(videos / "good.txt", out, "--timeout-per-video", "1e-9")
    reasons = [json.loads(line)["reason"] for line in (out / "failures.jsonl").read_text().splitlines()]
    assert len(reasons) == 3 and all(r.startswith("timed out: over the per-video time limit") for r in reasons)


def test_pyav_fallback_reads_what_decord_cannot_open(videos, monkeypatch):
    windows = [("v1", None, None)]
    by_decord = decode.decode_video(str(videos / "v1.mp4"), windows, num_frames=5)

    class Refuses(decode.VideoReader):
        def __init__(self, *a, **k):
            raise RuntimeError("decord cannot open this")

    monkeypatch.setattr(decode, "_DecordReader", Refuses)
    by_pyav = decode.decode_video(str(videos / "v1.mp4"), windows, num_frames=5)
    assert by_decord.info["decoder"] == "decord" and by_pyav.info["decoder"] == "pyav"
    assert by_pyav.samples[0]["times"] == by_decord.samples[0]["times"] == [0.2, 0.7, 1.2, 1.7, 2.2]
    assert by_pyav.info["duration"] == pytest.approx(2.5)
    diff = np.abs(by_pyav.frames.astype(int) - by_decord.frames.astype(int)).mean()
    assert diff < 3, diff  # the same frames (colour conversion may differ by a level)


def test_decode_workers_give_the_same_features(videos, good_run, tmp_path):
    assert extract(videos / "good.txt", tmp_path / "w2", "--workers", "2", "--batch-size", "3") == 0
    a, b = as_dict(open_feature_store(good_run)), as_dict(open_feature_store(tmp_path / "w2"))
    assert sorted(a) == sorted(b)
    for key in a:  # other batch boundaries may move the last bits; float16 keeps ~3 digits
        assert np.allclose(a[key], b[key], rtol=1e-2, atol=1e-3), key


def test_option_errors(videos, tmp_path):
    with pytest.raises(ConfigError, match="--format h5 .*--num-frames"):
        gf_extract("--videos", videos, "--out", tmp_path / "o", "--backbone", BACKBONE, "--fps", "2",
                   "--format", "h5")
    with pytest.raises(ConfigError, match="not a timm model. Did you mean: 'test_efficientnet'"):
        gf_extract("--videos", videos, "--out", tmp_path / "o", "--backbone", "test_eficientnet")
    with pytest.raises(ConfigError, match="--videos is required"):
        gf_extract("--out", tmp_path / "o", "--backbone", BACKBONE)
    with pytest.raises(ConfigError, match="--format 'avi'"):
        gf_extract("--videos", videos, "--out", tmp_path / "o", "--backbone", BACKBONE, "--format", "avi")
    with pytest.raises(SystemExit):  # argparse: mutually exclusive
        gf_extract("--videos", videos, "--out", tmp_path / "o", "--backbone", BACKBONE, "--fps", "2",
                   "--num-frames", "3")
    with pytest.raises(DataFileError, match="no such folder or list file"):
        gf_extract("--videos", tmp_path / "missing", "--out", tmp_path / "o", "--backbone", BACKBONE)
    dup = tmp_path / "dup"
    write_video(dup / "a" / "x.mp4", 1.0)
    write_video(dup / "b" / "x.mp4", 1.0)
    with pytest.raises(DataFileError, match="two videos have the id 'x'"):
        gf_extract("--videos", dup, "--out", tmp_path / "o", "--backbone", BACKBONE)


def test_the_gf_command_prints_one_line_and_exits_with_the_data_code(videos, tmp_path, capsys):
    """Through `gf extract` itself: the failures are one error line naming the list, exit code 3."""
    from gf.cli import main as gf_main

    argv = ["extract", "--videos", str(videos), "--out", str(tmp_path / "out"), "--no-progress",
            *[x for kv in DEFAULTS.items() for x in kv]]
    assert gf_main(argv) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("gf extract: error:") and "failures.jsonl" in err
    assert len(open_feature_store(str(tmp_path / "out")).keys()) == 3  # the readable videos are all there


def test_a_builder_gives_the_same_batches_from_the_shards_as_from_an_npy_folder(videos, good_run, tmp_path):
    """The `star` builder reads `gf extract`'s shards and its `.npy` folder of the same
    videos into identical batches (keys = the video ids the annotations name)."""
    from gf.common.registry import registry
    from gf.datasets.videoqa import collate_videoqa

    npy = tmp_path / "npy"
    assert extract(videos / "good.txt", npy, "--format", "npy") == 0
    star = tmp_path / "STAR" / "txt_db"
    star.mkdir(parents=True)
    rows = [{"question_id": f"Interaction_{key}", "video_id": key, "question": f"what happens in {key}?",
             "options": ["a", "b", "c", "d"], "answer": i % 4} for i, key in enumerate(("v1", "v2", "v3"))]
    (star / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (star / "action_mapping.txt").write_text("open\nclose")
    batches = []
    for features in (good_run, npy):
        builder = registry.get_builder_class("star")({
            "data_root": str(tmp_path), "features": str(features), "events": None, "max_feats": 6,
            "key_field": "video_id", "annotations": {"val": "txt_db/val.jsonl"}, "splits": ["val"],
            "unlabelled_splits": []})
        split = builder.build_datasets(["val"])["val"]
        batches.append(collate_videoqa([split[i] for i in range(len(split))]))
    shards, folder = batches
    assert shards["question_id"] == folder["question_id"] == ["Interaction_v1", "Interaction_v2", "Interaction_v3"]
    assert torch.equal(shards["video"], folder["video"]) and torch.equal(shards["video_mask"], folder["video_mask"])
    assert shards["video"].abs().sum() > 0 and shards["video"].shape[-1] == 256


# ---------------------------------------------------------------------------------------
# never destroy what the user owns: --out against every input, and folders gf did not make
# ---------------------------------------------------------------------------------------
def _snapshot(folder: Path) -> dict:
    """``{relative path: bytes}`` of every file under ``folder`` (to show nothing changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", ["out is --videos", "out holds --videos", "out is a symlink to --videos",
                                  "out holds --windows", "out is --weights", "out holds a listed video"])
def test_an_out_that_is_or_holds_an_input_is_refused_naming_both(case, tmp_path):
    src = tmp_path / "data"
    videos = src / "videos"
    write_video(videos / "v1.mp4", 1.0)
    windows = src / "train.jsonl"
    windows.write_text(json.dumps({"question_id": "q1", "video_id": "v1", "start": 0, "end": 0.5}) + "\n")
    weights = src / "w.pth"
    weights.write_bytes(b"weights")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{videos / 'v1.mp4'}\n")
    link = tmp_path / "link"
    link.symlink_to(videos)
    out, extra, want = {
        "out is --videos": (videos, [], r"--out .*videos is the same file as --videos .*videos, an input"),
        "out holds --videos": (src, [], r"--out .*data holds --videos .*videos, an input of this command"),
        "out is a symlink to --videos": (link, [], r"--out .*link is the same file as --videos"),
        "out holds --windows": (src, ["--windows", windows], r"--out .*data holds --videos"),
        "out is --weights": (weights, ["--weights", weights], r"--out .*w\.pth is the same file as --weights"),
        "out holds a listed video": (videos, [], r"--out .*videos holds video .*v1\.mp4 of --videos"),
    }[case]
    given = listing if case == "out holds a listed video" else videos
    if case == "out holds --windows":  # the videos elsewhere: the windows file is what --out holds
        given = tmp_path / "elsewhere"
        shutil.copytree(videos, given)
        want = r"--out .*data holds --windows .*train\.jsonl, an input of this command"
    before = _snapshot(tmp_path)
    with pytest.raises(ConfigError, match=want) as err:
        extract(given, out, *extra)
    assert err.value.exit_code == 2
    assert _snapshot(tmp_path) == before  # nothing written, nothing replaced


def test_an_out_that_is_a_file_or_a_folder_gf_extract_did_not_make_is_refused(videos, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    with pytest.raises(ConfigError, match=r"--out .*notes\.txt is a file; gf extract writes a folder"):
        extract(videos / "good.txt", notes)
    assert notes.read_text() == "my notes"
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "sub" / "thesis.tex").write_text("chapter 1")
    for content in ("sub", "README.md"):
        if content == "README.md":
            shutil.rmtree(mine / "sub")
            (mine / "README.md").write_text("my project")
        before = _snapshot(mine)
        with pytest.raises(ConfigError, match=rf"--out .*mine holds files but no features\.json \(e\.g\. {content}\)"):
            extract(videos / "good.txt", mine)
        assert _snapshot(mine) == before and not (mine / "features.json").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".gf.lock").write_text('{"pid": 1}\n')  # a killed gf run's lock is gf's, not content
    assert extract(videos / "good.txt", empty) == 0
    assert sorted(open_feature_store(empty).keys()) == ["v1", "v2", "v3"]


# ---------------------------------------------------------------------------------------
# every number an option takes is checked, before anything is made
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("flags, match", [
    (["--num-frames", "0"], r"--num-frames must be an integer >= 1, got 0"),
    (["--num-frames", "-3"], r"--num-frames must be an integer >= 1, got -3"),
    (["--fps", "nan"], r"--fps must be a finite number > 0, got nan"),
    (["--fps", "inf"], r"--fps must be a finite number > 0, got inf"),
    (["--fps", "0"], r"--fps must be a finite number > 0, got 0\.0"),
    (["--fps", "-2"], r"--fps must be a finite number > 0, got -2\.0"),
    (["--batch-size", "0"], r"--batch-size must be an integer >= 1, got 0"),
    (["--workers", "-1"], r"--workers must be an integer >= 0 \(0 = decode in this process\), got -1"),
    (["--shard-size", "0"], r"--shard-size must be an integer >= 1, got 0"),
    (["--window-tolerance", "nan"], r"--window-tolerance must be a finite number >= 0, got nan"),
    (["--window-tolerance", "-0.5"], r"--window-tolerance must be a finite number >= 0, got -0\.5"),
    (["--timeout-per-video", "nan"], r"--timeout-per-video must be a finite number >= 0 \(0 = no limit\), got nan"),
    (["--timeout-per-video", "inf"], r"--timeout-per-video must be a finite number >= 0 \(0 = no limit\), got inf"),
    (["--timeout-per-video", "-1"], r"--timeout-per-video must be a finite number >= 0"),
    (["--input-size", "0"], r"--input-size must be an integer >= 1 pixels, got 0"),
    (["--seed", "-1"], r"--seed must be an integer from 0 to 18446744073709551615, got -1"),
    (["--device", "gpu0"], r"--device 'gpu0' is not a torch device"),
])
def test_every_number_option_is_checked_and_a_refused_run_leaves_nothing(videos, tmp_path, flags, match):
    out = tmp_path / "new" / "out"
    with pytest.raises(ConfigError, match=match) as err:
        extract(videos / "good.txt", out, *flags)
    assert err.value.exit_code == 2
    assert not (tmp_path / "new").exists()  # not even the parent of --out


def test_verify_checks_min_cosine_and_its_report_path(good_run, tmp_path):
    for value in ("nan", "inf", "1.5", "-2"):
        with pytest.raises(ConfigError, match=rf"--min-cosine must be a finite number >= -1 and <= 1, got {value}"):
            gf_extract("--verify", good_run, "--out", good_run, "--min-cosine", value)
    reference = tmp_path / "ref.pth"
    torch.save({"v1": torch.zeros(4, 256)}, reference)
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": true}')
    (tmp_path / "reports").mkdir()
    for report, match in ((reference, r"--report .*ref\.pth is the same file as --verify"),
                          (good_run / "features.json", r"--report .*features\.json exists and was not written by "
                                                       r"gf extract --verify"),
                          (notes, r"--report .*notes\.json exists and was not written by gf extract --verify"),
                          (tmp_path / "reports", r"--report .*reports is a folder; give the path of a JSON file")):
        before = _snapshot(tmp_path) if report != good_run / "features.json" else report.read_bytes()
        with pytest.raises(ConfigError, match=match):
            gf_extract("--verify", reference, "--out", good_run, "--report", report)
        assert (_snapshot(tmp_path) if report != good_run / "features.json" else report.read_bytes()) == before
    mine = tmp_path / "report.json"
    assert gf_extract("--verify", good_run, "--out", good_run, "--report", mine) == 0
    first = json.loads(mine.read_text())
    assert first["written_by"] == "gf extract --verify" and first["summary"]["ok"]
    assert gf_extract("--verify", good_run, "--out", good_run, "--report", mine) == 0  # its own report is replaced


def test_a_refused_or_failed_run_does_not_lock_out_the_corrected_rerun(videos, tmp_path, monkeypatch):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="--fps"):
        extract(videos / "good.txt", out, "--fps", "nan")
    assert not out.exists()
    assert extract(videos / "good.txt", out, "--fps", "2") == 0
    assert json.loads((out / "features.json").read_text())["sampling"]["fps"] == 2.0

    # a run that dies after writing its recipe, before storing a sample (say out of memory at
    # this input size): the folder it created is removed, so another size is not "another recipe"
    from gf.extraction import backbone as backbone_module

    real = backbone_module.create_backbone

    def runs_out_of_memory(*a, **k):
        made = real(*a, **k)
        made.model = lambda x: (_ for _ in ()).throw(RuntimeError("CUDA out of memory"))
        return made

    monkeypatch.setattr(backbone_module, "create_backbone", runs_out_of_memory)
    oom = tmp_path / "oom"
    with pytest.raises(RuntimeError, match="out of memory"):
        extract(videos / "good.txt", oom, "--input-size", "96")
    assert not oom.exists()
    monkeypatch.setattr(backbone_module, "create_backbone", real)
    assert extract(videos / "good.txt", oom, "--input-size", "64") == 0

    # a run where every video failed stored nothing: its recipe does not refuse the next one
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{videos / 'bad.mp4'}\n")
    failed = tmp_path / "failed"
    with pytest.raises(DataFileError, match="1 of 1 videos failed"):
        extract(bad, failed, "--num-frames", "5")
    assert (failed / "features.json").exists() and (failed / "failures.jsonl").exists()
    assert extract(videos / "good.txt", failed, "--num-frames", "4") == 0
    assert json.loads((failed / "features.json").read_text())["sampling"]["num_frames"] == 4
    assert not (failed / "failures.jsonl").exists()
    with pytest.raises(ConfigError, match="another recipe"):  # now it stores features: a change is refused
        extract(videos / "good.txt", failed, "--num-frames", "5")


# ---------------------------------------------------------------------------------------
# an error shows its reason
# ---------------------------------------------------------------------------------------
def test_the_failure_error_names_the_first_failed_video_and_its_reason(base_run, videos, tmp_path):
    out, err = base_run
    assert "(the first: bad.mp4: cannot decode: decord:" in str(err)
    windows = tmp_path / "w.jsonl"
    windows.write_text(json.dumps({"question_id": "Sequence_T1_9", "video_id": "v2", "start": 10, "end": 20}) + "\n")
    with pytest.raises(DataFileError, match=r"the first: question Sequence_T1_9 of v2\.mp4: window 10-20 s is "
                                            r"outside the 2\.0 s video: it starts at or after the video's end\)"):
        extract(videos / "good.txt", tmp_path / "out", "--windows", windows)


def test_a_gf_error_in_a_decoding_worker_is_gfs_own_one_line_message(videos, tmp_path, monkeypatch, capsys):
    from gf.cli import main as gf_main
    from gf.extraction.extract import FrameDataset

    def damaged(self, i):
        raise DataFileError(f"{self.jobs[i].path}: the frame cache is damaged; delete it and rerun")

    monkeypatch.setattr(FrameDataset, "__getitem__", damaged)  # the forked worker inherits the patch
    argv = ["extract", "--videos", str(videos / "good.txt"), "--out", str(tmp_path / "out"), "--no-progress",
            *[x for kv in DEFAULTS.items() if kv[0] != "--workers" for x in kv], "--workers", "1"]
    assert gf_main(argv) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"gf extract: error: {videos / 'v1.mp4'}: the frame cache is damaged; delete it and rerun"]
    assert not (tmp_path / "out").exists()  # it created the folder and stored nothing: removed


@pytest.mark.parametrize("fmt", ["pth", "h5"])
def test_a_close_killed_while_removing_its_parts_keeps_the_frame_metadata(tmp_path, fmt):
    """A kill inside close()'s removal of .parts/ can leave a part's .npy without its .json.
    The rerun gathers it again; its frames.json entry (times, source, window) must stay the
    one written before, not become {} in a run that reports success."""
    import shutil

    from gf.extraction.writers import make_writer

    out = tmp_path / "feats"
    writer = make_writer(str(out), fmt)
    metas = {f"v{i}": {"times": [0.5 * i, 0.5 * i + 1.0], "source": f"v{i}.mp4"} for i in range(3)}
    for key, meta in metas.items():
        writer.add(key, np.full((2, 4), float(key[1:]), np.float32), meta)
    kept = {p.name: p.read_bytes() for p in (out / ".parts").iterdir()}
    writer.close()
    assert json.loads((out / "frames.json").read_text()) == metas
    (out / ".parts").mkdir()  # what the interrupted rmtree left: v1's array, not its metadata
    npy = next(name for name in kept if name.endswith(".npy") and "v1" in name)
    (out / ".parts" / npy).write_bytes(kept[npy])
    make_writer(str(out), fmt).close()
    assert json.loads((out / "frames.json").read_text()) == metas
