"""The model zoo: named pretrained checkpoints, where to get them, and how to build them.

Why a zoo rather than bare URLs: a checkpoint is useless without the exact model it was
trained as (variant, sizes, text encoder, the authors' or gf's file layout), and a
download is only trustworthy against a pinned sha256. An entry keeps all of that under
one name (``glance_focus/star_reference_authors``), so ``gf.load_model_and_preprocess(...,
pretrained=name)`` and ``gf evaluate --checkpoint zoo:name`` need nothing else.

Where entries come from (all of them are the registry kind ``"pretrained"``, so
``registry.list("pretrained")``, ``registry.get("pretrained", name)`` and ``gf list`` see
them, with the same "did you mean" errors as every kind):

- built-in entries registered here (the authors' released STAR checkpoint), and any
  that a plugin registers with :func:`register_pretrained`;
- user zoo files: ``$GF_ZOO`` (one path, or several separated by ``os.pathsep``; the
  first is the one gf writes to) or, when it is unset, ``cache_dir()/zoo.json``
  (``$GF_CACHE_DIR/zoo.json``). They are read on the first lookup (never at import) and
  re-read when they change; every write is atomic under a file lock.

Trust on first use: the authors published their checkpoint without a hash. An entry
without ``sha256`` is downloaded once, its digest is recorded in the user zoo file under
``recorded_hashes`` (logged as a warning, with the file it went to) and every later
download or cached copy is verified against it. Remove the record to accept a new file.

User zoo file layout (JSON)::

    {"format": "gf-zoo", "version": 1,
     "entries": {"glance_focus/demo_sup": {<PretrainedEntry fields>}},
     "recorded_hashes": {"glance_focus/star_reference_authors":
                         {"sha256": "...", "url": "<downloaded from>", "entry_url": "<the entry's url>",
                          "recorded_at": "...", "gf_version": "..."}}}

Data bundles (:mod:`gf.datasets.data_zoo`) record their hashes in the same place, as
``data:<name>``, through the same :func:`record_first_use_hash`.

Nothing here imports torch until a checkpoint is actually read or a model built.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type

from gf.version import __version__
from gf.common.download import cache_dir, check_transfer_options, download, gdrive_file_id, sha256sum
from gf.common.errors import (CheckpointError, CheckpointNotFoundError, ConfigError, DataFileError, GfError,
                              RegistryError)
from gf.common.io import atomic_write_json
from gf.common.locks import file_lock
from gf.common.registry import registry
from gf.common.utils import PathLike, check_known_keys, did_you_mean, normalize_sha256, utc_now

__all__ = [
    "FORMATS",
    "PretrainedEntry",
    "UnknownPretrainedError",
    "ZooError",
    "check_inside",
    "check_name",
    "download_pretrained",
    "get_pretrained",
    "list_pretrained",
    "load_model_file",
    "load_pretrained",
    "publish_checkpoint",
    "record_first_use_hash",
    "record_hash",
    "register_pretrained",
    "resolve_checkpoint",
    "user_zoo_file",
    "zoo_files",
    "zoo_name_of",
]

logger = logging.getLogger(__name__)

FORMATS = ("gf", "authors")
ZOO_FORMAT = "gf-zoo"
ZOO_VERSION = 1
ZOO_PREFIXES = ("zoo:", "model:")  # "model:<name>" is what `gf download` users type
_URL_SCHEMES = ("http", "https", "file", "hf")
# Each part is a folder of the cache (models/<model>/<tag>/...): it starts with a letter,
# digit or '_', so '.', '..' and hidden names can never be one.
_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
_NAME_RE = re.compile(rf"^{_PART}/{_PART}$")
_PART_RE = re.compile(rf"^{_PART}$")
_NAME_RULE = ("letters, digits, '_', '.', '-', each part starting with a letter, digit or '_', so "
              "that it is a folder inside the cache ('.', '..' and '/'-separated paths are refused)")
_ZOO_FILE_KEYS = ("format", "version", "entries", "recorded_hashes")


class ZooError(DataFileError):
    """A zoo file or entry is invalid, or an operation on it is refused; the message says why."""


class UnknownPretrainedError(RegistryError):
    """No zoo entry has this name; the message lists the close matches and the known names."""


# --------------------------------------------------------------------------- entries


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
            raise ZooError(f"{where}: name must look like '<model>/<tag>' ({_NAME_RULE}), "
                           f"e.g. 'glance_focus/star_sup_run1'.")
        if not isinstance(self.model, str) or self.name.split("/", 1)[0] != self.model:
            raise ZooError(f"{where}: the name must start with the model name {self.model!r}/ "
                           f"(e.g. '{self.model}/{self.name.split('/', 1)[-1]}').")
        if not isinstance(self.url, str) or not self.url:
            raise ZooError(f"{where}: url must be a non-empty string.")
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
        if self.filename is not None and (not isinstance(self.filename, str) or not self.filename
                                          or "/" in self.filename or "\\" in self.filename
                                          or "\x00" in self.filename or self.filename in (".", "..")):
            raise ZooError(f"{where}: filename must be a plain file name, got {self.filename!r}.")
        for key in ("model_type", "benchmark", "text_format"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise ZooError(f"{where}: {key} must be a string or null, got {value!r}.")
        if not isinstance(self.notes, str):
            raise ZooError(f"{where}: notes must be a string.")

    @property
    def tag(self) -> str:
        return self.name.split("/", 1)[1]

    def to_dict(self) -> Dict[str, Any]:
        """The fields a zoo file stores (provenance fields are recomputed on reading)."""
        data = dataclasses.asdict(self)
        data.pop("origin")
        data.pop("hash_origin")
        return data

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


def _registered() -> Dict[str, PretrainedEntry]:
    """Entries registered in this process (gf's and plugins'), without the user zoo files."""
    return registry.kind("pretrained").entries(dynamic=False)


def register_pretrained(entry: PretrainedEntry) -> PretrainedEntry:
    """Add an entry for this process (gf's own, or a plugin's) to the registry kind
    ``"pretrained"``. Registering an equal entry again is a no-op; another entry under a
    registered name is an error."""
    if not isinstance(entry, PretrainedEntry):
        raise TypeError(f"register_pretrained expects a PretrainedEntry, got {type(entry).__name__}")
    old = _registered().get(entry.name)
    if old is not None:
        if old != entry:
            raise ZooError(f"zoo entry {entry.name!r} is already registered ({old.origin}) with other "
                           f"fields; choose another name.")
        return old
    return registry.register("pretrained", entry.name, entry)


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


def zoo_files() -> List[Path]:
    """The user zoo files, in lookup order: ``$GF_ZOO`` paths, else ``cache_dir()/zoo.json``."""
    raw = os.environ.get("GF_ZOO", "")
    paths = [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
    return paths or [cache_dir() / "zoo.json"]


def user_zoo_file() -> Path:
    """The zoo file gf writes to (published entries, recorded hashes): the first of :func:`zoo_files`."""
    return zoo_files()[0]


_FILE_CACHE: Dict[Path, Tuple[Tuple[int, int, int], Dict[str, Any]]] = {}


def _read_raw(path: Path) -> Dict[str, Any]:
    """The file's JSON object, checked at the top level; ``{}`` for a missing file."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ZooError(f"zoo file {path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}. "
                       f"Fix or delete the file (it holds published entries and recorded hashes).") from e
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


def _parse_file(path: Path) -> Dict[str, Any]:
    """Entries and recorded hashes of one zoo file, cached until the file changes."""
    try:
        st = path.stat()
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
    except FileNotFoundError:
        return {"entries": {}, "hashes": {}}
    cached = _FILE_CACHE.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    raw = _read_raw(path)
    entries = {name: PretrainedEntry.from_dict(rec, origin=f"zoo file {path}", name=name)
               for name, rec in raw.get("entries", {}).items()}
    hashes: Dict[str, Dict[str, Any]] = {}
    for name, rec in raw.get("recorded_hashes", {}).items():
        where = f"zoo file {path}: recorded_hashes[{name!r}]"
        if not isinstance(rec, dict) or "sha256" not in rec or "url" not in rec:
            raise ZooError(f"{where}: must be an object with 'sha256' and 'url'.")
        hashes[name] = dict(rec, sha256=normalize_sha256(rec["sha256"], where=where, error=ZooError),
                            file=str(path))
    parsed = {"entries": entries, "hashes": hashes}
    _FILE_CACHE[path] = (key, parsed)
    return parsed


def _update_file(path: Path, change) -> None:
    """Read-modify-write ``path`` under its lock; ``change(raw)`` edits the JSON object."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(str(path) + ".lock", f"zoo file {path}", error=ZooError):
            raw = _read_raw(path)
            raw = {"format": ZOO_FORMAT, "version": ZOO_VERSION, "entries": raw.get("entries", {}),
                   "recorded_hashes": raw.get("recorded_hashes", {})}
            change(raw)
            atomic_write_json(path, raw)
    except OSError as e:
        raise ZooError(f"cannot write zoo file {path}: {e}. gf writes to the first file of GF_ZOO (or to "
                       f"$GF_CACHE_DIR/zoo.json); put a writable file first.") from e
    finally:
        _FILE_CACHE.pop(path, None)


def _user_file_entries(registered: Mapping[str, PretrainedEntry]) -> Dict[str, PretrainedEntry]:
    """What the user zoo files add to the registered entries: their own entries (the first
    file wins) and, for entries without a sha256, the hash recorded on first download.

    This is the ``extra_entries`` hook of the registry kind ``"pretrained"``, so every
    lookup of that kind reads the files (re-parsed only when they change).
    """
    added: Dict[str, PretrainedEntry] = {}
    hashes: Dict[str, Dict[str, Any]] = {}
    for path in zoo_files():
        parsed = _parse_file(path)
        for name, entry in parsed["entries"].items():
            if name in registered:
                raise ZooError(f"zoo file {path}: entry {name!r} has the name of a built-in entry; "
                               f"rename it (user entries never replace gf's own).")
            added.setdefault(name, entry)
        for name, rec in parsed["hashes"].items():
            hashes.setdefault(name, rec)
    for name, rec in hashes.items():
        entry = added.get(name) or registered.get(name)
        if entry is None or entry.sha256 is not None:
            continue
        if recorded_for(rec) != entry.url:
            logger.warning("zoo: the sha256 recorded for %s in %s was for %s, but the entry now points at %s; "
                           "ignoring it (the new file will be hashed on its first download)",
                           name, rec["file"], recorded_for(rec), entry.url)
            continue
        added[name] = dataclasses.replace(
            entry, sha256=rec["sha256"],
            hash_origin=f"recorded on first download ({rec.get('recorded_at', '?')}) in {rec['file']}")
    return added


registry.kind("pretrained").extra_entries = _user_file_entries


def _all_entries() -> Dict[str, PretrainedEntry]:
    """Every entry: registered ones, then user-file ones, with recorded hashes applied."""
    return registry.kind("pretrained").entries()


# --------------------------------------------------------------------------- lookup


def list_pretrained(model: Optional[str] = None) -> List[str]:
    """Sorted entry names, optionally only those of one model (``glance_focus``)."""
    names = sorted(_all_entries())
    return [n for n in names if model is None or n.split("/", 1)[0] == model]


def get_pretrained(name: str) -> PretrainedEntry:
    """The entry called ``name`` (``model/tag``; the bare tag works when it is unambiguous)."""
    entries = _all_entries()
    name = str(name)
    for prefix in ZOO_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
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
    for prefix in ZOO_PREFIXES:
        if text.startswith(prefix):
            return get_pretrained(text[len(prefix):]).name
    if _is_url(text) or Path(text).expanduser().exists():
        return None
    try:
        return get_pretrained(text).name
    except UnknownPretrainedError:
        return None


def _is_url(text: str) -> bool:
    return urllib.parse.urlsplit(text).scheme.lower() in _URL_SCHEMES and "://" in text


# --------------------------------------------------------------------------- downloads


def _cache_path(entry: PretrainedEntry) -> Path:
    """Where an entry's file lives: keyed by name and URL, not by hash, so the copy found
    before the hash was known is the one verified after it was recorded.

    The path is always ``cache_dir()/models/<model>/<tag>/<url key>/<file name>``: the
    name's parts are plain folder names (see :class:`PretrainedEntry`) and a file name
    taken from the URL is its last component, ``/`` and ``\\`` both counting as separators."""
    url_key = hashlib.sha256(entry.url.encode()).hexdigest()[:12]
    filename = entry.filename
    if filename is None:
        if gdrive_file_id(entry.url):
            filename = entry.tag
        else:
            raw = urllib.parse.unquote(urllib.parse.urlsplit(entry.url).path)
            filename = re.split(r"[\\/]", raw)[-1].replace("\x00", "").strip() or entry.tag
            if filename in (".", "..") or len(filename.encode("utf-8")) > 200:
                filename = entry.tag
    root = cache_dir() / "models"
    path = root / entry.model / entry.tag / url_key / filename
    check_inside(root / entry.model / entry.tag, path, what=f"zoo entry {entry.name!r}")
    return path


def check_name(name: Any, *, what: str = "zoo entry name") -> str:
    """``name`` if it is a valid zoo entry name (``<model>/<tag>``), else a :class:`ZooError`
    naming it: every part must be a plain folder name, so the entry's cache folder
    (``cache_dir()/models/<model>/<tag>``) stays inside the cache."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ZooError(f"{what} {name!r} is not a valid zoo name: it must look like '<model>/<tag>' "
                       f"({_NAME_RULE}), e.g. 'glance_focus/star_sup_run1'.")
    return name


def check_inside(root: Path, path: Path, *, what: str) -> None:
    """Refuse a ``path`` that would leave ``root`` (``..``, absolute parts)."""
    root_s, path_s = os.path.abspath(root), os.path.abspath(path)
    if os.path.commonpath([root_s, path_s]) != root_s or path_s == root_s:
        raise ZooError(f"{what}: its file would be written to {path_s}, outside its cache folder {root_s}; "
                       f"refusing. Fix the entry's name, filename or url.")


def recorded_for(record: Mapping[str, Any]) -> str:
    """The entry URL a recorded hash belongs to (records before ``entry_url`` existed: their ``url``)."""
    return record.get("entry_url", record.get("url"))


def record_first_use_hash(key: str, sha256: str, *, url: str, entry_url: str, pinned: Optional[str],
                          pinned_origin: str, what: str, error: Type[GfError]) -> None:
    """Record the sha256 of the first download of ``key`` in the user zoo file (trust on first use).

    One recorder for checkpoints (``<model>/<tag>``) and data bundles (``data:<name>``), so
    both keep the same record (``url`` it came from, ``entry_url`` it belongs to, when,
    which gf) and the same rule: a known hash is never changed. ``pinned`` (the hash the
    entry or an earlier record already has) must equal ``sha256``; a record for the same
    ``entry_url`` with another hash is refused too. Either refusal is ``error``, naming
    the record to delete to accept a new file. Callers record only a file they have
    fully read and verified.
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

    _update_file(path, change)
    logger.warning("%s %s had no sha256: recorded %s (from its first download, %s) in %s. Later downloads are "
                   "verified against it; delete that record to accept a different file.", what, key, digest, url, path)


def record_hash(name: str, sha256: str, url: Optional[str] = None) -> None:
    """Record the sha256 of an entry that had none, in the user zoo file.

    Called by :func:`download_pretrained` after the first download of such an entry
    (trust on first use); from then on downloads and cached copies must match it. An
    entry whose hash is already known, from the entry itself or an earlier record, is
    never changed: a different value is an error (delete the record to accept a new file).
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
    has been read whole: a file in an archive format (torch's zip checkpoints) must pass
    :func:`gf.common.archives.verify_archive`, and one that does not is deleted from the
    cache, with nothing recorded.
    """
    check_transfer_options(timeout, retries, backoff)
    entry = get_pretrained(name)
    if entry.sha256 is None:
        logger.info("zoo entry %s has no sha256 yet: its first download will be hashed and the hash "
                    "recorded in %s", entry.name, user_zoo_file())
    path = download(entry.url, sha256=entry.sha256, dest=_cache_path(entry), progress=progress, offline=offline,
                    dest_is_cache=True, timeout=timeout, retries=retries, backoff=backoff)
    if entry.sha256 is None:
        _verify_before_trusting(path, entry)
        record_hash(entry.name, sha256sum(path), url=entry.url)
    return path


def _verify_before_trusting(path: Path, entry: PretrainedEntry) -> None:
    """A damaged first download must not become the hash every later download is held to."""
    from gf.common.archives import ArchiveError, looks_like_archive, verify_archive

    if not looks_like_archive(path):
        return  # not a container gf can check without unpickling it
    try:
        verify_archive(path)
    except ArchiveError as err:
        path.unlink(missing_ok=True)
        raise ArchiveError(f"zoo entry {entry.name!r}: the file downloaded from {entry.url} is damaged: {err} It "
                           f"was deleted from the cache and no sha256 was recorded; run the command again to "
                           f"download it afresh, or report the broken file to whoever publishes it.") from err


def resolve_checkpoint(spec: Any, *, offline: Optional[bool] = None, progress: bool = True) -> Path:
    """A checkpoint spec as a local file.

    ``spec`` is a local path, a URL (``http(s)://``, ``file://``, ``hf://``, Google Drive;
    downloaded once into the cache, unverified unless it is a zoo entry), ``zoo:<name>`` /
    ``model:<name>``, or a bare zoo name. An existing local path wins over a zoo name.
    """
    text = str(spec)
    name = zoo_name_of(text)
    if name is not None:
        return download_pretrained(name, offline=offline, progress=progress)
    if _is_url(text):
        return download(text, progress=progress, offline=offline)
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


def load_model_file(path: PathLike, *, model: str = "glance_focus", model_type: Optional[str] = None,
                    config: Optional[Mapping[str, Any]] = None, format: str = "auto", device: Any = "cpu",
                    **overrides):
    """Build a model for a checkpoint file and load its weights (checked, all-or-nothing).

    The model config is, lowest first: the ``model_type`` variant < for a gf checkpoint the
    ``extra.model_config`` it was trained with (replaced by ``config`` when given), for the
    authors' format the sizes read from the file and then ``config`` < ``overrides``.
    ``format``: "gf", "authors" or "auto" (a gf checkpoint if the file says so). The model
    is returned in eval mode on ``device``.
    """
    model_obj, _ = _load_model_file(path, model=model, model_type=model_type, config=config, format=format,
                                    device=device, **overrides)
    return model_obj


def _load_model_file(path, *, model, model_type, config, format, device, **overrides):
    """:func:`load_model_file` plus what the file says about its inputs (``text_format``)."""
    from gf.common.registry import registry
    from gf.models.checkpoint import load_checkpoint

    path = Path(path)
    if format not in FORMATS + ("auto",):
        raise ConfigError(f"format must be 'gf', 'authors' or 'auto', got {format!r}")
    model_cls = registry.get_model_class(model)
    ckpt = None
    if format in ("gf", "auto"):
        try:
            ckpt = load_checkpoint(path)
        except ValueError:
            if format == "gf":
                raise
    meta: Dict[str, Any] = {"format": "gf" if ckpt is not None else "authors", "text_format": None}
    if ckpt is None:
        net = _build_authors(path, model, model_cls, model_type, config, overrides)
    else:
        net = _build_gf(path, ckpt, model, model_cls, model_type, config, overrides)
        extra = ckpt.get("extra") or {}
        dataset_cfg = ((ckpt.get("config") or {}).get("datasets") or {}).get(extra.get("dataset")) or {}
        meta["text_format"] = dataset_cfg.get("text_format") if isinstance(dataset_cfg, Mapping) else None
    return net.to(device).eval(), meta


def _build_gf(path: Path, ckpt: Mapping[str, Any], model: str, model_cls, model_type, config, overrides):
    from gf.models.checkpoint import weights_sha256
    from gf.models.state_dict import load_state_dict_checked

    trained_as = ((ckpt.get("config") or {}).get("model") or {}).get("name")
    if trained_as and trained_as != model:
        raise CheckpointError(f"{path} holds a {trained_as!r} model, not {model!r}.")
    recorded = dict((ckpt.get("extra") or {}).get("model_config") or {})
    recorded_type = recorded.pop("model_type", None)
    if model_type and recorded_type and model_type != recorded_type:
        raise CheckpointError(f"{path} was trained as model_type {recorded_type!r}, not {model_type!r}; "
                         f"drop model_type (or pass {recorded_type!r}).")
    cfg = dict(config) if config is not None else recorded
    if not cfg and not model_type and not recorded_type:
        logger.warning("%s records no model config (extra.model_config); building %s from its defaults "
                       "and overrides", path, model)
    cfg.update(overrides)
    cfg["model_type"] = model_type or recorded_type
    net = model_cls.from_config(cfg)
    state = ckpt["model"]
    expected = ckpt.get("weights_sha256")
    if expected and weights_sha256(state) != expected:
        raise ZooError(f"{path}: the weights do not match the weights_sha256 stored with them; the file "
                       f"is corrupt or was edited. Download or copy it again.")
    load_state_dict_checked(net, state, source=str(path))
    return net


def _build_authors(path: Path, model: str, model_cls, model_type, config, overrides):
    if model != "glance_focus":
        raise CheckpointError(f"{path} is not a gf checkpoint, and the authors' format exists only for "
                         f"glance_focus (asked for {model!r}).")
    from gf.models.glance_focus.reference_checkpoint import (infer_reference_config, load_reference_weights,
                                                             read_reference_state_dict)

    state = read_reference_state_dict(path)
    # Sizes come from the file; the text encoder's weights too, so it is built from its config.
    cfg = infer_reference_config(state)
    cfg["text_encoder_init"] = "config"
    cfg.update(config or {})
    cfg.update(overrides)
    cfg["model_type"] = model_type
    net = model_cls.from_config(cfg)
    load_reference_weights(net, state, source=str(path))
    return net


def load_pretrained(name: str, device: Any = "cpu", **overrides):
    """Download (once) and build a zoo entry's model with its weights, in eval mode.

    ``overrides`` change model kwargs that do not change the weights' shapes, e.g. a
    local ``text_encoder`` folder or ``glance_per_option``.
    """
    model, _ = _load_pretrained(name, device=device, **overrides)
    return model


def _load_pretrained(name: str, device: Any = "cpu", **overrides):
    entry = get_pretrained(name)
    path = download_pretrained(entry.name)
    model, meta = _load_model_file(path, model=entry.model, model_type=entry.model_type, config=entry.config,
                                   format=entry.format, device=device, **overrides)
    return model, dict(meta, text_format=entry.text_format or meta["text_format"], entry=entry)


# --------------------------------------------------------------------------- publishing


def publish_checkpoint(checkpoint_path: PathLike, name: str, url: Optional[str] = None,
                       zoo_file: Optional[PathLike] = None, reported: Optional[Mapping[str, Any]] = None,
                       notes: str = "") -> PretrainedEntry:
    """Make a zoo entry for a gf checkpoint and write it to the user zoo file (or ``zoo_file``).

    The entry records the checkpoint's model, model type and exact model kwargs
    (``extra.model_config``), its file sha256, benchmark and text format; ``url`` defaults
    to the file's ``file://`` URI (publish a copy on a server by passing its URL; the bytes
    must be identical). ``reported`` defaults to the best validation figure stored in the
    checkpoint. ``name`` may omit the ``<model>/`` prefix. Re-publishing a name replaces it.
    """
    from gf.models.checkpoint import load_checkpoint, weights_sha256

    if not isinstance(name, str) or not name or name.count("/") > 1 or not all(
            _PART_RE.fullmatch(part) for part in name.split("/")):
        raise ZooError(f"cannot publish as {name!r}: a zoo name is '<tag>' or '<model>/<tag>' ({_NAME_RULE}), "
                       f"e.g. 'star_sup_run1'.")
    path = Path(checkpoint_path).expanduser().resolve()
    ckpt = load_checkpoint(path)
    extra = ckpt.get("extra") or {}
    model_config = extra.get("model_config")
    if not isinstance(model_config, Mapping) or not model_config:
        raise ZooError(f"{path}: no extra.model_config in this checkpoint (it was not written by gf's runner); "
                       f"a zoo entry needs the exact model kwargs it was trained with.")
    if ckpt.get("weights_sha256") and weights_sha256(ckpt["model"]) != ckpt["weights_sha256"]:
        raise ZooError(f"{path}: the weights do not match their stored weights_sha256; not publishing a "
                       f"corrupt checkpoint.")
    run_cfg = dict(ckpt.get("config") or {})
    model = ((run_cfg.get("model") or {}).get("name")) or "glance_focus"
    if not isinstance(model, str) or not _PART_RE.fullmatch(model):
        raise ZooError(f"{path}: its config names model {model!r}, which cannot be a zoo model name "
                       f"({_NAME_RULE}).")
    full_name = check_name(name if "/" in name else f"{model}/{name}",
                           what=f"cannot publish {path}: the name")
    config = dict(model_config)
    model_type = config.pop("model_type", None)
    dataset = extra.get("dataset")
    dataset_cfg = (run_cfg.get("datasets") or {}).get(dataset) or {}
    text_format = dataset_cfg.get("text_format") if isinstance(dataset_cfg, Mapping) else None
    if reported is not None:
        figures = dict(reported)
        figures.setdefault("source", f"given when publishing {path.name}")
    else:
        figures = _figures_in_checkpoint(path, ckpt)
    entry = PretrainedEntry(
        name=full_name, model=model, url=url or path.as_uri(), format="gf", model_type=model_type,
        sha256=sha256sum(path), config=config, benchmark=extra.get("benchmark"), reported=figures,
        filename=path.name, text_format=text_format,
        notes=notes or (f"published from {path} (gf {ckpt.get('gf_version')}, dataset {dataset}, "
                        f"epoch {int(ckpt.get('epoch', -1)) + 1}, step {ckpt.get('step')}, "
                        f"weights_sha256 {ckpt.get('weights_sha256')})"),
    )
    if full_name in _registered():
        raise ZooError(f"cannot publish as {full_name!r}: a built-in entry has that name; choose another.")
    target = Path(zoo_file).expanduser() if zoo_file is not None else user_zoo_file()
    entry.origin = f"zoo file {target}"
    replaced = []

    def change(raw: Dict[str, Any]) -> None:
        if full_name in raw["entries"]:
            replaced.append(raw["entries"][full_name].get("sha256"))
        raw["entries"][full_name] = entry.to_dict()
        raw["recorded_hashes"].pop(full_name, None)  # the entry pins its own hash now

    _update_file(target, change)
    if replaced:
        logger.warning("zoo: replaced entry %s in %s (sha256 %s -> %s)", full_name, target, replaced[0], entry.sha256)
    logger.info("zoo: published %s -> %s in %s", full_name, entry.url, target)
    return entry


def _figures_in_checkpoint(path: Path, ckpt: Mapping[str, Any]) -> Dict[str, Any]:
    best = ckpt.get("best_metric")
    if best is None:
        return {}
    run = (ckpt.get("config") or {}).get("run") or {}
    metric = run.get("best_metric", "best_metric")
    splits = run.get("valid_splits") or []
    split = splits[0] if splits else None
    return {metric: best, "split": split,
            "source": f"best validation {metric}{f' on {split}' if split else ''} stored in {path.name} "
                      f"(epoch {int(ckpt.get('epoch', -1)) + 1}, step {ckpt.get('step')})"}
