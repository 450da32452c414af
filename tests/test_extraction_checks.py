"""gf extract's checks of what it compares, merges and writes: NaN/inf features, options a
mode does not use, and damaged job-array bookkeeping, each refused with one line naming it.

Same fixtures as ``test_extraction.py``: real videos and timm's ``test_efficientnet``.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from gf.common.errors import ConfigError, DataFileError, ModelInputError

from test_extraction import BACKBONE, extract, gf_extract
from video_fixtures import write_test_videos


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_test_videos(folder)
    (folder / "good.txt").write_text("v1.mp4\nv2.mp4\nv3.mp4\n")
    return folder


@pytest.fixture(scope="module")
def npy_run(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("npy") / "out"
    assert extract(videos / "good.txt", out, "--format", "npy") == 0
    return out


def _strict_json(path):
    def refuse(name):
        raise AssertionError(f"{path} holds {name}: not standard JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_verify_counts_nan_and_inf_features_as_differing_in_a_standard_json_report(npy_run, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(npy_run, bad)
    rows = np.load(bad / "v2.npy")
    rows[0, :3] = [np.nan, np.inf, -np.inf]
    np.save(bad / "v2.npy", rows)
    report = tmp_path / "report.json"
    for out, ref in ((bad, npy_run), (npy_run, bad)):  # NaN on either side
        with pytest.raises(DataFileError, match="1 keys holding NaN/inf values") as err:
            gf_extract("--verify", ref, "--out", out, "--report", report)
        assert err.value.exit_code == 3
        data = _strict_json(report)
        assert not data["summary"]["ok"] and data["summary"]["non_finite"] == 1
        assert data["per_key"]["v2"]["cosine"] is None
        assert data["per_key"]["v2"]["non_finite"] == ([3, 0] if out == bad else [0, 3])
        assert data["per_key"]["v1"]["cosine"] == 1.0


def test_verify_refuses_two_stores_without_features(tmp_path):
    for name in ("a.pth", "b.pth"):
        torch.save({}, tmp_path / name)
    with pytest.raises(DataFileError, match="hold no features at all: nothing was compared"):
        gf_extract("--verify", tmp_path / "a.pth", "--out", tmp_path / "b.pth")


@pytest.mark.parametrize("extra, match", [
    (["--motion-backbone", "x"], "--verify compares existing features; drop --motion-backbone$"),
    (["--shard", "0/2"], "drop --shard$"),
    (["--num-frames", "8"], "drop --num-frames$"),
    # options with a default are refused too, even given at their default value
    (["--format", "npy"], "drop --format$"), (["--seed", "0"], "drop --seed$"),
    (["--workers", "0", "--window-tolerance", "3", "--batch-size", "64"], "drop --window-tolerance$"),
    (["--clip-stride", "1"], "drop --clip-stride$"), (["--timeout-per-video", "9"], "drop --timeout-per-video$"),
    (["--reference-dataset", "x"], r"--reference-dataset x names a dataset inside an HDF5 reference, but --verify "
                                   r".* is a npy store: drop --reference-dataset"),
    (["--reference-ids", "x"], r"--reference-ids x names a dataset .* is a npy store: drop --reference-ids"),
])
def test_verify_refuses_options_it_does_not_use_naming_them(npy_run, extra, match):
    with pytest.raises(ConfigError, match=match):
        gf_extract("--verify", npy_run, "--out", npy_run, *extra)


def test_verify_names_its_own_options_for_a_reference_it_cannot_read_and_a_report_inside_a_store(
        videos, npy_run, tmp_path):
    with pytest.raises(DataFileError, match=r"--verify .*good\.txt: cannot tell the feature format from the name; "
                                            r"give --reference-format \(formats: .*npy"):
        gf_extract("--verify", videos / "good.txt", "--out", npy_run)
    with pytest.raises(DataFileError, match=r"^--verify .*nothere\.pth: no such file or folder$"):  # no format advice
        gf_extract("--verify", tmp_path / "nothere.pth", "--out", npy_run)
    out = tmp_path / "out"
    shutil.copytree(npy_run, out)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(ConfigError, match=r"--report .*zz\.npy lies inside --out .*, a feature store"):
        gf_extract("--verify", npy_run, "--out", out, "--report", out / "zz.npy")
    assert sorted(p.name for p in out.iterdir()) == before


def test_an_hdf5_reference_with_other_ids_is_named_by_the_commands_own_option(npy_run, tmp_path):
    """The store's message named a config's ids_dataset key and Python's ids=, neither of
    which gf extract --verify has; --reference-ids now names the ids dataset."""
    import h5py

    keys = ["v1", "v2", "v3"]
    with h5py.File(tmp_path / "ref.h5", "w") as f:
        f["resnet_features"] = np.stack([np.load(npy_run / f"{k}.npy").astype(np.float32) for k in keys])
        f["video_ids"] = np.array([k.encode() for k in keys])
    with pytest.raises(DataFileError, match=r"^--verify .*ref\.h5: no dataset 'ids'; datasets in the file: "
                                            r"resnet_features, video_ids; name the right one with --reference-ids"):
        gf_extract("--verify", tmp_path / "ref.h5", "--out", npy_run)
    assert gf_extract("--verify", tmp_path / "ref.h5", "--reference-ids", "video_ids", "--out", npy_run) == 0


def test_a_video_file_as_videos_and_a_folder_as_windows_say_what_to_give(videos, tmp_path):
    """One video as --videos was read as a list (whole) and called "not UTF-8, re-save it";
    a folder as --windows was "not found"."""
    with pytest.raises(DataFileError, match=r"--videos .*v1\.mp4: is a video file; --videos takes a folder of "
                                            r"videos or a list file .*put the video in a folder"):
        extract(videos / "v1.mp4", tmp_path / "a")
    (tmp_path / "wdir").mkdir()
    with pytest.raises(DataFileError, match=r"windows file .*wdir is a folder, not a file; give the path of the file itself"):
        extract(videos / "good.txt", tmp_path / "b", "--windows", tmp_path / "wdir")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_merge_and_extract_refuse_the_options_of_verify(videos, tmp_path):
    with pytest.raises(ConfigError, match="--merge joins the parts already in --out; drop --report$"):
        gf_extract("--merge", "--out", tmp_path / "out", "--report", tmp_path / "mr.json")
    with pytest.raises(ConfigError, match="drop --report$"):
        extract(videos / "good.txt", tmp_path / "out", "--report", tmp_path / "r.json")
    # options that have a default, given at it or not: --merge uses none, an extraction not --min-cosine
    for flags in (["--format", "h5"], ["--seed", "4"], ["--shard-size", "1000"], ["--min-cosine", "0.99"]):
        with pytest.raises(ConfigError, match=f"--merge joins the parts already in --out; drop {flags[0]}$"):
            gf_extract("--merge", "--out", tmp_path / "out", *flags)
    with pytest.raises(ConfigError, match="belong to --verify REFERENCE .*; drop --min-cosine$"):
        extract(videos / "good.txt", tmp_path / "out", "--min-cosine", "0.99")
    assert not (tmp_path / "mr.json").exists() and not (tmp_path / "out").exists()


def test_verify_and_merge_accept_the_options_that_only_change_how_an_extraction_runs(npy_run, tmp_path):
    """--no-progress, --workers and --batch-size were refused by --verify and --merge, so a
    script passing one set of options to every step failed at its last one."""
    how = ["--no-progress", "--workers", "0", "--batch-size", "8"]
    gf_extract("--verify", npy_run, "--out", npy_run, *how)
    with pytest.raises(ConfigError) as err:  # refused for what --out holds, not for the options
        gf_extract("--merge", "--out", tmp_path / "none", *how)
    assert str(err.value).endswith("none: no such folder")


def test_merge_names_a_damaged_layout_or_plan(videos, tmp_path):
    whole = tmp_path / "whole"
    for i in range(2):
        extract(videos / "good.txt", whole, "--format", "npy", "--shard", f"{i}/2")
    for name, text, match in (
            ("layout.json", "[1, 2]", r"layout\.json: not a job array layout .*Restore it from a backup"),
            ("layout.json", '{"parts": "2", "fingerprint": "x"}', r"layout\.json: not a job array layout"),
            ("part-0-of-2/plan.json", "[]", r"plan\.json: not the plan of part 0/2 .*Rerun that part with the "
                                            r"same command \(--shard 0/2\)"),
            ("part-1-of-2/plan.json", '{"shard": [0, 2], "keys": []}', r"plan\.json: not the plan of part 1/2")):
        out = tmp_path / "copy"
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(whole, out)
        (out / "parts" / name).write_text(text)
        with pytest.raises(DataFileError, match=match) as err:
            gf_extract("--merge", "--out", out)
        assert err.value.exit_code == 3
    assert gf_extract("--merge", "--out", whole) == 0


def test_extract_refuses_a_backbone_giving_inf_before_writing_that_video(videos, tmp_path):
    import timm

    torch.manual_seed(0)
    state = timm.create_model(BACKBONE, num_classes=0).state_dict()
    for k in state:
        if "bn2.weight" in k or "conv_head.weight" in k:
            state[k] = state[k] * 1e4  # pooled features beyond float16's 65504: inf once stored
    torch.save(state, tmp_path / "big.pth")
    out = tmp_path / "out"
    with pytest.raises(ModelInputError, match=r"video v1 \(.*v1\.mp4\): the frames backbone test_efficientnet gave "
                                              r"\d+ NaN/inf feature value\(s\) .*float16.*nothing of this video was "
                                              r"written. Check the --weights") as err:
        extract(videos / "good.txt", out, "--format", "npy", "--weights", tmp_path / "big.pth")
    assert err.value.exit_code == 3
    assert not out.exists()  # nothing stored: the folder it created is gone


@pytest.mark.parametrize("create, name", [("gf.extraction.backbone:create_backbone", BACKBONE),
                                          ("gf.extraction.clip_backbone:create_clip_backbone",
                                           "torchvision:r3d_18")])
def test_a_backbone_given_both_a_weights_file_and_pretrained_is_refused_before_any_download(create, name, tmp_path,
                                                                                             monkeypatch):
    """The Python API refuses the pair too, not only gf extract's options: nothing is
    downloaded and no file is read (the Hub is never reached: offline)."""
    import importlib

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    module, func = create.split(":")
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"")
    with pytest.raises(ConfigError, match="either --weights FILE or --pretrained, not both"):
        getattr(importlib.import_module(module), func)(name, weights=str(weights), pretrained=True)
