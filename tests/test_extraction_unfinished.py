"""A ``gf extract`` output that did not finish says so (``state.json``), and a builder that finds
questions without features in it names the unfinished extraction and the rerun, never
``skip_file`` (leaving those questions out would drop samples a rerun extracts).

Same videos and backbone as ``test_extraction.py``; the kill is real (SIGKILL in a child
process while it writes its second shard), as ``timeout -s KILL`` gives it.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gf.common.errors import DataFileError
from gf.extraction import decode

from test_extraction import extract, gf_extract
from test_extraction_shards import KILLER, env_with, gf_command
from video_fixtures import write_test_videos

KEYS = ["v1", "v2", "v3"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_test_videos(folder, corrupt=False)  # v1 v2 v3
    return folder


def build(root: Path, features, keys=KEYS):
    """The `star` builder's val split over ``keys`` (the feature key is the video id; question ids
    carry a STAR type, as the builder requires), as gf train builds it."""
    from gf.common.registry import registry

    ann = root / "STAR" / "txt_db"
    ann.mkdir(parents=True, exist_ok=True)
    rows = [{"question_id": f"Interaction_{k}", "video_id": k, "question": "q?", "options": list("abcd"), "answer": 0} for k in keys]
    (ann / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (ann / "action_mapping.txt").write_text("open\nclose")
    builder = registry.get_builder_class("star")({
        "data_root": str(root), "features": str(features), "events": None, "max_feats": 6, "key_field": "video_id",
        "annotations": {"val": "txt_db/val.jsonl"}, "splits": ["val"], "unlabelled_splits": []})
    return builder.build_datasets(["val"])["val"]


def state(out):
    return json.loads((Path(out) / "state.json").read_text())


def test_a_killed_run_is_named_with_its_rerun_and_the_rerun_completes_the_folder(videos, tmp_path):
    out = tmp_path / "out"
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)
    cmd = gf_command(videos, out)
    killed = subprocess.run([sys.executable, str(killer), *cmd[3:]], env=env_with(), capture_output=True, text=True,
                            timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # what made the folder look finished: a recipe, a shard index and complete shards
    assert (out / "features.json").exists() and (out / "shards.json").exists()
    assert (out / "features-000000.tar").exists()

    with pytest.raises(DataFileError) as err:
        build(tmp_path, out)
    message = str(err.value)
    assert "2 of 3 questions have no features" in message
    assert f"{out}: gf extract into it did not finish" in message
    assert "rerun the same gf extract command, it resumes" in message
    assert "skip_file" not in message
    assert state(out)["done"] is False  # what told it
    # questions whose features are all there are read: the marker only explains missing ones
    assert len(build(tmp_path / "stored", out, keys=["v1"])) == 1

    again = subprocess.run(cmd, env=env_with(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["skipped"] == 1 and state(out)["done"] is True
    assert state(out)["stored"] == 3 and state(out)["failed"] == 0
    assert len(build(tmp_path, out)) == 3

    # a shard the shard index lists that is gone: named, with the rerun that restores it
    (out / "features-000001.tar").unlink()
    with pytest.raises(DataFileError, match=r"shard features-000001\.tar listed in shards\.json is missing: "
                                            r"restore it, or rerun the gf extract command") as err:
        build(tmp_path, out)
    assert "skip_file" not in str(err.value)


def test_a_folder_without_the_marker_loads_and_keeps_the_skip_file_advice(videos, tmp_path):
    """An output an older gf wrote (no state.json) is trusted as before; so is a finished one
    whose annotations ask for a key it never held (the usual advice stands)."""
    out = tmp_path / "out"
    assert extract(videos, out, "--shard-size", "1") == 0
    old = tmp_path / "old"
    shutil.copytree(out, old)
    (old / "state.json").unlink(missing_ok=True)
    assert len(build(tmp_path, old)) == 3
    assert state(out)["done"] is True
    for folder in (old, out):
        with pytest.raises(DataFileError, match=r"1 of 4 questions have no features .*skip_file"):
            build(tmp_path / folder.name, folder, keys=KEYS + ["v9"])


def test_a_stopped_run_into_a_gathered_file_and_an_unmerged_array_are_named(videos, tmp_path, monkeypatch):
    """The marker describes the folder whatever the format: the one file of `--format pth`, and
    a job array's folder until `--merge` finds every part done."""
    real = decode.decode_video

    def stopped_at_v3(path, *a, **k):
        if str(path).endswith("v3.mp4"):
            raise KeyboardInterrupt  # Ctrl-C while the third video decodes
        return real(path, *a, **k)

    monkeypatch.setattr(decode, "decode_video", stopped_at_v3)
    with pytest.raises(KeyboardInterrupt):
        extract(videos, tmp_path / "pth", "--format", "pth", "--batch-size", "4")
    monkeypatch.setattr(decode, "decode_video", real)
    with pytest.raises(DataFileError, match=r"1 of 3 questions .*gf extract into it did not finish .*rerun the "
                                            r"same gf extract command, it resumes") as err:
        build(tmp_path, tmp_path / "pth" / "features.pth")
    assert "skip_file" not in str(err.value)
    assert extract(videos, tmp_path / "pth", "--format", "pth") == 0
    assert len(build(tmp_path, tmp_path / "pth" / "features.pth")) == 3

    array = tmp_path / "array"
    assert extract(videos, array, "--shard", "0/2") == 0  # part 1 never runs
    with pytest.raises(DataFileError, match=r"did not finish .*--shard I/2; it resumes\), then gf extract --merge "
                                            rf"--out {array}") as err:
        build(tmp_path, array)
    assert "skip_file" not in str(err.value)
    assert extract(videos, array, "--shard", "1/2") == 0
    assert state(array)["done"] is False  # every part done, not merged yet: its questions all have features
    assert len(build(tmp_path, array)) == 3
    assert gf_extract("--merge", "--out", array) == 0
    assert state(array)["done"] is True and len(build(tmp_path, array)) == 3
