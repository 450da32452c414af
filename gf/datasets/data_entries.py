"""Data bundle entries: the registry kind ``"data"`` (``gf list data``, ``gf download data:<name>``).

Why entries rather than "download this URL and unpack it yourself": a bundle is only
useful in the exact layout its builder reads (``$DATA_ROOT/STAR/txt_db/...``), it is
large (the STAR bundle carries S3D features) and hosted where connections drop (Google
Drive), and it is trustworthy only against a known sha256. An entry keeps the URL, the
hash, the folder it becomes and the files that folder must hold under one name.

Entries are a registry kind like ``pretrained``: gf's own register when this module is
imported (the kind's builtins), a plugin's through :func:`register_data`, and
``registry.get("data", name)`` / ``registry.list("data")`` / ``gf list data`` see them all.
The kind's ``extra_entries`` hook applies the sha256 recorded on an unpinned bundle's
first download (trust on first use, :func:`record_data_hash`), so every lookup sees it.
How a bundle is downloaded and installed: :mod:`gf.datasets.data_zoo`; mirrors:
:func:`data_url` and docs/data_download.md, "Mirrors".
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

from gf.common.errors import ConfigError, DownloadError, RegistryError
from gf.common.registry import registry
from gf.common.utils import did_you_mean, normalize_sha256
from gf.common.zoo_file import cached_on_zoo_files, record_first_use_hash, with_recorded_hashes

__all__ = [
    "DATA_PREFIX",
    "DataEntry",
    "UnknownDataError",
    "data_url",
    "default_data_root",
    "get_data",
    "list_data",
    "record_data_hash",
    "register_data",
]

logger = logging.getLogger(__name__)

DATA_PREFIX = "data:"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_FOLDER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class UnknownDataError(RegistryError):
    """No data entry has this name; the message lists the known and close names."""


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
        if not required or any(not isinstance(r, str) or not is_plain_rel(r) for r in required):
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


def is_plain_rel(path: str) -> bool:
    """Whether ``path`` is a plain relative POSIX path: no ``\\``, no empty, ``.``, ``..`` part."""
    return "\\" not in path and not {"", ".", ".."} & set(path.split("/"))


def register_data(entry: DataEntry) -> DataEntry:
    """Add a data entry for this process (gf's own, or a plugin's) to the registry kind
    ``"data"``. Registering an equal entry again is a no-op; another entry under a
    registered name is an error."""
    if not isinstance(entry, DataEntry):
        raise TypeError(f"register_data expects a DataEntry, got {type(entry).__name__}")
    return registry.kind("data").register_entry(entry.name, entry, lambda old: ConfigError(
        f"data entry {entry.key!r} is already registered with other fields; choose another name."))


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


def get_data(name: str) -> DataEntry:
    """The entry ``name`` (``star`` or ``data:star``), with a recorded hash applied."""
    key = str(name).removeprefix(DATA_PREFIX)
    entries = registry.kind("data").entries()
    if key not in entries:
        known = sorted(entries)
        raise UnknownDataError(f"unknown data bundle {name!r}.{did_you_mean(key, known)} Known: "
                               f"{', '.join(DATA_PREFIX + k for k in known) or '(none)'}.")
    return entries[key]


def list_data() -> List[DataEntry]:
    """Every data entry, sorted by name, with recorded hashes applied (see :meth:`DataEntry.summary`)."""
    entries = registry.kind("data").entries()
    return [entries[name] for name in sorted(entries)]


def _recorded_hashes(registered: Mapping[str, DataEntry]) -> Dict[str, DataEntry]:
    """The ``extra_entries`` hook of the kind ``"data"``: every entry with where its hash comes
    from, the entry itself or the record of its first download.

    A record is for the entry's URL at the time (``entry_url``): when gf's entry moves to
    a new bundle the old record no longer applies. Which mirror it was downloaded from
    does not matter: a mirror serves the same bytes or is refused. Kept until a zoo file
    or the registered entries change (:func:`cached_on_zoo_files`).
    """
    pinned = {name: replace(entry, hash_origin="pinned by the entry")
              for name, entry in registered.items() if entry.sha256 is not None}
    return {**registered, **pinned,
            **with_recorded_hashes(registered, "data bundle", key=lambda name, entry: entry.key)}


registry.kind("data").extra_entries = cached_on_zoo_files(_recorded_hashes)


def record_data_hash(name: str, sha256: str, url: Optional[str] = None) -> None:
    """Record the sha256 of a bundle whose entry pins none (trust on first use).

    Written by :func:`gf.common.zoo_file.record_first_use_hash`, the recorder the model zoo
    uses too, to the user zoo file's ``recorded_hashes`` as ``data:<name>`` (model
    entries are ``<model>/<tag>``, so the names never clash). A known hash is never
    changed: a different value is an error; delete the record to accept a new bundle.
    """
    entry = get_data(name)
    record_first_use_hash(entry.key, sha256, url=url or entry.url, entry_url=entry.url, pinned=entry.sha256,
                          pinned_origin=entry.hash_origin or "", what="data bundle", error=DownloadError)


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
