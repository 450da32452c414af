"""Data bundles: download a bundle's archive and install its files into the data root, in the
layout gf's builders read (``gf download data:star``). The named entries (URL, sha256,
target folder, required files) are the registry kind ``"data"``: :mod:`gf.datasets.data_entries`.

What :func:`download_data` guarantees (resumed downloads, trust on first use, the archive and
layout checks before anything is written, replacing only the files the bundle installed,
finishing an interrupted install): docs/data_download.md, "What gf does" and "Your files in
the same folder".

How: the archive goes to gf's cache through :func:`gf.common.download.download`; the hash of
an unpinned bundle is recorded (:func:`~gf.datasets.data_entries.record_data_hash`) only once
the archive has been read whole and extracted. Files are extracted into a hidden staging
folder inside the target (same filesystem) and each is moved into place with one
``os.replace``, so a reader never sees a half file; the marker (``.gf_data.json``) lists the
files of an install in progress too, and until it says the install finished every builder
refuses the folder (:func:`refuse_unfinished_install`).
"""
from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from gf.version import __version__
from gf.common.archives import ArchiveError, Member, check_archive, safe_extract
from gf.common.download import (ChecksumError, DestinationExistsError, cache_dir, cache_slot, check_transfer_options,
                                download_with_sha256, sha256sum)
from gf.common.zoo_file import entry_checksum_error
from gf.common.errors import ConfigError, DataFileError
from gf.common.io import atomic_write_json
from gf.common.locks import file_lock
from gf.common.utils import PathLike, describe_ids, utc_now
from gf.datasets.converters.staging import interrupted_install
from gf.datasets.data_entries import (DATA_PREFIX, DataEntry, data_url, default_data_root, get_data,
                                      is_plain_rel, record_data_hash)

__all__ = ["BundleLayoutError", "download_data", "refuse_unfinished_install"]

logger = logging.getLogger(__name__)

MARKER = ".gf_data.json"
MARKER_FORMAT = "gf-data"
MARKER_VERSION = 2  # 2: lists the files the bundle installed
_STAGING_PREFIX = ".gf-staging."  # staging folders inside the target
# Resource forks that macOS's zip tool adds; never part of a bundle.
_JUNK_TOP = "__MACOSX"


class BundleLayoutError(DataFileError):
    """The archive is not in the layout its entry promises; the message names what is
    missing and what the archive holds."""


# --------------------------------------------------------------------------- paths


def _cache_path(entry: DataEntry, url: str) -> Path:
    """The archive's place (docs/data_download.md, "The cache"): keyed by name and URL (not hash),
    so the copy downloaded before the hash was known is the one verified once it is recorded."""
    key, filename = cache_slot(url, entry.filename, fallback=f"{entry.name}_bundle")
    return cache_dir() / "data" / entry.name / key / filename


def _read_marker(target: Path) -> Optional[Dict[str, Any]]:
    """The marker gf wrote in ``target``, or None (absent or unreadable: not gf's)."""
    try:
        data = json.loads((target / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == MARKER_FORMAT else None


def refuse_unfinished_install(path: PathLike) -> None:
    """Refuse ``path`` when it lies in a bundle folder whose install has not finished, or in
    a folder an interrupted ``gf prepare`` was moving its files into.

    Why: an install moves the bundle's files in one by one (beside the user's own files,
    so the folder cannot be swapped whole); until the marker says the install finished, a
    kill or a running download may leave old and new files of the bundle side by side.
    Every builder resolves its files through :meth:`gf.datasets.base.BaseBuilder.require_path`,
    which calls this, so none reads such a mix. Costs a stat and a listing per folder above ``path``.
    """
    for folder in Path(os.path.abspath(path)).parents:
        marker = _read_marker(folder) if (folder / MARKER).is_file() else None
        if marker is not None and "installing" in marker:
            key = DATA_PREFIX + str(marker.get("entry"))
            url = f" --url {shlex.quote(marker['url'])}" if isinstance(marker.get("url"), str) else ""
            command = f"gf download {key}{url} --data-root {shlex.quote(str(folder.parent))}"
            raise DataFileError(
                f"{path}: {folder} holds an unfinished install of the {key} bundle ({folder / MARKER} says "
                f"'installing': a gf download was interrupted or is still running), so its files may mix two "
                f"versions of the bundle. Run `{command}` to finish the install, then run this again.")
        prepared = interrupted_install(folder)
        if prepared is not None:
            raise DataFileError(
                f"{path}: {folder} holds an unfinished install of an interrupted gf prepare ({prepared[0]} "
                f"exists: it was killed while moving its files in, or is still running), so files of the "
                f"conversion may be missing. Run `{prepared[1]}` to finish it, then run this again.")


def _missing(folder: Path, entry: DataEntry) -> List[str]:
    return [r for r in entry.required if not (folder / r).is_file()]


def _owned(marker: Optional[Dict[str, Any]], entry: DataEntry) -> Dict[str, List[Dict[str, Any]]]:
    """Files the marker says ``entry`` installed, each with the versions gf wrote there:
    the finished install's (``files``: path -> record), or during an install every
    version, old and new (``installing``: path -> records), so that an interrupted install
    is finished by the next run."""
    owned: Dict[str, List[Dict[str, Any]]] = {}
    if marker is None or marker.get("entry") != entry.name:
        return owned
    for key in ("files", "installing"):
        table = marker.get(key)
        for rel, recs in (table.items() if isinstance(table, dict) else ()):
            for rec in (recs if isinstance(recs, list) else [recs]):
                if isinstance(rec, dict) and isinstance(rel, str) and is_plain_rel(rel):
                    owned.setdefault(rel, []).append(rec)
    return owned


def _is_done(target: Path, entry: DataEntry, digest: Optional[str]) -> bool:
    """The bundle with sha256 ``digest`` is installed, finished, and each of its files is
    still there at its size (a cheap check, so a second call costs nothing)."""
    marker = _read_marker(target)
    if (digest is None or marker is None or marker.get("entry") != entry.name or marker.get("sha256") != digest
            or "installing" in marker or _missing(target, entry)):
        return False
    files = marker.get("files")
    return isinstance(files, dict) and all(
        _regular_file(target / rel) and (target / rel).stat().st_size == rec.get("size")
        for rel, rec in files.items() if isinstance(rec, dict))


def _regular_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _check_target(target: Path, entry: DataEntry) -> None:
    """The target must be a folder (or absent): a file in its place is never replaced."""
    if (target.exists() or target.is_symlink()) and not target.is_dir():
        raise DestinationExistsError(
            f"{target} exists and is not a folder, so the {entry.key} bundle cannot be installed there; it was left "
            f"as it is and nothing was downloaded. Move it away or choose another data root.")


# --------------------------------------------------------------------------- layout


def _plan_layout(archive: Path, entry: DataEntry, members: List[Member]) -> str:
    """The folder prefix to strip ("" or "<top>") so the required files land in the target.

    Checked from the member list, before anything is written, so a bundle in another
    layout is refused with nothing extracted.
    """
    names = [m.name for m in members if m.name and not _is_junk(m.name)]  # "" = the archive's "./"
    files = {m.name for m in members if not m.is_dir and m.name and not _is_junk(m.name)}
    tops = {n.split("/", 1)[0] for n in names}
    top = next(iter(tops)) if len(tops) == 1 and any("/" in n for n in names) else None
    candidates: List[str] = []
    if entry.strip_top is not True:
        candidates.append("")
    if entry.strip_top is not False and top is not None:
        candidates.append(top)
    for prefix in candidates:
        if all((f"{prefix}/{r}" if prefix else r) in files for r in entry.required):
            return prefix
    best = candidates[-1] if candidates else ""
    missing = [r for r in entry.required if (f"{best}/{r}" if best else r) not in files]
    where = f"under its top folder {best + '/'!r}" if best else "at its root"
    if entry.strip_top is True and top is None:
        where = "(it has no single top folder to strip)"
    shown = sorted(files)
    found = ", ".join(shown[:15]) + (f" (and {len(shown) - 15} more)" if len(shown) > 15 else "")
    raise BundleLayoutError(
        f"{archive} is not the {entry.key} bundle in the layout gf expects: missing {', '.join(missing)} "
        f"{where}. The archive holds {len(shown)} file(s): {found or '(none)'}. Expected, inside "
        f"<data_root>/{entry.target}/: {', '.join(entry.required)}. Nothing was extracted; check the URL "
        f"(or mirror) serves the right bundle.")


def _is_junk(name: str) -> bool:
    return name == _JUNK_TOP or name.startswith(_JUNK_TOP + "/")


# --------------------------------------------------------------------------- download + extract


def download_data(name: str, data_root: Optional[PathLike] = None, *, url: Optional[str] = None,
                  overwrite: bool = False, offline: Optional[bool] = None, progress: bool = True,
                  timeout: Optional[float] = 30, retries: int = 3, backoff: float = 1.0) -> Path:
    """Download bundle ``name`` (``star`` / ``data:star``) and install its files into ``data_root``.

    Returns the bundle's folder, ``<data_root>/<entry.target>`` (``$DATA_ROOT/STAR``),
    which the entry's builder reads with ``data_root`` as its ``data_root``. The defaults of
    ``data_root`` and ``url``, and the transfer options: docs/data_download.md, "Usage" and
    "Options"; ``offline``, ``progress`` and the transfer options are
    :func:`gf.common.download.download`'s. A refused call creates nothing in the data root.
    """
    check_transfer_options(timeout, retries, backoff)
    entry = get_data(name)
    source = data_url(entry, url)
    root = Path(data_root).expanduser() if data_root is not None else default_data_root()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"data root {root} is a file, not a folder.")
    target = root / entry.target
    if _is_done(target, entry, entry.sha256):
        logger.info("%s is already installed in %s (sha256 %s); nothing to do", entry.key, target, entry.sha256)
        return target
    _check_target(target, entry)  # before a multi-GB download, not after

    if entry.sha256 is None:
        logger.info("data bundle %s has no sha256 yet: its first download will be hashed and the hash recorded",
                    entry.key)
    try:
        archive, digest = download_with_sha256(source, sha256=entry.sha256, dest=_cache_path(entry, source),
                                               progress=progress, offline=offline, dest_is_cache=True,
                                               timeout=timeout, retries=retries, backoff=backoff)
    except ChecksumError as err:
        raise entry_checksum_error(err, what="data bundle", key=entry.key, url=source, expected=entry.sha256,
                                   origin=entry.hash_origin or "pinned by the entry") from None
    digest = entry.sha256 or digest or sha256sum(archive)  # a fresh download was hashed once, as it was verified

    def trust() -> None:
        """Record the hash of an unpinned bundle, once its archive was read whole and verified."""
        if entry.sha256 is None:
            record_data_hash(entry.name, digest, url=source)

    if _is_done(target, entry, digest):  # installed from this very archive before
        trust()
        return target
    try:
        members = check_archive(archive, target, format=entry.format)
        prefix = _plan_layout(archive, entry, members)
        return _install(archive, entry, root, target, prefix, digest, source, overwrite, progress, trust)
    except (ArchiveError, BundleLayoutError) as err:
        if entry.sha256 is not None:
            raise  # the archive has the known hash: downloading it again gives the same bytes
        archive.unlink(missing_ok=True)
        raise type(err)(f"{err} The archive was not trusted ({entry.key} has no pinned or recorded sha256): it was "
                        f"deleted from the cache and no sha256 was recorded, so the next run downloads it "
                        f"afresh.") from err


def _install(archive: Path, entry: DataEntry, root: Path, target: Path, prefix: str, digest: str, source: str,
             overwrite: bool, progress: bool, trust: Callable[[], None]) -> Path:
    """Extract into a staging folder inside ``target`` (so every move is a rename on one
    filesystem), decide file by file what may be replaced, then move the files into place."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the data root {root}: {err}") from None
    with file_lock(root / f".{entry.target}.gf.lock", f"{entry.key} in {target}"):
        if _is_done(target, entry, digest):  # another process finished while we waited
            return target
        _check_target(target, entry)
        created = not (target.exists() or target.is_symlink())
        target.mkdir(exist_ok=True)
        _remove_stale_staging(target)
        staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=target))
        try:
            written = safe_extract(archive, staging, strip=prefix, exclude=_is_junk, format=entry.format,
                                   progress=progress)
            missing = _missing(staging, entry)
            if missing:  # listed, but not written as files (cannot happen with a sound archive)
                raise BundleLayoutError(f"{archive}: after extraction {', '.join(missing)} are missing from "
                                        f"{entry.target}/; nothing was put in place.")
            reserved = [m.name for m in written if m.name == MARKER or m.name.startswith(_STAGING_PREFIX)]
            if reserved:
                raise BundleLayoutError(f"{archive}: the bundle holds {describe_ids(reserved)}, names gf keeps for "
                                        f"its own bookkeeping in {entry.target}/; nothing was put in place.")
            trust()  # every member was read to its end and checked
            files = {m.name: _describe(staging / m.name) for m in written if not m.is_dir}
            marker = _read_marker(target)
            install, remove = _plan_install(target, entry, files, marker, overwrite)
            record = {"format": MARKER_FORMAT, "version": MARKER_VERSION, "entry": entry.name, "url": source,
                      "archive": archive.name, "stripped": prefix + "/" if prefix else "", "gf_version": __version__}
            every = _owned(marker, entry)
            for rel, new in files.items():
                every.setdefault(rel, []).append(new)
            atomic_write_json(target / MARKER, dict(record, sha256=None, installing=every))
            _move_into_place(staging, target, install, remove)
            atomic_write_json(target / MARKER, dict(record, sha256=digest, files=files, installed_at=utc_now()))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if created:
                _remove_if_empty(target)
    logger.info("installed %s (%s, sha256 %s) into %s: %d file(s) written, %d removed, every other file left as it "
                "was", entry.key, archive.name, digest, target, len(install), len(remove))
    return target


def _describe(path: Path) -> Dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": sha256sum(path)}


def _plan_install(target: Path, entry: DataEntry, files: Dict[str, Dict[str, Any]],
                  marker: Optional[Dict[str, Any]], overwrite: bool) -> Tuple[List[str], List[str]]:
    """(bundle files to move into ``target``, files of the old install to remove), by the
    rules of docs/data_download.md, "Your files in the same folder" (links included)."""
    owned = _owned(marker, entry)
    if marker is not None and marker.get("entry") not in (None, entry.name):
        logger.warning("%s holds a marker of %s, not %s; none of its files count as installed by %s",
                       target, DATA_PREFIX + str(marker.get("entry")), entry.key, entry.key)
    install: List[str] = []
    refused: List[str] = []
    blocked: List[str] = []
    for rel, new in sorted(files.items()):
        dest = target / rel
        if _blocked(target, rel):
            blocked.append(rel)
        elif not (dest.exists() or dest.is_symlink()):
            install.append(rel)
        elif dest.is_dir() and not dest.is_symlink():
            blocked.append(rel)
        elif _regular_file(dest) and _same_content(dest, [new]):
            continue  # already the bundle's bytes: not touched
        elif _regular_file(dest) and _same_content(dest, owned.get(rel, [])):
            install.append(rel)
        elif overwrite:
            logger.warning("%s: replacing %s, which gf did not install or which changed since (overwrite=True)",
                           target, rel)
            install.append(rel)
        else:
            refused.append(f"{rel!r} ({'changed since gf installed it' if rel in owned else 'not installed by gf'})")
    if blocked:
        raise DestinationExistsError(
            f"{target}: the {entry.key} bundle has files at {describe_ids(blocked)}, where a folder or a link is in "
            f"the way; nothing was changed. Move those away (gf never replaces a folder or writes through a link), "
            f"then run the command again.")
    if refused:
        raise DestinationExistsError(
            f"{target}: {len(refused)} file(s) of the {entry.key} bundle would replace files gf did not install, or "
            f"that changed since it installed them: {', '.join(refused[:10])}{' ...' if len(refused) > 10 else ''}. "
            f"Nothing was changed. Move them away (other files in the folder are never touched), or pass "
            f"--overwrite (overwrite=True) to replace them with the bundle's files. The archive stays in the cache, "
            f"so the next run does not download it again.")
    remove = []
    for rel, recs in sorted(owned.items()):
        dest = target / rel
        if rel in files or not (dest.exists() or dest.is_symlink()):
            continue
        if _regular_file(dest) and not _blocked(target, rel) and _same_content(dest, recs):
            remove.append(rel)
        else:
            logger.warning("%s: kept %s: the new %s bundle no longer has it, but it changed since gf installed it, "
                           "so it is yours now", target, rel, entry.key)
    return install, remove


def _blocked(target: Path, rel: str) -> bool:
    """A folder on the way to ``rel`` is a link or not a folder (never written through)."""
    parts = rel.split("/")[:-1]
    folders = (target.joinpath(*parts[:i]) for i in range(1, len(parts) + 1))
    return any(folder.is_symlink() or (folder.exists() and not folder.is_dir()) for folder in folders)


def _same_content(path: Path, records: List[Dict[str, Any]]) -> bool:
    """``path`` has the size and sha256 of one of ``records`` (the size first: cheap)."""
    size = path.stat().st_size
    candidates = [r for r in records if r.get("size") == size and r.get("sha256")]
    return bool(candidates) and sha256sum(path) in {r["sha256"] for r in candidates}


def _move_into_place(staging: Path, target: Path, install: List[str], remove: List[str]) -> None:
    """One ``os.replace`` per file (staging is inside ``target``: same filesystem), then the
    old install's leftovers, and the folders that emptied with them."""
    for rel in install:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, dest)
    for rel in remove:
        (target / rel).unlink(missing_ok=True)
        parent = (target / rel).parent
        while parent != target and _remove_if_empty(parent):
            parent = parent.parent


def _remove_if_empty(folder: Path) -> bool:
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


def _remove_stale_staging(target: Path) -> None:
    """Staging folders a killed process left in ``target`` (we hold the lock: none is in use)."""
    for folder in list(target.glob(_STAGING_PREFIX + "*")):
        if folder.is_dir() and not folder.is_symlink():
            logger.info("removing %s, left by an interrupted extraction", folder)
            shutil.rmtree(folder, ignore_errors=True)
