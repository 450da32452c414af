"""Where a download lands, and whether a file already there may be used.

Why a module of its own: every source (http(s), file://, Google Drive, the Hugging Face
Hub) ends the same way -- a verified file at a target path that is either gf's cache
slot (:func:`cache_dir`) or the caller's ``dest`` -- and the rules for that end (plain
file names only, a user's file is never trusted without its sha256, a ``.part`` is
renamed in only once verified, a second process uses what the first one placed) are
the same for all of them. :mod:`gf.common.download` and :mod:`gf.common.download_hosts`
call these.
"""
from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import urllib.parse
from pathlib import Path
from typing import Callable, Optional, Tuple

from gf.common.errors import ChecksumError, ConfigError, DestinationExistsError, DownloadError
from gf.common.http_transfer import discard_part, state_path
from gf.common.io import sha256sum
from gf.common.locks import file_lock
from gf.common.utils import PathLike

__all__ = ["cache_dir"]

logger = logging.getLogger("gf.common.download")  # one logger for every part of a download


#: Longest file name gf derives from a URL (most file systems allow 255 bytes; room is
#: left for the ``.part`` / ``.lock`` suffixes).
_MAX_NAME_BYTES = 200


def cache_dir() -> Path:
    """Root of gf's download cache: ``$GF_CACHE_DIR`` (shared clusters point it at a project
    disk), else the XDG convention."""
    explicit = os.environ.get("GF_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "gf"


def filename_from_url(url: str, fallback: Optional[str] = None) -> str:
    """The URL's last path component, as a plain file name that stays in its folder.

    Both ``/`` and ``\\`` count as separators (``%2F``/``%5C`` included, once unquoted),
    so a URL such as ``https://host/a/..%5C..%5Cx`` names ``x``, never a path. See
    :func:`plain_name` for ``fallback``.
    """
    return plain_name(urllib.parse.unquote(urllib.parse.urlsplit(url).path), fallback)


def plain_name(raw: str, fallback: Optional[str] = None) -> str:
    """The last component of ``raw`` (``/`` or ``\\`` separated) as a file name; ``fallback``,
    when given, replaces one that is empty, ``.``, ``..`` or too long."""
    name = re.split(r"[\\/]", raw)[-1].replace("\x00", "").strip()
    too_long = len(name.encode("utf-8")) > _MAX_NAME_BYTES
    if fallback is not None and (too_long or name in ("", ".", "..")):
        return fallback
    if name in ("", ".", ".."):
        return "download"
    if too_long:
        suffix = posixpath.splitext(name)[1]
        suffix = suffix if 0 < len(suffix.encode("utf-8")) <= 16 else ""
        name = f"download-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:16]}{suffix}"
    return name


def resolve_dest(dest: Optional[PathLike], name: str, key: str) -> Path:
    if dest is None:
        root = cache_dir() / "downloads"
        target = root / key[:16] / name
        if target.parent.parent != root:  # a drive-relative name (Windows: "C:x") would leave it
            raise ConfigError(f"download: file name {name!r} would be written outside the cache folder {root}; "
                              f"pass filename= with a plain file name.")
        return target
    try:
        text = os.fspath(dest)
    except TypeError:
        raise ConfigError(f"dest must be a path, got {type(dest).__name__} {dest!r}.") from None
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"dest must be a file or folder path, got {dest!r}.")
    path = Path(text).expanduser()
    if path.is_dir():
        return path / name
    if text.endswith(("/", os.sep)):
        raise ConfigError(f"dest {text!r} ends with a path separator, so it names a folder, but there is no "
                          f"folder {path}. Create it first, or give the file's path without the trailing "
                          f"separator.")
    return path


def make_parent(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"cannot download to {target}: {target.parent} (or a folder above it) is a file, "
                          f"not a folder; choose another dest.") from None
    except OSError as err:
        raise DownloadError(f"cannot create the folder {target.parent} for {target.name}: {err}. Choose a "
                            f"writable dest (or set GF_CACHE_DIR).") from None


def lock_path(target: Path) -> Path:
    return target.with_name(target.name + ".lock")


def _stat_key(path: Path):
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def existing_dest(target: Path, expected: Optional[str], overwrite: bool):
    """(usable, stat of the existing file or None) for an explicit ``dest``, by the rules
    :func:`gf.common.download.download` states."""
    if not target.exists():
        return False, None
    if not target.is_file():
        raise ConfigError(f"cannot download to {target}: it exists and is not a file; choose another dest.")
    before = _stat_key(target)
    if expected is None:
        if overwrite:
            logger.info("%s exists; downloading over it (overwrite=True)", target)
            return False, before
        raise DestinationExistsError(
            f"{target} already exists and no sha256 was given to check it, so gf cannot tell whether it is "
            f"this download; nothing was downloaded and the file was left as it is. Pass sha256= "
            f"(gf download --sha256) to verify and reuse it, overwrite=True (gf download --overwrite) to "
            f"download over it, or choose another dest."
        )
    actual = sha256sum(target)
    if actual == expected:
        logger.info("using existing %s (sha256 verified)", target)
        return True, before
    if overwrite:
        logger.warning("%s has sha256 %s, not the expected %s; downloading over it (overwrite=True)",
                       target, actual, expected)
        return False, before
    raise DestinationExistsError(
        f"{target} already exists with sha256 {actual}, but {expected} is expected; it was left as it is. "
        f"Delete it (or choose another dest), or pass overwrite=True (gf download --overwrite) to download "
        f"over it."
    )


def placed_meanwhile(target: Path, before, expected: Optional[str]) -> bool:
    """Whether another process put a complete (and, with ``expected``, verified) file at
    ``target`` while this one waited for the lock."""
    now = _stat_key(target)
    if now is None or now == before:
        return False
    if expected is None:
        logger.info("%s was downloaded by another process meanwhile; using it", target)
        return True
    return sha256sum(target) == expected


def existing_file_ok(target: Path, expected: Optional[str], quiet: bool = False):
    """(usable, actual_sha256_or_None) for a file already at ``target``."""
    if not target.is_file():
        return False, None
    if expected is None:
        if not quiet:
            logger.info("using existing %s (not verified: pass sha256= to pin it)", target)
        return True, None
    actual = sha256sum(target)
    if actual == expected:
        if not quiet:
            logger.info("using cached %s (sha256 verified)", target)
        return True, actual
    logger.warning("%s has sha256 %s but %s is expected; not using it", target, actual, expected)
    return False, actual


def usable_at(target: Path, expected: Optional[str], *, explicit: bool, overwrite: bool):
    """(usable, stat of the file before or None, its sha256 or None) for a file already at
    ``target``. An explicit ``dest`` is the user's file and is checked by the stricter rules
    of :func:`existing_dest`; a cache slot by :func:`existing_file_ok`."""
    if explicit:
        usable, before = existing_dest(target, expected, overwrite)
        return usable, before, expected if usable else None  # usable: its sha256 was just found to be expected
    usable, actual = existing_file_ok(target, expected)
    return usable, None, actual


def place(target: Path, url: str, fill: Callable[[Path], None], expected: Optional[str], *, explicit: bool,
          before) -> Tuple[Path, Optional[str]]:
    """Have ``fill`` write ``<target>.part`` under the target's lock, then verify it and move
    it in (:func:`finalize`); a file another process placed meanwhile is used instead.
    Returns ``(target, its sha256)``, the sha256 None when it was not computed here."""
    make_parent(target)
    part = target.with_name(target.name + ".part")
    with file_lock(lock_path(target), url):
        if explicit:
            if placed_meanwhile(target, before, expected):
                return target, expected
        else:
            usable, actual = existing_file_ok(target, expected, quiet=True)
            if usable:
                return target, actual
        fill(part)
        return finalize(part, target, expected, url)


def finalize(part: Path, target: Path, expected: Optional[str], url: str) -> Tuple[Path, str]:
    """Verify ``part`` and rename it onto ``target``; delete it on a hash mismatch. Returns
    ``(target, its sha256)``: the one hash of a fresh download, which callers reuse."""
    actual = sha256sum(part)
    if expected is not None and actual != expected:
        discard_part(part)
        err = ChecksumError(
            f"sha256 mismatch for {url}: expected {expected}, got {actual}. The file was deleted. "
            f"Retry (the transfer may have been corrupted); if the file changed upstream, check "
            f"its provenance and pin the new hash with sha256=."
        )
        err.actual = actual  # for entry_checksum_error, which tells a named entry's mismatch
        raise err
    os.replace(part, target)
    state_path(part).unlink(missing_ok=True)
    if expected is None:
        logger.info("downloaded %s to %s; sha256 %s (pass sha256=%s to pin it)", url, target, actual, actual)
    else:
        logger.info("downloaded %s to %s (sha256 verified)", url, target)
    return target, actual
