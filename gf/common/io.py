"""Atomic writes and safe reads.

Why: a run killed mid-write must never leave a truncated checkpoint, cache, prediction
or report that a later run would trust. Every writer in gf goes through
:func:`atomic_write`: data lands in a temporary file in the destination folder (same
filesystem), is flushed and fsynced, then renamed over the target in one step.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from gf.common.errors import DataFileError
from gf.common.utils import PathLike


__all__ = [
    "atomic_write",
    "atomic_write_json",
    "atomic_write_jsonl",
    "atomic_write_text",
    "atomic_torch_save",
    "load_json",
    "load_jsonl",
    "torch_load_safe",
    "DataFileError",
]


def current_umask() -> int:
    """The process umask.

    Read from ``/proc/self/status`` where Linux offers it: the portable way, setting the
    umask and setting it straight back, leaves a moment in which a file another thread
    creates (a TensorBoard event file during a checkpoint write) gets umask 0.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched. The file
    gets the mode a plain ``open(path, "w")`` would give it (``0o666`` less the umask), not
    ``mkstemp``'s private ``0o600``: written atomically or not, a data file must be as
    readable by the other users of a shared data root.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        os.chmod(tmp, 0o666 & ~current_umask())
        kwargs = {} if "b" in mode else {"encoding": encoding}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    with atomic_write(path, "w") as fh:
        fh.write(text)


def atomic_write_json(path: PathLike, obj: Any, indent: int | None = 2, **kwargs) -> None:
    with atomic_write(path, "w") as fh:
        json.dump(obj, fh, indent=indent, **kwargs)
        if indent is not None:
            fh.write("\n")


def atomic_write_jsonl(path: PathLike, rows: Iterable[Any], **kwargs) -> None:
    """One ``json.dumps(row, **kwargs)`` line per row, through :func:`atomic_write`.

    Shared so every JSONL file gf writes (converters, the synthetic benchmark) is written
    the same way and is never left half-written; ``rows`` may be a generator.
    """
    with atomic_write(path, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row, **kwargs) + "\n")


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    import torch

    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def torch_load_safe(path: PathLike, map_location: Any = "cpu", mmap: bool | None = None) -> Any:
    """``torch.load`` that never executes pickled code (``weights_only=True``)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"file not found: {path}")
    extra = {} if mmap is None else {"mmap": mmap}
    try:
        return torch.load(str(path), map_location=map_location, weights_only=True, **extra)
    except Exception as e:  # pickle.UnpicklingError and friends
        raise DataFileError(
            f"could not load {path} safely with torch.load(weights_only=True): {e}. "
            f"gf never unpickles arbitrary objects; re-save the file as a plain dict of "
            f"tensors (or safetensors)."
        ) from e


def load_json(path: PathLike, what: str = "JSON file", **json_kw) -> Any:
    """Read a JSON file; missing or malformed is a :class:`DataFileError` naming it.

    ``json_kw`` go to ``json.load`` (e.g. ``object_pairs_hook`` to catch repeated keys), so
    a reader that needs them keeps these messages instead of opening the file itself.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh, **json_kw)
    except json.JSONDecodeError as e:
        raise DataFileError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e


def load_jsonl(path: PathLike, what: str = "JSONL file") -> list:
    """Read one JSON object per line; a bad line is an error naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{what} not found: {path}")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataFileError(
                    f"{path}:{lineno}: malformed JSON line ({e.msg} at column {e.colno}); "
                    f"fix or remove that line."
                ) from e
    return rows
