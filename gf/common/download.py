"""Downloads for the model zoo: checkpoints, features and annotation bundles.

Why this module exists: checkpoints and feature bundles are large, hosted on servers
that drop connections (lab web servers, Google Drive, the Hugging Face Hub), and fetched
by many processes at once (torchrun ranks, parallel leaderboard jobs). A download must
therefore survive a dropped connection without starting over, never hand a truncated,
mixed or wrong file to a later run, happen once per machine however many processes ask
for it, and work without network once the file is in the cache.

How: every transfer writes ``<dest>.part``, is verified against the expected sha256, and
only then renamed onto ``<dest>``. A lock (:func:`gf.common.locks.file_lock` on
``<dest>.lock``) makes concurrent callers wait for the one that downloads.
``GF_OFFLINE=1`` turns every call into a cache lookup.

A resume continues the part only while the server still has the same file (``If-Range``
with the validator recorded when the transfer started; see :mod:`gf.common.http_transfer`):
a changed file is fetched whole, never spliced onto the old one's first bytes.

A file already at a caller's ``dest`` is not trusted: it is returned only when it has
the expected sha256; without one (or on a mismatch) it is refused and left in place,
unless ``overwrite=True`` asks for a download over it. File names taken from URLs are
their last path component (``/`` and ``\\`` both separate), so nothing derived from a
URL leaves its folder.

Supported URLs:

- ``http://`` / ``https://`` through ``requests`` (:mod:`gf.common.http_transfer`),
  redirects included; connection errors, timeouts and busy answers (408, 429, 5xx) are
  retried by urllib3's ``Retry`` with exponential backoff, and a body cut short is resumed
  as above. ``requests`` is imported only when an http(s) URL is actually downloaded;
- ``file://`` (copied, still verified and placed atomically);
- ``hf://<org>/<repo>/<path/in/repo>[@revision]`` (also ``hf://datasets/...`` and
  ``hf://spaces/...``) through ``huggingface_hub.hf_hub_download`` and its own cache;
- Google Drive share links (``/file/d/<ID>/view``, ``open?id=<ID>``, ``uc?id=<ID>``)
  through the ``gdown`` library, which follows Drive's confirmation pages for large
  files and resumes its own partial file (gdown names it ``<part file><8 random characters>.part``). gf keeps what
  it adds around every download: the cache location, the lock, the sha256 check, the
  atomic rename and offline mode; a gdown failure becomes a :class:`DownloadError`
  naming the link and what to do. ``gdown`` is imported only when a Drive link is
  actually downloaded.

Archives are extracted by :mod:`gf.common.archives`, not here.
"""
from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import shutil
import sys
import urllib.parse
import urllib.request
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

from gf.common.errors import (ArchiveError, ChecksumError, ConfigError, DestinationExistsError, DownloadError,
                              InvalidURLError, OfflineError)
from gf.common.io import sha256sum
from gf.common.http_transfer import MAX_BACKOFF_S, discard_part, fetch_http, progress_bar, state_path
from gf.common.locks import file_lock
from gf.common.utils import PathLike, finite_number, normalize_sha256

__all__ = [
    "ArchiveError",
    "ChecksumError",
    "DestinationExistsError",
    "DownloadError",
    "HfLocation",
    "InvalidURLError",
    "OfflineError",
    "cache_dir",
    "check_transfer_options",
    "download",
    "gdrive_file_id",
    "is_offline",
    "parse_hf_url",
    "sha256sum",
]

logger = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_MAX_TIMEOUT_S = 24 * 3600.0
_MAX_ATTEMPTS = 100
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_GDRIVE_HOSTS = ("drive.google.com", "docs.google.com", "drive.usercontent.google.com")




# --------------------------------------------------------------------------- basics


def cache_dir() -> Path:
    """Root of gf's download cache.

    ``$GF_CACHE_DIR`` wins (shared clusters point it at a project disk); otherwise the
    XDG convention, ``$XDG_CACHE_HOME/gf`` or ``~/.cache/gf``.
    """
    explicit = os.environ.get("GF_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "gf"


def is_offline(offline: Optional[bool] = None) -> bool:
    """``offline`` if given, else ``$GF_OFFLINE`` (1/true/yes/on or 0/false/no/off)."""
    if offline is not None:
        return bool(offline)
    raw = os.environ.get("GF_OFFLINE", "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(
        f"GF_OFFLINE={os.environ['GF_OFFLINE']!r} is not understood; use 1 (offline) or 0 (online)."
    )


# --------------------------------------------------------------------------- URL shapes


@dataclass(frozen=True)
class HfLocation:
    """Where an ``hf://`` URL points on the Hugging Face Hub."""

    repo_id: str
    filename: str
    revision: Optional[str] = None
    repo_type: str = "model"


_HF_REPO_TYPE_PREFIXES = {"datasets": "dataset", "spaces": "space"}


def parse_hf_url(url: str) -> HfLocation:
    """Split ``hf://<org>/<repo>/<path/in/repo>[@revision]``.

    The revision (branch, tag or commit) follows the last ``@``; ``hf://datasets/...``
    and ``hf://spaces/...`` select those repo types, as in ``huggingface_hub``'s own
    ``hf://`` paths.
    """
    if not url.startswith("hf://"):
        raise InvalidURLError(f"not an hf:// URL: {url!r}")
    rest = url[len("hf://"):]
    revision = None
    if "@" in rest:
        rest, revision = rest.rsplit("@", 1)
        if not revision:
            raise InvalidURLError(f"{url}: empty revision after '@'; write @<branch|tag|commit> or drop the '@'.")
    parts = [p for p in rest.split("/")]
    repo_type = "model"
    if parts and parts[0] in _HF_REPO_TYPE_PREFIXES:
        repo_type = _HF_REPO_TYPE_PREFIXES[parts.pop(0)]
    if len(parts) < 3 or any(not p for p in parts) or any(p in (".", "..") for p in parts):
        raise InvalidURLError(
            f"{url}: expected hf://<org>/<repo>/<path/in/repo>[@revision], "
            f"e.g. hf://my-org/glance-focus/star/checkpoint.pth@v1.0"
        )
    return HfLocation(repo_id=f"{parts[0]}/{parts[1]}", filename="/".join(parts[2:]),
                      revision=revision, repo_type=repo_type)


def _is_gdrive_host(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname in _GDRIVE_HOSTS


def gdrive_file_id(url: str) -> Optional[str]:
    """The file id of a Google Drive file link, or None when ``url`` is not one.

    Only the id is read here (no network, no gdown import), so that the cache path of a
    Drive download is known offline.
    """
    if not _is_gdrive_host(url):
        return None
    parts = urllib.parse.urlsplit(url)
    match = re.search(r"/file/(?:u/\d+/)?d/([A-Za-z0-9_-]+)", parts.path)
    if match:
        return match.group(1)
    ids = urllib.parse.parse_qs(parts.query).get("id")
    if ids and re.fullmatch(r"[A-Za-z0-9_-]+", ids[0]):
        return ids[0]
    return None



# --------------------------------------------------------------------------- download


def download(
    url: str,
    sha256: Optional[str] = None,
    dest: Optional[PathLike] = None,
    *,
    filename: Optional[str] = None,
    timeout: Optional[float] = 30,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool = True,
    offline: Optional[bool] = None,
    overwrite: bool = False,
    dest_is_cache: bool = False,
) -> Path:
    """Fetch ``url`` once, verify it, and return the local path.

    Args:
        url: ``http(s)://``, ``file://``, ``hf://org/repo/path[@rev]`` or a Google Drive
            share link (see the module docstring).
        sha256: expected hex digest. A mismatch raises :class:`ChecksumError` and
            deletes the file. Without it the digest is logged so it can be pinned.
        dest: file path, or an existing directory to put ``filename`` in (a path ending
            with a separator must be an existing directory). Default:
            ``cache_dir()/downloads/<sha256 or URL-hash prefix>/<filename>``; for
            ``hf://`` without ``dest``, the Hugging Face cache's own path.
        filename: name of the file when ``dest`` is not a file path. Default: the last
            URL path component (the file id for Drive links); it never contains a path
            separator, so the file stays in its folder.
        timeout: seconds per socket operation (connect, each read), > 0 and at most a
            day; None waits as long as the server takes.
        retries: attempts in all, 1 (no retry) to 100, shared by connection errors,
            timeouts, HTTP 408/429/5xx and transfers cut short (each of those resumes the
            ``.part`` file). Drive links pass ``retries - 1`` to gdown, which retries the
            same way.
        backoff: seconds, 0 to 60: the first retry comes at once, the next after
            ``backoff`` seconds, doubled each time, at most 60 s (urllib3's ``Retry``;
            gdown uses its own backoff for Drive links).
        progress: show a tqdm bar (only when stderr is a terminal).
        offline: force offline (True) or online (False); None reads ``GF_OFFLINE``.
        overwrite: allow replacing a file already at ``dest`` that cannot be verified
            (no ``sha256``) or does not match ``sha256``; the new file replaces it
            atomically, only once it is complete and verified.
        dest_is_cache: ``dest`` is a cache slot that gf owns (the model zoo's): a file
            there is treated like a cache hit, as without ``dest``.

    Cache paths (no ``dest``): a file already there is returned without network when its
    sha256 matches (or when no sha256 is given: files reach the cache only after a
    complete transfer); one that does not match is downloaded again.

    A file already at an explicit ``dest`` is not gf's to trust: with ``sha256`` it is
    verified and returned when it matches, and a mismatch raises
    :class:`DestinationExistsError` naming both hashes (the file is left in place);
    without ``sha256`` it is refused. ``overwrite=True`` downloads over it instead.

    Every argument is checked before anything is created: a refused call leaves no
    folder, part file or lock file behind.
    """
    url = _check_url_text(url)
    expected = (normalize_sha256(sha256, where=f"download({url!r})", error=ConfigError)
                if sha256 is not None else None)
    offline = is_offline(offline)
    _check_filename(filename)
    attempts = check_transfer_options(timeout, retries, backoff)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    explicit = dest is not None and not dest_is_cache
    if scheme == "hf":
        return _download_hf(url, expected, dest, filename, offline, explicit=explicit, overwrite=overwrite)
    _check_scheme(url, scheme)
    drive_id, target = _target_of(url, dest, filename, expected)
    return _fetch_unless_present(url, scheme, drive_id, target, expected, explicit=explicit, overwrite=overwrite,
                                 offline=offline, timeout=timeout, attempts=attempts, backoff=backoff,
                                 progress=progress)


def _check_scheme(url: str, scheme: str) -> None:
    """Refuse a scheme gf cannot fetch (hf:// is handled before), and a malformed URL,
    before anything is created."""
    if scheme not in ("http", "https", "file"):
        local = " (for a local file write file:///absolute/path)" if not scheme or len(scheme) == 1 else ""
        raise InvalidURLError(
            f"cannot download {url!r}: unsupported scheme {scheme or '(none)'!r}; "
            f"use http(s)://, file://, hf://<org>/<repo>/<path> or a Google Drive link{local}."
        )
    _check_url_shape(url, scheme)


def _target_of(url: str, dest: Optional[PathLike], filename: Optional[str],
               expected: Optional[str]) -> Tuple[Optional[str], Path]:
    """The Drive file id (None for other URLs) and the local path of ``url``. A Drive file is
    cached by its id, not its link, since one file has many link shapes."""
    drive_id = gdrive_file_id(url)
    if drive_id is not None:
        name = filename or drive_id
        cache_key = f"gdrive:{drive_id}"
    elif _is_gdrive_host(url):
        raise InvalidURLError(
            f"cannot download {url!r}: not a Google Drive file link (folders and pages are not "
            f"supported); expected .../file/d/<ID>/view, open?id=<ID> or uc?id=<ID>."
        )
    else:
        name = filename or _filename_from_url(url)
        cache_key = url
    return drive_id, _resolve_dest(dest, name, expected or hashlib.sha256(cache_key.encode()).hexdigest())


def _fetch_unless_present(url: str, scheme: str, drive_id: Optional[str], target: Path, expected: Optional[str], *,
                          explicit: bool, overwrite: bool, offline: bool, timeout: Optional[float], attempts: int,
                          backoff: float, progress: bool) -> Path:
    """Return ``target`` when the file already there may be used; otherwise fetch it into a
    ``.part`` file under the target's lock and move it in once verified. An explicit ``dest``
    is the user's file and is checked by the stricter rules of ``_existing_dest``."""
    before = None
    if explicit:
        usable, before = _existing_dest(target, expected, overwrite)
        if usable:
            return target
        actual = None
    else:
        usable, actual = _existing_file_ok(target, expected)
        if usable:
            return target
    if offline:
        raise OfflineError(_offline_message(url, target, expected, actual))

    _make_parent(target)
    part = target.with_name(target.name + ".part")
    with file_lock(_lock_path(target), url):
        # Another process may have finished while we waited for the lock.
        if explicit:
            if _placed_meanwhile(target, before, expected):
                return target
        else:
            usable, _ = _existing_file_ok(target, expected, quiet=True)
            if usable:
                return target
        if scheme == "file":
            _copy_file_url(url, part, progress)
        elif drive_id is not None:
            _fetch_gdrive(url, drive_id, part, target, expected=expected, timeout=timeout,
                          attempts=attempts, progress=progress)
        else:
            fetch_http(url, part, timeout=timeout, attempts=attempts, backoff=backoff, progress=progress,
                        label=target.name, expected=expected)
        return _finalize(part, target, expected, url)


def _lock_path(target: Path) -> Path:
    return target.with_name(target.name + ".lock")


# --------------------------------------------------------------------------- argument checks

#: Longest file name gf derives from a URL (most file systems allow 255 bytes; room is
#: left for the ``.part`` / ``.lock`` suffixes).
_MAX_NAME_BYTES = 200


def _check_url_text(url: Any) -> str:
    if not isinstance(url, (str, os.PathLike)) or not str(url).strip():
        raise InvalidURLError(f"cannot download {url!r}: give a URL (http(s)://, file://, hf://... or a "
                              f"Google Drive link).")
    text = str(url).strip()
    if any(ch in text for ch in ("\x00", "\n", "\r")):
        raise InvalidURLError(f"cannot download {text!r}: the URL contains a control character "
                              f"(NUL or line break); check how it was copied.")
    return text


def _check_url_shape(url: str, scheme: str) -> None:
    """Refuse http(s) URLs that could never be fetched, before any retry loop."""
    if scheme not in ("http", "https"):
        return
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # raises ValueError for a port that is not a number in range
    except ValueError as err:
        raise InvalidURLError(f"cannot download {url!r}: bad port ({err}).") from None
    if not parts.hostname:
        raise InvalidURLError(f"cannot download {url!r}: no host name; expected {scheme}://<host>/<path>.")
    if any(ch.isspace() for ch in url):
        raise InvalidURLError(f"cannot download {url!r}: URLs cannot contain spaces; write them as %20.")


def _check_filename(filename: Any) -> None:
    if filename is None:
        return
    if (not isinstance(filename, str) or not filename or "/" in filename or "\\" in filename
            or "\x00" in filename or filename in (".", "..")):
        raise ConfigError(f"filename must be a plain file name (no folder, no '/' or '\\', not '.' or "
                          f"'..'), got {filename!r}.")



def check_transfer_options(timeout: Any = 30, retries: Any = 3, backoff: Any = 1.0, *,
                           names: Sequence[str] = ("timeout", "retries", "backoff"),
                           where: str = "download") -> int:
    """Attempts in all, once every option is known to make sense.

    Why strict: a NaN or infinite timeout waits forever on a dead server, a zero or
    negative one fails at once, and a count of 0 attempts used to turn silently into 1.
    Each is a :class:`ConfigError` naming the option as the caller spells it (``names``:
    ``("--timeout", "--retries", "--backoff")`` for the command line), after ``where``.
    """
    timeout_name, retries_name, backoff_name = names
    where = f"{where}: " if where else ""
    if timeout is not None and not _number_in(timeout, 0.0, _MAX_TIMEOUT_S, low_open=True):
        raise ConfigError(f"{where}{timeout_name} must be a finite number of seconds above 0 and at most "
                          f"{_MAX_TIMEOUT_S:.0f} (one day), got {timeout!r}.")
    if isinstance(retries, bool) or not isinstance(retries, Integral) or not 1 <= retries <= _MAX_ATTEMPTS:
        raise ConfigError(f"{where}{retries_name} must be a whole number of attempts in all, from 1 (no retry) "
                          f"to {_MAX_ATTEMPTS}, got {retries!r}.")
    if not _number_in(backoff, 0.0, MAX_BACKOFF_S):
        raise ConfigError(f"{where}{backoff_name} must be a finite number of seconds from 0 to "
                          f"{MAX_BACKOFF_S:.0f} (the longest wait between attempts), got {backoff!r}.")
    return int(retries)


def _number_in(value: Any, low: float, high: float, *, low_open: bool = False) -> bool:
    """``value`` is a finite real number (not a bool) in ``[low, high]`` (``(low, high]``)."""
    number = finite_number(value)
    return number is not None and (number > low if low_open else number >= low) and number <= high


def _filename_from_url(url: str) -> str:
    """The URL's last path component, as a plain file name that stays in its folder.

    Both ``/`` and ``\\`` count as separators (``%2F``/``%5C`` included, once unquoted),
    so a URL such as ``https://host/a/..%5C..%5Cx`` names ``x``, never a path.
    """
    return _plain_name(urllib.parse.unquote(urllib.parse.urlsplit(url).path))


def _plain_name(raw: str) -> str:
    """The last component of ``raw`` (``/`` or ``\\`` separated) as a file name."""
    name = re.split(r"[\\/]", raw)[-1].replace("\x00", "").strip()
    if name in ("", ".", ".."):
        return "download"
    if len(name.encode("utf-8")) > _MAX_NAME_BYTES:
        suffix = posixpath.splitext(name)[1]
        suffix = suffix if 0 < len(suffix.encode("utf-8")) <= 16 else ""
        name = f"download-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:16]}{suffix}"
    return name


def _inside(root: Path, path: Path) -> bool:
    root_s, path_s = os.path.abspath(root), os.path.abspath(path)
    return os.path.commonpath([root_s, path_s]) == root_s


def _resolve_dest(dest: Optional[PathLike], name: str, key: str) -> Path:
    if dest is None:
        root = cache_dir() / "downloads"
        target = root / key[:16] / name
        if not _inside(root, target) or target.parent.parent != root:
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


def _make_parent(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"cannot download to {target}: {target.parent} (or a folder above it) is a file, "
                          f"not a folder; choose another dest.") from None
    except OSError as err:
        raise DownloadError(f"cannot create the folder {target.parent} for {target.name}: {err}. Choose a "
                            f"writable dest (or set GF_CACHE_DIR).") from None


def _stat_key(path: Path):
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _existing_dest(target: Path, expected: Optional[str], overwrite: bool):
    """(usable, stat of the existing file or None) for an explicit ``dest``.

    An existing file is returned only when it has the expected sha256; otherwise it is
    refused (left in place) unless ``overwrite``.
    """
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


def _placed_meanwhile(target: Path, before, expected: Optional[str]) -> bool:
    """Whether another process put a complete (and, with ``expected``, verified) file at
    ``target`` while this one waited for the lock."""
    now = _stat_key(target)
    if now is None or now == before:
        return False
    if expected is None:
        logger.info("%s was downloaded by another process meanwhile; using it", target)
        return True
    return sha256sum(target) == expected


def _existing_file_ok(target: Path, expected: Optional[str], quiet: bool = False):
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


def _offline_message(url: str, target: Path, expected: Optional[str], actual: Optional[str]) -> str:
    state = (f"the file at {target} has sha256 {actual}, not the expected {expected}"
             if actual else f"it is not in the cache (expected at {target})")
    pin = f" Its sha256 must be {expected}." if expected else ""
    return (
        f"offline mode (GF_OFFLINE=1 or offline=True) and {url} cannot be used: {state}. "
        f"Download the file on a machine with network (e.g. `gf download {url}`) and copy it to "
        f"{target}.{pin} Or go online: unset GF_OFFLINE / pass offline=False."
    )



def _copy_file_url(url: str, part: Path, progress: bool) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidURLError(f"{url}: file:// URLs must name a local path (file:///abs/path).")
    source = Path(urllib.request.url2pathname(parts.path))
    if not source.is_file():
        raise DownloadError(f"{url}: no such file {source}; check the path.")
    with open(source, "rb") as fin, open(part, "wb") as fout, \
            progress_bar(source.stat().st_size, 0, source.name, progress) as bar:
        for block in iter(lambda: fin.read(_CHUNK), b""):
            fout.write(block)
            bar.update(len(block))
        fout.flush()
        os.fsync(fout.fileno())


def _finalize(part: Path, target: Path, expected: Optional[str], url: str) -> Path:
    """Verify ``part`` and rename it onto ``target``; delete it on a hash mismatch."""
    actual = sha256sum(part)
    if expected is not None and actual != expected:
        discard_part(part)
        raise ChecksumError(
            f"sha256 mismatch for {url}: expected {expected}, got {actual}. The file was deleted. "
            f"Retry (the transfer may have been corrupted); if the file changed upstream, check "
            f"its provenance and pin the new hash with sha256=."
        )
    os.replace(part, target)
    state_path(part).unlink(missing_ok=True)
    if expected is None:
        logger.info("downloaded %s to %s; sha256 %s (pass sha256=%s to pin it)", url, target, actual, actual)
    else:
        logger.info("downloaded %s to %s (sha256 verified)", url, target)
    return target


# --------------------------------------------------------------------------- Google Drive


def _fetch_gdrive(url: str, file_id: str, part: Path, target: Path, *, expected: Optional[str],
                  timeout: float, attempts: int, progress: bool) -> None:
    """Have gdown write the whole Drive file to ``part`` (the caller verifies and renames it).

    gdown answers Drive's confirmation page, writes to its own ``<part>XXXXXXXX.part`` and
    renames that onto ``part`` only once the transfer is complete; with ``resume=True`` a
    later call continues that partial file. So ``part`` itself is always a finished
    transfer: a left-over one (the process died before the rename) is used when it has
    the expected hash, and otherwise deleted, since gdown would skip an existing output.
    """
    if part.exists():
        if expected is not None and sha256sum(part) == expected:
            logger.info("%s: using the complete, verified transfer left at %s", url, part)
            return
        part.unlink()
    try:
        import gdown
    except ImportError as err:
        raise DownloadError(
            f"{url}: Google Drive links need the gdown package (pip install gdown), or download the "
            f"file in a browser and place it at {target} (or pass dest=)."
        ) from err
    import requests

    try:
        result = gdown.download(id=file_id, output=str(part), quiet=not (progress and _stderr_is_tty()),
                                resume=True, timeout=timeout, retries=attempts - 1)
    except requests.exceptions.Timeout as err:
        raise DownloadError(
            f"{url} timed out after {attempts} attempt(s) (timeout={timeout}s each). Google Drive is "
            f"not answering: check your network, or raise timeout=/retries=. A partial file, if any, "
            f"is kept and the next call resumes it."
        ) from err
    except (gdown.exceptions.DownloadError, requests.exceptions.RequestException, OSError, ValueError) as err:
        raise DownloadError(
            f"Google Drive download of {url} failed ({type(err).__name__}: {_first_lines(err)}). "
            f"The file may be private, deleted or over its daily download quota. Open the link in a "
            f"browser: if it downloads there, place the file at {target} (or pass dest=); otherwise "
            f"retry later. A partial file, if any, is kept and the next call resumes it."
        ) from err
    if result is None or not part.is_file():
        # gdown < 5 reported some failures by printing and returning None.
        raise DownloadError(
            f"Google Drive download of {url} produced no file. Open the link in a browser: if it "
            f"downloads there, place the file at {target} (or pass dest=)."
        )


def _stderr_is_tty() -> bool:
    return bool(getattr(sys.stderr, "isatty", None) and sys.stderr.isatty())


def _first_lines(err: BaseException, limit: int = 3) -> str:
    """gdown's messages run to many lines of advice; a few are enough inside ours."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    return " ".join(lines[:limit]) + (" ..." if len(lines) > limit else "")


# --------------------------------------------------------------------------- hf://


def _hf_errors(*names: str) -> tuple:
    from huggingface_hub import errors

    return tuple(getattr(errors, n) for n in names if hasattr(errors, n))


def _download_hf(url: str, expected: Optional[str], dest: Optional[PathLike],
                 filename: Optional[str], offline: bool, *, explicit: bool = True,
                 overwrite: bool = False) -> Path:
    """Delegate to ``hf_hub_download`` (its cache, auth and revisions), then verify.

    ``explicit``: ``dest`` is the caller's (an existing file there is verified or
    refused, see :func:`download`), not a cache slot of gf's."""
    location = parse_hf_url(url)
    target = None
    before = None
    if dest is not None:
        target = _resolve_dest(dest, filename or _plain_name(location.filename), "")
        if explicit:
            usable, before = _existing_dest(target, expected, overwrite)
        else:
            usable, _ = _existing_file_ok(target, expected)
        if usable:
            return target
    try:
        import huggingface_hub
        from huggingface_hub import constants as hf_constants
    except ImportError as err:
        raise DownloadError(f"{url}: hf:// URLs need huggingface_hub (pip install huggingface_hub).") from err

    revision = location.revision or "main"
    fetch_cmd = (f"`hf download {location.repo_id} {location.filename} --revision {revision}"
                 + (f" --repo-type {location.repo_type}`" if location.repo_type != "model" else "`"))
    try:
        local = huggingface_hub.hf_hub_download(
            repo_id=location.repo_id, filename=location.filename, revision=location.revision,
            repo_type=location.repo_type, local_files_only=offline,
        )
    except _hf_errors("LocalEntryNotFoundError") as err:
        if offline:
            where = f" or place the file at {target}" if target else " or download it by any means and pass dest=<file>"
            raise OfflineError(
                f"offline mode (GF_OFFLINE=1 or offline=True) and {url} is not in the Hugging Face "
                f"cache {hf_constants.HF_HUB_CACHE}. On a machine with network run {fetch_cmd} and copy "
                f"that cache here (or point HF_HUB_CACHE at a copy){where}; or unset GF_OFFLINE."
            ) from err
        raise DownloadError(
            f"{url}: the Hugging Face Hub could not be reached and the file is not in its cache "
            f"({hf_constants.HF_HUB_CACHE}): {err}. Check the network, HF_ENDPOINT and HF_HUB_OFFLINE, "
            f"then retry."
        ) from err
    except _hf_errors("RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError",
                      "RemoteEntryNotFoundError") as err:
        raise DownloadError(
            f"{url}: {type(err).__name__}. Check org/repo, path and revision; for a private or gated "
            f"repo log in with `hf auth login`."
        ) from err
    except (OSError, ValueError) + _hf_errors("HfHubHTTPError") as err:
        raise DownloadError(f"{url}: download from the Hugging Face Hub failed: {err}") from err

    local = Path(local)
    if expected is not None:
        actual = sha256sum(local)
        if actual != expected:
            # The Hub file is what the Hub serves for this revision, not a corrupt transfer;
            # it stays in the HF cache and nothing is copied to dest.
            raise ChecksumError(
                f"sha256 mismatch for {url}: expected {expected}, got {actual}. The Hub serves "
                f"different bytes for revision {revision!r}: pin the commit the hash was taken "
                f"from (hf://...@<commit>) or update sha256=."
            )
    if target is None:
        return local
    _make_parent(target)
    part = target.with_name(target.name + ".part")
    with file_lock(_lock_path(target), url):
        if explicit and _placed_meanwhile(target, before, expected):
            return target
        shutil.copyfile(local, part)
        return _finalize(part, target, expected, url)

