"""Zoo entries: what a named checkpoint is, where entries come from, and looking them up.

Entries are the registry kind ``"pretrained"``: gf's own and a plugin's are registered
with :func:`register_pretrained`; the user zoo files (:mod:`gf.common.zoo_file`) add
theirs and the hashes recorded on first download through the kind's ``extra_entries``
hook, so ``registry.get("pretrained", name)`` and ``gf list`` see them all.
"""
from __future__ import annotations

import dataclasses
import logging
import urllib.parse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from gf.common.errors import RegistryError
from gf.common.registry import registry
from gf.common.utils import check_known_keys, did_you_mean, is_plain_file_name, normalize_sha256
from gf.common.zoo_file import (ZooError, cached_on_zoo_files, non_finite_at, read_zoo_file, with_recorded_hashes,
                                zoo_files)
from gf.models.loading import FORMATS

__all__ = ["PretrainedEntry", "UnknownPretrainedError", "get_pretrained", "list_pretrained", "pretrained_entries",
           "register_pretrained", "zoo_name_of"]

logger = logging.getLogger("gf.models.zoo")

ZOO_PREFIXES = ("zoo:", "model:")  # "model:<name>" is what `gf download` users type
_URL_SCHEMES = ("http", "https", "file", "hf")
# Each part is a folder of the cache (models/<model>/<tag>/...): it starts with a letter,
# digit or '_', so '.', '..' and hidden names can never be one.
_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_NAME_RE = re.compile(rf"^{_PART}/{_PART}$")
PART_RE = re.compile(rf"^{_PART}$")
NAME_RULE = ("letters, digits, '_', '.', '-', each part starting with a letter, digit or '_', so "
             "that it is a folder inside the cache ('.', '..' and '/'-separated paths are refused)")


def _is_url(text: str) -> bool:
    """A URL gf downloads (checkpoint specs, entry urls)."""
    return urllib.parse.urlsplit(text).scheme.lower() in _URL_SCHEMES and "://" in text


class UnknownPretrainedError(RegistryError):
    """No zoo entry has this name; the message lists the close matches and the known names."""


@dataclass
class PretrainedEntry:
    """One named checkpoint and everything needed to turn it into a model.

    ``config`` holds the model kwargs on top of the ``model_type`` variant (for the
    authors' format, on top of the sizes read from the file, which cannot hold ``nhead``
    or the text encoder). ``reported`` holds figures with their ``source`` (paper table,
    run report, ...), so a listing never shows a number without saying where it is from.
    ``sha256 = None`` means "not yet known": see :func:`record_hash`.
    """

    name: str
    model: str
    url: str
    format: str = "gf"
    model_type: Optional[str] = None
    sha256: Optional[str] = None
    config: Dict[str, Any] = field(default_factory=dict)
    benchmark: Optional[str] = None
    reported: Dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    filename: Optional[str] = None
    text_format: Optional[str] = None  # None: the processors' default "{question} {option}"
    # Where the entry (and its hash) came from; informational, not stored in zoo files.
    origin: str = field(default="built-in", compare=False)
    hash_origin: Optional[str] = field(default=None, compare=False)

    def __post_init__(self) -> None:
        where = f"zoo entry {self.name!r} ({self.origin})"
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise ZooError(f"{where}: name must look like '<model>/<tag>' ({NAME_RULE}), "
                           f"e.g. 'glance_focus/star_sup_run1'.")
        if not isinstance(self.model, str) or self.name.split("/", 1)[0] != self.model:
            raise ZooError(f"{where}: the name must start with the model name {self.model!r}/ "
                           f"(e.g. '{self.model}/{self.name.split('/', 1)[-1]}').")
        if self.format not in FORMATS:
            raise ZooError(f"{where}: format must be one of {', '.join(map(repr, FORMATS))} ('gf' = a gf "
                           f"checkpoint, 'authors' = the authors' model_N.tar); got {self.format!r}.")
        if self.format == "authors" and self.model != "glance_focus":
            raise ZooError(f"{where}: format 'authors' exists only for model 'glance_focus'.")
        if self.sha256 is not None:
            self.sha256 = normalize_sha256(self.sha256, where=where, error=ZooError)
        for key in ("config", "reported"):
            if not isinstance(getattr(self, key), Mapping):
                raise ZooError(f"{where}: {key} must be a mapping, got {type(getattr(self, key)).__name__}.")
            setattr(self, key, dict(getattr(self, key)))
        if "model_type" in self.config:
            raise ZooError(f"{where}: put the variant in model_type, not in config.")
        if self.reported and "source" not in self.reported:
            raise ZooError(f"{where}: reported figures need a 'source' (paper table, report file, ...).")
        if self.filename is not None and not is_plain_file_name(self.filename):
            raise ZooError(f"{where}: filename must be a plain file name, got {self.filename!r}.")
        for key in ("model_type", "benchmark", "text_format"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise ZooError(f"{where}: {key} must be a string or null, got {value!r}.")
        if not isinstance(self.notes, str):
            raise ZooError(f"{where}: notes must be a string.")

    def check_publishable(self) -> None:
        """What ``gf zoo publish`` refuses to write: a url gf cannot download (it would fail
        only at download) and a figure that is not finite (Python writes NaN/Infinity, which
        is not JSON). Checked when an entry is published, not when a zoo file is read, so a
        file written before these checks keeps working."""
        where = f"zoo entry {self.name!r} ({self.origin})"
        if not isinstance(self.url, str) or not _is_url(self.url):
            raise ZooError(f"{where}: url must be a URL gf can download ({', '.join(s + '://' for s in _URL_SCHEMES)} "
                           f"or a Google Drive https:// link), got {self.url!r}; for a local file write "
                           f"file:///absolute/path.")
        for key in ("config", "reported"):
            bad = non_finite_at(getattr(self, key), key)
            if bad is not None:
                raise ZooError(f"{where}: {bad[0]} is {bad[1]!r}; a zoo entry holds only finite numbers (standard "
                               f"JSON has no NaN or Infinity). Give a finite number, or leave the key out.")

    @property
    def tag(self) -> str:
        return self.name.split("/", 1)[1]

    def to_dict(self) -> Dict[str, Any]:
        """The fields a zoo file stores (provenance fields are recomputed on reading)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("origin", "hash_origin")}

    @classmethod
    def from_dict(cls, data: Any, origin: str, name: Optional[str] = None) -> "PretrainedEntry":
        where = f"{origin}: entry {name!r}" if name else origin
        if not isinstance(data, Mapping):
            raise ZooError(f"{where}: must be a JSON object, got {type(data).__name__}.")
        data = dict(data)
        if name is not None:
            if data.setdefault("name", name) != name:
                raise ZooError(f"{where}: its 'name' field says {data['name']!r}; the key and the name must agree.")
        known = [f.name for f in dataclasses.fields(cls) if f.name not in ("origin", "hash_origin")]
        check_known_keys(sorted(data), known, owner=where, error=ZooError)
        missing = [k for k in ("name", "model", "url") if k not in data]
        if missing:
            raise ZooError(f"{where}: missing required key(s) {', '.join(missing)}.")
        return cls(**data, origin=origin)


# --------------------------------------------------------------------------- built-in entries

def register_pretrained(entry: PretrainedEntry) -> PretrainedEntry:
    """Add an entry for this process (gf's own, or a plugin's) to the registry kind
    ``"pretrained"``. Registering an equal entry again is a no-op; another entry under a
    registered name is an error."""
    if not isinstance(entry, PretrainedEntry):
        raise TypeError(f"register_pretrained expects a PretrainedEntry, got {type(entry).__name__}")
    return registry.kind("pretrained").register_entry(entry.name, entry, lambda old: ZooError(
        f"zoo entry {entry.name!r} is already registered ({old.origin}) with other fields; choose another name."))


register_pretrained(PretrainedEntry(
    name="glance_focus/star_reference_authors",
    model="glance_focus",
    model_type="star_reference",
    url="https://drive.google.com/file/d/1oZHqHQI9rUCpKIwJQvVQf4sNyeu1E_Du/view?usp=sharing",
    sha256=None,
    format="authors",
    config={"text_encoder": "roberta-base", "nhead": 8},
    benchmark="star",
    reported={},
    filename="glance_focus_star_sup_authors.tar",
    notes=(
        "The Glance-Focus authors' released checkpoint, 'Supervised trained on STAR dataset' "
        "(Glance-Focus README, section 'Available checkpoints', Google Drive link). Loaded as "
        "arch 'reference' so it gives the authors' answers. sha256: not yet known: recorded on "
        "first download, see record_hash (trust on first use; later downloads are verified). "
        "Sizes are read from the file; nhead 8 and roberta-base are the authors' settings, which "
        "the file cannot record. Reported figures: the README states none for this file; the "
        "paper's STAR table (arXiv 2401.01529) reports the method, not this file, so none are "
        "listed here."
    ),
))


# --------------------------------------------------------------------------- user zoo files

def _user_file_entries(registered: Mapping[str, PretrainedEntry]) -> Dict[str, PretrainedEntry]:
    """What the user zoo files add to the registered entries: their own entries (the first
    file wins) and, for entries without a sha256, the hash recorded on first download.

    This is the ``extra_entries`` hook of the registry kind ``"pretrained"``; its result is
    kept until a zoo file or the registered entries change (:func:`cached_on_zoo_files`),
    so a lookup costs a ``stat`` of each file, and a stale record is warned about once.
    """
    added: Dict[str, PretrainedEntry] = {}
    for path in zoo_files():
        for name, rec in read_zoo_file(path)["entries"].items():
            if name in registered:
                raise ZooError(f"zoo file {path}: entry {name!r} has the name of a built-in entry; "
                               f"rename it (user entries never replace gf's own).")
            if name not in added:
                added[name] = PretrainedEntry.from_dict(rec, origin=f"zoo file {path}", name=name)
    added.update(with_recorded_hashes({**registered, **added}, "zoo entry"))
    return added


registry.kind("pretrained").extra_entries = cached_on_zoo_files(_user_file_entries)


# --------------------------------------------------------------------------- lookup


def pretrained_entries(model: Optional[str] = None) -> List[PretrainedEntry]:
    """The entries sorted by name, optionally only those of one model (``glance_focus``),
    read once: for listings that show each entry's fields."""
    entries = registry.kind("pretrained").entries()  # registered, then the user files', hashes recorded
    return [entries[n] for n in sorted(entries) if model is None or n.split("/", 1)[0] == model]


def list_pretrained(model: Optional[str] = None) -> List[str]:
    """Sorted entry names, optionally only those of one model (``glance_focus``)."""
    return [entry.name for entry in pretrained_entries(model)]


def get_pretrained(name: str) -> PretrainedEntry:
    """The entry called ``name`` (``model/tag``; the bare tag works when it is unambiguous)."""
    entries = registry.kind("pretrained").entries()
    name = str(name)
    for prefix in ZOO_PREFIXES:
        name = name.removeprefix(prefix)
    if name in entries:
        return entries[name]
    if "/" not in name:
        by_tag = [n for n in entries if n.split("/", 1)[1] == name]
        if len(by_tag) == 1:
            return entries[by_tag[0]]
    known = sorted(entries)
    hint = did_you_mean(name, known) or did_you_mean(name, [n.split("/", 1)[1] for n in known])
    raise UnknownPretrainedError(
        f"unknown pretrained model {name!r}.{hint} Known: {', '.join(known) or '(none)'}. User entries "
        f"are read from {', '.join(map(str, zoo_files()))} (set GF_ZOO to use other files).")


def zoo_name_of(spec: Any) -> Optional[str]:
    """The entry name ``spec`` refers to (``zoo:<name>``, ``model:<name>`` or a bare entry
    name that is not an existing path), or None when it is a path or URL."""
    text = str(spec)
    if text.startswith(ZOO_PREFIXES):
        return get_pretrained(text).name  # which drops the prefix
    if _is_url(text) or Path(text).expanduser().exists():
        return None
    try:
        return get_pretrained(text).name
    except UnknownPretrainedError:
        return None

