"""The two sources that need their own client: Google Drive links (gdown) and ``hf://``
URLs (huggingface_hub).

Why apart from :mod:`gf.common.download`: each wraps a third-party library that is
imported only when such a URL is actually downloaded, with its own URL shapes, failure
modes and advice; what gf adds around them (cache place, lock, sha256 check, atomic
rename, offline mode) is the same as for every source (:mod:`gf.common.download_dest`).
"""
from __future__ import annotations

import logging
import re
import shutil
import sys
import urllib.parse
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Optional, Tuple

from gf.common.download_dest import place, plain_name, resolve_dest, usable_at
from gf.common.errors import ChecksumError, DownloadError, InvalidURLError, OfflineError
from gf.common.io import sha256sum
from gf.common.utils import PathLike

__all__ = ["HfLocation", "gdrive_file_id", "parse_hf_url"]

logger = logging.getLogger("gf.common.download")  # one logger for every part of a download


_GDRIVE_HOSTS = ("drive.google.com", "docs.google.com", "drive.usercontent.google.com")


@dataclass(frozen=True)
class HfLocation:
    """Where an ``hf://`` URL points on the Hugging Face Hub."""

    repo_id: str
    filename: str
    revision: Optional[str] = None
    repo_type: str = "model"


_HF_REPO_TYPE_PREFIXES = {"datasets": "dataset", "spaces": "space"}


def parse_hf_url(url: str) -> HfLocation:
    """Split an ``hf://`` URL (its forms, as in ``huggingface_hub``'s own ``hf://`` paths:
    docs/data_download.md, "Single files"); the revision follows the last ``@``."""
    if not url.startswith("hf://"):
        raise InvalidURLError(f"not an hf:// URL: {url!r}")
    rest = url[len("hf://"):]
    revision = None
    if "@" in rest:
        rest, revision = rest.rsplit("@", 1)
        if not revision:
            raise InvalidURLError(f"{url}: empty revision after '@'; write @<branch|tag|commit> or drop the '@'.")
    parts = rest.split("/")
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


def is_gdrive_host(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname in _GDRIVE_HOSTS


def gdrive_file_id(url: str) -> Optional[str]:
    """The file id of a Google Drive file link, or None when ``url`` is not one.

    Only the id is read here (no network, no gdown import), so that the cache path of a
    Drive download is known offline.
    """
    if not is_gdrive_host(url):
        return None
    parts = urllib.parse.urlsplit(url)
    match = re.search(r"/file/(?:u/\d+/)?d/([A-Za-z0-9_-]+)", parts.path)
    if match:
        return match.group(1)
    ids = urllib.parse.parse_qs(parts.query).get("id")
    if ids and re.fullmatch(r"[A-Za-z0-9_-]+", ids[0]):
        return ids[0]
    return None


def fetch_gdrive(url: str, file_id: str, part: Path, target: Path, *, expected: Optional[str],
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


def _hf_errors(*names: str) -> tuple:
    from huggingface_hub import errors

    return tuple(getattr(errors, n) for n in names if hasattr(errors, n))


def download_hf(url: str, expected: Optional[str], dest: Optional[PathLike],
                 filename: Optional[str], offline: bool, *, explicit: bool = True,
                 overwrite: bool = False) -> Tuple[Path, Optional[str]]:
    """Delegate to ``hf_hub_download`` (its cache, auth and revisions), then verify.
    Returns the path and its sha256 when one is known here (pinned, or hashed on the copy
    to ``dest``), so that a caller recording it need not read the file again.

    ``explicit``: ``dest`` is the caller's (an existing file there is verified or
    refused, see :func:`download`), not a cache slot of gf's."""
    location = parse_hf_url(url)
    target = before = None
    if dest is not None:
        target = resolve_dest(dest, filename or plain_name(location.filename), "")
        usable, before, actual = usable_at(target, expected, explicit=explicit, overwrite=overwrite)
        if usable:
            return target, actual
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
            err = ChecksumError(
                f"sha256 mismatch for {url}: expected {expected}, got {actual}. The Hub serves "
                f"different bytes for revision {revision!r}: pin the commit the hash was taken "
                f"from (hf://...@<commit>) or update sha256=."
            )
            err.actual = actual
            err.advice = (f"The Hub serves other bytes for revision {revision!r} (not a corrupt transfer): if the "
                          f"hash was taken from one commit, point the entry's url at it (hf://...@<commit>).")
            raise err
    if target is None:
        return local, expected
    return place(target, url, partial(shutil.copyfile, local), expected, explicit=explicit, before=before)
