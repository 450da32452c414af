"""The user zoo file: where published entries and first-use hashes are kept.

Why in ``gf.common``: two kinds of downloads trust a file on first use, checkpoints
(:mod:`gf.models.zoo`) and data bundles (:mod:`gf.datasets.data_zoo`). Both keep their
record in the same JSON file, through the one recorder here, so the rule (a known hash is
never changed; a record names the URL it was made for) is written once and the file is
only ever changed read-modify-write under its lock, atomically.

The file's layout, which files are read (``$GF_ZOO``) and what reading refuses (a key
written twice is an error, never "the last one wins"): docs/data_download.md, "The user
zoo file". Files are read on first use (never at import) and re-read when they change.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Type

from gf.common.download import cache_dir
from gf.common.errors import ChecksumError, DataFileError, GfError
from gf.common.locks import file_lock
from gf.common.io import RepeatedKeysError, atomic_write_json, decode_utf8, no_repeated_keys
from gf.common.utils import check_known_keys, normalize_sha256, utc_now
from gf.version import __version__

__all__ = ["ZooError", "cached_on_zoo_files", "entry_checksum_error", "non_finite_at", "read_zoo_file",
           "record_first_use_hash", "update_zoo_file", "user_zoo_file", "with_recorded_hashes", "zoo_files"]

logger = logging.getLogger("gf.models.zoo")

ZOO_FORMAT = "gf-zoo"
ZOO_VERSION = 1
_ZOO_FILE_KEYS = ("format", "version", "entries", "recorded_hashes")


class ZooError(DataFileError):
    """A zoo file or entry is invalid, or an operation on it is refused; the message says why."""


def zoo_files() -> List[Path]:
    """The user zoo files, in lookup order: the ``$GF_ZOO`` paths (``os.pathsep`` between
    them), else ``cache_dir()/zoo.json``."""
    raw = os.environ.get("GF_ZOO", "")
    paths = [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
    return paths or [cache_dir() / "zoo.json"]


def user_zoo_file() -> Path:
    """The zoo file gf writes to (published entries, recorded hashes): the first of :func:`zoo_files`."""
    return zoo_files()[0]


_FILE_CACHE: Dict[Path, Tuple[Tuple[int, int, int], Dict[str, Any]]] = {}


def _stat_key(path: Path) -> Optional[Tuple[int, int, int]]:
    """What changes when ``path`` is written (gf replaces it atomically: a new inode); None: missing."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def zoo_files_state() -> Tuple[Tuple[str, Optional[Tuple[int, int, int]]], ...]:
    """The user zoo files with their stat keys: it changes when one is written, created or
    deleted, or when ``GF_ZOO`` / ``GF_CACHE_DIR`` name other files."""
    return tuple((str(path), _stat_key(path)) for path in zoo_files())


def cached_on_zoo_files(hook: Callable[[Mapping[str, Any]], Mapping[str, Any]]
                        ) -> Callable[[Mapping[str, Any]], Dict[str, Any]]:
    """``hook(registered)`` (a registry kind's ``extra_entries``, which reads the zoo files)
    run again only when the zoo files (:func:`zoo_files_state`) or the registered entries
    changed, not on every lookup: it rebuilds every entry and warns about stale records.
    A hook that raises is not cached (the error comes again on the next lookup)."""
    last: Dict[str, Any] = {}

    def cached(registered: Mapping[str, Any]) -> Dict[str, Any]:
        state, registered = zoo_files_state(), dict(registered)  # stat before reading: a later write is seen
        if last and last["state"] == state and last["registered"] == registered:
            return dict(last["value"])
        value = dict(hook(registered))
        last.update(state=state, registered=registered, value=value)
        return dict(value)

    return cached


def _read_raw(path: Path) -> Dict[str, Any]:
    """The file's JSON object, checked at the top level (the rules: docs/data_download.md,
    "The user zoo file"); ``{}`` for a missing file."""
    if not path.exists():
        return {}
    fix = "Fix or delete the file (it holds published entries and recorded hashes)."
    try:
        data = json.loads(decode_utf8(path.read_bytes(), path, "zoo file"), object_pairs_hook=no_repeated_keys)
    except DataFileError as e:  # not UTF-8: the message names the line and the byte
        raise ZooError(f"{e} {fix}") from None
    except json.JSONDecodeError as e:
        raise ZooError(f"zoo file {path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}. {fix}") from e
    except RepeatedKeysError as e:
        raise ZooError(f"zoo file {path}: the key {e.keys[0]!r} appears twice in one JSON object; JSON readers keep "
                       f"only one of them silently. Keep the one you mean and delete the other.") from None
    except OSError as e:
        raise ZooError(f"zoo file {path}: cannot be read: {e}") from e
    if not isinstance(data, dict):
        raise ZooError(f"zoo file {path}: must hold a JSON object, got {type(data).__name__}.")
    if data.get("format", ZOO_FORMAT) != ZOO_FORMAT:
        raise ZooError(f"zoo file {path}: 'format' is {data.get('format')!r}, expected {ZOO_FORMAT!r}.")
    version = data.get("version", ZOO_VERSION)
    if not isinstance(version, int) or version > ZOO_VERSION:
        raise ZooError(f"zoo file {path}: version {version!r} is newer than this gf understands "
                       f"({ZOO_VERSION}); upgrade gf.")
    check_known_keys(sorted(data), _ZOO_FILE_KEYS, owner=f"zoo file {path} (top level)", error=ZooError)
    for key in ("entries", "recorded_hashes"):
        if not isinstance(data.get(key, {}), dict):
            raise ZooError(f"zoo file {path}: '{key}' must be a JSON object mapping names to records.")
    return data


def read_zoo_file(path: Path) -> Dict[str, Any]:
    """``{"entries": {name: raw record}, "hashes": {key: record}}`` of one zoo file (empty
    for a missing file), cached until the file changes. Each hash record is checked and
    says which ``file`` it came from."""
    key = _stat_key(path)
    if key is None:
        return {"entries": {}, "hashes": {}}
    cached = _FILE_CACHE.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    raw = _read_raw(path)
    hashes: Dict[str, Dict[str, Any]] = {}
    for name, rec in raw.get("recorded_hashes", {}).items():
        where = f"zoo file {path}: recorded_hashes[{name!r}]"
        if not isinstance(rec, dict) or "sha256" not in rec or "url" not in rec:
            raise ZooError(f"{where}: must be an object with 'sha256' and 'url'.")
        hashes[name] = dict(rec, sha256=normalize_sha256(rec["sha256"], where=where, error=ZooError),
                            file=str(path))
    parsed = {"entries": dict(raw.get("entries", {})), "hashes": hashes}
    _FILE_CACHE[path] = (key, parsed)
    return parsed


def recorded_hashes() -> Dict[str, Dict[str, Any]]:
    """Every recorded hash of the user zoo files; for a key in several files, the first file's."""
    found: Dict[str, Dict[str, Any]] = {}
    for path in zoo_files():
        for key, rec in read_zoo_file(path)["hashes"].items():
            found.setdefault(key, rec)
    return found


def non_finite_at(value: Any, at: str = "") -> Optional[Tuple[str, float]]:
    """``(where, number)`` of the first NaN or infinite number in ``value`` (``where`` as
    ``['reported']['mean']``), or None. A zoo file is standard JSON, which has no such
    numbers: Python would write ``NaN``/``Infinity`` and strict JSON readers refuse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return at, value
    items = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = non_finite_at(item, f"{at}[{key!r}]")
        if found is not None:
            return found
    return None


def update_zoo_file(path: Path, change: Callable[[Dict[str, Any]], None]) -> None:
    """Read-modify-write ``path`` under its lock; ``change(raw)`` edits the JSON object.
    The file stays standard JSON: a NaN or infinite number is refused before anything is written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(str(path) + ".lock", f"zoo file {path}", error=ZooError):
            raw = _read_raw(path)
            raw = {"format": ZOO_FORMAT, "version": ZOO_VERSION, "entries": raw.get("entries", {}),
                   "recorded_hashes": raw.get("recorded_hashes", {})}
            change(raw)
            bad = non_finite_at(raw)
            if bad is not None:
                raise ZooError(f"zoo file {path}: not written: {bad[0]} would be {bad[1]!r}, which standard JSON "
                               f"cannot hold (strict readers would refuse the file). Give a finite number there.")
            atomic_write_json(path, raw, allow_nan=False)
    except OSError as e:
        raise ZooError(f"cannot write zoo file {path}: {e}. gf writes to the first file of GF_ZOO (or to "
                       f"$GF_CACHE_DIR/zoo.json); put a writable file first.") from e
    finally:
        _FILE_CACHE.pop(path, None)


def recorded_for(record: Mapping[str, Any]) -> str:
    """The entry URL a recorded hash belongs to (records before ``entry_url`` existed: their ``url``)."""
    return record.get("entry_url", record.get("url"))


def record_first_use_hash(key: str, sha256: str, *, url: str, entry_url: str, pinned: Optional[str],
                          pinned_origin: str, what: str, error: Type[GfError]) -> None:
    """Record the sha256 of the first download of ``key`` (``<model>/<tag>``, ``data:<name>``)
    in the user zoo file (trust on first use; the record and its rule: the module docstring).

    ``pinned`` (the hash the entry or an earlier record already has) must equal ``sha256``;
    a record for the same ``entry_url`` with another hash is refused too. Either refusal is
    ``error``, naming the record to delete to accept a new file. Callers record only a file
    they have fully read and verified.
    """
    digest = normalize_sha256(sha256, where=f"recording the sha256 of {what} {key!r}", error=error)
    path = user_zoo_file()
    if pinned is not None:
        if pinned != digest:
            raise error(f"{what} {key!r} is pinned to sha256 {pinned} ({pinned_origin}); refusing to record "
                        f"{digest}. If the file changed on purpose, delete the record {key!r} from {path}.")
        return

    def change(raw: Dict[str, Any]) -> None:
        old = raw["recorded_hashes"].get(key)
        if isinstance(old, dict) and recorded_for(old) == entry_url and str(old.get("sha256")).lower() != digest:
            raise error(f"zoo file {path}: {key!r} already has sha256 {old.get('sha256')} recorded for {entry_url}; "
                        f"refusing to replace it with {digest}. Delete that record to accept the new file.")
        raw["recorded_hashes"][key] = {"sha256": digest, "url": url, "entry_url": entry_url,
                                       "recorded_at": utc_now(), "gf_version": __version__}

    update_zoo_file(path, change)
    logger.warning("%s %s had no sha256: recorded %s (from its first download, %s) in %s. Later downloads are "
                   "verified against it; delete that record to accept a different file.", what, key, digest, url, path)


def with_recorded_hashes(entries: Mapping[str, Any], what: str,
                         key: Callable[[str, Any], str] = lambda name, entry: name) -> Dict[str, Any]:
    """The ``entries`` that pin no ``sha256`` but have one recorded on their first download,
    with it applied (``dataclasses.replace``: ``sha256`` and ``hash_origin``), by name.

    ``entries`` are zoo or data entries (fields ``sha256``, ``url``, ``hash_origin``); ``key``
    gives the record's key (a data bundle's is ``data:<name>``). The records are read once
    for all entries. A record made for another URL (the entry moved to a new file) no longer
    applies: it is ignored with a warning, and the new file is hashed on its first download.
    """
    hashes = recorded_hashes()
    found: Dict[str, Any] = {}
    for name, entry in entries.items():
        rec = None if entry.sha256 is not None else hashes.get(key(name, entry))
        if rec is None:
            continue
        if recorded_for(rec) != entry.url:
            logger.warning("%s %s: the sha256 recorded in %s was for %s, but the entry now points at %s; ignoring "
                           "it (the new file is hashed on its first download)", what, key(name, entry), rec["file"],
                           recorded_for(rec), entry.url)
            continue
        found[name] = dataclasses.replace(
            entry, sha256=rec["sha256"],
            hash_origin=f"recorded on first download ({rec.get('recorded_at', '?')}) in {rec['file']}")
    return found


def entry_checksum_error(err: ChecksumError, *, what: str, key: str, url: str, expected: str,
                         origin: str) -> ChecksumError:
    """``err`` retold for a named entry (``zoo:<model>/<tag>``, ``data:<name>``), whose hash the
    user cannot pass (``gf download`` refuses ``--sha256`` for one): the message names where
    the expected hash came from (``origin``) and, when it is a trust-on-first-use record, the
    record to delete in which zoo file to accept the new file."""
    actual = getattr(err, "actual", None)
    got = f"has sha256 {actual}, not" if actual else "does not have"
    rec = recorded_hashes().get(key)
    advice = getattr(err, "advice", None) or "If the transfer may have been corrupted, run the command again."
    head = (f"{what} {key}: the file from {url} {got} the expected {expected} ({origin}). It was not used, and "
            f"nothing was installed or recorded. {advice}")
    if rec is not None and str(rec.get("sha256")).lower() == expected:
        return ChecksumError(
            f"{head} The expected hash is a trust-on-first-use record: the hash of the first file downloaded for "
            f"{key} (from {rec.get('url')}). If the file changed on purpose and you trust where it comes from, "
            f"delete the record {key!r} under \"recorded_hashes\" in {rec['file']} and run the command again; the "
            f"new file's hash is then recorded.")
    return ChecksumError(f"{head} The entry pins that hash, so gf accepts no other file for it: check that the "
                         f"URL (or mirror) serves the file the entry pins.")
