"""Feature stores: a string key -> ``[T, D]`` float32 tensor, read lazily.

Why stores instead of loading all of ``s3d.pth`` inside the dataset: the reference
code loads the whole feature file into every dataset instance (train, val and test each
hold a copy) and into every DataLoader worker. A store only remembers *where* the data
is; the file is opened on first access, in the process that reads it, and values are
read one key at a time (mmap for ``.pth``/``.npy``, row reads for HDF5, seek+read for
webdataset tar members).

The formats, and keys compared as strings and higher ranks flattened to rows of the last
dimension: docs/data_formats.md, "0. What every benchmark becomes" (Features). What
:class:`FeatureStore` guarantees for every format besides:

* Values come back as a fresh ``float32`` tensor ``[T, D]`` (a single vector ``[D]`` as
  ``[1, D]``) that never aliases the store's cache, so callers may modify it.
* A missing key raises :class:`FeatureKeyError` (a ``KeyError``) naming the store path,
  the key and up to five close keys.
* Open handles and loaded data are per process: each store checks ``os.getpid()`` and
  re-opens in a forked DataLoader worker; pickling keeps only the path and options, so
  stores travel to ``spawn`` workers cheaply.

Formats are a registry kind (``feature_store``): each store class is registered under its
format name, which is what a builder's ``feature_format`` and :func:`open_feature_store`'s
``format=`` look up, and its ``extensions`` drive detection from a path. A plugin adds a
format by subclassing :class:`FeatureStore` (``_open``/``_read``, ``format_name``,
``extensions``) and decorating it with ``@registry.register_feature_store("<format>")``.
The webdataset shard store, with the shards' writer and streamer, is
:mod:`gf.datasets.webdataset_store`.
"""
from __future__ import annotations

import abc
import difflib
import glob
import os
import zipfile
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from gf.common.errors import DataFileError, RegistryError
from gf.common.io import check_plain_name
from gf.common.safe_load import load_npy_safe, torch_load_safe
from gf.common.registry import registry
from gf.common.utils import PathLike

__all__ = [
    "FeatureStore",
    "FeatureKeyError",
    "PthDictStore",
    "HDF5Store",
    "NpyFolderStore",
    "open_feature_store",
    "feature_store_class",
]


class FeatureKeyError(DataFileError, KeyError):
    """A key is not in a feature store; the message names the store and close keys."""

    def __str__(self) -> str:  # KeyError would repr() the message; keep it readable.
        return str(self.args[0]) if self.args else ""


# ---------------------------------------------------------------------------------------
# helpers shared by all stores
# ---------------------------------------------------------------------------------------
def as_key(key: Any) -> str:
    """Normalise a lookup key to ``str``; ints are accepted because ids are often ints."""
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.decode("utf-8")
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return str(int(key))
    raise TypeError(f"feature store keys are str (or int ids), got {type(key).__name__}: {key!r}")


def _stored_key(key: Any, path: str) -> str:
    """Key as written in a file (str, bytes or integer) -> str; anything else is bad data."""
    if isinstance(key, torch.Tensor) and key.numel() == 1 and not key.is_floating_point():
        key = int(key.item())
    try:
        return as_key(key)
    except (TypeError, UnicodeDecodeError) as e:
        raise DataFileError(f"{path}: unsupported feature key {key!r}: {e}") from e


_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def to_frames(value: Any, path: str, key: str) -> torch.Tensor:
    """A stored array of any rank >= 1 -> new float32 tensor ``[T, D]``.

    The result is always a copy: it must not alias mmapped storage or a cache the store
    keeps, so callers may modify it in place.
    """
    if isinstance(value, torch.Tensor):
        ndim, numeric = value.ndim, value.is_floating_point() or value.dtype in _INT_DTYPES
    else:
        value = np.asarray(value)
        ndim, numeric = value.ndim, value.dtype.kind in "fiu"
    if ndim == 0:
        raise DataFileError(f"{path}: feature {key!r} is a scalar; expected an array [T, D]")
    if not numeric:
        raise DataFileError(f"{path}: feature {key!r} has dtype {value.dtype}; expected a float array")
    if value.shape[-1] == 0:
        raise DataFileError(f"{path}: feature {key!r} has shape {tuple(value.shape)}: rows of width 0 hold no "
                            f"features; extract them again")
    value = value.reshape(-1, value.shape[-1])
    if isinstance(value, torch.Tensor):
        return value.to(torch.float32, copy=True).contiguous()
    return torch.from_numpy(np.array(value, dtype=np.float32, copy=True))


class FeatureStore(abc.ABC):
    """Abstract lazy mapping ``key -> FloatTensor [T, D]``.

    Subclasses implement :meth:`_open` and :meth:`_read`. Everything else (key
    normalisation, error messages, flattening, pickling, fork safety) lives here so that
    every format behaves the same.
    """

    #: short format name used by :func:`open_feature_store` (the name it is registered under)
    format_name: str = ""
    #: lower-case name endings that :func:`open_feature_store` detects this format by
    extensions: Tuple[str, ...] = ()

    def __init__(self, path: PathLike):
        self._path = str(path)
        self._state: Any = None
        self._state_pid: Optional[int] = None
        self._feature_dim: Optional[int] = None

    # -- per-process state ---------------------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> Any:
        """Open the underlying file(s), per process; return a state with an ``index`` dict
        ``key -> location``."""

    @abc.abstractmethod
    def _read(self, state: Any, location: Any) -> Any:
        """Raw stored array for ``location`` (an ``index`` value)."""

    def _current(self) -> Any:
        pid = os.getpid()
        if self._state is None or self._state_pid != pid:
            # A forked worker inherits the parent's state object; drop it unused and
            # re-open, so no handle (h5py, file offsets, mmaps) is shared across processes.
            self._state = None
            self._state = self._open()
            self._state_pid = pid
        return self._state

    def _index(self) -> Dict[str, Any]:
        return self._current().index

    # -- public mapping API --------------------------------------------------------------
    @property
    def path(self) -> str:
        return self._path

    def _check_key(self, key: str) -> None:
        """Hook: refuse a key this format cannot look up safely (a folder store refuses
        names that would leave its folder); called when a key is not in the index, so the
        error says why rather than "not found" (the index holds only the store's own files)."""

    def files(self) -> List[str]:
        """The files this store reads, for identifying it (a split's fingerprint) without
        reading them: the path itself, or every file under it when it is a folder."""
        if os.path.isdir(self._path):
            return sorted(os.path.join(d, n) for d, _, names in os.walk(self._path) for n in names)
        return [self._path]

    def __getitem__(self, key: Any) -> torch.Tensor:
        k = as_key(key)
        state = self._current()
        try:
            location = state.index[k]
        except KeyError:
            self._check_key(k)  # a key that would leave the store's folder gets its own message
            raise self._missing_key_error(k) from None
        return to_frames(self._read(state, location), self._path, k)

    def __contains__(self, key: Any) -> bool:
        try:
            k = as_key(key)
        except TypeError:
            return False
        return k in self._index()

    def keys(self) -> List[str]:
        return list(self._index())

    def __len__(self) -> int:
        return len(self._index())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def missing(self, keys: Iterable[Any]) -> List[str]:
        """The given keys (as str, in order) that the store does not hold.

        Why: datasets check all their ids once at construction, so a wrong feature file
        fails with the full list instead of at sample 37,412 of epoch 3.
        """
        index = self._index()
        out = []
        for k in map(as_key, keys):
            if k not in index:
                self._check_key(k)
                out.append(k)
        return out

    @property
    def feature_dim(self) -> int:
        """D of the stored features (from the first key; stores are homogeneous)."""
        if self._feature_dim is None:
            index = self._index()
            if not index:
                raise DataFileError(f"feature store {self._path} is empty; cannot infer feature_dim")
            self._feature_dim = int(self[next(iter(index))].shape[-1])
        return self._feature_dim

    def _missing_key_error(self, key: str) -> FeatureKeyError:
        keys = list(self._index())
        close = difflib.get_close_matches(key, keys, n=5, cutoff=0.6)
        msg = f"key {key!r} not found in {self.format_name} feature store {self._path} ({len(keys)} keys)."
        if close:
            msg += f" Close keys: {', '.join(repr(c) for c in close)}."
        elif keys:
            msg += f" Example keys: {', '.join(repr(c) for c in keys[:3])}."
        msg += " Keys are compared as strings (int ids are converted with str())."
        return FeatureKeyError(msg)

    # -- pickling: path and options only -------------------------------------------------
    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_state"] = None
        state["_state_pid"] = None
        return state  # unpickling puts it back into __dict__ (pickle's default)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._path!r})"


class StoreState:
    """Per-process state of a store: an index plus whatever handles the format needs."""

    def __init__(self, index: Dict[str, Any], **handles: Any):
        self.index = index
        self.__dict__.update(handles)


def _require_exists(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise DataFileError(f"{what} not found: {path}")


# ---------------------------------------------------------------------------------------
# torch .pth dict (the authors' s3d.pth / frcnn.pth)
# ---------------------------------------------------------------------------------------
@registry.register_feature_store("pth")
class PthDictStore(FeatureStore):
    """``torch.save`` of ``dict{key: Tensor}``, memory-mapped on first access.

    Files in the zipfile format (torch >= 1.6 default) are loaded with ``mmap=True``, so
    opening costs only the pickle index and each read touches one tensor's pages. A file
    in the legacy format cannot be mmapped; it is loaded normally (still
    ``weights_only=True``), which costs its full size in memory in each reading process.
    """

    format_name = "pth"
    extensions = (".pth", ".pt")

    def __init__(self, path: PathLike):
        super().__init__(path)
        _require_exists(self._path, "feature file (.pth)")

    def _open(self) -> StoreState:
        mmap = zipfile.is_zipfile(self._path)
        obj = torch_load_safe(self._path, map_location="cpu", mmap=mmap, what="feature file")
        if not isinstance(obj, Mapping):
            raise DataFileError(
                f"{self._path}: expected a dict {{key: Tensor}} saved with torch.save, "
                f"got {type(obj).__name__}"
            )
        index: Dict[str, torch.Tensor] = {}
        for raw_key, value in obj.items():
            key = _stored_key(raw_key, self._path)
            if key in index:
                raise DataFileError(
                    f"{self._path}: key {raw_key!r} collides with another key once ids are "
                    f"converted to str ({key!r}); keep one of them."
                )
            if not isinstance(value, torch.Tensor):
                raise DataFileError(
                    f"{self._path}: value of key {raw_key!r} is {type(value).__name__}; "
                    f"expected a tensor [T, D]"
                )
            index[key] = value
        return StoreState(index)

    def _read(self, state: StoreState, location: torch.Tensor) -> torch.Tensor:
        return location


# ---------------------------------------------------------------------------------------
# HDF5 (HCRN / MIST style: datasets `ids` and `<features>` with matching first axis)
# ---------------------------------------------------------------------------------------
@registry.register_feature_store("hdf5")
class HDF5Store(FeatureStore):
    """Rows of an HDF5 feature dataset addressed by the ids in a parallel ``ids`` dataset.

    ``features`` / ``ids``: the names of the two datasets (the known ones, with their shapes:
    docs/data_formats.md §0, Features). The h5py handle is opened lazily in the reading
    process: h5py handles must not cross ``fork``.
    """

    format_name = "hdf5"
    extensions = (".h5", ".hdf5")

    def __init__(self, path: PathLike, features: str = "resnet_features", ids: str = "ids"):
        super().__init__(path)
        self.features = features
        self.ids = ids
        _require_exists(self._path, "HDF5 feature file")

    def _open(self) -> StoreState:
        import h5py

        try:
            fh = h5py.File(self._path, "r")
        except OSError as e:
            raise DataFileError(f"{self._path}: cannot open as HDF5: {e}") from e
        for name in (self.ids, self.features):
            if name not in fh:
                available = sorted(fh.keys())
                fh.close()
                raise DataFileError(
                    f"{self._path}: no dataset {name!r}; datasets in the file: "
                    f"{', '.join(available) or '(none)'}. Name the ones to read with the dataset's features_dataset / "
                    f"ids_dataset keys (datasets.<name>.features_dataset in a config; features=/ids= in Python)."
                )
        feats = fh[self.features]
        raw_ids = fh[self.ids][()]
        if feats.ndim < 2 or len(raw_ids) != feats.shape[0]:
            shape, n = feats.shape, len(raw_ids)
            fh.close()
            raise DataFileError(
                f"{self._path}: dataset {self.features!r} has shape {shape} but {self.ids!r} "
                f"has {n} ids; expected features (N, ..., D) with one id per row."
            )
        index: Dict[str, int] = {}
        for row, raw in enumerate(np.asarray(raw_ids).reshape(-1)):
            key = _stored_key(raw.item() if isinstance(raw, np.generic) else raw, self._path)
            if key in index:
                fh.close()
                raise DataFileError(
                    f"{self._path}: id {key!r} appears twice in {self.ids!r} (rows {index[key]} "
                    f"and {row}); ids must be unique."
                )
            index[key] = row
        return StoreState(index, file=fh, dataset=feats)

    def _read(self, state: StoreState, location: int) -> np.ndarray:
        try:
            return state.dataset[location]
        except (OSError, ValueError) as e:  # h5py: a chunk that cannot be read or decompressed
            raise DataFileError(f"{self._path}: row {location} of dataset {self.features!r} cannot be read: the "
                                f"file is truncated or damaged ({str(e).strip()[:200]}). Produce or copy it "
                                f"again.") from None

    @property
    def feature_dim(self) -> int:
        if self._feature_dim is None:
            self._feature_dim = int(self._current().dataset.shape[-1])
        return self._feature_dim

    def __repr__(self) -> str:
        return f"HDF5Store({self._path!r}, features={self.features!r}, ids={self.ids!r})"


# ---------------------------------------------------------------------------------------
# folder of <key>.npy
# ---------------------------------------------------------------------------------------
@registry.register_feature_store("npy")
class NpyFolderStore(FeatureStore):
    """One ``<dir>/<key>.npy`` per key, memory-mapped by :func:`~gf.common.safe_load.load_npy_safe`
    (numbers only: a file holding pickled objects is refused, a truncated one called so).

    The key list is the folder listing taken once per process, so lookups never build a
    path from an unchecked key; a key that could not be a file name in the folder (``..``,
    an absolute path, a path separator) is refused by name rather than reported missing.
    """

    format_name = "npy"

    def __init__(self, path: PathLike):
        super().__init__(path)
        if not os.path.isdir(self._path):
            raise DataFileError(f"feature folder (of .npy files) not found: {self._path}")

    def _check_key(self, key: str) -> None:
        check_plain_name(key, "feature key", where=f"npy feature folder {self._path}")

    def files(self) -> List[str]:
        return sorted(e.path for e in os.scandir(self._path) if e.name.endswith(".npy") and e.is_file())

    def _open(self) -> StoreState:
        entries = sorted(os.scandir(self._path), key=lambda e: e.name)
        return StoreState({e.name[: -len(".npy")]: e.path for e in entries if e.name.endswith(".npy") and e.is_file()})

    def _read(self, state: StoreState, location: str) -> np.ndarray:
        return load_npy_safe(location, what="feature file", mmap=True)


# ---------------------------------------------------------------------------------------
# factory: formats are the registry's ``feature_store`` kind
# ---------------------------------------------------------------------------------------
#: Other names accepted for the built-in formats (not registry entries, so listings stay short).
_ALIASES = {"pt": "pth", "torch": "pth", "h5": "hdf5", "wds": "webdataset", "tar": "webdataset"}


def feature_store_class(format: str) -> type:
    """The store class registered under ``format`` (case-insensitive; aliases pt, torch, h5,
    wds, tar). An unknown name raises the registry's error, which lists the registered
    formats and the close ones."""
    if not isinstance(format, str) or not format:
        raise RegistryError(f"feature store format must be a non-empty string, got {format!r}")
    stores = registry.kind("feature_store")
    lower = format.lower()
    name = next((n for n in (format, lower, _ALIASES.get(lower)) if n and n in stores), format)
    try:
        return stores.get(name)
    except RegistryError as e:
        aliases = ", ".join(f"{a}={b}" for a, b in _ALIASES.items())
        raise RegistryError(f"{e} Aliases: {aliases}.") from None


def _formats_by_extension(path: str) -> List[str]:
    """Registered formats whose ``extensions`` end ``path`` (a plugin's among them)."""
    lower = path.lower()
    return [name for name in registry.list("feature_store")
            if lower.endswith(tuple(getattr(registry.get("feature_store", name), "extensions", ())))]


def _detect_format(path: str, hint: Optional[str] = None) -> str:
    """The format of the store at ``path``; ``hint``: what a caller's error should advise
    when the format cannot be told (default: the ``format=`` argument)."""
    if os.path.isdir(path):
        names = os.listdir(path)
        has_npy = any(n.endswith(".npy") for n in names)
        has_tar = any(n.endswith(".tar") for n in names)
        if has_npy and has_tar:
            raise DataFileError(
                f"{path} holds both .npy files and .tar shards; "
                + (hint or "pass format='npy' or format='webdataset'.")
            )
        if has_npy:
            return "npy"
        if has_tar:
            return "webdataset"
        matches = _formats_by_extension(path.rstrip("/" + os.sep))  # a plugin's folder format
        if len(matches) == 1:
            return matches[0]
        raise DataFileError(f"{path}: folder holds neither .npy files nor .tar shards" + (f"; {hint}" if hint else ""))
    matches = _formats_by_extension(path)
    if len(matches) != 1:
        _require_exists(path, "feature file")
        why = (f"formats {', '.join(matches)} all claim its extension" if matches
               else "cannot tell the feature format from the name")
        raise DataFileError(
            f"{path}: {why}; " + (hint or f"pass format= one of {', '.join(registry.list('feature_store'))}.")
        )
    fmt = matches[0]
    if fmt != "webdataset" or not ("{" in path or glob.has_magic(path)):
        _require_exists(path, "feature file")
    return fmt


def open_feature_store(path: Union[PathLike, Sequence[PathLike]], format: Optional[str] = None, **kw) -> FeatureStore:
    """Open a store by format name or by what ``path`` looks like.

    ``format``: a registered ``feature_store`` name or alias (:func:`feature_store_class`).
    Without it: the format whose ``extensions`` end the path (``.pth``/``.pt`` -> pth,
    ``.h5``/``.hdf5`` -> hdf5, ``.tar`` file or pattern -> webdataset), a folder of
    ``.npy`` -> npy, a folder of ``.tar`` -> webdataset. ``kw`` goes to the store (e.g.
    ``features="resnext_features"`` for HDF5). Nothing is loaded yet.
    """
    if format is None:
        format = "webdataset" if isinstance(path, (list, tuple)) else _detect_format(str(path))
    return feature_store_class(format)(path, **kw)
