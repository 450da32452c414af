"""What gf does with inputs that are wrong in ways a run would otherwise not notice: features
with another dimension or NaN past the first key, text files that are not UTF-8, files that
are not checkpoints, `gf prepare` over existing annotations or concurrently, names that would
leave their folder, empty splits; and the split fingerprint that records a run's inputs."""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import gf.benchmarks.nextqa.converter as nextqa_converter
from gf.benchmarks.egotaskqa.converter import read_answer_set
from gf.benchmarks.nextqa.converter import read_split_csv
from gf.benchmarks.star.builder import StarBuilder
from gf.common.errors import (CheckpointError, CheckpointNotFoundError, ConfigError, DataFileError, DatasetError,
                              GfError, OutputLockedError)
from gf.common.io import LOCK_NAME, atomic_write_text, load_json, load_jsonl, output_lock, remove_stale_temp_files
from gf.common.safe_load import torch_load_safe
from gf.datasets.text_files import read_class_lines
from gf.datasets.converters import prepare
from gf.datasets.converters.charades import read_charades_csvs
from gf.datasets.feature_stores import NpyFolderStore, PthDictStore
from gf.datasets.webdataset_store import write_webdataset_shards

from test_egotaskqa import write_raw as write_egotaskqa_raw
from test_nextqa import write_nextqa_raw
from test_star_builder import MAX_FEATS, write_star_bundle
from test_star_converter import write_release

REPO = Path(__file__).resolve().parents[1]
LATIN1 = "café".encode("latin-1")  # b"caf\xe9": not UTF-8


@pytest.fixture
def bundle(tmp_path):
    return write_star_bundle(tmp_path)


def star_builder(bundle, **overrides) -> StarBuilder:
    cfg = {"data_root": str(bundle["dir"].parent), "max_feats": MAX_FEATS, "max_events": 3}
    cfg.update(overrides)
    return StarBuilder(cfg)


def rewrite_features(bundle, **changes) -> None:
    """Replace some keys' features in the bundle's s3d.pth (dict order is kept)."""
    feats = dict(bundle["features"])
    feats.update(changes)
    torch.save(feats, bundle["dir"] / "vis_db" / "s3d.pth")


def qids(bundle, split):
    return [r["question_id"] for r in bundle["splits"][split]]


# ------------------------------------------------------------------------------------------
# 1. features are checked on every sample
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "val"])
def test_every_sample_feature_dim_is_checked_not_only_the_first_key(bundle, split):
    bad = qids(bundle, split)[2]  # not the store's first key, which sets the dimension
    rewrite_features(bundle, **{bad: torch.randn(5, 6)})
    ds = star_builder(bundle).build_datasets([split])[split]  # feature_dim: null = from the first key
    ds[0]
    with pytest.raises(DataFileError, match=rf"s3d\.pth: feature key '{bad}'.*dimension 6.*feature_dim=8"):
        ds[2]


@pytest.mark.parametrize("split", ["train", "val"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_features_are_an_error_naming_key_and_store(bundle, split, value):
    bad = qids(bundle, split)[1]
    feats = bundle["features"][bad].clone()
    feats[1, 3] = value
    rewrite_features(bundle, **{bad: feats})
    ds = star_builder(bundle).build_datasets([split])[split]
    ds[0]
    with pytest.raises(DataFileError, match=rf"feature file .*s3d\.pth: feature key '{bad}'.*frame\(s\) 1"):
        ds[1]


# ------------------------------------------------------------------------------------------
# 2. text files that are not UTF-8
# ------------------------------------------------------------------------------------------
def _not_utf8(path: Path, lines_before: int = 2) -> Path:
    path.write_bytes(b"ok line\n" * lines_before + b"the " + LATIN1 + b" line\nlast\n")
    return path


def test_load_json_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'{\n"x": 1,\n"name": "' + LATIN1 + b'"\n}\n')
    with pytest.raises(DataFileError, match=r"a\.json:3: .*not UTF-8 .*byte 0xe9 at column 13.*re-save the file as UTF-8"):
        load_json(path)


def test_load_jsonl_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"x": 1}\n\n{"x": "' + LATIN1 + b'"}\n')
    with pytest.raises(DataFileError, match=r"a\.jsonl:3: .*not UTF-8.*re-save"):
        load_jsonl(path)


@pytest.mark.parametrize("reader, name", [
    (read_class_lines, "action_mapping.txt"),
    (read_answer_set, "answer_set.txt"),
    (lambda p: read_charades_csvs([p], lambda row, where: row["actions"]), "Charades_v1_train.csv"),
    (read_split_csv, "val.csv"),
])
def test_text_readers_name_the_line_that_is_not_utf8(tmp_path, reader, name):
    path = tmp_path / name
    if name.endswith(".csv"):
        header = b"id,actions\n" if name.startswith("Charades") else \
            b"video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
        row = b"V1,c000 0 1\n" if name.startswith("Charades") else b"1,2,3,4,q,0,0,CW,a,b,c,d,e\n"
        path.write_bytes(header + row + b"V2," + LATIN1 + b"\n")
    else:
        _not_utf8(path)
    with pytest.raises(DataFileError, match=rf"{name}:3: .*not UTF-8.*re-save the file as UTF-8"):
        reader(path)


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("reader, name, text, first", [
    (load_json, "STAR_train.json", b'[{"id": 1}]', [{"id": 1}]),
    (load_jsonl, "train.jsonl", b'{"id": 1}\n', [{"id": 1}]),
    (read_class_lines, "action_classes.txt", b"a000 Holding a bag\r\na001 x\r\n", ["a000 Holding a bag", "a001 x"]),
    (read_answer_set, "answer_set.txt", b"yes\r\nno\r\n", ["yes", "no"]),
    (lambda p: read_charades_csvs([p], lambda row, where: row["actions"]), "Charades_v1_train.csv",
     b"id,actions\nV1,c000 0 1\n", {"V1": "c000 0 1"}),
])
def test_text_readers_drop_a_utf8_bom_so_it_is_never_part_of_a_value(tmp_path, reader, name, text, first):
    """A BOM (written by Windows editors) kept as U+FEFF would make the first class or answer
    never match, the Charades header lack 'id', and JSON refuse the file."""
    path = tmp_path / name
    path.write_bytes(BOM + text)
    assert reader(path) == first


def test_skip_file_not_utf8_names_file_and_line(bundle):
    _not_utf8(bundle["dir"] / "skip.txt", lines_before=0)
    with pytest.raises(DataFileError, match=r"skip\.txt:1: skip file is not UTF-8"):
        star_builder(bundle, skip_file="skip.txt").build_datasets(["val"])


# ------------------------------------------------------------------------------------------
# 3. files that are not checkpoints
# ------------------------------------------------------------------------------------------
def _not_checkpoints(tmp_path: Path) -> dict:
    torch.save({"w": torch.ones(64)}, tmp_path / "good.pth")
    torch.save({"w": torch.ones(64)}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    good, legacy = (tmp_path / "good.pth").read_bytes(), (tmp_path / "legacy.pth").read_bytes()
    cases = {
        "random": np.random.default_rng(0).bytes(4096),
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "truncated_legacy": legacy[: len(legacy) // 2],
        "text": b"model weights are on the other disk\n",
    }
    paths = {}
    for name, data in cases.items():
        (tmp_path / f"{name}.pth").write_bytes(data)
        paths[name] = tmp_path / f"{name}.pth"
    (tmp_path / "folder.pth").mkdir()
    paths["folder"] = tmp_path / "folder.pth"
    return paths


def test_torch_load_safe_refuses_files_that_are_not_checkpoints_in_one_clear_error(tmp_path):
    for name, path in _not_checkpoints(tmp_path).items():
        with pytest.raises(CheckpointError) as info:
            torch_load_safe(path)
        msg = str(info.value)
        assert str(path) in msg, name
        expected = {"folder": "is a folder, not a checkpoint",
                    "empty": "is not a torch checkpoint: the file is empty"}.get(name,
                                                                             "is not a (complete) torch checkpoint")
        assert expected in msg, (name, msg)
        assert "weights_only=False" not in msg and "weights_only` set to `False" not in msg, (name, msg)
        assert info.value.exit_code == 4


def test_pickled_objects_are_refused_without_suggesting_weights_only_false(tmp_path):
    torch.save({"w": torch.ones(2), "cfg": zipfile.ZipInfo("x")}, tmp_path / "pickled.pth")
    with pytest.raises(CheckpointError, match=r"pickled\.pth: the checkpoint holds a pickled object "
                                              r"\(zipfile\.ZipInfo\).*weights_only=True") as info:
        torch_load_safe(tmp_path / "pickled.pth")
    assert "weights_only=False" not in str(info.value) and "False" not in str(info.value)


def test_missing_checkpoint_is_checkpoint_not_found(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="checkpoint not found: .*nope.pth"):
        torch_load_safe(tmp_path / "nope.pth")


def test_a_feature_file_that_is_not_a_torch_file_says_feature_file(tmp_path):
    paths = _not_checkpoints(tmp_path)
    for name in ("random", "truncated", "empty"):
        with pytest.raises(DataFileError, match=r"not a (\(complete\) )?torch feature file") as info:
            PthDictStore(paths[name])["w"]
        assert not isinstance(info.value, CheckpointError)
        assert "weights_only=False" not in str(info.value)


# ------------------------------------------------------------------------------------------
# 4. gf prepare never destroys what exists; one writer per folder
# ------------------------------------------------------------------------------------------
@pytest.fixture
def nextqa_raw(tmp_path):
    return write_nextqa_raw(tmp_path / "raw")


def _tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_prepare_refuses_existing_annotations_without_overwrite(nextqa_raw, tmp_path):
    out = tmp_path / "NExT-QA"
    prepare("nextqa", nextqa_raw, out)
    before = _tree(out)
    with pytest.raises(DatasetError, match=rf"{out} already holds annotations .*txt_db/.*overwrite=True "
                                           rf"\(gf prepare --overwrite\).*another output folder"):
        prepare("nextqa", nextqa_raw, out)
    assert _tree(out) == before
    prepare("nextqa", nextqa_raw, out, overwrite=True)
    assert _tree(out) == before  # same input, same files


def test_prepare_refuses_a_foreign_txt_db(nextqa_raw, tmp_path):
    out = tmp_path / "NExT-QA"
    (out / "txt_db").mkdir(parents=True)
    (out / "txt_db" / "authors_mc.csv").write_text("video_id,qid\n")
    with pytest.raises(DatasetError, match="already holds annotations"):
        prepare("nextqa", nextqa_raw, out)


def test_prepare_overwrite_replaces_only_the_converters_files(nextqa_raw, tmp_path):
    out = tmp_path / "NExT-QA"
    prepare("nextqa", nextqa_raw, out)
    (out / "vis_db").mkdir()
    (out / "vis_db" / "features.pth").write_bytes(b"user features")
    (out / "txt_db" / "skip.txt").write_text("1_2\n")
    (out / "notes.md").write_text("mine")
    summary = prepare("nextqa", nextqa_raw, out, overwrite=True, splits=["val"])
    assert sorted(summary["splits"]) == ["val"]
    assert (out / "vis_db" / "features.pth").read_bytes() == b"user features"
    assert (out / "txt_db" / "skip.txt").read_text() == "1_2\n"
    assert (out / "notes.md").read_text() == "mine"
    # train/test of the earlier conversion are gone: the folder never mixes two conversions
    assert sorted(p.name for p in (out / "txt_db").iterdir()) == ["skip.txt", "val.jsonl"]
    assert json.loads((out / "meta.json").read_text())["splits"].keys() == {"val"}


def test_failed_prepare_leaves_the_old_folder_untouched_and_no_temporary_folder(nextqa_raw, tmp_path, monkeypatch):
    out = tmp_path / "NExT-QA"
    prepare("nextqa", nextqa_raw, out)
    before = _tree(out)

    def fail(path, text):  # the README is written last: the split files and meta.json are done by then
        raise OSError("disk full")

    monkeypatch.setattr(nextqa_converter, "atomic_write_text", fail)
    with pytest.raises(OSError, match="disk full"):
        prepare("nextqa", nextqa_raw, out, overwrite=True, splits=["val"])
    assert _tree(out) == before
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "map_vid_vidorID.json", "meta.json", "txt_db"]
    # into a new folder: nothing is left at all
    with pytest.raises(OSError, match="disk full"):
        prepare("nextqa", nextqa_raw, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["NExT-QA", "raw"]


def test_prepare_star_keeps_the_users_features_and_reports_the_real_output_folder(tmp_path):
    rel = write_release(tmp_path)
    out = tmp_path / "data" / "STAR"
    prepare("star", rel["raw"], out)
    (out / "vis_db" / "s3d.pth").write_bytes(b"the authors' features")
    with pytest.raises(DatasetError, match="already holds annotations"):
        prepare("star", rel["raw"], out)
    summary = prepare("star", rel["raw"], out, overwrite=True)
    assert (out / "vis_db" / "s3d.pth").read_bytes() == b"the authors' features"
    assert sorted(p.name for p in (out / "vis_db").iterdir()) == ["README.md", "s3d.pth"]
    # the summary names the output folder, not the staging folder the converter wrote into
    assert summary["out_dir"] == str(out)
    assert json.loads((out / "prepare_summary.json").read_text())["out_dir"] == str(out)
    assert sorted(p.name for p in out.iterdir()) == ["prepare_summary.json", "txt_db", "vis_db"]


def test_prepare_unknown_option_names_the_converters_options(nextqa_raw, tmp_path):
    with pytest.raises(ConfigError, match=r"gf prepare nextqa: .*'split'.*options are: splits"):
        prepare("nextqa", nextqa_raw, tmp_path / "out", split=["val"])
    assert not (tmp_path / "out").exists()


def test_second_prepare_into_a_locked_folder_is_refused_naming_the_first(nextqa_raw, tmp_path):
    out = tmp_path / "NExT-QA"
    with output_lock(out, "gf prepare nextqa"):
        with pytest.raises(OutputLockedError, match=rf"{out} is in use by process {os.getpid()} "
                                                    rf"\(gf prepare nextqa\)") as info:
            prepare("nextqa", nextqa_raw, out)
        assert info.value.pid == os.getpid() and info.value.exit_code == 2
        assert isinstance(info.value, GfError)
    assert not (out / "txt_db").exists() and not (out / LOCK_NAME).exists()
    prepare("nextqa", nextqa_raw, out)  # free again


def test_output_lock_creates_the_folder_and_removes_its_lock_file(tmp_path):
    folder = tmp_path / "a" / "run"
    with output_lock(folder, "gf train") as lock:
        assert folder.is_dir() and lock.held
        assert json.loads((folder / LOCK_NAME).read_text()) == {"pid": os.getpid(), "command": "gf train"}
    assert not (folder / LOCK_NAME).exists() and not lock.held
    lock = output_lock(folder, "gf evaluate")  # usable without `with`
    lock.__enter__()
    lock.__exit__(None, None, None)
    assert not (folder / LOCK_NAME).exists()


HOLD_LOCK = """
import sys, time
from gf.common.io import output_lock
lock = output_lock(sys.argv[1], "gf train --cfg-path x.yaml")
lock.__enter__()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_killed_processs_lock_is_refused_while_alive_then_taken_over(tmp_path, caplog):
    """Taken over, the log says whose lock it was; the lock file then holds our record."""
    folder = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(OutputLockedError, match=rf"in use by process {proc.pid} \(gf train --cfg-path x\.yaml\)"):
            with output_lock(folder, "gf train"):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == proc.pid  # stale file left by the dead process
    with caplog.at_level(logging.INFO, logger="gf.common.io"), output_lock(folder, "gf train"):
        assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert (f"taking over the stale lock of process {proc.pid} (gf train --cfg-path x.yaml), which has ended"
            in caplog.text)


def test_remove_stale_temp_files_deletes_only_atomic_write_leftovers(tmp_path):
    (tmp_path / "eval").mkdir()
    leftovers = []
    for folder, name in ((tmp_path, "checkpoint_last.pth"), (tmp_path / "eval", "val_report.json")):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=str(folder))
        os.close(fd)
        leftovers.append(Path(tmp))
    keep = [tmp_path / "checkpoint_last.pth", tmp_path / "notes.tmp", tmp_path / ".hidden.tmp",
            tmp_path / "eval" / ".x.json.TOOLONGNAME.tmp"]
    for path in keep:
        path.write_text("x")
    atomic_write_text(tmp_path / "done.json", "{}")
    assert remove_stale_temp_files(tmp_path) == sorted(leftovers)
    assert all(not p.exists() for p in leftovers) and all(p.exists() for p in keep)
    assert remove_stale_temp_files(tmp_path) == [] and remove_stale_temp_files(tmp_path / "absent") == []


def test_remove_stale_temp_files_with_owned_deletes_only_the_leftovers_of_the_files_it_names(tmp_path):
    """A job of an array removes its own half-written files, never another job's (being written)."""
    (tmp_path / "meta").mkdir()
    paths = {}
    for folder, name in ((tmp_path, "part-0-of-2-000000.tar"), (tmp_path, "part-1-of-2-000000.tar"),
                         (tmp_path / "meta", "part-0-of-2-000001.tar")):
        fd, paths[name] = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=str(folder))
        os.close(fd)
    asked = []
    mine = (lambda name: asked.append(name) or name.startswith("part-0-of-2-"))
    assert remove_stale_temp_files(tmp_path, recursive=False, owned=mine) == [Path(paths["part-0-of-2-000000.tar"])]
    assert sorted(asked) == ["part-0-of-2-000000.tar", "part-1-of-2-000000.tar"]  # the names they were written for
    assert os.path.exists(paths["part-1-of-2-000000.tar"]) and os.path.exists(paths["part-0-of-2-000001.tar"])


# ------------------------------------------------------------------------------------------
# 5. names that become paths stay inside their folder
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["../secret", "/etc/passwd", "sub/clip", "..", "."])
def test_npy_store_refuses_keys_that_would_leave_its_folder(tmp_path, key):
    (tmp_path / "npy").mkdir()
    np.save(tmp_path / "npy" / "clip.npy", np.zeros((2, 3), np.float32))
    (tmp_path / "secret.npy").write_bytes(b"")
    store = NpyFolderStore(tmp_path / "npy")
    with pytest.raises(DataFileError, match=rf"feature key {re.escape(repr(key))} .*plain name"):
        store[key]
    with pytest.raises(DataFileError, match=rf"feature key {re.escape(repr(key))}"):
        store.missing(["clip", key])


@pytest.mark.parametrize("key", ["", "a\x00b"])
def test_webdataset_writer_refuses_keys_that_cannot_be_member_names(tmp_path, key):
    with pytest.raises(DataFileError, match=rf"feature key {re.escape(repr(key))} cannot be written"):
        write_webdataset_shards({"ok": np.zeros((2, 3), np.float32), key: np.zeros((2, 3), np.float32)},
                                tmp_path / "wds", num_shards=1)
    assert not list((tmp_path / "wds").glob("*.tar")) if (tmp_path / "wds").exists() else True


def test_webdataset_writer_refuses_a_prefix_that_leaves_the_folder(tmp_path):
    with pytest.raises(DataFileError, match=r"shard prefix '\.\./features'"):
        write_webdataset_shards({"ok": np.zeros((2, 3), np.float32)}, tmp_path / "wds", num_shards=1,
                                prefix="../features")
    assert not list(tmp_path.glob("*.tar"))


def test_nextqa_split_names_cannot_leave_their_folders(nextqa_raw, tmp_path):
    (tmp_path / "val.csv").write_bytes((nextqa_raw / "val.csv").read_bytes())  # <raw>/../val.csv exists
    with pytest.raises(DatasetError, match=r"split name '\.\./val' holds a path separator"):
        nextqa_converter.convert(nextqa_raw, tmp_path / "out", splits=["../val"])
    assert not (tmp_path / "out").exists()  # would have written out/txt_db/../val.jsonl


# ------------------------------------------------------------------------------------------
# 6. split fingerprint
# ------------------------------------------------------------------------------------------
def test_split_fingerprint_is_deterministic_and_changes_with_every_input(bundle):
    star = bundle["dir"]
    fp = lambda split="val", **kw: star_builder(bundle, **kw).split_fingerprint(split)  # noqa: E731
    base = fp()
    assert len(base) == 64 and base == fp() and base == star_builder(bundle).split_fingerprint("val")
    assert fp("train") != base
    seen = {base}

    def changed(**kw) -> str:
        value = fp(**kw)
        assert value not in seen
        seen.add(value)
        return value

    changed(max_feats=MAX_FEATS + 1)  # the config
    (star / "txt_db" / "train.jsonl").write_text((star / "txt_db" / "train.jsonl").read_text() + "\n")
    assert fp() == base  # another split's annotations
    with open(star / "txt_db" / "val.jsonl", "a") as fh:
        fh.write("\n")
    base = changed()
    with open(star / "txt_db" / "events.json", "a") as fh:
        fh.write(" ")
    base = changed()
    with open(star / "txt_db" / "action_mapping.txt", "a") as fh:
        fh.write("\n")
    base = changed()
    st = (star / "vis_db" / "s3d.pth").stat()
    os.utime(star / "vis_db" / "s3d.pth", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    base = changed()  # the features: identity (size, mtime), not bytes
    (star / "skip.txt").write_text("nothing\n")
    with_skip = changed(skip_file="skip.txt")
    (star / "skip.txt").write_text("nothing at all\n")
    changed(skip_file="skip.txt")
    assert fp(skip_file="skip.txt") != with_skip and fp() == base


def test_split_fingerprint_of_an_unknown_split_is_an_error(bundle):
    with pytest.raises(DatasetError, match="unknown split"):
        star_builder(bundle).split_fingerprint("dev")


# ------------------------------------------------------------------------------------------
# 7. empty splits
# ------------------------------------------------------------------------------------------
def test_an_annotation_file_without_questions_is_an_error_naming_file_and_split(bundle):
    (bundle["dir"] / "txt_db" / "val.jsonl").write_text("\n")
    with pytest.raises(DatasetError, match=r"val\.jsonl has no questions for split 'val'"):
        star_builder(bundle).build_datasets(["val"])
    assert len(star_builder(bundle).build_datasets(["train"])["train"]) == 8  # other splits are fine


@pytest.mark.parametrize("benchmark, empty_file, fix", [
    ("star", "STAR_val.json", "move it out of the --raw folder"),
    ("nextqa", "test.csv", r"""leave it out: --set 'splits=\["train", "val"\]'"""),
    ("egotaskqa", "direct/formatted_test_qas_encode.json", "each split type needs train, val and test"),
])
def test_prepare_refuses_a_split_without_questions_before_writing_anything(tmp_path, benchmark, empty_file, fix):
    """Such a split was written as an empty <split>.jsonl, exit 0; only gf train refused it."""
    if benchmark == "star":
        write_release(tmp_path)
    raw = write_nextqa_raw(tmp_path / "raw") if benchmark == "nextqa" else \
        write_egotaskqa_raw(tmp_path) if benchmark == "egotaskqa" else tmp_path / "raw"
    path = raw / empty_file
    path.write_text(path.read_text().splitlines()[0] + "\n" if benchmark == "nextqa" else "[]")
    split = "val" if benchmark == "star" else "test"
    with pytest.raises(DataFileError, match=rf"{re.escape(str(path))}: no questions for split '{split}' .*{fix}"):
        prepare(benchmark, raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_skip_file_that_removes_every_question_is_an_error(bundle):
    (bundle["dir"] / "skip.txt").write_text("".join(q + "\n" for q in qids(bundle, "val")))
    with pytest.raises(DatasetError, match=r"star val .*val\.jsonl.*all 4 questions are listed in the skip file "
                                           r".*skip\.txt"):
        star_builder(bundle, skip_file="skip.txt").build_datasets(["val"])
    ds = star_builder(bundle, skip_file="skip.txt").build_datasets(["train"])["train"]  # train keeps its questions
    assert len(ds) == 8
