"""Writers of extracted features, one per store format, each resumable after a kill.

Why every file is written whole or not at all: a run over tens of thousands of videos is
killed sooner or later (a pre-empted job, a full disk). Each writer only ever renames a
complete file into place (:func:`gf.common.io.atomic_write`), and which keys are done is
derived from those complete files, never from a log written alongside; so a killed run
leaves at most a temporary file (removed on the next run) and loses at most the samples
not yet in a complete file, and a rerun skips exactly the keys that are stored.

The files of each format: docs/extraction.md, "Output"; what a kill leaves in each, and
the order npy and pth/hdf5 write in: docs/extraction.md, "Resuming". Why pth / hdf5 stage
samples in ``.parts/``: one file cannot be appended to atomically. Why webdataset's
``shards.json`` may be lost: a rerun re-reads every shard's headers
(:meth:`WebDatasetWriter.completed`) rather than trusting it.
"""
from __future__ import annotations

import glob
import io
import json
import os
import re
import shutil
import tarfile
from typing import Any, Dict, Iterable, List, Set, Tuple

import numpy as np

from gf.common.errors import ConfigError, DataFileError
from gf.common.io import atomic_torch_save, atomic_write, atomic_write_json, check_plain_name, load_json
from gf.common.safe_load import load_npy_safe
from gf.datasets.feature_stores import open_feature_store
from gf.datasets.webdataset_store import (decode_wds_key, encode_wds_key, npy_bytes, shard_members,
                                          wds_split_member)
from gf.extraction.out_folder import SHARD_INDEX

__all__ = ["FeatureWriter", "WebDatasetWriter", "NpyWriter", "GatheredWriter", "make_writer", "FORMATS",
           "normalise_format", "check_keys", "shard_keys"]

#: output formats and the names accepted for them
FORMATS = {"webdataset": "webdataset", "wds": "webdataset", "tar": "webdataset", "npy": "npy",
           "pth": "pth", "pt": "pth", "torch": "pth", "h5": "hdf5", "hdf5": "hdf5"}
SHARD_PREFIX = "features"


def normalise_format(fmt: str) -> str:
    try:
        return FORMATS[str(fmt).lower()]
    except KeyError:
        raise ConfigError(f"--format {fmt!r}: choose webdataset (default), pth, h5 or npy") from None


def check_keys(keys: Iterable[str], fmt: str) -> None:
    """Refuse, before any decoding, a key the format cannot store under its own name."""
    for key in keys:
        if fmt == "npy":
            check_plain_name(key, "feature key", where="--format npy (a key is a file name)")
        elif not key or "\x00" in key:
            raise DataFileError(f"feature key {key!r} cannot be stored: keys must be non-empty and without NUL")


class FeatureWriter:
    """``completed()`` once at start, ``add()`` per sample, ``close()`` at the end."""

    def __init__(self, out: str):
        self.out = out

    def completed(self) -> Set[str]:
        raise NotImplementedError

    def add(self, key: str, array: np.ndarray, meta: Dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------
def shard_keys(path: str) -> List[str]:
    """The keys of the samples a webdataset shard holds, read from its tar headers: its
    ``.npy`` members, split and decoded as
    :class:`~gf.datasets.webdataset_store.WebDatasetStore` reads them."""
    keys = []
    for member in shard_members(path):
        wkey, ext = wds_split_member(member.name)
        if ext == "npy":
            keys.append(decode_wds_key(wkey))
    return keys


class WebDatasetWriter(FeatureWriter):
    """``prefix`` names the shards (``<prefix>-NNNNNN.tar``) and ``index`` is the path of the
    shard list: a job of an array (``gf extract --shard``) writes its own shards and list
    beside the other jobs' (see :mod:`gf.extraction.shards`), never one of theirs."""

    def __init__(self, out: str, shard_size: int = 1000, prefix: str = SHARD_PREFIX, index: str = ""):
        super().__init__(out)
        self.shard_size = int(shard_size)
        self.prefix = prefix
        self._pattern = re.compile(rf"{re.escape(prefix)}-(\d{{6}})\.tar")
        self.index = index or os.path.join(out, SHARD_INDEX)
        self._buffer: List[Tuple[str, bytes, bytes]] = []
        self._shards: Dict[str, Dict[str, Any]] = {}
        self._next = 0

    def completed(self) -> Set[str]:
        """The keys the shards hold, read from their headers on every run, as the store
        reads them: a cached key list would also be trusted for a shard damaged without
        changing size (a zero-filled tail reads as a shorter tar), and the samples the
        shard lost would be skipped, never extracted again."""
        done: Dict[str, str] = {}
        numbers = []
        for path in sorted(glob.glob(os.path.join(glob.escape(self.out), f"{glob.escape(self.prefix)}-*.tar"))):
            name = os.path.basename(path)
            m = self._pattern.fullmatch(name)
            if not m:
                continue
            numbers.append(int(m.group(1)))
            size = os.path.getsize(path)
            keys = shard_keys(path)
            for key in keys:
                if key in done:
                    raise DataFileError(f"feature key {key!r} is in two shards, {done[key]} and {name}; "
                                        f"delete one of them")
                done[key] = name
            self._shards[name] = {"size": size, "keys": keys}
        self._next = max(numbers) + 1 if numbers else 0
        atomic_write_json(self.index, {"shards": self._shards}, indent=None)
        return set(done)

    def add(self, key, array, meta):
        meta_bytes = (json.dumps(meta, sort_keys=True) + "\n").encode("utf-8")
        self._buffer.append((encode_wds_key(key), npy_bytes(array, key), meta_bytes))
        if len(self._buffer) >= self.shard_size:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        name = f"{self.prefix}-{self._next:06d}.tar"
        path = os.path.join(self.out, name)
        with atomic_write(path, "wb") as fh:
            with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tf:
                for enc, npy, meta in self._buffer:
                    for ext, data in (("npy", npy), ("json", meta)):
                        info = tarfile.TarInfo(f"{enc}.{ext}")
                        info.size, info.mtime, info.mode = len(data), 0, 0o644
                        tf.addfile(info, io.BytesIO(data))
        self._shards[name] = {"size": os.path.getsize(path), "keys": [decode_wds_key(e) for e, _, _ in self._buffer]}
        self._next += 1
        self._buffer = []
        atomic_write_json(self.index, {"shards": self._shards}, indent=None)

    def close(self):
        self._flush()


# ---------------------------------------------------------------------------------------
class NpyWriter(FeatureWriter):
    def completed(self):
        return {e.name[:-4] for e in os.scandir(self.out) if e.name.endswith(".npy") and e.is_file()}

    def add(self, key, array, meta):
        atomic_write_json(os.path.join(self.out, "meta", f"{key}.json"), meta, indent=None)
        with atomic_write(os.path.join(self.out, f"{key}.npy"), "wb") as fh:
            np.lib.format.write_array(fh, np.ascontiguousarray(array), allow_pickle=False)


# ---------------------------------------------------------------------------------------
class GatheredWriter(FeatureWriter):
    """pth / hdf5: staged parts gathered into one file at :meth:`close`."""

    def __init__(self, out: str, fmt: str):
        super().__init__(out)
        self.fmt = fmt
        self.path = os.path.join(out, "features.pth" if fmt == "pth" else "features.h5")
        self.parts = os.path.join(out, ".parts")

    def _part_keys(self) -> Dict[str, str]:
        if not os.path.isdir(self.parts):
            return {}
        return {decode_wds_key(e.name[:-4]): e.path for e in os.scandir(self.parts)
                if e.name.endswith(".npy") and e.is_file()}

    def _store(self):
        if self.fmt == "pth":
            return open_feature_store(self.path, "pth")
        return open_feature_store(self.path, "hdf5", features="features")

    def _stored(self) -> Dict[str, np.ndarray]:
        """The gathered file's contents (float16 arrays), read back to add new samples."""
        if not os.path.exists(self.path):
            return {}
        store = self._store()
        return {k: store[k].numpy().astype(np.float16) for k in store.keys()}

    def completed(self):
        done = set(self._part_keys())
        if os.path.exists(self.path):
            done |= set(self._store().keys())
        return done

    def add(self, key, array, meta):
        enc = encode_wds_key(key)
        atomic_write_json(os.path.join(self.parts, f"{enc}.json"), meta, indent=None)
        with atomic_write(os.path.join(self.parts, f"{enc}.npy"), "wb") as fh:
            np.lib.format.write_array(fh, np.ascontiguousarray(array), allow_pickle=False)

    def close(self):
        parts = self._part_keys()
        if not parts:
            return
        arrays = self._stored()
        meta_path = os.path.join(self.out, "frames.json")
        meta = load_json(meta_path, "frame metadata") if os.path.exists(meta_path) else {}
        for key, path in parts.items():
            arrays[key] = load_npy_safe(path, what="staged feature part")
            meta_file = path[:-4] + ".json"
            # A part's .json is written before its .npy, so an .npy alone is a leftover of a close
            # killed while removing the parts: its entry is already in frames.json; keep it.
            meta[key] = load_json(meta_file, "frame metadata") if os.path.exists(meta_file) else meta.get(key, {})
        keys = list(arrays)
        if self.fmt == "pth":
            import torch

            atomic_torch_save({k: torch.from_numpy(np.ascontiguousarray(arrays[k])) for k in keys}, self.path)
        else:
            self._write_h5(keys, arrays)
        atomic_write_json(meta_path, {k: meta.get(k, {}) for k in keys}, indent=None)
        shutil.rmtree(self.parts)

    def _write_h5(self, keys: List[str], arrays: Dict[str, np.ndarray]) -> None:
        """``features`` ``[N, T, D]`` float16 and ``ids``; ``resnet_features`` is a second
        name (an HDF5 hard link) for ``features``, the dataset ``HDF5Store`` reads by default,
        so a builder opens the file with no extra option."""
        import h5py

        shapes = {arrays[k].shape for k in keys}
        if len(shapes) != 1:
            raise DataFileError(f"{self.path}: HDF5 stores one [N, T, D] array, but the samples have shapes "
                                f"{sorted(shapes)[:4]}; use --num-frames, or another --format")
        with atomic_write(self.path, "w+b") as raw, h5py.File(raw, "w") as fh:  # h5py needs a readable file
            fh.create_dataset("ids", data=np.array(keys, dtype=object), dtype=h5py.string_dtype("utf-8"))
            fh.create_dataset("features", data=np.stack([arrays[k] for k in keys]).astype(np.float16))
            fh["resnet_features"] = fh["features"]


def make_writer(out: str, fmt: str, shard_size: int = 1000) -> FeatureWriter:
    if fmt == "webdataset":
        return WebDatasetWriter(out, shard_size)
    if fmt == "npy":
        return NpyWriter(out)
    return GatheredWriter(out, fmt)
