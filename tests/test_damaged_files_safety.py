"""A damaged array is called damaged, a pickled one is refused as pickled, and neither passes
on numpy's or torch's advice to load the file unsafely (``allow_pickle``, ``weights_only=False``).

Every case goes through the readers gf uses: :func:`gf.common.safe_load.load_npy_safe` and the npy,
webdataset and pth feature stores, :func:`gf.common.safe_load.torch_load_safe` for checkpoints.
"""
from __future__ import annotations

import io
import os
import tarfile

import numpy as np
import pytest
import torch

from gf.common.errors import CheckpointError, DataFileError
from gf.common.safe_load import load_npy_safe, refused_pickled_object, torch_load_safe
from gf.datasets.feature_stores import HDF5Store, NpyFolderStore, PthDictStore
from gf.datasets.webdataset_store import WebDatasetStore


class Custom:
    """A class torch.load(weights_only=True) does not know."""

    def __init__(self):
        self.value = 1


class RunsACommand:
    """Unpickling this would call os.system (a blocked module for torch's weights-only unpickler)."""

    def __reduce__(self):
        return os.system, ("true",)


def npy_bytes(array, allow_pickle=False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


GOOD = npy_bytes(np.arange(12, dtype=np.float32).reshape(3, 4))
BAD_NPY = {
    "pickled": (npy_bytes(np.array([{"a": 1}, None], dtype=object), allow_pickle=True),
                r"holds pickled Python objects \(dtype object\), which gf refuses to load"),
    "truncated": (GOOD[:-10], r"is truncated: its header promises a float32 array of shape \(3, 4\) \(176 bytes "
                              r"with the header\) but it holds 166 bytes"),
    "cut header": (GOOD[:20], r"is truncated or damaged: its \.npy header cannot be read"),
    "text": (b"features are on the other disk\n", r"is not a \.npy array: it does not start with numpy's \.npy "
                                                  r"signature"),
    "npz": (None, r"is a zip archive \(an \.npz\?\)"),
}


def _npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, a=np.zeros(3))
    return buf.getvalue()


def _bad(name: str) -> bytes:
    data, _ = BAD_NPY[name]
    return _npz() if name == "npz" else data


def _no_unsafe_advice(message: str) -> None:
    assert "allow_pickle" not in message and "weights_only=False" not in message, message
    assert "weights_only` set to `False" not in message and "not fully written?" not in message, message


@pytest.mark.parametrize("name", sorted(BAD_NPY))
def test_a_bad_npy_file_says_what_is_wrong_with_it_and_names_it(name, tmp_path):
    path = tmp_path / f"{name.replace(' ', '_')}.npy"
    path.write_bytes(_bad(name))
    for mmap in (False, True):
        with pytest.raises(DataFileError, match=BAD_NPY[name][1]) as err:
            load_npy_safe(path, what="feature file", mmap=mmap)
        assert str(err.value).startswith(f"{path}: the feature file ")
        _no_unsafe_advice(str(err.value))
    with pytest.raises(DataFileError, match=BAD_NPY[name][1]) as err:  # bytes from an archive: `where` names it
        load_npy_safe(_bad(name), where="shard.tar: member v1.npy", what="feature member")
    assert str(err.value).startswith("shard.tar: member v1.npy: the feature member ")
    assert load_npy_safe(GOOD).tolist() == np.arange(12, dtype=np.float32).reshape(3, 4).tolist()


@pytest.mark.parametrize("name", ["pickled", "truncated", "text"])
def test_npy_and_webdataset_stores_report_a_bad_feature_by_file_and_key(name, tmp_path):
    folder = tmp_path / "npy"
    folder.mkdir()
    (folder / "good.npy").write_bytes(GOOD)
    (folder / "v1.npy").write_bytes(_bad(name))
    store = NpyFolderStore(folder)
    assert store["good"].shape == (3, 4)
    with pytest.raises(DataFileError, match=rf"{folder / 'v1.npy'}: the feature file .*{BAD_NPY[name][1]}") as err:
        store["v1"]
    _no_unsafe_advice(str(err.value))

    shard = tmp_path / "features-000000.tar"
    with tarfile.open(shard, "w") as tf:
        for member, data in (("good.npy", GOOD), ("v1.npy", _bad(name))):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    store = WebDatasetStore(shard)
    assert store["good"].shape == (3, 4)
    with pytest.raises(DataFileError, match=rf"feature key 'v1': {shard} \(member at byte \d+\): the feature member "
                                            rf".*{BAD_NPY[name][1]}") as err:
        store["v1"]
    _no_unsafe_advice(str(err.value))


def test_a_damaged_hdf5_row_is_reported_by_file_row_and_dataset(tmp_path):
    import h5py

    path = tmp_path / "features.h5"
    with h5py.File(path, "w") as fh:
        fh.create_dataset("ids", data=np.arange(4))
        data = fh.create_dataset("resnet_features", data=np.ones((4, 8, 16), np.float32), chunks=(1, 8, 16),
                                 compression="gzip")
        chunk = data.id.get_chunk_info(2)
    raw = bytearray(path.read_bytes())
    raw[chunk.byte_offset:chunk.byte_offset + chunk.size] = bytes(chunk.size)  # row 2's compressed bytes zeroed
    path.write_bytes(bytes(raw))
    store = HDF5Store(path)
    assert torch.equal(store["1"], torch.ones(8, 16))
    with pytest.raises(DataFileError, match=rf"{path}: row 2 of dataset 'resnet_features' cannot be read: the file "
                                            rf"is truncated or damaged"):
        store["2"]


def _torch_files(tmp_path):
    torch.save({"w": torch.ones(8)}, tmp_path / "good.pth")
    torch.save({"w": torch.ones(8)}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    torch.save({"w": torch.ones(8), "cfg": Custom()}, tmp_path / "custom.pth")
    torch.save({"w": torch.ones(8), "cmd": RunsACommand()}, tmp_path / "command.pth")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")
    good, legacy = (tmp_path / "good.pth").read_bytes(), (tmp_path / "legacy.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(good[: len(good) // 2])
    (tmp_path / "truncated_legacy.pth").write_bytes(legacy[: len(legacy) // 2])
    return tmp_path


PICKLED = {"custom.pth": f"{__name__}.Custom", "command.pth": "posix.system" if os.name == "posix" else "nt.system",
           "module.pth": "torch.nn.modules.linear.Linear"}
DAMAGED = {"truncated.pth": "a zip archive that is truncated or damaged",
           "truncated_legacy.pth": "a legacy-format torch file that is truncated or damaged"}


@pytest.mark.parametrize("name", sorted(PICKLED) + sorted(DAMAGED))
def test_a_pickled_torch_file_is_refused_as_such_and_a_truncated_one_called_truncated(name, tmp_path):
    path = _torch_files(tmp_path) / name
    with pytest.raises(CheckpointError) as err:
        torch_load_safe(path)
    message = str(err.value)
    if name in PICKLED:  # refused for what it holds, not called damaged
        assert message.startswith(f"{path}: the checkpoint holds a pickled object ({PICKLED[name]}), which gf does "
                                  f"not load"), message
        assert "truncated" not in message and "(complete)" not in message
        with pytest.raises(DataFileError, match=rf"the feature file holds a pickled object \({PICKLED[name]}\)"):
            PthDictStore(path)["w"]
    else:
        assert message.startswith(f"{path} is not a (complete) torch checkpoint ({DAMAGED[name]}"), message
        assert "holds a pickled object" not in message
    _no_unsafe_advice(message)
    assert torch.equal(torch_load_safe(tmp_path / "legacy.pth")["w"], torch.ones(8))


@pytest.mark.parametrize("message, expected", [
    ("WeightsUnpickler error: Unsupported global: GLOBAL a.b.C was not an allowed global by default.", "a.b.C"),
    ("Trying to load unsupported GLOBAL posix.system whose module posix is blocked.", "posix.system"),
    ("Can only build Tensor, Parameter, OrderedDict or types allowlisted via `add_safe_globals`, but got "
     "<class 'x.Y'>", "x.Y"),
    ("Trying to call reduce for unrecognized function <built-in function eval>", "<built-in function eval>"),
    ("``torch.distributed.tensor`` must be imported to load DTensors", "``torch.distributed.tensor``"),
    ("PytorchStreamReader failed reading zip archive: failed finding central directory", None),
    ("Weights only load failed. Unsupported operand 149", None),
])
def test_torch_refusal_wordings_name_the_object_and_damage_names_none(message, expected):
    assert refused_pickled_object(message) == expected
