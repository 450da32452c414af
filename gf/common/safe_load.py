"""Reading torch and ``.npy`` files without ever unpickling what they hold.

Why a module of its own: checkpoints, feature files and shard members all come from users
or downloads, and ``torch.load``/``np.load`` would execute pickled code or give errors
that advise doing so. :func:`torch_load_safe` and :func:`load_npy_safe` read numbers
only and turn every bad file (pickled objects, truncated, damaged, another format) into
one :class:`~gf.common.errors.GfError` that names the file and says which it is.
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Any, Optional, Type

from gf.common.errors import CheckpointError, CheckpointNotFoundError, DataFileError
from gf.common.utils import PathLike

__all__ = ["load_npy_safe", "refused_pickled_object", "torch_load_safe"]


# ---------------------------------------------------------------------------------------
# torch files
# ---------------------------------------------------------------------------------------
#: The ways torch 2.x words a weights-only refusal of a pickled object; each names the object.
_REFUSED_OBJECT = (
    re.compile(r"Unsupported global: GLOBAL (\S+) was not an allowed global"),
    re.compile(r"unsupported GLOBAL (\S+) whose module \S+ is blocked"),
    re.compile(r"Trying to call reduce for unrecognized function (.+?)(?: which belongs to|$)", re.M),
    re.compile(r"(?:Can only build|Can only create new object)[^\n]*but got (?:<class '([^']+)'>|(\S+))"),
    re.compile(r"(\S+) must be imported to load"),
)

#: How a legacy (non-zip) ``torch.save`` file starts: pickle protocol 2, then torch's magic number.
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def refused_pickled_object(message: str) -> Optional[str]:
    """The object a ``torch.load(weights_only=True)`` error says it refused to unpickle
    (``"zipfile.ZipInfo"``), or None when the error is about something else (a damaged
    file). Why by the text: torch raises the same ``UnpicklingError`` for both."""
    for pattern in _REFUSED_OBJECT:
        m = pattern.search(message)
        if m:
            return next(g for g in m.groups() if g).strip()
    return None


def _not_a_torch_file(path: Path, is_zip: bool) -> str:
    """What a file torch cannot read looks like, from its first bytes: a zip archive (the
    format of ``torch.save``) or a legacy torch file cut short, or something else."""
    with open(path, "rb") as fh:
        head = fh.read(len(_LEGACY_TORCH_MAGIC))
    if is_zip or head.startswith(b"PK\x03\x04"):
        return "a zip archive that is truncated or damaged, or was not written by torch.save"
    if head == _LEGACY_TORCH_MAGIC:
        return "a legacy-format torch file that is truncated or damaged"
    return "not a file written by torch.save"


def torch_load_safe(path: PathLike, map_location: Any = "cpu", mmap: bool | None = None,
                    what: str = "checkpoint") -> Any:
    """``torch.load`` that never executes pickled code (``weights_only=True``).

    ``what`` names the file in messages and picks the error: ``"checkpoint"`` (default)
    raises :class:`~gf.common.errors.CheckpointError` (a missing file:
    :class:`~gf.common.errors.CheckpointNotFoundError`), anything else (``"feature file"``)
    :class:`DataFileError`. A file holding pickled objects (a whole module, a custom class)
    is refused naming the object; one that is not a (complete) torch file (random bytes, a
    truncated file) is called truncated or damaged, and an empty file or a folder is called
    so. torch's own advice to load with ``weights_only=False`` is never passed on: that
    would execute whatever the file holds. ``mmap=True`` on a file in torch's legacy
    (non-zip) format, which cannot be mapped, loads it without ``mmap``.
    """
    import torch

    path = Path(path)
    error: Type[Exception] = CheckpointError if what == "checkpoint" else DataFileError
    if path.is_dir():
        raise error(f"{path} is a folder, not a {what}: name the {what} file inside it.")
    if not path.is_file():
        missing = CheckpointNotFoundError if what == "checkpoint" else DataFileError
        raise missing(f"{what} not found: {path}")
    size = path.stat().st_size
    if size == 0:
        raise error(f"{path} is not a torch {what}: the file is empty (0 bytes); a write was interrupted or the "
                    f"copy failed. Copy or produce the {what} again.")
    is_zip = zipfile.is_zipfile(path)
    extra = {} if mmap is None else {"mmap": bool(mmap) and is_zip}
    try:
        return torch.load(str(path), map_location=map_location, weights_only=True, **extra)
    except Exception as e:  # torch raises many kinds for a bad file; none of its texts is passed on
        refused = refused_pickled_object(str(e))
        if refused:
            raise error(
                f"{path}: the {what} holds a pickled object ({refused}), which gf does not load: "
                f"torch.load(weights_only=True) only reads tensors and plain containers, and unpickling "
                f"arbitrary objects could run code. Re-save it as a plain dict of tensors (or safetensors)."
            ) from None
        raise error(
            f"{path} is not a (complete) torch {what} ({_not_a_torch_file(path, is_zip)}; {size} bytes; "
            f"{type(e).__name__}). It may be truncated by an interrupted copy or download, or be another kind "
            f"of file; produce or copy the {what} again."
        ) from None


# ---------------------------------------------------------------------------------------
# .npy arrays: numbers only, and a damaged file called damaged
# ---------------------------------------------------------------------------------------
_NPY_MAGIC = b"\x93NUMPY"


def _npy_header(fh: Any) -> tuple:
    """``(shape, dtype, data offset)`` from a ``.npy`` header (``None``s for format 3.0, which
    has no public reader: ``np.load`` checks it), or raise ``ValueError``/``EOFError``."""
    from numpy.lib import format as npy

    version = npy.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = npy.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = npy.read_array_header_2_0(fh)
    else:
        return None, None, None
    return shape, dtype, fh.tell()


def _pickled_npy(where: str, what: str, dtype: Any = None) -> str:
    kind = f" (dtype {dtype})" if dtype is not None else ""
    return (f"{where}: the {what} holds pickled Python objects{kind}, which gf refuses to load: unpickling a "
            f"file can run code. Save the array as numbers instead (e.g. numpy.save(path, array.astype('float32'))).")


def _npy_refusal(where: str, what: str, data_size: int, fh: Any) -> Optional[str]:
    """Why ``fh`` (a ``.npy`` of ``data_size`` bytes) cannot be read as numbers, from its
    header alone, or None when the header promises a complete numeric array."""
    import numpy as np

    start = fh.read(len(_NPY_MAGIC))
    fh.seek(0)
    if start != _NPY_MAGIC:
        kind = "a zip archive (an .npz?)" if start.startswith(b"PK\x03\x04") else "not a .npy array"
        return (f"{where}: the {what} is {kind}: it does not start with numpy's .npy signature ({data_size} "
                f"bytes), and gf never reads a file as a pickle. Write it with numpy.save.")
    try:
        shape, dtype, offset = _npy_header(fh)
    except (ValueError, EOFError, OSError) as e:
        return (f"{where}: the {what} is truncated or damaged: its .npy header cannot be read ({e}; {data_size} "
                f"bytes). Produce or copy it again.")
    if dtype is None:
        return None
    if dtype.hasobject:
        return _pickled_npy(where, what, dtype)
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if data_size < expected:
        return (f"{where}: the {what} is truncated: its header promises a {dtype} array of shape {tuple(shape)} "
                f"({expected} bytes with the header) but it holds {data_size} bytes. Produce or copy it again.")
    return None


def load_npy_safe(source: Any, *, where: Optional[str] = None, what: str = "array file",
                  mmap: bool = False) -> Any:
    """A numeric array from a ``.npy`` file path or from its bytes, never unpickled.

    Why not plain ``np.load(allow_pickle=False)``: its errors advise loading the file with
    ``allow_pickle`` (which could run code), call any file that is not a .npy "pickled",
    and a truncated one "not fully written?". Here a bad file is a :class:`DataFileError`
    naming ``where`` (default: the path; for bytes from an archive, pass the archive and the
    member or key). ``mmap`` maps a file read-only.
    """
    import io as _io

    import numpy as np

    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        where, name, size = where or "array bytes", None, len(data)
        fh: Any = _io.BytesIO(data)
    else:
        name = os.fspath(source)
        where = where or name
        if not os.path.isfile(name):
            raise DataFileError(f"{where}: the {what} is a folder, not a .npy file." if os.path.isdir(name)
                                else f"{what} not found: {where}")
        size = os.path.getsize(name)
        fh = open(name, "rb")
    try:
        problem = _npy_refusal(where, what, size, fh)
        if problem is None:
            fh.seek(0)
            try:
                return np.load(name, mmap_mode="r", allow_pickle=False) if name is not None and mmap else \
                    np.load(fh, allow_pickle=False)
            except (ValueError, OSError, EOFError) as e:  # past the header checks: format 3.0, or damage
                problem = (_pickled_npy(where, what) if "Object arrays" in str(e) or "Python objects" in str(e)
                           else f"{where}: the {what} is truncated or damaged ({type(e).__name__}; {size} bytes). "
                                f"Produce or copy it again.")
    finally:
        fh.close()
    raise DataFileError(problem)
