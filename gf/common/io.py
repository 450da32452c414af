"""Atomic writes, safe reads and output-folder locks.

Why: a run killed mid-write must never leave a truncated checkpoint, cache, prediction
or report that a later run would trust. Every writer in gf goes through
:func:`atomic_write`: data lands in a temporary file in the destination folder (same
filesystem), is flushed and fsynced, then renamed over the target in one step
(:func:`remove_stale_temp_files` deletes what a killed writer left). Readers turn every way
a user's file can be wrong (missing, not UTF-8, malformed) into one
:class:`~gf.common.errors.GfError` naming the file (and line), and two gf processes never
write into one folder at once (:func:`output_lock`). Torch and ``.npy`` files are read
without unpickling by :mod:`gf.common.safe_load`.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Tuple, Type, Union

from gf.common.errors import ConfigError, DataFileError, OutputLockedError
from gf.common.utils import PathLike

__all__ = [
    "LOCK_NAME",
    "OutputLock",
    "atomic_write",
    "atomic_write_json",
    "atomic_write_jsonl",
    "atomic_write_text",
    "atomic_torch_save",
    "check_outputs_apart",
    "same_file",
    "sha256sum",
    "check_plain_name",
    "check_replaceable",
    "decode_utf8",
    "is_gf_leftover",
    "load_json",
    "record_place",
    "load_jsonl",
    "no_repeated_keys",
    "output_lock",
    "read_text_utf8",
    "remove_stale_temp_files",
    "DataFileError",
    "RepeatedKeysError",
]

logger = logging.getLogger(__name__)


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


def missing_folders(folder: PathLike) -> List[Path]:
    """``folder`` and those of its parents that do not exist yet, innermost first: what
    :func:`make_folder` would create."""
    missing, path = [], Path(folder)
    while not path.exists() and not path.is_symlink() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def make_folder(folder: PathLike) -> Path:
    """``folder.mkdir(parents=True, exist_ok=True)``, where a file in the way is a
    :class:`~gf.common.errors.ConfigError` naming it (not ``FileExistsError`` or
    ``NotADirectoryError``): an output path is the user's to fix. A parent removed by another
    process between two of mkdir's steps (an output lock leaving a folder it made empty) is
    made again."""
    folder, retries = Path(folder), 2
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return folder
        except (FileExistsError, NotADirectoryError):
            blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), folder)
            where = "is a file" if blocker == folder else f"lies under {blocker}, which is a file"
            raise ConfigError(f"{folder} cannot be an output folder: it {where}. Choose another output path, or "
                              f"move that file.") from None
        except FileNotFoundError:
            if not retries:
                raise
            retries -= 1


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is left untouched. The file
    gets the mode a plain ``open(path, "w")`` would give it (``0o666`` less the umask), not
    ``mkstemp``'s private ``0o600``: written atomically or not, a data file must be as
    readable by the other users of a shared data root.
    """
    path = Path(path)
    if path.is_dir():  # os.replace would fail only after the whole file was written
        raise ConfigError(f"{path} is a folder, so gf cannot write its file there; move or delete that folder, or "
                          f"choose another output path.")
    make_folder(path.parent)
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


# ---------------------------------------------------------------------------------------
# reading text: UTF-8 or a message naming the line
# ---------------------------------------------------------------------------------------
def decode_utf8(data: bytes, path: PathLike, what: str = "text file", first_line: int = 1) -> str:
    """``data`` (the bytes of ``path`` from line ``first_line`` on) as text, a leading UTF-8 BOM
    dropped (editors on Windows write one, and kept it would become part of the first value);
    bytes that are not UTF-8 are a :class:`DataFileError` naming the file, the line and the
    column of the first bad byte and saying to re-save the file as UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, start) + first_line
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        bad = data[start:start + 1].hex()
        raise DataFileError(
            f"{path}:{line}: {what} is not UTF-8 (byte 0x{bad} at column {column}: {e.reason}); gf reads "
            f"text files as UTF-8, so re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
        ) from None


def read_text_utf8(path: PathLike, what: str = "text file") -> str:
    """The text of ``path`` (without a BOM): missing is a :class:`DataFileError` ("<what> not
    found"), and so are bytes that are not UTF-8 (naming file and line, see :func:`decode_utf8`)."""
    path = Path(path)
    if path.is_dir():
        raise DataFileError(f"{what} {path} is a folder, not a file; give the path of the file itself")
    if not path.is_file():
        raise DataFileError(f"{what} not found: {path}")
    return decode_utf8(path.read_bytes(), path, what)


def load_json(path: PathLike, what: str = "JSON file", **json_kw) -> Any:
    """Read a JSON file; missing, not UTF-8 or malformed is a :class:`DataFileError` naming it.

    ``json_kw`` go to ``json.loads`` (e.g. ``object_pairs_hook`` to catch repeated keys), so
    a reader that needs them keeps these messages instead of opening the file itself.
    """
    path = Path(path)
    text = read_text_utf8(path, what)
    try:
        return json.loads(text, **json_kw)
    except json.JSONDecodeError as e:
        raise DataFileError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e


class RepeatedKeysError(ValueError):
    """Keys written twice in one JSON object, found by :func:`no_repeated_keys` (inside
    ``json.loads``); ``keys`` lists them, in order."""

    def __init__(self, keys: List[str]):
        super().__init__(keys)
        self.keys = keys


def no_repeated_keys(pairs: List[Tuple[str, Any]]) -> dict:
    """``object_pairs_hook`` that refuses a key written twice in one JSON object: ``json``
    keeps only the last of two equal keys, so a second entry of one name (a repeated
    question id) would silently replace the first."""
    data, repeated = {}, []
    for key, value in pairs:
        if key in data:
            repeated.append(key)
        data[key] = value
    if repeated:
        raise RepeatedKeysError(repeated)
    return data


def line_of_record(source: Optional[PathLike], index: int) -> Optional[int]:
    """Line number of the ``index``-th record of a JSONL file (blank lines are skipped, as
    :func:`load_jsonl` skips them); ``None`` for a file that is not JSONL or not there.

    Only called on the error path, so records need not carry their line numbers.
    """
    if not source or not str(source).endswith(".jsonl") or not Path(source).is_file():
        return None
    seen = -1
    with open(source, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                seen += 1
                if seen == index:
                    return lineno
    return None


def record_place(source: Optional[PathLike], index: int) -> str:
    """Where the ``index``-th record is, for a message: ``file:line`` (JSONL), else
    ``file, record i``, else ``record i`` when there is no file."""
    line = line_of_record(source, index)
    if line:
        return f"{source}:{line}"
    return f"{source}, record {index}" if source else f"record {index}"


def load_jsonl(path: PathLike, what: str = "JSONL file") -> list:
    """Read one JSON object per line; a bad line (malformed, or not UTF-8) is an error
    naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{what} not found: {path}")
    rows = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            line = decode_utf8(raw, path, what, first_line=lineno)
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataFileError(
                    f"{path}:{lineno}: malformed JSON line ({e.msg} at column {e.colno}); "
                    f"fix or remove that line."
                ) from e
    return rows


# ---------------------------------------------------------------------------------------
# names that become paths
# ---------------------------------------------------------------------------------------
_SEPARATORS = tuple(sep for sep in {"/", os.sep, os.altsep} if sep)


def check_plain_name(name: Any, what: str, *, where: str = "", error: Type[Exception] = DataFileError) -> str:
    """``name`` if it can be used as one file or member name inside a folder: a non-empty
    string without path separators (``/``; on Windows also ``\\``) or NUL, and not ``.`` or
    ``..`` (so it is not absolute either). Otherwise ``error`` naming it and ``where`` it came from: a name read
    from data must never reach outside the folder it is meant for."""
    prefix = f"{where}: " if where else ""
    if not isinstance(name, str) or not name:
        raise error(f"{prefix}{what} {name!r} must be a non-empty string to name a file.")
    bad = None
    if name in (".", ".."):
        bad = "is a relative folder reference"
    elif any(sep in name for sep in _SEPARATORS):
        bad = "holds a path separator" + (" (an absolute path)" if os.path.isabs(name) else "")
    elif "\x00" in name:
        bad = "holds a NUL character"
    if bad:
        raise error(f"{prefix}{what} {name!r} {bad}; it must be a plain name that stays inside its folder.")
    return name


# ---------------------------------------------------------------------------------------
# outputs never replace inputs, nor files gf did not write
# ---------------------------------------------------------------------------------------
#: ``{label: path}`` or ``[(label, path), ...]``: paths and how the user named them.
PathsByLabel = Union[Mapping[str, Optional[PathLike]], Iterable[Tuple[str, Optional[PathLike]]]]


def _real(path: PathLike) -> Path:
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name one file: equal after resolving ``~``, ``..`` and symbolic
    links, or (both existing) the same inode (hard links, case-insensitive names)."""
    ra, rb = _real(a), _real(b)
    try:
        return ra == rb or os.path.samefile(ra, rb)
    except OSError:  # one of them does not exist (or cannot be read)
        return False


def check_outputs_apart(outputs: PathsByLabel, inputs: PathsByLabel, *, command: str) -> None:
    """Refuse an output that is one of the command's inputs, or a folder an input lies in:
    a :class:`~gf.common.errors.ConfigError` naming both paths by their labels
    (``"--out"``, ``"--windows"``; in pairs a label may repeat). ``None`` paths are skipped;
    paths are resolved as in :func:`same_file`. Why: a command writes and replaces files in
    its outputs, so a typo'd output path must never be able to reach the video,
    annotations, checkpoint or config it reads.
    """
    pairs = (lambda given: given.items() if isinstance(given, Mapping) else given)
    real_inputs = [(label, path, _real(path)) for label, path in pairs(inputs) if path is not None]
    for out_label, out_path in pairs(outputs):
        if out_path is None:
            continue
        out = _real(out_path)
        for in_label, in_path, real in real_inputs:
            if same_file(real, out):
                raise ConfigError(f"{out_label} {out_path} is the same file as {in_label} {in_path}, an input of "
                                  f"this command; writing it would destroy the input. Choose another {out_label}.")
            if out in real.parents:
                raise ConfigError(f"{out_label} {out_path} holds {in_label} {in_path}, an input of this command; "
                                  f"{command} writes and replaces files in {out_label}, so no input may lie inside "
                                  f"it. Choose another {out_label} (or move the input).")


def check_replaceable(path: PathLike, option: str, *, owned: Callable[[Path], bool], command: str,
                      kind: str = "file", fix: str = "delete it or choose another path") -> None:
    """Refuse an output ``path`` that is a folder, or an existing file ``owned(path)`` does
    not recognise as one ``command`` wrote (a marker it records in what it writes).

    Why: a command replaces its own earlier output (a rerun), never a file the user made
    that happens to sit at the path given. Raises :class:`~gf.common.errors.ConfigError`.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give the path of a {kind}.")
    if path.exists() and not owned(path):
        raise ConfigError(f"{option} {path} exists and was not written by {command}, so it is not {command}'s to "
                          f"replace; {fix}.")


# ---------------------------------------------------------------------------------------
# output folders: one writer at a time, and no temporary files left behind
# ---------------------------------------------------------------------------------------
#: Name of the lock file :func:`output_lock` keeps in the folder it locks.
LOCK_NAME = ".gf.lock"

#: ``atomic_write``'s temporary names: ``.<name>.<8 random chars of mkstemp>.tmp``.
_ATOMIC_TEMP = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")


def is_gf_leftover(name: str) -> bool:
    """Whether a file name in an output folder is gf's own bookkeeping, not content: the lock
    file, or the temporary file of an interrupted :func:`atomic_write`. A folder holding
    only these is as good as empty."""
    return name == LOCK_NAME or bool(_ATOMIC_TEMP.fullmatch(name))


def _read_lock_holder(path: Path) -> tuple:
    """``(pid, command)`` written in a lock file, ``(None, None)`` when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        pid, command = data.get("pid"), data.get("command")
        return (pid if isinstance(pid, int) else None), (command if isinstance(command, str) else None)
    except (OSError, ValueError, AttributeError):
        return None, None


class OutputLock:
    """An exclusive OS lock on ``<folder>/.gf.lock``; see :func:`output_lock`."""

    def __init__(self, folder: PathLike, command: str, wait_s: float = 0.0,
                 wait_for: Optional[Callable[[Optional[str]], bool]] = None):
        self.folder = Path(folder)
        self.command = str(command)
        self.wait_s = float(wait_s)
        self.wait_for = wait_for
        self.path = self.folder / LOCK_NAME
        self._lock: Any = None  # the held filelock.FileLock
        self._made: List[Path] = []  # the folders acquiring created, innermost first

    @property
    def held(self) -> bool:
        return self._lock is not None

    def acquire(self) -> "OutputLock":
        """Take the lock, waiting as :func:`output_lock` says: checking again after 0.05 s,
        doubling to 1 s, and saying so in the log every 30 s."""
        start = time.monotonic()
        deadline = start + self.wait_s
        delay, next_log = 0.05, start + 30.0
        while True:
            try:
                return self._try_acquire()
            except OutputLockedError as busy:
                now = time.monotonic()
                if self.wait_for is not None and not self.wait_for(busy.command):
                    raise
                if now >= deadline:
                    if self.wait_s <= 0:
                        raise
                    raise OutputLockedError(f"{busy} (gave up after waiting {now - start:.0f} s)",
                                            folder=busy.folder, pid=busy.pid, command=busy.command) from None
                if now >= next_log:
                    logger.info("waiting for %s (%s)", self.folder, busy)
                    next_log = now + 30.0
                time.sleep(min(delay, deadline - now))
                delay = min(delay * 2, 1.0)

    def _try_acquire(self) -> "OutputLock":
        from filelock import FileLock, Timeout

        if self._lock is not None:
            raise RuntimeError(f"{self.path}: this lock is already held by this object")
        made = missing_folders(self.folder)
        make_folder(self.folder)
        # filelock (>= 4.2.1) empties the file only once it holds the lock, after on_acquired has
        # read the previous holder's record: a waiter always reads the holder's record
        lock = FileLock(self.path, thread_local=False, on_acquired=self._record_holder)
        while True:
            try:
                lock.acquire(blocking=False)
                break
            except FileNotFoundError:  # the holder before us removed the folder it had made
                make_folder(self.folder)
            except Timeout:
                if not self.path.exists():  # the holder before us removed it between our open and our lock
                    continue
                pid, command = _read_lock_holder(self.path)
                who = f"process {pid}" if pid is not None else "another process"
                doing = f" ({command})" if command else ""
                raise OutputLockedError(
                    f"{self.folder} is in use by {who}{doing}: gf lets one process at a time write into a "
                    f"folder. Wait for it to finish, or choose another folder.",
                    folder=self.folder, pid=pid, command=command,
                ) from None
            except OSError as e:  # after Timeout (an OSError too): filelock opens with O_NOFOLLOW, so a
                # .gf.lock that is a symbolic link is refused (ELOOP), never followed
                if e.errno != errno.ELOOP:
                    raise
                raise ConfigError(f"{self.path} is a symbolic link; gf does not follow it for its lock: "
                                  f"remove it") from None
        self._lock, self._made = lock, made
        return self

    def _record_holder(self, fd: int) -> None:
        """filelock's ``on_acquired``: say so when taking over a dead process's lock file, then
        write this process's pid and command into it."""
        previous_pid, previous_command = _read_lock_holder(self.path)
        if previous_pid is not None and previous_pid != os.getpid():
            logger.info("%s: taking over the stale lock of process %s (%s), which has ended", self.folder,
                        previous_pid, previous_command or "unknown command")
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps({"pid": os.getpid(), "command": self.command}) + "\n").encode("utf-8"), 0)

    def release(self) -> None:
        """Remove the lock file, and the folders acquiring made if they are still empty: a
        command refused after taking the lock leaves nothing behind (no empty output folder)."""
        lock, self._lock = self._lock, None
        if lock is None:
            return
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # while still locked: nobody can take it in between
            for folder in self._made:
                try:
                    folder.rmdir()  # only an empty one
                except OSError:
                    break
        finally:
            lock.release()

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"OutputLock({str(self.folder)!r}, {self.command!r}, held={self.held})"


def output_lock(folder: PathLike, command: str, wait_s: float = 0.0,
                wait_for: Optional[Callable[[Optional[str]], bool]] = None) -> OutputLock:
    """Hold ``folder`` for this process while a gf command writes into it::

        with output_lock(run_dir, "gf train"):
            ...

    Entering creates ``folder`` if needed and takes an exclusive OS lock (``flock``) on
    ``folder/.gf.lock``, into which it writes this process's pid and ``command``. If another
    process holds it, entering waits up to ``wait_s`` seconds (default: not at all) and then
    raises :class:`~gf.common.errors.OutputLockedError` naming the folder, that process's pid
    and command (and how long it waited). ``wait_for(command)``, if given, says which holders
    are worth waiting for (a job of an array waits for another's brief setup, never for an
    hours-long run; ``None``: the holder has not written its command yet); any other holder
    is refused at once. A process that dies (even by ``kill -9``) releases its lock
    with it, so a stale ``.gf.lock`` left behind is simply taken over. Leaving removes
    the lock file. Also usable without ``with``: ``lock = output_lock(...); lock.__enter__()``
    and later ``lock.__exit__(None, None, None)``.

    flock is per open file: a second ``output_lock`` on the same folder in the same process
    is refused too. On network filesystems without flock support the lock may not hold. The
    lock stands on :class:`filelock.FileLock`: a ``.gf.lock`` that is a symbolic link is
    refused, not followed, and a lock object dropped without release is released when it is
    garbage-collected (gf's commands keep theirs until they leave).
    """
    return OutputLock(folder, command, wait_s, wait_for)


def remove_stale_temp_files(folder: PathLike, recursive: bool = True,
                            owned: Optional[Callable[[str], bool]] = None) -> List[Path]:
    """Delete the temporary files of interrupted :func:`atomic_write` calls under ``folder``
    (recursively, or in ``folder`` itself only) and return their paths, sorted. With
    ``owned``, only those for whose file it returns true (called with the name of the file the
    temporary one was written for, ``features.json`` for ``.features.json.ab12cd34.tmp``):
    in a folder several processes write, each removes only its own.

    Call it only while holding :func:`output_lock` on ``folder``: a file another process is
    still writing has the same name. Symbolic links (to files or folders) are neither
    followed nor removed. A missing ``folder`` gives ``[]``.
    """
    root = Path(folder)
    removed: List[Path] = []
    if not root.is_dir():
        return removed
    for dirpath, dirnames, filenames in os.walk(root):
        if not recursive:
            dirnames.clear()  # subfolders may be other writers' (each under its own lock)
        for name in filenames:
            match = _ATOMIC_TEMP.fullmatch(name)
            if not match or (owned is not None and not owned(match.group(1))):
                continue
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return sorted(removed)


def sha256sum(path, chunk_size: int = 1024 * 1024) -> str:
    """Hex sha256 of a file, read in chunks so multi-GB checkpoints fit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()
