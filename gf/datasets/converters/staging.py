"""How ``gf prepare`` writes a converter's output without ever destroying what is there.

Why: a converter run into a folder that already holds annotations (an earlier
conversion, the authors' bundle, files the user added) used to overwrite them file by
file, and one that failed half-way left a mix of old and new files that a builder would
then read as one dataset. :func:`run_staged` instead

1. refuses an ``out_dir`` that already holds annotations (the files the converter writes,
   or a non-empty ``txt_db/``) unless ``overwrite=True``;
2. holds ``out_dir`` with :func:`~gf.common.io.output_lock` (a second ``gf prepare`` into the
   same folder is refused, naming the first one's pid);
3. runs the converter into a staging folder inside ``out_dir``
   (``out_dir/.gf-prepare-XXXX.tmp/new``: same filesystem, covered by the lock);
4. only once it has finished, moves its files into ``out_dir``, replacing the
   converter's own files (and removing those of an earlier run that this run did not
   write, so a folder never mixes two conversions), and leaves every other entry --
   the user's ``vis_db/`` features, a skip file in ``txt_db/`` -- untouched. If a move
   fails, the moves already made are undone.

A converter that fails leaves ``out_dir`` as it was and no staging folder behind; one
killed outright leaves a staging folder, which the next ``gf prepare`` into that folder
removes once it holds the lock.

Converters declare the files they may write as ``convert.owned_paths(**options) ->
[relative posix path]`` (see :func:`owns`). A converter without the declaration (a
plugin's) owns exactly the files it wrote. Files a converter writes that it does not
declare are put in place only where nothing exists yet (EgoTaskQA's
``hcrn_data/README.md``, which must not replace a user's notes).
"""
from __future__ import annotations

import contextlib
import contextvars
import errno
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from gf.common.errors import DatasetError
from gf.common.io import output_lock
from gf.common.utils import PathLike, describe_ids

__all__ = ["STAGING_PATTERN", "owns", "reported_path", "run_staged"]

logger = logging.getLogger(__name__)

#: Names of staging folders inside ``out_dir`` (``tempfile.mkdtemp`` with this prefix/suffix).
STAGING_PREFIX, STAGING_SUFFIX = ".gf-prepare-", ".tmp"
STAGING_PATTERN = re.compile(re.escape(STAGING_PREFIX) + r".+" + re.escape(STAGING_SUFFIX))

#: (staging folder the converter writes into, the out_dir it stands for) during run_staged.
_STAGED: contextvars.ContextVar[Optional[Tuple[Path, Path]]] = contextvars.ContextVar("gf_prepare_staged",
                                                                                      default=None)


def owns(owned_paths: Callable[..., Iterable[str]]):
    """Decorator for a converter: ``owned_paths(**options)`` lists (relative, ``/``-separated)
    every file the converter may write with those options; :func:`run_staged` uses it to
    tell the converter's files from the user's."""
    def attach(convert):
        convert.owned_paths = owned_paths
        return convert
    return attach


def reported_path(path: PathLike) -> Path:
    """``path`` as the user will see it: inside a staging folder of :func:`run_staged`, the
    same place under the real ``out_dir``; otherwise unchanged. Converters use it for paths
    they write into their summaries."""
    path = Path(path)
    staged = _STAGED.get()
    if staged is not None:
        with contextlib.suppress(ValueError):
            return staged[1] / path.relative_to(staged[0])
    return path


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _files_under(root: Path) -> List[str]:
    """Every file (or link) under ``root`` as a relative posix path, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        out += [(rel / n).as_posix() for n in filenames]
        out += [(rel / d).as_posix() for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
    return sorted(out)


def _move(src: Path, dst: Path) -> None:
    """``os.replace``, also across filesystems (a ``txt_db`` linked to another disk)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        tmp = dst.parent / f".{dst.name}.gf-prepare-{os.getpid()}.tmp"
        try:
            shutil.copy2(src, tmp, follow_symlinks=False)
            os.replace(tmp, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.unlink(src)


def _owned(convert: Callable[..., Any], options: Dict[str, Any]) -> Optional[List[str]]:
    declared = getattr(convert, "owned_paths", None)
    if declared is None:
        return None
    paths = []
    for rel in declared(**options):
        rel_path = Path(rel)
        if rel_path.is_absolute() or ".." in rel_path.parts or not rel_path.parts:
            raise DatasetError(f"converter declares owned path {rel!r}, which is not inside out_dir")
        paths.append(rel_path.as_posix())
    return sorted(set(paths))


def _existing_annotations(out: Path, owned: Optional[List[str]]) -> List[str]:
    """What in ``out`` a conversion would replace: owned files that exist, and non-empty
    ``txt_db`` folders (the annotation folders) the converter writes into."""
    found = [rel for rel in (owned or []) if _exists(out / rel)]
    txt_dirs = {Path(rel).parent for rel in (owned or []) if Path(rel).parent.name == "txt_db"} or {Path("txt_db")}
    for d in sorted(txt_dirs):
        folder = out / d
        if folder.is_dir() and any(folder.iterdir()) and not any(r.startswith(d.as_posix() + "/") for r in found):
            found.append(d.as_posix() + "/")
    return found


def _refuse_if_any(out: Path, found: Sequence[str]) -> None:
    """Refuse ``out`` when it holds ``found`` (annotations a conversion would replace)."""
    if found:
        raise DatasetError(
            f"{out} already holds annotations ({describe_ids(found)}); gf prepare does not replace them unless "
            f"asked to. Pass overwrite=True (gf prepare --overwrite) to replace the converter's files (other files "
            f"there, such as features in vis_db/, are kept), or choose another output folder."
        )


def _remove_stale_staging(out: Path) -> None:
    for entry in out.iterdir():
        if STAGING_PATTERN.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            logger.warning("removing %s, left by an interrupted gf prepare", entry)
            shutil.rmtree(entry, ignore_errors=True)


def _install(out: Path, new: Path, old: Path, install: Sequence[str], remove: Sequence[str]) -> None:
    """Move ``install`` (relative paths) from ``new`` into ``out``, after moving what they
    replace and ``remove`` into ``old``; all or nothing (moves are undone on a failure)."""
    moved_old: List[Tuple[Path, Path]] = []
    moved_new: List[Path] = []
    try:
        for rel in sorted(set(install) | set(remove)):
            if _exists(out / rel):
                _move(out / rel, old / rel)
                moved_old.append((out / rel, old / rel))
        for rel in install:
            _move(new / rel, out / rel)
            moved_new.append(out / rel)
    except BaseException:
        for path in reversed(moved_new):
            with contextlib.suppress(OSError):
                os.unlink(path)
        for original, kept in reversed(moved_old):
            with contextlib.suppress(OSError):
                _move(kept, original)
        raise


def run_staged(convert: Callable[..., Any], command: str, raw_dir: PathLike, out_dir: PathLike, *,
               overwrite: bool = False, **options: Any) -> Any:
    """``convert(raw_dir, <staging>, **options)``, its files then moved into ``out_dir`` (see
    the module docs). Returns what ``convert`` returns."""
    out = Path(out_dir)
    if _exists(out) and not out.is_dir():
        raise DatasetError(f"output folder {out} exists and is not a folder; choose another --out")
    owned = _owned(convert, options)
    if not overwrite:  # before the lock and the (slow) conversion
        _refuse_if_any(out, _existing_annotations(out, owned))
    created = not _exists(out)
    lock = output_lock(out, command)
    try:
        with lock:
            _remove_stale_staging(out)
            if not overwrite:  # again, now that no other gf prepare can write here
                _refuse_if_any(out, _existing_annotations(out, owned))
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, suffix=STAGING_SUFFIX, dir=str(out)))
            try:
                new, old = staging / "new", staging / "old"
                new.mkdir()
                token = _STAGED.set((new, out))
                try:
                    result = convert(raw_dir, new, **options)
                finally:
                    _STAGED.reset(token)
                written = _files_under(new)
                if owned is None:  # a converter that declares nothing owns what it wrote
                    install, remove = written, []
                    if not overwrite:
                        _refuse_if_any(out, [rel for rel in written if _exists(out / rel)])
                else:
                    owned_set: Set[str] = set(owned)
                    install = [rel for rel in written if rel in owned_set or not _exists(out / rel)]
                    remove = [rel for rel in owned if rel not in set(written)]
                replaced = [rel for rel in install + remove if _exists(out / rel)]
                _install(out, new, old, install, remove)
                if replaced:
                    logger.warning("%s: replaced %d file(s) of an earlier conversion in %s: %s", command,
                                   len(replaced), out, describe_ids(replaced))
                return result
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        if created:  # leave no empty folder behind for a conversion that failed
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
