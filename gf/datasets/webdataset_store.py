"""Feature stores in webdataset ``.tar`` shards: random access by key, writing, streaming.

Why a module of its own: shards are the one store format that is also written by gf
(``gf extract --format webdataset``, :func:`write_webdataset_shards`) and streamed in
order (:func:`iter_webdataset_features`, :mod:`gf.datasets.streaming`), so the member
naming (:func:`encode_wds_key`), the ``.npy`` payload (:func:`npy_bytes`) and the shard
resolution (:func:`resolve_shards`) live here beside the store that reads them. The
store follows every rule of :mod:`gf.datasets.feature_stores` and registers as the
``feature_store`` format ``webdataset``.
"""
from __future__ import annotations

import glob
import io
import os
import tarfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import unquote

import numpy as np
import torch

from gf.common.errors import DataFileError, DatasetError
from gf.common.io import atomic_write, check_plain_name
from gf.common.safe_load import load_npy_safe
from gf.common.registry import registry
from gf.common.utils import PathLike
from gf.datasets.feature_stores import FeatureStore, StoreState, as_key, to_frames

__all__ = [
    "WebDatasetStore",
    "decode_wds_key",
    "encode_wds_key",
    "iter_webdataset_features",
    "npy_bytes",
    "shard_members",
    "tar_file_members",
    "wds_sample_to_pair",
    "wds_split_member",
    "write_webdataset_shards",
]

# ---------------------------------------------------------------------------------------
# webdataset takes everything before the first "." of a member's base name as the sample
# key, and "/" makes directories. Keys are therefore percent-encoded for "%", "." and "/"
# (in that order of escaping, so the mapping is reversible): "a.b/c" -> "a%2Eb%2Fc".
_WDS_ESCAPES = (("%", "%25"), (".", "%2E"), ("/", "%2F"))


def encode_wds_key(key: str) -> str:
    """Feature key -> webdataset ``__key__`` (no dots or slashes; reversible)."""
    for raw, esc in _WDS_ESCAPES:
        key = key.replace(raw, esc)
    return key


def decode_wds_key(wds_key: str) -> str:
    """Inverse of :func:`encode_wds_key`."""
    return unquote(wds_key)


def wds_split_member(name: str) -> Tuple[Optional[str], Optional[str]]:
    """Member name -> (sample key, extension) exactly as webdataset groups members."""
    slash = name.rfind("/") + 1
    dot = name.find(".", slash)
    if dot <= slash:
        return None, None
    return name[:dot], name[dot + 1 :].lower()


def npy_bytes(value: Any, key: str) -> bytes:
    """A numeric ``[T, D]`` array (or tensor) as ``.npy`` bytes, never pickled: what a
    webdataset shard member holds, whoever writes the shard."""
    arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if arr.ndim == 0 or arr.dtype.kind not in "fiu":
        raise DatasetError(
            f"feature {key!r}: expected a numeric array [T, D], got dtype {arr.dtype} "
            f"shape {arr.shape}"
        )
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def resolve_shards(source: Union[PathLike, Sequence[PathLike]]) -> List[str]:
    """Shard paths from a folder, a single ``.tar``, a glob or brace pattern, or a list."""
    if isinstance(source, (list, tuple)):
        paths = [str(p) for p in source]
    else:
        src = str(source)
        if os.path.isdir(src):
            paths = sorted(glob.glob(os.path.join(glob.escape(src), "*.tar")))
            if not paths:
                raise DataFileError(f"no .tar shards in folder {src}")
        elif "{" in src:
            import braceexpand

            paths = list(braceexpand.braceexpand(src))
        elif glob.has_magic(src):
            paths = sorted(glob.glob(src))
            if not paths:
                raise DataFileError(f"no shards match {src}")
        else:
            paths = [src]
    if not paths:
        raise DataFileError(f"no webdataset shards given ({source!r})")
    absent = [p for p in paths if not os.path.isfile(p)]
    if absent:
        more = f" (and {len(absent) - 3} more)" if len(absent) > 3 else ""
        raise DataFileError(f"webdataset shard not found: {', '.join(absent[:3])}{more}")
    return paths


def tar_file_members(tf: tarfile.TarFile, size: int) -> List[tarfile.TarInfo]:
    """The file members of the open tar ``tf`` of ``size`` bytes (headers only; no data is
    read), or ``tarfile.ReadError`` when it was cut short.

    A tar cut short (a copy or download that stopped, a full disk) fails tarfile's header
    scan (``unexpected end of data``) only when the cut falls inside a member's data; cut
    inside a header or between two members (copies often stop at a multiple of 512 bytes),
    tarfile ends the scan quietly as if the archive ended there, and a member's data may lie
    past the end of the file. Those are told here: where the scan stopped, a whole archive
    has its end-of-archive blocks (zeros), which every tar writer puts there."""
    members = []
    for member in tf:
        if member.offset_data + member.size > size:
            raise tarfile.ReadError(f"member {member.name} is cut off at byte {size}")
        if member.isfile():
            members.append(member)
    tf.fileobj.seek(tf.offset)
    end = tf.fileobj.read(tarfile.BLOCKSIZE)
    if end.strip(b"\0"):
        raise tarfile.ReadError(f"the member header at byte {tf.offset} is cut off or damaged")
    if not end and tf.offset > 0:
        raise tarfile.ReadError(f"it ends at byte {tf.offset} without the end-of-archive blocks: cut off")
    return members


def shard_members(shard: str) -> List[tarfile.TarInfo]:
    """:func:`tar_file_members` of the file ``shard``; a file that is no uncompressed tar, or
    one truncated or damaged, is a :class:`DataFileError` naming it and what to do."""
    try:
        tf = tarfile.open(shard, "r:")
    except tarfile.ReadError as e:
        raise DataFileError(
            f"{shard}: not an uncompressed tar file ({e}); random access needs plain "
            f".tar shards (stream compressed ones with iter_webdataset_features). If gf extract wrote this "
            f"shard, it is damaged (gf extract renames a shard into place only when complete): delete it and "
            f"rerun the gf extract command that wrote it (it resumes)."
        ) from e
    except OSError as e:  # unreadable (permissions), or a folder with a shard's name
        raise DataFileError(f"{shard}: the webdataset shard cannot be read ({e}); make it a readable file, "
                            f"or delete it and rerun the gf extract command that wrote it (it resumes).") from None
    try:
        with tf:
            return tar_file_members(tf, os.path.getsize(shard))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataFileError(
            f"{shard}: the webdataset shard is truncated or damaged ({e}): delete it and rerun the gf extract "
            f"command that wrote it (it resumes), or re-download it."
        ) from None


@registry.register_feature_store("webdataset")
class WebDatasetStore(FeatureStore):
    """Random access to features in webdataset ``.tar`` shards (uncompressed).

    The first access in a process scans the tar headers of every shard (no data is
    read) into ``key -> (shard, data offset, size)``; a read is then one ``pread``.
    Use :func:`iter_webdataset_features` instead to stream the shards in order.
    ``ext`` is the member extension holding the array (``npy`` as written by
    :func:`write_webdataset_shards`); other members of a sample are ignored.
    """

    format_name = "webdataset"
    extensions = (".tar",)

    def __init__(self, path: Union[PathLike, Sequence[PathLike]], ext: str = "npy"):
        self.shards = resolve_shards(path)
        # `path` names the store in messages: the given folder/pattern, or for an
        # explicit list of shards the folder of the first one.
        super().__init__(path if isinstance(path, (str, os.PathLike)) else os.path.dirname(self.shards[0]))
        self.ext = ext.lower().lstrip(".")

    def _open(self) -> StoreState:
        index: Dict[str, Tuple[int, int, int]] = {}
        for shard_no, shard in enumerate(self.shards):
            for member in shard_members(shard):
                wkey, ext = wds_split_member(member.name)
                if ext != self.ext:
                    continue
                key = decode_wds_key(wkey)
                if key in index:
                    other = self.shards[index[key][0]]
                    raise DataFileError(
                        f"feature key {key!r} is stored twice: in {other} and in {shard}; "
                        f"rewrite the shards so each key appears once."
                    )
                index[key] = (shard_no, member.offset_data, member.size)
        if not index:
            raise DataFileError(
                f"no '.{self.ext}' members in webdataset shards {self._path} "
                f"({len(self.shards)} shards); pass ext= to choose another member."
            )
        return StoreState(index, files={})

    def files(self) -> List[str]:
        return list(self.shards)

    def _read(self, state: StoreState, location: Tuple[int, int, int]) -> np.ndarray:
        shard_no, offset, size = location
        fh = state.files.get(shard_no)
        if fh is None:
            fh = state.files[shard_no] = open(self.shards[shard_no], "rb", buffering=0)
        data = os.pread(fh.fileno(), size, offset)
        try:
            if len(data) != size:
                raise DataFileError(f"{self.shards[shard_no]}: the shard is truncated: the member at byte {offset} "
                                    f"needs {size} bytes, {len(data)} are left. Produce or copy the shard again.")
            return load_npy_safe(data, where=f"{self.shards[shard_no]} (member at byte {offset})",
                                 what="feature member")
        except DataFileError as e:  # name the key: the one lookup that is worth a scan of the index
            key = next((k for k, loc in state.index.items() if loc == location), None)
            raise DataFileError(f"feature key {key!r}: {e}") from None


def write_webdataset_shards(
    features: Mapping[Any, Any],
    out_dir: PathLike,
    num_shards: int,
    prefix: str = "features",
    *,
    overwrite: bool = False,
) -> List[str]:
    """Write ``features`` into ``num_shards`` tar shards ``<out_dir>/<prefix>-NNNNNN.tar``.

    Each sample is ``{"__key__": encode_wds_key(key), "npy": <array as .npy>}`` (arrays as
    ``.npy``, never pickled ``.pth``). Keys are split into contiguous, near-equal chunks, so
    every shard holds at least one key: write at least as many shards as DataLoader
    workers (times DDP ranks) that will stream them, since webdataset gives each worker
    whole shards. Each shard is written atomically. Existing ``<prefix>-*.tar`` files in
    ``out_dir`` are an error unless ``overwrite=True`` (then stale extra shards from an
    earlier, larger write are removed, so a folder never mixes two writes).

    Every key becomes a member name inside the shard (``encode_wds_key(key) + ".npy"``),
    so a key that cannot (empty, or with a NUL character) is a :class:`DataFileError`
    naming it, as is a ``prefix`` that is not a plain name.
    """
    from webdataset import TarWriter

    if not isinstance(num_shards, int) or num_shards < 1:
        raise DatasetError(f"num_shards must be an integer >= 1, got {num_shards!r}")
    check_plain_name(prefix, "shard prefix", where="write_webdataset_shards")
    keys = [as_key(k) for k in features]
    if not keys:
        raise DatasetError("no features to write")
    for key in keys:  # encoding escapes "/" and ".", so only these could not be a member name
        if not key or "\x00" in key:
            raise DataFileError(f"feature key {key!r} cannot be written to webdataset shards in {out_dir}: a key "
                                f"becomes a tar member name, which must be non-empty and without NUL characters.")
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise DatasetError(f"key {dup!r} occurs more than once once ids are converted to str")
    if num_shards > len(keys):
        raise DatasetError(
            f"cannot spread {len(keys)} keys over {num_shards} shards: each shard needs at "
            f"least one key (webdataset workers fail on empty shards)."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(glob.glob(os.path.join(glob.escape(str(out)), glob.escape(prefix) + "-*.tar")))
    if existing and not overwrite:
        raise FileExistsError(
            f"{out} already holds shards {existing[0]}...; pass overwrite=True or choose "
            f"another prefix/folder."
        )
    raw_values = list(features.values())
    bounds = np.linspace(0, len(keys), num_shards + 1).round().astype(int)
    paths = []
    for shard_no in range(num_shards):
        path = out / f"{prefix}-{shard_no:06d}.tar"
        with atomic_write(path, "wb") as fh:
            writer = TarWriter(fh, encoder=False, format="PAX_FORMAT", mtime=0)
            with writer:
                for i in range(bounds[shard_no], bounds[shard_no + 1]):
                    writer.write({"__key__": encode_wds_key(keys[i]), "npy": npy_bytes(raw_values[i], keys[i])})
        paths.append(str(path))
    for stale in set(existing) - set(paths):
        os.unlink(stale)
    return paths


def wds_sample_to_pair(sample: Dict[str, Any], ext: str) -> Tuple[str, np.ndarray]:
    key = decode_wds_key(sample["__key__"])
    where = f"{sample.get('__url__', '?')}: sample {key!r}"
    if ext not in sample:
        members = sorted(k for k in sample if not k.startswith("__"))
        raise DataFileError(f"{where} has no '.{ext}' member (members: {', '.join(members)})")
    arr = load_npy_safe(sample[ext], where=where, what="feature member")
    return key, to_frames(arr, where, key).numpy()


def iter_webdataset_features(
    shards: Union[PathLike, Sequence[PathLike]],
    shardshuffle: Union[bool, int] = False,
    ext: str = "npy",
):
    """Stream ``(key, float32 array [T, D])`` pairs through ``webdataset.WebDataset``.

    Returns the webdataset pipeline (an ``IterableDataset``), so it can be handed to a
    ``DataLoader``: each worker reads whole shards, and under DDP or torchrun each rank
    its own (:func:`gf.common.sharding.reader_position` decides, as for gf's streaming
    dataset: webdataset's own splitters obey stray ``WORKER``/``NUM_WORKERS`` variables).
    ``shardshuffle`` is passed explicitly (``False`` = file order; an int = shuffle buffer
    of shards).
    """
    import functools

    import webdataset as wds

    from gf.common.sharding import split_by_rank, split_by_worker

    paths = resolve_shards(shards)
    ext = ext.lower().lstrip(".")
    dataset = wds.WebDataset(paths, shardshuffle=shardshuffle, nodesplitter=split_by_rank,
                             workersplitter=split_by_worker)
    return dataset.map(functools.partial(wds_sample_to_pair, ext=ext))


