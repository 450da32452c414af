"""Feature stores: every format on generated fixtures, errors, laziness, pickling, workers."""
from __future__ import annotations

import glob
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import gf.datasets.feature_stores as fs
from gf.common.errors import RegistryError
from gf.common.io import DataFileError
from gf.common.registry import registry
from gf.datasets.feature_stores import FeatureKeyError, HDF5Store, NpyFolderStore, PthDictStore, open_feature_store
from gf.datasets.webdataset_store import (WebDatasetStore, decode_wds_key, encode_wds_key, iter_webdataset_features,
                                          write_webdataset_shards)

REPO_ROOT = Path(__file__).resolve().parents[1]
DIM = 6
# a key with a dot, a slash and a percent sign exercises the webdataset key encoding
KEYS = ["vid0", "vid1", "vid2", "Interaction_T1_4", "clip.part2", "a/b%2E"]
FORMATS = ["pth", "pth_legacy", "hdf5", "npy", "webdataset"]


def _features(keys=KEYS, dim=DIM, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(3 + 2 * i, dim, generator=g) for i, k in enumerate(keys)}


def _build(fmt: str, root: Path, feats=None):
    """Write ``feats`` in format ``fmt`` under ``root``; return (store, expected dict)."""
    feats = _features() if feats is None else feats
    root.mkdir(parents=True, exist_ok=True)
    if fmt == "pth":
        torch.save(feats, root / "s3d.pth")
        return PthDictStore(root / "s3d.pth"), feats
    if fmt == "pth_legacy":
        torch.save(feats, root / "legacy.pth", _use_new_zipfile_serialization=False)
        return PthDictStore(root / "legacy.pth"), feats
    if fmt == "hdf5":
        # h5 rows must share a shape; pad every key to the longest T
        # (ids as utf-8 bytes, the MIST convention; "/" is fine in a dataset value)
        t_max = max(v.shape[0] for v in feats.values())
        arr = np.zeros((len(feats), t_max, DIM), np.float32)
        for row, v in enumerate(feats.values()):
            arr[row, : v.shape[0]] = v.numpy()
        with h5py.File(root / "feats.h5", "w") as f:
            f["ids"] = np.array([k.encode() for k in feats], dtype="S")
            f["resnet_features"] = arr
        expected = {k: torch.from_numpy(arr[i]) for i, k in enumerate(feats)}
        return HDF5Store(root / "feats.h5"), expected
    if fmt == "npy":
        # "/" cannot be part of a file name: the npy store only holds path-safe keys
        folder = root / "npy"
        folder.mkdir()
        kept = {k: v for k, v in feats.items() if "/" not in k}
        for k, v in kept.items():
            np.save(folder / f"{k}.npy", v.numpy())
        return NpyFolderStore(folder), kept
    if fmt == "webdataset":
        write_webdataset_shards(feats, root / "wds", num_shards=3)
        return WebDatasetStore(root / "wds"), feats
    raise AssertionError(fmt)


# ------------------------------------------------------------------------------------------
# behaviour common to all formats
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_store_reads_every_key_as_float32_frames(fmt, tmp_path):
    store, expected = _build(fmt, tmp_path)
    assert sorted(store.keys()) == sorted(expected)
    assert len(store) == len(expected)
    assert store.feature_dim == DIM
    for key, value in expected.items():
        assert key in store
        got = store[key]
        assert got.dtype == torch.float32 and got.ndim == 2
        torch.testing.assert_close(got, value.float(), rtol=0, atol=0)
    assert "no_such_video" not in store
    assert store.missing(["vid1", "nope", "vid0", "also_nope"]) == ["nope", "also_nope"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_returned_tensor_is_a_copy(fmt, tmp_path):
    store, expected = _build(fmt, tmp_path)
    first = store["vid1"]
    first.add_(100.0)
    torch.testing.assert_close(store["vid1"], expected["vid1"].float(), rtol=0, atol=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_key_message_names_store_key_and_close_keys(fmt, tmp_path):
    store, _ = _build(fmt, tmp_path)
    with pytest.raises(KeyError) as exc:
        store["vid_1"]
    assert isinstance(exc.value, FeatureKeyError)
    msg = str(exc.value)
    assert store.path in msg and "'vid_1'" in msg
    assert "'vid1'" in msg  # a close key is suggested
    assert "Close keys" in msg


@pytest.mark.parametrize("fmt", FORMATS)
def test_pickled_store_holds_no_data_and_reads_after_unpickle(fmt, tmp_path):
    store, expected = _build(fmt, tmp_path)
    store["vid0"]  # open it first: the open state must not travel
    blob = pickle.dumps(store)
    payload = sum(v.numel() * 4 for v in expected.values())
    assert len(blob) < payload, "pickle must carry the path and options, not the features"
    clone = pickle.loads(blob)
    assert clone._state is None
    torch.testing.assert_close(clone["vid2"], expected["vid2"].float(), rtol=0, atol=0)


def test_unpickled_stores_read_in_a_fresh_interpreter(tmp_path):
    """What a spawn DataLoader worker does: unpickle stores in a new process and read."""
    stores = {fmt: _build(fmt, tmp_path / fmt)[0] for fmt in FORMATS}
    expected = {fmt: {k: s[k] for k in s.keys()} for fmt, s in stores.items()}
    (tmp_path / "stores.pkl").write_bytes(pickle.dumps(stores))
    script = (
        "import pickle, sys, torch\n"
        "stores = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "out = {fmt: {k: s[k] for k in s.keys()} for fmt, s in stores.items()}\n"
        "torch.save(out, sys.argv[2])\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "stores.pkl"), str(tmp_path / "out.pt")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = torch.load(tmp_path / "out.pt", weights_only=True)
    assert got.keys() == expected.keys()
    for fmt in FORMATS:
        assert got[fmt].keys() == expected[fmt].keys()
        for k in expected[fmt]:
            assert torch.equal(got[fmt][k], expected[fmt][k]), (fmt, k)


class _KeyDataset(Dataset):
    def __init__(self, store, keys):
        self.store, self.keys = store, keys

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, i):
        value = self.store[self.keys[i]]
        # report which process opened the state the value came from
        return self.keys[i], value, os.getpid(), self.store._state_pid


@pytest.mark.parametrize("fmt", FORMATS)
def test_dataloader_workers_read_the_same_tensors(fmt, tmp_path):
    store, _ = _build(fmt, tmp_path)
    keys = store.keys()
    direct = {k: store[k] for k in keys}  # opened in the parent before the fork
    loader = DataLoader(_KeyDataset(store, keys), batch_size=None, num_workers=2,
                        multiprocessing_context="fork")
    seen = {}
    worker_pids = set()
    for key, value, pid, state_pid in loader:
        assert pid != os.getpid()
        assert state_pid == pid, "a forked worker must re-open the store, not reuse the parent's"
        worker_pids.add(pid)
        seen[key] = value
    assert len(worker_pids) == 2
    assert seen.keys() == direct.keys()
    for k in keys:
        assert torch.equal(seen[k], direct[k]), k


# ------------------------------------------------------------------------------------------
# .pth
# ------------------------------------------------------------------------------------------
def test_pth_int_keys_are_strings_and_trailing_dims_flatten(tmp_path):
    hcrn = torch.randn(2, 3, 5)  # like (8, 16, 2048)
    clip = torch.randn(4, 3, 7)  # like (32, 17, 512)
    torch.save({4010069381: hcrn, 7: clip, 9: torch.randn(5)}, tmp_path / "f.pth")
    store = PthDictStore(tmp_path / "f.pth")
    assert sorted(store.keys()) == ["4010069381", "7", "9"]
    assert torch.equal(store["4010069381"], hcrn.reshape(-1, 5))
    assert torch.equal(store[4010069381], store["4010069381"])  # int ids look up as str
    assert torch.equal(store[np.int64(7)], clip.reshape(-1, 7))
    assert store["9"].shape == (1, 5)
    assert store.missing([4010069381, 8]) == ["8"]


def test_pth_keys_colliding_after_str_conversion_are_an_error(tmp_path):
    torch.save({1: torch.zeros(2, 2), "1": torch.ones(2, 2)}, tmp_path / "f.pth")
    with pytest.raises(DataFileError, match="collides"):
        len(PthDictStore(tmp_path / "f.pth"))


def test_pth_non_tensor_value_is_an_error(tmp_path):
    torch.save({"a": [1.0, 2.0]}, tmp_path / "f.pth")
    with pytest.raises(DataFileError, match="'a'.*expected a tensor"):
        PthDictStore(tmp_path / "f.pth")["a"]


@pytest.mark.parametrize("shape", [(4, 0), (0,), (2, 3, 0)])
def test_rows_of_width_zero_are_an_error_naming_the_key(tmp_path, shape):
    """Not a reshape traceback from deep in training: the file and key, and what to do."""
    torch.save({"a": torch.zeros(shape)}, tmp_path / "f.pth")
    with pytest.raises(DataFileError, match=rf"f\.pth: feature 'a' has shape \({shape[0]},.*rows of width 0"):
        PthDictStore(tmp_path / "f.pth")["a"]


def _spy_torch_load(monkeypatch):
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    return calls


def test_pth_store_is_lazy_mmapped_and_reopens_in_a_new_process(tmp_path, monkeypatch):
    torch.save(_features(), tmp_path / "s3d.pth")
    calls = _spy_torch_load(monkeypatch)
    store = PthDictStore(tmp_path / "s3d.pth")
    assert calls == [], "constructing a store must not load the file"
    store["vid0"]
    store["vid1"]
    "vid2" in store
    assert len(calls) == 1
    assert calls[0]["mmap"] is True and calls[0]["weights_only"] is True
    # the same object seen from another process id (a forked worker) loads again
    monkeypatch.setattr(fs.os, "getpid", lambda: -12345)
    store["vid0"]
    assert len(calls) == 2


def test_legacy_pth_falls_back_to_a_plain_safe_load(tmp_path, monkeypatch):
    feats = _features()
    path = tmp_path / "legacy.pth"
    torch.save(feats, path, _use_new_zipfile_serialization=False)
    with pytest.raises(RuntimeError):  # the reason for the fallback
        torch.load(path, mmap=True, weights_only=True)
    calls = _spy_torch_load(monkeypatch)
    store = PthDictStore(path)
    assert torch.equal(store["vid2"], feats["vid2"])
    assert calls[0]["mmap"] is False and calls[0]["weights_only"] is True


class _ArbitraryObject:
    """Stands for any pickled class: loading it would mean executing pickled code."""


def test_pth_with_pickled_objects_is_refused(tmp_path):
    torch.save({"a": _ArbitraryObject()}, tmp_path / "evil.pth")
    with pytest.raises(DataFileError, match="weights_only"):
        PthDictStore(tmp_path / "evil.pth")["a"]


# ------------------------------------------------------------------------------------------
# HDF5
# ------------------------------------------------------------------------------------------
def test_hdf5_int_ids_and_4d_features(tmp_path):
    app = np.random.default_rng(0).standard_normal((3, 2, 4, 5)).astype(np.float32)  # (N, 8, 16, 2048)
    motion = np.random.default_rng(1).standard_normal((3, 2, 5)).astype(np.float32)   # (N, 8, 2048)
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["ids"] = np.array([17, 3, 250], dtype=np.int64)
        f["resnet_features"] = app
        f["resnext_features"] = motion
    store = HDF5Store(tmp_path / "f.h5")
    assert store.keys() == ["17", "3", "250"]
    assert store.feature_dim == 5
    assert store["3"].shape == (8, 5)
    np.testing.assert_array_equal(store["250"].numpy(), app[2].reshape(-1, 5))
    np.testing.assert_array_equal(store[17].numpy(), app[0].reshape(-1, 5))
    motion_store = HDF5Store(tmp_path / "f.h5", features="resnext_features")
    np.testing.assert_array_equal(motion_store["3"].numpy(), motion[1])
    # options survive pickling
    assert pickle.loads(pickle.dumps(motion_store))["3"].shape == (2, 5)


def test_hdf5_bytes_ids_vlen_strings(tmp_path):
    feats = np.arange(2 * 3 * 2 * 4, dtype=np.float32).reshape(2, 3, 2, 4)  # (N, 32, 17, 512)-like
    with h5py.File(tmp_path / "clip.h5", "w") as f:
        f.create_dataset("ids", data=["Interaction_T1_4", "Sequence_T2_9"], dtype=h5py.string_dtype())
        f["features"] = feats
    store = open_feature_store(tmp_path / "clip.h5", features="features")
    assert isinstance(store, HDF5Store)
    np.testing.assert_array_equal(store["Sequence_T2_9"].numpy(), feats[1].reshape(-1, 4))


def test_hdf5_missing_dataset_and_bad_ids_are_clear_errors(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["ids"] = np.array([1, 2, 1])
        f["feats"] = np.zeros((3, 2, 4), np.float32)
        f["short_ids"] = np.array([1])
    with pytest.raises(DataFileError, match="no dataset 'resnet_features'.*feats, ids, short_ids"):
        len(HDF5Store(tmp_path / "f.h5"))
    with pytest.raises(DataFileError, match="'1' appears twice"):
        len(HDF5Store(tmp_path / "f.h5", features="feats"))
    with pytest.raises(DataFileError, match="1 ids"):
        len(HDF5Store(tmp_path / "f.h5", features="feats", ids="short_ids"))


# ------------------------------------------------------------------------------------------
# webdataset
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["plain", "a.b", "x/y.z", "100%", "%2E", "..", "über.mp4"])
def test_wds_key_encoding_is_reversible_and_dot_free(key):
    enc = encode_wds_key(key)
    assert "." not in enc and "/" not in enc
    assert decode_wds_key(enc) == key


def test_wds_shards_hold_npy_members_keyed_as_webdataset_sees_them(tmp_path):
    import webdataset as wds

    feats = _features()
    paths = write_webdataset_shards(feats, tmp_path, num_shards=2, prefix="s3d")
    assert [Path(p).name for p in paths] == ["s3d-000000.tar", "s3d-000001.tar"]
    names = []
    for p in paths:
        with tarfile.open(p) as tf:
            names += tf.getnames()
    assert len(names) == len(feats) and all(n.endswith(".npy") and n.count(".") == 1 for n in names)
    # webdataset itself groups each member into one sample whose key decodes to ours
    samples = list(wds.WebDataset(paths, shardshuffle=False))
    assert [decode_wds_key(s["__key__"]) for s in samples] == list(feats)
    assert all(set(k for k in s if not k.startswith("__")) == {"npy"} for s in samples)


def test_wds_store_reads_shards_written_by_webdataset_itself(tmp_path):
    """Shards from webdataset's own ShardWriter (its npy encoder, its member naming, an
    extra member per sample, several shards) read through gf's store, array for array."""
    import webdataset as wds

    g = np.random.default_rng(7)
    feats = {k: g.standard_normal((2 + i, DIM)).astype(np.float32) for i, k in enumerate(KEYS)}
    folder = tmp_path / "from_wds"
    folder.mkdir()
    with wds.ShardWriter(str(folder / "shard-%06d.tar"), maxcount=2, verbose=0) as sink:
        for i, (key, arr) in enumerate(feats.items()):
            sink.write({"__key__": encode_wds_key(key), "npy": arr, "json": {"row": i}})
    assert len(glob.glob(str(folder / "*.tar"))) == 3
    store = WebDatasetStore(folder)
    assert sorted(store.keys()) == sorted(feats)
    assert store.feature_dim == DIM
    for key, arr in feats.items():
        got = store[key]
        assert got.dtype == torch.float32 and tuple(got.shape) == arr.shape
        np.testing.assert_array_equal(got.numpy(), arr)


def test_the_extraction_reads_a_shards_keys_as_the_store_does(tmp_path):
    """A shard whose members gf did not name (a folder in a member name, an upper-case
    extension, an encoded dot, a member with two extensions) holds the same keys for
    ``gf extract``'s resume and ``gf merge`` (:func:`shard_keys`) as for the store."""
    from gf.datasets.webdataset_store import npy_bytes
    from gf.extraction.merge import _stored
    from gf.extraction.writers import WebDatasetWriter, shard_keys

    path = tmp_path / "features-000000.tar"
    with tarfile.open(path, "w") as tf:
        for name in ("sub/a.npy", "b.NPY", "c.npy", "e%2Ef.npy", "g.meta.npy", "h.json"):
            data = npy_bytes(np.zeros((2, DIM), np.float32), name)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    expected = ["b", "c", "e.f", "sub/a"]
    assert sorted(WebDatasetStore(path).keys()) == expected
    assert sorted(shard_keys(str(path))) == expected
    assert sorted(WebDatasetWriter(str(tmp_path), index=str(tmp_path / "i.json")).completed()) == expected
    assert _stored(str(tmp_path), "webdataset") == {k: ["features-000000.tar"] for k in expected}


def test_webdataset_reads_shards_written_by_gf(tmp_path):
    """gf's writer, read back by webdataset's own pipeline and npy decoder (no gf code)."""
    import webdataset as wds

    feats = _features()
    paths = write_webdataset_shards(feats, tmp_path / "wds", num_shards=3)
    samples = list(wds.WebDataset(paths, shardshuffle=False).decode())
    got = {decode_wds_key(s["__key__"]): s["npy"] for s in samples}
    assert list(got) == list(feats)  # every key once, in the order written
    for key, value in feats.items():
        arr = got[key]
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float32
        np.testing.assert_array_equal(arr, value.numpy())


def test_iter_webdataset_features_streams_every_key_once(tmp_path):
    feats = _features()
    write_webdataset_shards(feats, tmp_path / "wds", num_shards=2)
    pairs = list(iter_webdataset_features(tmp_path / "wds"))
    assert [k for k, _ in pairs] == list(feats)
    for k, arr in pairs:
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float32
        np.testing.assert_array_equal(arr, feats[k].numpy())
    # through DataLoader workers: each worker reads whole shards, nothing twice
    loader = DataLoader(iter_webdataset_features(glob.glob(str(tmp_path / "wds" / "*.tar"))),
                        batch_size=None, num_workers=2, multiprocessing_context="fork")
    streamed = [k for k, _ in loader]
    assert sorted(streamed) == sorted(feats)


def test_iter_webdataset_features_ignores_stray_worker_variables(tmp_path, monkeypatch):
    """WORKER / NUM_WORKERS (webdataset's override of the DataLoader's worker info) made a
    plain iteration read every other shard; gf's reader position decides, as for streaming."""
    feats = _features()
    write_webdataset_shards(feats, tmp_path / "wds", num_shards=4)
    monkeypatch.setenv("WORKER", "0")
    monkeypatch.setenv("NUM_WORKERS", "2")
    assert [k for k, _ in iter_webdataset_features(tmp_path / "wds")] == list(feats)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun's: rank 1 of 2 reads shards 1 and 3
    second = [k for k, _ in iter_webdataset_features(tmp_path / "wds")]
    monkeypatch.setenv("RANK", "0")
    first = [k for k, _ in iter_webdataset_features(tmp_path / "wds")]
    assert first and second and sorted(first + second) == sorted(feats)


def test_write_webdataset_shards_refuses_bad_shard_counts_and_overwrites(tmp_path):
    feats = _features()
    with pytest.raises(ValueError, match="num_shards"):
        write_webdataset_shards(feats, tmp_path, num_shards=0)
    with pytest.raises(ValueError, match="each shard needs at least one key"):
        write_webdataset_shards(feats, tmp_path, num_shards=len(feats) + 1)
    write_webdataset_shards(feats, tmp_path, num_shards=4)
    with pytest.raises(FileExistsError):
        write_webdataset_shards(feats, tmp_path, num_shards=2)
    with pytest.raises(TypeError):  # overwrite is keyword-only: no positional value replaces the shards
        write_webdataset_shards(feats, tmp_path, 2, "features", "npy")
    write_webdataset_shards(feats, tmp_path, num_shards=2, overwrite=True)
    assert len(glob.glob(str(tmp_path / "*.tar"))) == 2, "stale shards of the earlier write removed"
    store = WebDatasetStore(tmp_path)
    assert sorted(store.keys()) == sorted(feats)


def test_wds_store_accepts_brace_pattern_and_list_and_rejects_duplicates(tmp_path):
    feats = _features()
    paths = write_webdataset_shards(feats, tmp_path / "a", num_shards=3)
    by_pattern = open_feature_store(str(tmp_path / "a" / "features-{000000..000002}.tar"))
    by_list = open_feature_store(paths)
    assert isinstance(by_pattern, WebDatasetStore) and isinstance(by_list, WebDatasetStore)
    assert by_pattern.keys() == by_list.keys() == list(feats)
    write_webdataset_shards({"vid0": torch.zeros(2, DIM)}, tmp_path / "b", num_shards=1)
    twice = WebDatasetStore(paths + [str(tmp_path / "b" / "features-000000.tar")])
    with pytest.raises(DataFileError, match="'vid0' is stored twice"):
        len(twice)


@pytest.mark.parametrize("where", ["in a member's data", "in a member's header", "between two members"])
def test_a_truncated_shard_is_an_error_naming_it(where, tmp_path):
    """A shard cut short (a copy that stopped) failed tarfile's header scan with a raw
    ``ReadError: unexpected end of data`` (cut in a member's data), or ended it quietly as if
    the shard ended there (cut in a header, or between two members: its other keys were
    silently absent): gf's own error names the shard and what to do."""
    paths = write_webdataset_shards(_features(), tmp_path, num_shards=3)
    shard = Path(paths[1])
    with tarfile.open(shard) as tf:
        first, second = tf.getmembers()[:2]
    data = shard.read_bytes()
    cut = {"in a member's data": first.offset_data + 10, "in a member's header": second.offset + 100,
           "between two members": second.offset}[where]
    shard.write_bytes(data[:cut])
    store = WebDatasetStore(tmp_path)
    with pytest.raises(DataFileError, match=rf"{re.escape(str(shard))}: the webdataset shard is truncated or damaged "
                                            rf"\(.*\): delete it and rerun the gf extract command that wrote it "
                                            rf"\(it resumes\), or re-download it"):
        store.keys()


# ------------------------------------------------------------------------------------------
# open_feature_store
# ------------------------------------------------------------------------------------------
def test_open_feature_store_detects_format_from_path(tmp_path):
    feats = _features(keys=["a", "b"])
    torch.save(feats, tmp_path / "f.pth")
    torch.save(feats, tmp_path / "f.pt")
    with h5py.File(tmp_path / "f.hdf5", "w") as f:
        f["ids"] = np.array([1, 2])
        f["resnet_features"] = np.zeros((2, 3, DIM), np.float32)
    (tmp_path / "npy").mkdir()
    np.save(tmp_path / "npy" / "a.npy", np.zeros((2, DIM), np.float32))
    paths = write_webdataset_shards(feats, tmp_path / "wds", num_shards=2)
    assert type(open_feature_store(tmp_path / "f.pth")) is PthDictStore
    assert type(open_feature_store(str(tmp_path / "f.pt"))) is PthDictStore
    assert type(open_feature_store(tmp_path / "f.hdf5")) is HDF5Store
    assert type(open_feature_store(tmp_path / "npy")) is NpyFolderStore
    assert type(open_feature_store(tmp_path / "wds")) is WebDatasetStore
    assert type(open_feature_store(paths[0])) is WebDatasetStore
    assert type(open_feature_store(str(tmp_path / "wds" / "*.tar"))) is WebDatasetStore
    # explicit names and aliases win over the suffix
    assert type(open_feature_store(tmp_path / "f.pth", format="pth")) is PthDictStore
    assert type(open_feature_store(tmp_path / "f.hdf5", format="h5")) is HDF5Store
    assert type(open_feature_store(tmp_path / "wds", format="wds")) is WebDatasetStore


def test_open_feature_store_errors(tmp_path):
    with pytest.raises(RegistryError, match=r"unknown feature_store 'lmdb'.*hdf5, npy, pth, webdataset.*h5=hdf5"):
        open_feature_store(tmp_path, format="lmdb")
    with pytest.raises(RegistryError, match=r"Did you mean: 'hdf5'"):
        open_feature_store(tmp_path, format="hdf")
    for missing in ["s3d.pth", "feats.h5", "shards-*.tar"]:
        with pytest.raises(DataFileError, match=missing.replace("*", r"\*")):
            open_feature_store(tmp_path / missing)
    with pytest.raises(DataFileError, match="nowhere"):
        open_feature_store(tmp_path / "nowhere", format="npy")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFileError, match="neither"):
        open_feature_store(tmp_path / "empty")
    (tmp_path / "feats.lmdb").write_bytes(b"x")
    with pytest.raises(DataFileError, match="hdf5, npy, pth, webdataset"):
        open_feature_store(tmp_path / "feats.lmdb")


def test_a_plugin_adds_a_feature_store_format(tmp_path, monkeypatch):
    stores = registry.kind("feature_store")
    monkeypatch.setattr(stores, "_objects", dict(stores._objects))  # the registration ends with the test

    @registry.register_feature_store("jsonfeat")
    class JsonFeatureStore(fs.FeatureStore):
        format_name = "jsonfeat"
        extensions = (".jsonfeat",)

        def _open(self):
            return fs.StoreState(json.loads(Path(self.path).read_text()))

        def _read(self, state, location):
            return np.asarray(location, dtype=np.float32)

    path = tmp_path / "clips.jsonfeat"
    path.write_text(json.dumps({"v1": [[1.0, 2.0], [3.0, 4.0]]}))
    assert "jsonfeat" in registry.list("feature_store")
    by_name = open_feature_store(path, format="jsonfeat")
    by_extension = open_feature_store(path)
    assert type(by_name) is JsonFeatureStore and type(by_extension) is JsonFeatureStore
    assert by_extension["v1"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(FeatureKeyError, match="jsonfeat feature store"):
        by_name["v2"]


def test_a_shard_that_cannot_be_read_is_a_data_error_naming_it(tmp_path):
    """A folder with a shard's name (a glob of ``*.tar`` picks it up) or an unreadable file is
    one line naming the shard and what to do, not an IsADirectoryError or PermissionError
    traceback (gf extract's resume reads every shard's headers through shard_members)."""
    from gf.datasets.webdataset_store import shard_members

    (tmp_path / "features-000000.tar").mkdir()
    with pytest.raises(DataFileError, match=r"features-000000\.tar: the webdataset shard cannot be read .*rerun"):
        shard_members(str(tmp_path / "features-000000.tar"))
