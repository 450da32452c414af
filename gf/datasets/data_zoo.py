"""Data bundles: named archives of annotations and features, downloaded and extracted
into the data root in the layout gf's builders read (``gf download data:star``).

Why entries rather than "download this URL and unpack it yourself": a bundle is only
useful in the exact layout its builder reads (``$DATA_ROOT/STAR/txt_db/...``), it is
large (the STAR bundle carries S3D features) and hosted where connections drop (Google
Drive), and it is trustworthy only against a known sha256. An entry keeps the URL, the
hash, the folder it becomes and the files that folder must hold under one name.

What :func:`download_data` guarantees:

- the archive goes to gf's cache through :func:`gf.common.download.download`: an
  interrupted transfer resumes from its ``.part`` file, and a file that does not have the
  expected sha256 is never used;
- trust on first use, as for the model zoo: an entry without a pinned ``sha256`` is
  hashed on its first download and the digest is recorded in the user zoo file
  (:func:`gf.models.zoo.user_zoo_file`) under ``recorded_hashes["data:<name>"]``; every
  later download, cached copy or mirror is verified against it. Delete that record to
  accept a different bundle;
- the archive is checked before anything is written (:mod:`gf.common.archives`: no
  member outside the target, no links or special files) and so is its layout (a bundle
  that lacks a required file is an error naming what is missing and what was found);
- it is extracted into a hidden staging folder next to the target and renamed into place
  only when complete, so an interrupted extraction never leaves a half folder where the
  builder looks; a marker file (``.gf_data.json``) in the target records the archive's
  sha256, so a second call with the same bundle returns at once;
- a target folder gf did not make is never replaced unless ``overwrite=True``.

Mirrors: ``download_data(name, url=...)`` (``gf download data:star --url URL``) or the
environment variable ``GF_DATA_URL_<NAME>`` (``GF_DATA_URL_STAR``) fetch the same
bundle from elsewhere; it is verified against the same hash.

Entries live in a module-level table (:func:`register_data` for plugins), not in the
component registry: adding a registry kind means editing ``gf/common/registry.py``, and
the ``pretrained`` kind holds model checkpoints only.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from gf.common.archives import Member, check_archive, safe_extract
from gf.common.download import DestinationExistsError, cache_dir, download, gdrive_file_id, sha256sum
from gf.common.errors import ConfigError, DataFileError, DownloadError, RegistryError
from gf.common.utils import PathLike, did_you_mean, normalize_sha256, utc_now

__all__ = [
    "DATA_PREFIX",
    "BundleLayoutError",
    "DataEntry",
    "UnknownDataError",
    "data_url",
    "default_data_root",
    "download_data",
    "get_data",
    "list_data",
    "record_data_hash",
    "register_data",
]

logger = logging.getLogger(__name__)

DATA_PREFIX = "data:"
MARKER = ".gf_data.json"
MARKER_FORMAT = "gf-data"
_STAGING_SUFFIX = ".gf-staging"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_FOLDER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# Resource forks that macOS's zip tool adds; never part of a bundle.
_JUNK_TOP = "__MACOSX"


class UnknownDataError(RegistryError):
    """No data entry has this name; the message lists the known and close names."""


class BundleLayoutError(DataFileError):
    """The archive is not in the layout its entry promises; the message names what is
    missing and what the archive holds."""


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class DataEntry:
    """One downloadable data bundle.

    ``target`` is the folder inside the data root the bundle becomes (the builder's
    ``dataset_dir``); ``required`` lists files (relative to it) that must exist after
    extraction. ``strip_top``: None = strip the archive's single top folder when the
    required files are under it rather than at the archive root (bundles zipped as
    ``STAR/...`` or as ``txt_db/...`` both work); True = always strip it; False = never.
    ``format`` (``"zip"`` / ``"tar"``) is checked against the content when given; None =
    detect from the content. ``sha256 = None`` means "not yet known": recorded on the
    first download (see :func:`record_data_hash`).
    """

    name: str
    url: str
    target: str
    required: Tuple[str, ...]
    sha256: Optional[str] = None
    format: Optional[str] = None
    strip_top: Optional[bool] = None
    builder: Optional[str] = None
    notes: str = ""
    filename: Optional[str] = None
    hash_origin: Optional[str] = field(default=None, compare=False)

    def __post_init__(self) -> None:
        where = f"data entry {self.name!r}"
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise ConfigError(f"{where}: name must be lower-case letters, digits, '_', '.', '-' "
                              f"(e.g. 'star').")
        if not isinstance(self.url, str) or not self.url:
            raise ConfigError(f"{where}: url must be a non-empty string.")
        if not isinstance(self.target, str) or not _FOLDER_RE.fullmatch(self.target):
            raise ConfigError(f"{where}: target must be one plain folder name inside the data root "
                              f"(e.g. 'STAR'), got {self.target!r}.")
        required = tuple(self.required)
        if not required or any(not isinstance(r, str) or _plain_rel(r) != r for r in required):
            raise ConfigError(f"{where}: required must list relative file paths inside the target "
                              f"(e.g. 'txt_db/train.jsonl'), got {self.required!r}.")
        object.__setattr__(self, "required", required)
        if self.sha256 is not None:
            object.__setattr__(self, "sha256", normalize_sha256(self.sha256, where=where, error=ConfigError))
        if self.format not in (None, "zip", "tar"):
            raise ConfigError(f"{where}: format must be 'zip', 'tar' or None (detect), got {self.format!r}.")
        if self.strip_top not in (None, True, False):
            raise ConfigError(f"{where}: strip_top must be None (auto), True or False.")
        if self.filename is not None and (not isinstance(self.filename, str)
                                          or not _FOLDER_RE.fullmatch(self.filename)):
            raise ConfigError(f"{where}: filename must be a plain file name, got {self.filename!r}.")

    @property
    def key(self) -> str:
        """The name as users type it and as the hash is recorded: ``data:<name>``."""
        return DATA_PREFIX + self.name

    @property
    def url_env(self) -> str:
        """Environment variable that points the entry at a mirror."""
        return "GF_DATA_URL_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())

    def summary(self) -> str:
        """One line for listings: name, target folder, url, sha256 (or "not yet known")."""
        digest = self.sha256 or "not yet known"
        origin = f" ({self.hash_origin})" if self.hash_origin else ""
        return f"{self.key}  -> <data_root>/{self.target}  url {self.url}  sha256 {digest}{origin}"


def _plain_rel(path: str) -> Optional[str]:
    """``path`` as a plain relative POSIX path, or None when it is not one."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        return None
    return path


_ENTRIES: Dict[str, DataEntry] = {}


def register_data(entry: DataEntry) -> DataEntry:
    """Add a data entry for this process (gf's own, or a plugin's). Registering an equal
    entry again is a no-op; another entry under a registered name is an error."""
    if not isinstance(entry, DataEntry):
        raise TypeError(f"register_data expects a DataEntry, got {type(entry).__name__}")
    old = _ENTRIES.get(entry.name)
    if old is not None and old != entry:
        raise ConfigError(f"data entry {entry.key!r} is already registered with other fields; choose another name.")
    _ENTRIES.setdefault(entry.name, entry)
    return _ENTRIES[entry.name]


# The files the `star` builder reads with its default config (StarBuilder.DEFAULT_CONFIG);
# tests/test_data_download.py checks that the two stay in step.
STAR_REQUIRED = (
    "txt_db/train.jsonl",
    "txt_db/val.jsonl",
    "txt_db/test.jsonl",
    "txt_db/events.json",
    "txt_db/action_mapping.txt",
    "vis_db/s3d.pth",
)

register_data(DataEntry(
    name="star",
    url="https://drive.google.com/file/d/11sI_iW_42yetN2U8WdwsdARmQPhdhQht/view?usp=sharing",
    target="STAR",
    required=STAR_REQUIRED,
    sha256=None,
    builder="star",
    filename="star_bundle",
    notes=("The Glance-Focus authors' STAR bundle (their README, 'Data Preparation', option 1): "
           "txt_db/ annotations, events and action classes, vis_db/s3d.pth S3D features. sha256: not "
           "yet known: recorded on first download (trust on first use), verified afterwards."),
))


# --------------------------------------------------------------------------- lookup and hashes


def _strip_prefix(name: str) -> str:
    text = str(name)
    return text[len(DATA_PREFIX):] if text.startswith(DATA_PREFIX) else text


def get_data(name: str) -> DataEntry:
    """The entry ``name`` (``star`` or ``data:star``), with a recorded hash applied."""
    key = _strip_prefix(name)
    entry = _ENTRIES.get(key)
    if entry is None:
        known = sorted(_ENTRIES)
        raise UnknownDataError(f"unknown data bundle {name!r}.{did_you_mean(key, known)} Known: "
                               f"{', '.join(DATA_PREFIX + k for k in known) or '(none)'}.")
    return _with_recorded_hash(entry)


def list_data() -> List[DataEntry]:
    """Every data entry, sorted by name, with recorded hashes applied (see :meth:`DataEntry.summary`)."""
    return [get_data(name) for name in sorted(_ENTRIES)]


def _recorded(entry: DataEntry) -> Optional[Dict[str, Any]]:
    """The record of ``entry`` in the user zoo files (the first file that has one)."""
    from gf.models import zoo

    for path in zoo.zoo_files():
        rec = zoo._parse_file(path)["hashes"].get(entry.key)
        if rec is not None:
            return rec
    return None


def _with_recorded_hash(entry: DataEntry) -> DataEntry:
    """The entry with the sha256 recorded on its first download, when it pins none.

    A record is for the entry's URL at the time (``entry_url``): when gf's entry moves to
    a new bundle the old record no longer applies. Which mirror it was downloaded from
    does not matter: a mirror serves the same bytes or is refused.
    """
    if entry.sha256 is not None:
        return replace(entry, hash_origin="pinned by the entry")
    rec = _recorded(entry)
    if rec is None:
        return entry
    if rec.get("entry_url", rec["url"]) != entry.url:
        logger.warning("data: the sha256 recorded for %s in %s was for %s, but the entry now points at %s; "
                       "ignoring it (the new bundle is hashed on its first download)",
                       entry.key, rec["file"], rec.get("entry_url", rec["url"]), entry.url)
        return entry
    return replace(entry, sha256=rec["sha256"],
                   hash_origin=f"recorded on first download ({rec.get('recorded_at', '?')}) in {rec['file']}")


def record_data_hash(name: str, sha256: str, url: Optional[str] = None) -> None:
    """Record the sha256 of a bundle whose entry pins none (trust on first use).

    Written atomically, under the file's lock, to the user zoo file's ``recorded_hashes``
    as ``data:<name>`` (model entries are ``<model>/<tag>``, so the names never clash). A
    known hash is never changed: a different value is an error; delete the record to
    accept a new bundle.
    """
    from gf import __version__
    from gf.models import zoo

    entry = get_data(name)
    digest = normalize_sha256(sha256, where=f"record_data_hash({entry.key!r})", error=ConfigError)
    if entry.sha256 is not None:
        if entry.sha256 != digest:
            raise DownloadError(f"data bundle {entry.key!r} is pinned to sha256 {entry.sha256} ({entry.hash_origin}); "
                                f"refusing to record {digest}. If the bundle changed on purpose, delete the "
                                f"record {entry.key!r} from {zoo.user_zoo_file()}.")
        return
    path = zoo.user_zoo_file()

    def change(raw: Dict[str, Any]) -> None:
        old = raw["recorded_hashes"].get(entry.key)
        if (isinstance(old, dict) and old.get("entry_url", old.get("url")) == entry.url
                and str(old.get("sha256")).lower() != digest):
            raise DownloadError(f"zoo file {path}: {entry.key!r} already has sha256 {old.get('sha256')} recorded; "
                                f"refusing to replace it with {digest}.")
        raw["recorded_hashes"][entry.key] = {
            "sha256": digest, "url": url or entry.url, "entry_url": entry.url,
            "recorded_at": utc_now(), "gf_version": __version__}

    zoo._update_file(path, change)
    logger.warning("data bundle %s had no sha256: recorded %s (from its first download, %s) in %s. Later downloads "
                   "are verified against it; delete that record to accept a different bundle.",
                   entry.key, digest, url or entry.url, path)


# --------------------------------------------------------------------------- paths


def default_data_root() -> Path:
    """``$DATA_ROOT``, else ``gf_data``: the same default as the project configs."""
    return Path(os.environ.get("DATA_ROOT") or "gf_data").expanduser()


def data_url(entry: DataEntry, url: Optional[str] = None) -> str:
    """Where to fetch ``entry``: ``url`` if given, else ``$GF_DATA_URL_<NAME>``, else the entry's URL."""
    if url is not None and str(url).strip():
        return str(url).strip()
    mirror = os.environ.get(entry.url_env, "").strip()
    return mirror or entry.url


def _cache_path(entry: DataEntry, url: str) -> Path:
    """``cache_dir()/data/<name>/<url key>/<file>``: keyed by name and URL (not hash), so the
    copy downloaded before the hash was known is the one verified once it is recorded."""
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    filename = entry.filename
    if filename is None:
        raw = "" if gdrive_file_id(url) else urllib.parse.unquote(urllib.parse.urlsplit(url).path)
        filename = re.split(r"[\\/]", raw)[-1].replace("\x00", "").strip()
        if not filename or filename in (".", "..") or len(filename.encode()) > 200:
            filename = f"{entry.name}_bundle"
    return cache_dir() / "data" / entry.name / key / filename


def _read_marker(target: Path) -> Optional[Dict[str, Any]]:
    """The marker gf wrote in ``target``, or None (absent or unreadable: not gf's)."""
    try:
        data = json.loads((target / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == MARKER_FORMAT else None


def _missing(folder: Path, entry: DataEntry) -> List[str]:
    return [r for r in entry.required if not (folder / r).is_file()]


def _is_done(target: Path, entry: DataEntry, digest: Optional[str]) -> bool:
    marker = _read_marker(target)
    return (digest is not None and marker is not None and marker.get("entry") == entry.name
            and marker.get("sha256") == digest and not _missing(target, entry))


def _check_target_free(target: Path, entry: DataEntry, overwrite: bool) -> None:
    """Refuse a target folder gf did not make (or a file in its place) unless ``overwrite``."""
    if not target.exists() and not target.is_symlink():
        return
    if target.is_dir() and not target.is_symlink():
        marker = _read_marker(target)
        if marker is not None and marker.get("entry") == entry.name:
            # gf's own extraction of this entry (another archive, or files gone): replaced whole.
            logger.info("%s holds %s extracted from the archive with sha256 %s; re-extracting it",
                        target, entry.key, marker.get("sha256"))
            return
        if not any(target.iterdir()):
            return
    if overwrite:
        logger.warning("%s exists and was not made by `gf download %s`; replacing it (overwrite=True)",
                       target, entry.key)
        return
    raise DestinationExistsError(
        f"{target} already exists and was not made by `gf download {entry.key}` (no {MARKER} marker); it was "
        f"left as it is and nothing was downloaded. Move it away, choose another data root, or pass "
        f"overwrite=True (gf download {entry.key} --overwrite) to replace it.")


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
                  timeout: float = 30, retries: int = 3, backoff: float = 1.0) -> Path:
    """Download bundle ``name`` (``star`` / ``data:star``) and extract it into ``data_root``.

    Returns the extracted folder, ``<data_root>/<entry.target>`` (``$DATA_ROOT/STAR``),
    which the entry's builder reads with ``data_root`` as its ``data_root``.

    Args:
        name: the entry (see :func:`list_data`).
        data_root: folder that holds the datasets; default ``$DATA_ROOT`` or ``gf_data``.
        url: a mirror of the bundle (default ``$GF_DATA_URL_<NAME>``, else the entry's URL);
            verified against the entry's pinned or recorded sha256.
        overwrite: replace a target folder that gf did not make.
        offline: as for :func:`gf.common.download.download` (``GF_OFFLINE``).
        progress: progress bars (only on a terminal).
        timeout, retries, backoff: as for :func:`gf.common.download.download`; a transfer
            that still fails keeps its ``.part`` file and the next call resumes it.

    A second call after a finished extraction of the same bundle does nothing (no network).
    """
    entry = get_data(name)
    source = data_url(entry, url)
    root = Path(data_root).expanduser() if data_root is not None else default_data_root()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"data root {root} is a file, not a folder.")
    target = root / entry.target
    if _is_done(target, entry, entry.sha256):
        logger.info("%s is already extracted in %s (sha256 %s); nothing to do", entry.key, target, entry.sha256)
        return target
    _check_target_free(target, entry, overwrite)  # before a multi-GB download, not after

    if entry.sha256 is None:
        logger.info("data bundle %s has no sha256 yet: its first download will be hashed and the hash recorded",
                    entry.key)
    archive = download(source, sha256=entry.sha256, dest=_cache_path(entry, source), progress=progress,
                       offline=offline, dest_is_cache=True, timeout=timeout, retries=retries, backoff=backoff)
    digest = entry.sha256 or sha256sum(archive)
    if _is_done(target, entry, digest):
        if entry.sha256 is None:
            record_data_hash(entry.name, digest, url=source)
        return target

    # Everything is checked before anything is written in the data root.
    members = check_archive(archive, target, format=entry.format)
    prefix = _plan_layout(archive, entry, members)
    if entry.sha256 is None:  # only a bundle that passed the checks is trusted
        record_data_hash(entry.name, digest, url=source)
    return _extract_into_place(archive, entry, root, target, prefix, digest, source, overwrite, progress)


def _extract_into_place(archive: Path, entry: DataEntry, root: Path, target: Path, prefix: str, digest: str,
                        source: str, overwrite: bool, progress: bool) -> Path:
    """Extract to a hidden staging folder beside ``target``, verify, then rename into place."""
    from filelock import FileLock

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the data root {root}: {err}") from None
    with FileLock(str(root / f".{entry.target}.gf.lock")):
        if _is_done(target, entry, digest):  # another process finished while we waited
            return target
        _check_target_free(target, entry, overwrite)
        _remove_stale_staging(root, entry)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.target}.", suffix=_STAGING_SUFFIX, dir=root))
        try:
            folder = staging / entry.target
            safe_extract(archive, folder, strip=prefix, exclude=_is_junk, format=entry.format, progress=progress)
            missing = _missing(folder, entry)
            if missing:  # listed, but not written as files (cannot happen with a sound archive)
                raise BundleLayoutError(f"{archive}: after extraction {', '.join(missing)} are missing from "
                                        f"{entry.target}/; nothing was put in place.")
            from gf import __version__
            from gf.common.io import atomic_write_json

            atomic_write_json(folder / MARKER, {
                "format": MARKER_FORMAT, "entry": entry.name, "sha256": digest, "url": source,
                "archive": archive.name, "stripped": prefix + "/" if prefix else "",
                "extracted_at": utc_now(),
                "gf_version": __version__})
            _swap_into_place(folder, target, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("extracted %s (%s, sha256 %s) into %s", entry.key, archive.name, digest, target)
    return target


def _swap_into_place(folder: Path, target: Path, staging: Path) -> None:
    """Rename ``folder`` onto ``target``; an old ``target`` is moved into ``staging`` first
    (and deleted with it), so a reader never finds a half-extracted folder: between the two
    renames there is briefly no folder at all, which a builder reports as missing."""
    if target.exists() or target.is_symlink():
        retired = staging / "retired"
        os.rename(target, retired)
        try:
            os.rename(folder, target)
        except OSError:
            os.rename(retired, target)  # put the old folder back
            raise
        return
    os.rename(folder, target)


def _remove_stale_staging(root: Path, entry: DataEntry) -> None:
    """Staging folders left by a killed process (we hold the lock, so none is in use)."""
    for stale in root.glob(f".{entry.target}.*{_STAGING_SUFFIX}"):
        if stale.is_dir() and not stale.is_symlink():
            logger.info("removing %s, left by an interrupted extraction", stale)
            shutil.rmtree(stale, ignore_errors=True)
