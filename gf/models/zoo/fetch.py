"""Zoo downloads: an entry's file fetched once into the cache, verified, and built into a model.

Trust on first use: the authors published their checkpoint without a hash. An entry
without ``sha256`` is downloaded once, its digest recorded in the user zoo file
(:func:`gf.common.zoo_file.record_first_use_hash`, logged as a warning with the file it
went to) and every later download or cached copy is verified against it. Remove the
record to accept a new file.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from gf.common.download import (ChecksumError, cache_dir, cache_slot, check_transfer_options, download,
                                download_with_sha256, sha256sum)
from gf.common.errors import CheckpointError, CheckpointNotFoundError
from gf.common.utils import did_you_mean
from gf.common.zoo_file import ZooError, entry_checksum_error, record_first_use_hash, user_zoo_file
from gf.models.zoo.entries import PretrainedEntry, _is_url, get_pretrained, list_pretrained, zoo_name_of

__all__ = ["build_pretrained", "cache_path_of", "download_pretrained", "load_pretrained", "record_hash",
           "resolve_checkpoint"]

logger = logging.getLogger("gf.models.zoo")


def cache_path_of(entry: PretrainedEntry) -> Path:
    """Where an entry's file lives (docs/data_download.md, "The cache"): keyed by name and
    URL, not by hash, so the copy found before the hash was known is the one verified after
    it was recorded. The name's parts are plain folder names (see :class:`PretrainedEntry`)
    and the file name is one path component, so the file cannot leave its folder."""
    url_key, filename = cache_slot(entry.url, entry.filename, fallback=entry.tag)
    return cache_dir() / "models" / entry.model / entry.tag / url_key / filename


def record_hash(name: str, sha256: str, url: Optional[str] = None) -> None:
    """Record the sha256 of an entry that had none (trust on first use), in the user zoo file.

    A hash already known, from the entry itself or an earlier record, is never changed: a
    different value is an error (delete the record to accept a new file).
    """
    entry = get_pretrained(name)
    record_first_use_hash(entry.name, sha256, url=url or entry.url, entry_url=entry.url, pinned=entry.sha256,
                          pinned_origin=entry.hash_origin or entry.origin, what="zoo entry", error=ZooError)


def download_pretrained(name: str, *, offline: Optional[bool] = None, progress: bool = True,
                        timeout: Optional[float] = 30, retries: int = 3, backoff: float = 1.0) -> Path:
    """The local file of a zoo entry, downloaded once into ``cache_dir()/models`` and verified.

    ``GF_OFFLINE=1`` (or ``offline=True``) uses the cached copy only. ``timeout``,
    ``retries``, ``backoff``: as for :func:`gf.common.download.download`, checked first.
    An entry without a sha256 has it recorded (:func:`record_hash`) only once the file
    has been read whole (:func:`_verify_whole`); one that does not is deleted from the
    cache, with nothing recorded.
    """
    check_transfer_options(timeout, retries, backoff)
    entry = get_pretrained(name)
    if entry.sha256 is None:
        logger.info("zoo entry %s has no sha256 yet: its first download will be hashed and the hash "
                    "recorded in %s", entry.name, user_zoo_file())
    try:
        path, digest = download_with_sha256(entry.url, sha256=entry.sha256, dest=cache_path_of(entry),
                                            progress=progress, offline=offline, dest_is_cache=True, timeout=timeout,
                                            retries=retries, backoff=backoff)
    except ChecksumError as err:
        raise entry_checksum_error(err, what="zoo entry", key=entry.name, url=entry.url, expected=entry.sha256,
                                   origin=entry.hash_origin or f"pinned by the entry ({entry.origin})") from None
    if entry.sha256 is None:
        # A damaged first download must not become the hash every later download is held to:
        # one full read, on the first download only (later copies are held to the hash).
        _verify_whole(path, f"zoo entry {entry.name!r}: the file downloaded from {entry.url}",
                      "It was deleted from the cache and no sha256 was recorded; run the command again to download "
                      "it afresh, or report the broken file to whoever publishes it.")
        record_hash(entry.name, digest or sha256sum(path), url=entry.url)  # a fresh download was hashed once
    return path


def _verify_whole(path: Path, what: str, after: str) -> None:
    """Delete ``path`` (a cache copy) and raise unless it reads whole.

    A zip or tar is checked member by member (CRC-32); anything else must read as a torch
    checkpoint (``weights_only``: nothing pickled runs), since an HTML quota page, a body
    cut short or a gzip-encoded answer would otherwise be kept and trusted by every later
    run. ``what`` names the file and its URL, ``after`` says what happens next.
    """
    from gf.common.archives import ArchiveError, looks_like_archive, verify_archive
    from gf.common.safe_load import torch_load_safe

    try:
        if looks_like_archive(path):
            verify_archive(path)
        else:
            torch_load_safe(path, map_location="cpu")
    except (ArchiveError, CheckpointError) as err:
        path.unlink(missing_ok=True)
        reason = str(err).split(". ")[0].rstrip(".")  # its advice (copy the file again) is replaced by ``after``
        raise type(err)(f"{what} is damaged or not a checkpoint: {reason}. {after}") from err


def _download_checkpoint(url: str, *, offline: Optional[bool], progress: bool) -> Path:
    """A checkpoint URL's cache copy, trusted only once it reads whole, on every use (what
    that means for users: docs/data_download.md, "Single files").

    Why every use: a plain URL has no hash to hold later copies to, and a body that was not
    a checkpoint may be in the cache already (one cached by an older gf). Why not ``hf://``:
    its files live in the Hugging Face cache, which is not gf's to delete from."""
    path = download(url, progress=progress, offline=offline)
    if not url.lower().startswith("hf://"):
        _verify_whole(path, f"checkpoint {url}: the cached download {path}",
                      "It was deleted from the cache; the next run downloads it again (if the server keeps "
                      "answering this, fetch the file another way and pass its path).")
    return path


def resolve_checkpoint(spec: Any, *, offline: Optional[bool] = None, progress: bool = True) -> Path:
    """A checkpoint spec as a local file.

    ``spec`` is a local path, a URL (``http(s)://``, ``file://``, ``hf://``, Google Drive;
    how it is cached and checked: docs/data_download.md, "Single files"), ``zoo:<name>`` /
    ``model:<name>``, or a bare zoo name. An existing local path wins over a zoo name.
    """
    text = str(spec)
    name = zoo_name_of(text)
    if name is not None:
        return download_pretrained(name, offline=offline, progress=progress)
    if _is_url(text):
        return _download_checkpoint(text, offline=offline, progress=progress)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise CheckpointNotFoundError(f"checkpoint {text!r} is a folder, not a checkpoint file.")
    hint = did_you_mean(text, list_pretrained())
    raise CheckpointNotFoundError(
        f"checkpoint {text!r} not found: it is not a file, not a URL (http(s)://, file://, hf://) "
        f"and not a zoo entry (zoo:<name>; see `gf list` / gf.models.zoo.list_pretrained()).{hint}")


# --------------------------------------------------------------------------- building models


def load_pretrained(name: str, device: Any = "cpu", **overrides):
    """Download (once) and build a zoo entry's model with its weights, in eval mode.

    ``overrides`` change model kwargs that do not change the weights' shapes, e.g. a
    local ``text_encoder`` folder or ``glance_per_option``.
    """
    return build_pretrained(get_pretrained(name), device, **overrides)[0]


def build_pretrained(entry: PretrainedEntry, device: Any = "cpu", **overrides):
    """``(model, checkpoint file)``: the entry's file downloaded (once) and read, and the model
    built from it as the entry says (model, model_type, config, format), in eval mode.
    Shared by :func:`load_pretrained` and ``gf.load_model(pretrained=...)``, which also
    reads the file's text format."""
    from gf.models.checkpoint import read_checkpoint
    from gf.models.loading import model_from_checkpoint

    checkpoint = read_checkpoint(download_pretrained(entry.name))
    model = model_from_checkpoint(checkpoint, model=entry.model, model_type=entry.model_type, config=entry.config,
                                  format=entry.format, device=device, **overrides)
    return model, checkpoint
