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

Supported URLs (their forms: docs/data_download.md, "Single files"): ``http(s)://``
(:mod:`gf.common.http_transfer`: the retries, and when a part may be resumed), ``file://``
(copied, still verified and placed atomically), ``hf://`` (through ``huggingface_hub`` and
its own cache) and Google Drive file links (through ``gdown``, which follows Drive's
confirmation pages for large files).

Archives are extracted by :mod:`gf.common.archives`, not here. Where a file lands and
when one already there may be used: :mod:`gf.common.download_dest`; the Drive and Hub
clients: :mod:`gf.common.download_hosts`. This module is the one entry point (its
``__all__`` names what callers import from it, the cache folder and the URL parsers
included).
"""
from __future__ import annotations

import hashlib
import os
import urllib.parse
import urllib.request
from functools import partial
from numbers import Integral
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple

from gf.common.download_dest import cache_dir, filename_from_url, place, plain_name, resolve_dest, usable_at
from gf.common.download_hosts import download_hf, fetch_gdrive, gdrive_file_id, is_gdrive_host, parse_hf_url
from gf.common.errors import (ArchiveError, ChecksumError, ConfigError, DestinationExistsError, DownloadError,
                              InvalidURLError, OfflineError)
from gf.common.http_transfer import MAX_BACKOFF_S, fetch_http
from gf.common.io import sha256sum
from gf.common.utils import PathLike, finite_number, is_plain_file_name, normalize_sha256, progress_bar

__all__ = [
    "ArchiveError",
    "ChecksumError",
    "DestinationExistsError",
    "DownloadError",
    "InvalidURLError",
    "OfflineError",
    "cache_dir",
    "check_transfer_options",
    "download",
    "download_with_sha256",
    "cache_slot",
    "gdrive_file_id",
    "is_offline",
    "parse_hf_url",
    "sha256sum",
]

_CHUNK = 256 * 1024
_MAX_TIMEOUT_S = 24 * 3600.0
_MAX_ATTEMPTS = 100
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def cache_slot(url: str, filename: Optional[str], fallback: str) -> Tuple[str, str]:
    """``(url key, file name)`` of a cache slot for ``url``: 12 hex of the URL's sha256 (so a
    copy made before its hash was known is the one verified later) and ``filename``, else the
    URL's last component (``fallback`` for a Google Drive link, whose URL names no file; the
    path's, without its ``@revision``, for ``hf://``)."""
    _check_url_text(url)  # a malformed host is an InvalidURLError, not a ValueError from urlsplit below
    key = hashlib.sha256(url.encode()).hexdigest()[:12]
    if filename is None and gdrive_file_id(url):
        filename = fallback
    elif filename is None:
        hf_path = parse_hf_url(url).filename if url.startswith("hf://") else None
        filename = plain_name(hf_path, fallback) if hf_path else filename_from_url(url, fallback=fallback)
    return key, filename


def is_offline(offline: Optional[bool] = None) -> bool:
    """``offline`` if given, else ``$GF_OFFLINE`` (docs/data_download.md, "Offline"; another
    value raises :class:`ConfigError`)."""
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


# --------------------------------------------------------------------------- download


def download(url: str, sha256: Optional[str] = None, dest: Optional[PathLike] = None, **options: Any) -> Path:
    """Fetch ``url`` once, verify it, and return the local path: ``gf download <URL>``, whose
    rules (the URL forms, where the file goes, when a file already there is used) are in
    docs/data_download.md, "Single files" and "The cache".

    Args:
        url: ``http(s)://``, ``file://``, ``hf://`` or a Google Drive file link.
        sha256: expected hex digest. A mismatch raises :class:`ChecksumError` and
            deletes the file. Without it the digest is logged so it can be pinned.
        dest: file path, or an existing directory to put ``filename`` in (``--dest``).
            Default: gf's cache; for ``hf://``, the Hugging Face cache's own path.
        filename: name of the file when ``dest`` is not a file path (default: as in the
            cache); it never contains a path separator, so the file stays in its folder.
        timeout, retries, backoff: as ``gf download``'s options (docs/data_download.md,
            "Options"); ``timeout=None`` waits as long as the server takes. Drive links pass
            ``retries - 1`` to gdown, which retries the same way with its own backoff.
        progress: False turns the progress bar off (``--quiet``: docs/data_download.md, "Options").
        offline: force offline (True) or online (False); None reads ``GF_OFFLINE``.
        overwrite: download over a file at ``dest`` that is refused (below); the new file
            replaces it atomically, only once it is complete and verified.
        dest_is_cache: ``dest`` is a cache slot that gf owns (the model zoo's): a file
            there is treated like a cache hit, as without ``dest``.

    A file already at an explicit ``dest`` that is not verified by ``sha256`` raises
    :class:`DestinationExistsError` (the file is left in place), unless ``overwrite``.

    Every argument is checked before anything is created: a refused call leaves no
    folder, part file or lock file behind. The keyword arguments are those of
    :func:`download_with_sha256`, which does the work.
    """
    return download_with_sha256(url, sha256, dest, **options)[0]


def download_with_sha256(url: str, sha256: Optional[str] = None, dest: Optional[PathLike] = None, *,
                         filename: Optional[str] = None, timeout: Optional[float] = 30, retries: int = 3,
                         backoff: float = 1.0, progress: bool = True, offline: Optional[bool] = None,
                         overwrite: bool = False, dest_is_cache: bool = False) -> Tuple[Path, Optional[str]]:
    """:func:`download` (same arguments), and the file's sha256 when this call computed it: a
    fresh download is hashed once, as it is verified, so a caller that records the hash
    (trust on first use) or prints it need not read the file again. None when no hash
    was computed (an unpinned file already in the cache, a Hub file without ``sha256`` used from
    the Hugging Face cache)."""
    url = _check_url_text(url)
    expected = (normalize_sha256(sha256, where=f"download({url!r})", error=ConfigError)
                if sha256 is not None else None)
    offline = is_offline(offline)
    _check_filename(filename)
    attempts = check_transfer_options(timeout, retries, backoff)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    explicit = dest is not None and not dest_is_cache
    if scheme == "hf":
        return download_hf(url, expected, dest, filename, offline, explicit=explicit, overwrite=overwrite)
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
    if scheme == "file":
        return
    parts = urllib.parse.urlsplit(url)  # http(s): refuse what could never be fetched, before any retry loop
    try:
        parts.port  # raises ValueError for a port that is not a number in range
    except ValueError as err:
        raise InvalidURLError(f"cannot download {url!r}: bad port ({err}).") from None
    if not parts.hostname:
        raise InvalidURLError(f"cannot download {url!r}: no host name; expected {scheme}://<host>/<path>.")
    if any(ch.isspace() for ch in url):
        raise InvalidURLError(f"cannot download {url!r}: URLs cannot contain spaces; write them as %20.")


def _target_of(url: str, dest: Optional[PathLike], filename: Optional[str],
               expected: Optional[str]) -> Tuple[Optional[str], Path]:
    """The Drive file id (None for other URLs) and the local path of ``url``. A Drive file is
    cached by its id, not its link, since one file has many link shapes."""
    drive_id = gdrive_file_id(url)
    if drive_id is not None:
        name = filename or drive_id
        cache_key = f"gdrive:{drive_id}"
    elif is_gdrive_host(url):
        raise InvalidURLError(
            f"cannot download {url!r}: not a Google Drive file link (folders and pages are not "
            f"supported); expected .../file/d/<ID>/view, open?id=<ID> or uc?id=<ID>."
        )
    else:
        name = filename or filename_from_url(url)
        cache_key = url
    return drive_id, resolve_dest(dest, name, expected or hashlib.sha256(cache_key.encode()).hexdigest())


def _fetch_unless_present(url: str, scheme: str, drive_id: Optional[str], target: Path, expected: Optional[str], *,
                          explicit: bool, overwrite: bool, offline: bool, timeout: Optional[float], attempts: int,
                          backoff: float, progress: bool) -> Tuple[Path, Optional[str]]:
    """Return ``target`` when the file already there may be used; otherwise fetch it into a
    ``.part`` file under the target's lock and move it in once verified."""
    usable, before, actual = usable_at(target, expected, explicit=explicit, overwrite=overwrite)
    if usable:
        return target, actual
    if offline:
        raise OfflineError(_offline_message(url, target, expected, actual))
    if scheme == "file":
        fill = partial(_copy_file_url, url, progress=progress)
    elif drive_id is not None:
        fill = partial(fetch_gdrive, url, drive_id, target=target, expected=expected, timeout=timeout,
                       attempts=attempts, progress=progress)
    else:
        fill = partial(fetch_http, url, timeout=timeout, attempts=attempts, backoff=backoff, progress=progress,
                       label=target.name, expected=expected)
    return place(target, url, fill, expected, explicit=explicit, before=before)


# --------------------------------------------------------------------------- argument checks


def _check_url_text(url: Any) -> str:
    if not isinstance(url, (str, os.PathLike)) or not str(url).strip():
        raise InvalidURLError(f"cannot download {url!r}: give a URL (http(s)://, file://, hf://... or a "
                              f"Google Drive link).")
    text = str(url).strip()
    if any(ch in text for ch in ("\x00", "\n", "\r")):
        raise InvalidURLError(f"cannot download {text!r}: the URL contains a control character "
                              f"(NUL or line break); check how it was copied.")
    try:  # checked once here, so no later urlsplit (cache slot, Drive test, scheme) meets a bad host
        urllib.parse.urlsplit(text).hostname
    except ValueError as err:
        raise InvalidURLError(f"cannot download {text!r}: the host is malformed ({err}); check the host name, and "
                              f"write an IPv6 address in brackets, e.g. http://[::1]:8000/file.") from None
    return text


def _check_filename(filename: Any) -> None:
    if filename is not None and not is_plain_file_name(filename):
        raise ConfigError(f"filename must be a plain file name (no folder, no '/' or '\\', not '.' or "
                          f"'..'), got {filename!r}.")


def check_transfer_options(timeout: Any = 30, retries: Any = 3, backoff: Any = 1.0, *,
                           names: Sequence[str] = ("timeout", "retries", "backoff"),
                           where: str = "download") -> int:
    """Attempts in all, once every option is known to make sense.

    Why strict: a NaN or infinite timeout waits forever on a dead server, a zero or
    negative one fails at once, and 0 attempts would download nothing.
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


