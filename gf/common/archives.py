"""Safe extraction of downloaded archives (zip, tar, tar.gz/.bz2/.xz).

Why a module of its own: data bundles come from file hosts and mirrors that gf does not
control, and an archive is a list of paths chosen by whoever made it. ``tarfile`` and
``zipfile`` will happily write ``../../.bashrc``, an absolute path, or a symlink that a
later member writes through. A bundle of annotations and features never needs any of
that, so gf refuses it outright rather than trying to repair it.

The rules (docs/data_download.md, "What gf does", step 3) are applied to **every member
before anything is written**, so a refused archive leaves no file behind, not even the
output folder. Why two of them: ``zipfile`` would write a zip symlink entry (its unix mode
bits, ``external_attr >> 16``) as a small file holding the link target, silently changing
the data; and of a name repeated after normalisation, extracting would let the later copy
silently replace the earlier one, which copy is "the" file depending on the tool (a folder
entry repeated writes nothing, so it is allowed). Errors are :class:`ArchiveError` naming
the archive and the member.

A damaged archive is an error, never a shorter one: extraction reads every member to its
end (zip checks each member's CRC-32 there), reads a compressed tar to the end of its
stream (gzip, bzip2 and xz check their own CRCs there) and requires tar's end-of-archive
block, which ``tarfile`` alone does not (it takes a tar cut at a member boundary, or
inside a header, for a complete one). :func:`verify_archive` does the same reading
without writing anything. Only then may a caller trust the archive, for example record
its sha256 on first use.
"""
from __future__ import annotations

import copy
import logging
import lzma
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

from gf.common.errors import ArchiveError, DownloadError
from gf.common.utils import PathLike, progress_bar

__all__ = [
    "ArchiveError",
    "Member",
    "archive_format",
    "check_archive",
    "looks_like_archive",
    "safe_extract",
    "verify_archive",
]

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024

# Magic numbers of the containers gf reads, and of things a file host serves instead.
_GZIP, _BZIP2, _XZ = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


@dataclass(frozen=True)
class Member:
    """One archive member as gf will write it: a normalised relative POSIX path."""

    name: str  # "txt_db/train.jsonl" (no leading "./", no trailing "/"); "" = the archive's root folder
    is_dir: bool
    size: int  # bytes once extracted (0 for folders)


# --------------------------------------------------------------------------- format


def archive_format(path: PathLike) -> str:
    """``"zip"`` or ``"tar"`` (plain or gzip/bzip2/xz compressed), read from the bytes.

    Why from the content: Google Drive downloads are named by file id, and mirrors may
    rename files, so the suffix says little. A file that is neither is usually an HTML
    page a file host served instead (quota exceeded, sign-in, virus-scan notice), or a
    download cut short (:func:`_raise_if_cut_short`); the error says so.
    """
    archive = Path(path)
    try:
        with open(archive, "rb") as fh:
            head = fh.read(512)
    except OSError as err:
        raise ArchiveError(f"cannot read archive {archive}: {err}") from None
    if head.startswith(_ZIP) and zipfile.is_zipfile(archive):
        return "zip"
    if head.startswith((_GZIP, _BZIP2, _XZ)) or head[257:262] == b"ustar":
        if _is_tar(archive):
            return "tar"
    elif zipfile.is_zipfile(archive):  # e.g. a self-extracting prefix before the zip
        return "zip"
    elif _is_tar(archive):  # old (v7) tar headers have no "ustar" magic
        return "tar"
    _raise_if_cut_short(archive, head)
    text = head.lstrip().lower()
    looks = ("an HTML page (a file host often serves one instead of the file: download quota "
             "exceeded, sign-in or virus-scan notice)" if text.startswith((b"<!doctype html", b"<html"))
             else "empty" if not head else f"starting with bytes {head[:8].hex(' ')}")
    raise ArchiveError(f"{archive} is not a zip or tar archive: it is {looks}. Open the URL in a browser "
                       f"to see what it serves, or use a mirror (see docs/data_download.md).")


_STREAMS = ((_GZIP, "gzip"), (_BZIP2, "bzip2"), (_XZ, "xz"))


def _raise_if_cut_short(archive: Path, head: bytes) -> None:
    """A file that starts like a zip, or like a compressed stream, but that zipfile or
    tarfile cannot open: it is truncated or damaged (most often a download cut short),
    which is what the message says, rather than "not an archive"."""
    magic = f"bytes {head[:4].hex(' ')}"
    if head.startswith(_ZIP):
        raise ArchiveError(f"{archive} starts with a zip signature ({magic}) but cannot be read as a zip archive "
                           f"(its central directory, at the end of the file, is missing or damaged): the file is "
                           f"truncated or corrupt. Download it again.")
    for magic_bytes, stream in _STREAMS:
        if head.startswith(magic_bytes):
            raise ArchiveError(f"{archive} is {stream}-compressed ({magic}) but holds no readable tar archive: the "
                               f"file is truncated or corrupt (download it again), or it is not a tar bundle.")


def _is_tar(archive: Path) -> bool:
    try:
        return tarfile.is_tarfile(archive)
    except (OSError, EOFError, tarfile.TarError):
        return False


def looks_like_archive(path: PathLike) -> bool:
    """Whether the first bytes are those of a zip, a compressed stream or a tar header.

    From the magic numbers only, so that a damaged archive still counts as one (and is
    then refused by :func:`verify_archive`), while a file of another kind (a pickle-era
    checkpoint) is not mistaken for a broken archive.
    """
    with open(path, "rb") as fh:
        head = fh.read(512)
    return head.startswith(_ZIP + (_GZIP, _BZIP2, _XZ)) or head[257:262] == b"ustar"


# --------------------------------------------------------------------------- checks


_DRIVE = re.compile(r"^[A-Za-z]:")


def _normalize(name: str) -> str:
    """``./a//b/`` -> ``a/b``; backslashes count as separators (zips made on Windows)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def _name_problem(raw: str) -> Optional[str]:
    if "\x00" in raw:
        return "its name contains a NUL character"
    if raw.startswith(("/", "\\")) or _DRIVE.match(raw):
        return "absolute path"
    if ".." in raw.replace("\\", "/").split("/"):
        return "'..' component would write outside the output folder"
    if not _normalize(raw):
        return "empty member name"
    return None


def _refuse(archive: Path, member: str, reason: str) -> ArchiveError:
    return ArchiveError(
        f"{archive}: refusing to extract member {member!r}: {reason}. Nothing was extracted. "
        f"gf only extracts plain files and folders inside the output folder; the archive is "
        f"corrupt, not the expected bundle, or malicious: get it from a trusted source."
    )


def _inside(root_real: str, rel: str) -> bool:
    target = os.path.realpath(os.path.join(root_real, rel))
    return os.path.commonpath([root_real, target]) == root_real and target != root_real


def _tar_kind(member: tarfile.TarInfo) -> Optional[str]:
    """None for a regular file or folder, else what the member is (why it is refused)."""
    if member.isreg() or member.isdir():
        return None
    if member.issym():
        return f"symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "FIFO"
    return f"unsupported member type {member.type!r}"


_ZIP_SPECIAL = {stat.S_IFLNK: "symbolic link (unix mode bits)", stat.S_IFCHR: "device file",
                stat.S_IFBLK: "device file", stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket"}


def _zip_kind(info: zipfile.ZipInfo) -> Optional[str]:
    mode = (info.external_attr >> 16) & 0xFFFF
    special = _ZIP_SPECIAL.get(stat.S_IFMT(mode))
    if special:
        return special
    if info.flag_bits & 0x1:
        return "encrypted (password-protected) entry"
    return None


def check_archive(path: PathLike, dest: Optional[PathLike] = None, *,
                  format: Optional[str] = None) -> List[Member]:
    """Every member of ``path``, checked against the module's rules; nothing is written.

    ``dest`` is where the archive would be extracted (default: a folder next to it); the
    "resolves inside" check and the tar data filter use it. ``format`` (``"zip"`` /
    ``"tar"``), when given, must agree with the content. Raises :class:`ArchiveError`
    naming the archive and the first bad member.
    """
    archive = Path(path)
    if not archive.is_file():
        raise ArchiveError(f"archive not found: {archive}")
    kind = archive_format(archive)
    if format is not None and format != kind:
        raise ArchiveError(f"{archive}: expected a {format} archive, but its content is a {kind} archive. "
                           f"Check that the URL serves the intended bundle.")
    root = os.path.realpath(dest if dest is not None else archive.parent / f"{archive.name}.extracted")
    members: List[Member] = []
    try:
        if kind == "tar":
            with tarfile.open(archive, "r:*") as tar:
                infos = tar.getmembers()
                raw_names = [info.name for info in infos]
                members = [_check_member(archive, root, info.name, info.isdir(), info.size, _tar_kind(info),
                                         lambda info=info: _data_filter_problem(info, root))
                           for info in infos]
        else:
            with zipfile.ZipFile(archive) as zf:
                raw_names = [info.filename for info in zf.infolist()]
                members = [_check_member(archive, root, info.filename, info.is_dir(), info.file_size, _zip_kind(info))
                           for info in zf.infolist()]
    except ArchiveError:
        raise
    except _DAMAGED + (OSError,) as err:
        raise _damaged(archive, err) from err
    _check_unique(archive, members, raw_names)
    _check_tree(archive, members)
    return members


#: What zipfile, tarfile and the decompressors raise for bytes that are not a sound
#: archive (gzip's BadGzipFile and bz2's "Invalid data stream" are OSErrors without errno).
_DAMAGED = (tarfile.TarError, zipfile.BadZipFile, EOFError, ValueError, zlib.error, lzma.LZMAError,
            NotImplementedError)


def _damaged(archive: Path, err: BaseException, member: Optional[str] = None) -> ArchiveError:
    where = f" (member {member!r})" if member else ""
    return ArchiveError(f"{archive}: the archive is damaged{where}: {type(err).__name__}: {err}. The file may be "
                        f"truncated or corrupt: download it again.")


def _read_failure(archive: Path, out: Path, err: BaseException, member: Optional[str] = None) -> Exception:
    """A failure part-way through extraction: the archive's bytes (:class:`ArchiveError`),
    or the disk it was written to (an OSError with an errno: full, read-only)."""
    if isinstance(err, OSError) and err.errno is not None:
        return DownloadError(f"cannot write the files of {archive} under {out}: {err}. Free some space or "
                             f"choose a writable folder, then run the command again.")
    return _damaged(archive, err, member)


def _is_root(raw: str, is_dir: bool) -> bool:
    """The archive's own root folder (``./``, as ``tar czf x.tgz .`` writes it): harmless,
    and nothing to write, but kept in the list so indices match the archive's members."""
    return is_dir and "\x00" not in raw and not raw.startswith(("/", "\\")) and not _normalize(raw)


def _check_member(archive: Path, root: str, raw: str, is_dir: bool, size: int, kind_problem: Optional[str],
                  extra_check=None) -> Member:
    """One member, tar or zip: a plain relative name of a plain kind that stays inside
    ``root`` (and whatever the format's own filter says), or the archive is refused."""
    if _is_root(raw, is_dir):
        return Member("", True, 0)
    reason = _name_problem(raw) or kind_problem
    name = _normalize(raw)
    if reason is None and not _inside(root, name):
        reason = "it resolves outside the output folder"
    if reason is None and extra_check is not None:
        reason = extra_check()
    if reason is not None:
        raise _refuse(archive, raw, reason)
    return Member(name, is_dir, 0 if is_dir else int(size))


def _data_filter_problem(info: tarfile.TarInfo, root: str) -> Optional[str]:
    """What ``tarfile.data_filter`` (where Python has it) says against ``info``, or None."""
    if not hasattr(tarfile, "data_filter"):
        return None
    try:
        tarfile.data_filter(info, root)
    except tarfile.FilterError as err:
        return f"tarfile's data filter refuses it ({type(err).__name__}: {err})"
    return None


def _check_unique(archive: Path, members: Sequence[Member], raw_names: Sequence[str]) -> None:
    """No normalised name twice, unless every entry of it is a folder (see the module docstring).

    ``raw_names[i]`` is the name of ``members[i]`` as stored, for the message."""
    seen: Dict[str, int] = {}  # normalised name -> index of its first entry
    for index, member in enumerate(members):
        first = seen.setdefault(member.name, index)
        if first == index or (member.is_dir and members[first].is_dir):
            continue
        raw, first_raw = raw_names[index], raw_names[first]
        also = f" (first as {first_raw!r})" if first_raw != raw else ""
        raise _refuse(archive, raw, f"the name {member.name!r} appears twice{also}; extracting would let one "
                                    f"copy silently replace the other")


def _check_tree(archive: Path, members: Sequence[Member]) -> None:
    """No member may sit below a file member (it could not be created, or would replace it)."""
    files = {m.name for m in members if not m.is_dir}
    for m in members:
        parts = m.name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in files:
                raise _refuse(archive, m.name, f"it lies inside {parent!r}, which the archive also holds as a file")


# --------------------------------------------------------------------------- extraction


def safe_extract(path: PathLike, dest: PathLike, *, strip: str = "",
                 exclude: Optional[Callable[[str], bool]] = None, format: Optional[str] = None,
                 progress: bool = False) -> List[Member]:
    """Check every member of ``path`` (:func:`check_archive`), then extract into ``dest``.

    ``dest`` must not exist or be an empty folder (it is created only once all checks
    passed). ``strip`` is a folder prefix removed from every member (``"STAR/"``); a
    member outside it is an error, the folder itself is skipped. ``exclude(name)``
    returning True skips a member (checked all the same, and read to its end in a zip, for
    its CRC). Returns the members written, with their names as written (after ``strip``),
    once the whole archive has been read and found sound (see the module docstring); a
    damaged one raises :class:`ArchiveError`, a write failure (disk full) a
    :class:`~gf.common.errors.DownloadError`.

    An exception part-way (disk full, interrupt) leaves ``dest`` partly written: extract
    into a staging folder and move the files into place, as :mod:`gf.datasets.data_zoo` does.
    """
    archive = Path(path)
    out = Path(dest)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ArchiveError(f"cannot extract {archive} into {out}: it exists and is not an empty folder; "
                           f"gf extracts only into a new folder.")
    root = os.path.realpath(out)
    members = check_archive(archive, out, format=format)
    prefix = _normalize(strip)
    plan: List[tuple] = []  # (index in the archive, Member as written)
    for index, m in enumerate(members):
        if not m.name or (exclude is not None and exclude(m.name)):
            continue
        name = m.name
        if prefix:
            if name == prefix:
                continue
            if not name.startswith(prefix + "/"):
                raise ArchiveError(f"{archive}: member {m.name!r} is not inside the folder {prefix + '/'!r} "
                                   f"that was to be stripped; nothing was extracted.")
            name = name[len(prefix) + 1:]
        plan.append((index, Member(name, m.is_dir, m.size)))
    _check_space(archive, out, sum(m.size for _, m in plan))

    out.mkdir(parents=True, exist_ok=True)
    planned = {index for index, _ in plan}
    current = None  # the member being read, for the error message
    try:
        is_tar = archive_format(archive) == "tar"
        with (tarfile.open(archive, "r:*") if is_tar else zipfile.ZipFile(archive)) as handle, \
                progress_bar(sum(m.size for _, m in plan), 0, f"extracting {archive.name}", progress) as bar:
            infos = handle.getmembers() if is_tar else handle.infolist()
            for index, member in plan:
                current = infos[index].name if is_tar else infos[index].filename
                _extract_one(handle, infos[index], member, out, root)
                bar.update(member.size)
            current = None
            if is_tar:
                _check_tar_end(archive, handle)
            for index, info in enumerate([] if is_tar else infos):  # a zip's skipped members are checked too
                if index not in planned and not info.is_dir():
                    _read_zip_member(archive, handle, info)
    except (ArchiveError, DownloadError):
        raise
    except _DAMAGED + (OSError,) as err:
        raise _read_failure(archive, out, err, current) from err
    return [m for _, m in plan]


def verify_archive(path: PathLike) -> None:
    """Read every member of ``path`` to its end and check what can be checked (the checks of
    the module docstring's last paragraph), writing nothing. Raises :class:`ArchiveError`
    naming the archive (and the member, where known).
    """
    archive = Path(path)
    try:
        if archive_format(archive) == "zip":
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
            if bad is not None:
                raise _damaged(archive, zipfile.BadZipFile("bad CRC-32 or header"), bad)
            return
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:
                if info.isreg():
                    with tar.extractfile(info) as fh:
                        while fh.read(_CHUNK):
                            pass
            _check_tar_end(archive, tar)
    except ArchiveError:
        raise
    except _DAMAGED + (OSError,) as err:
        raise _damaged(archive, err) from err


def _read_zip_member(archive: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Read one member to its end, which is where zipfile compares its CRC-32."""
    try:
        with zf.open(info) as fh:
            while fh.read(_CHUNK):
                pass
    except _DAMAGED as err:
        raise _damaged(archive, err, info.filename) from err


def _check_tar_end(archive: Path, tar: tarfile.TarFile) -> None:
    """Require the end-of-archive block after the last member, then read the stream to its
    end: tarfile stops quietly at a missing or cut header, and gzip/bzip2/xz check their
    CRCs only at the end of the stream."""
    stream = tar.fileobj
    stream.seek(tar.offset)
    if stream.read(tarfile.BLOCKSIZE) != tarfile.NUL * tarfile.BLOCKSIZE:
        raise ArchiveError(f"{archive}: the tar archive stops without its end-of-archive block after "
                           f"{len(tar.getmembers())} member(s): it is truncated. Download it again.")
    while stream.read(_CHUNK):
        pass


def _extract_one(handle: Union[tarfile.TarFile, zipfile.ZipFile], info, member: Member, out: Path,
                 root: str) -> None:
    """Write one checked member under ``out`` (its name already normalised and stripped)."""
    target = out / member.name
    if not _inside(root, member.name):  # checked before; re-checked on the path actually written
        raise ArchiveError(f"refusing to write {member.name!r}: it resolves outside {out}")
    if member.is_dir:
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(handle, tarfile.TarFile):
        renamed = copy.copy(info)
        renamed.name = member.name
        if hasattr(tarfile, "data_filter"):
            handle.extract(renamed, out, set_attrs=True, filter="data")
        else:  # older Python: our own checks above are the only ones
            handle.extract(renamed, out, set_attrs=False)
        return
    with handle.open(info) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


def _check_space(archive: Path, out: Path, needed: int) -> None:
    """Refuse up front when the files cannot fit (bundles of features run to many GB)."""
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return
    if needed > free:
        raise ArchiveError(f"{archive}: extracting needs {needed / 1e9:.2f} GB but {probe} has only "
                           f"{free / 1e9:.2f} GB free; nothing was extracted. Free some space or choose "
                           f"another data root.")
