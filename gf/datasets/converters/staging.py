"""How ``gf prepare`` writes a converter's output without ever destroying what is there.

Why: a converter run into a folder that already holds annotations (an earlier
conversion, the authors' bundle, files the user added) would overwrite them file by
file, and one that failed half-way would leave a mix of old and new files that a builder
would then read as one dataset. :func:`run_staged` instead

1. refuses an ``out_dir`` that already holds annotations (the files the converter writes,
   or a non-empty ``txt_db/``) unless ``overwrite=True``;
2. holds ``out_dir`` with :func:`~gf.common.io.output_lock` (a second ``gf prepare`` into the
   same folder is refused, naming the first one's pid);
3. runs the converter into a staging folder inside ``out_dir``
   (``out_dir/.gf-prepare-XXXX.tmp/new``: same filesystem, covered by the lock);
4. only once it has finished, moves its files into ``out_dir``, replacing the
   converter's own files (and removing those of an earlier run that this run did not
   write, so a folder never mixes two conversions), and leaves every other entry --
   the user's ``vis_db/`` features, a skip file in ``txt_db/`` -- untouched. Before the
   first move it writes the plan of moves (``install.json`` in the staging folder). If a
   move fails, the moves already made are undone.

A converter that fails leaves ``out_dir`` as it was and no staging folder behind. A run
killed outright leaves its staging folder, which the next ``gf prepare`` into that folder
finishes or removes (:func:`_recover`), so ``out_dir`` holds the old conversion or the new
one, never a mix of both.

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
import json
import logging
import os
import re
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from gf.common.errors import DatasetError
from gf.common.io import atomic_write_json, load_json, output_lock
from gf.common.utils import PathLike, describe_ids

__all__ = ["interrupted_install", "owns", "reported_path", "run_staged"]

logger = logging.getLogger(__name__)

#: Names of staging folders inside ``out_dir`` (``tempfile.mkdtemp`` with this prefix/suffix).
STAGING_PREFIX, STAGING_SUFFIX = ".gf-prepare-", ".tmp"
STAGING_PATTERN = re.compile(re.escape(STAGING_PREFIX) + r".+" + re.escape(STAGING_SUFFIX))

#: In a staging folder: what to move, written before the first move (see :func:`_install`).
PLAN_NAME = "install.json"

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


def _inside(rel: str) -> bool:
    """Whether ``rel`` is a relative path that stays inside the folder it is relative to."""
    path = Path(rel)
    return bool(path.parts) and not path.is_absolute() and ".." not in path.parts


def _owned(convert: Callable[..., Any], options: Dict[str, Any]) -> Optional[List[str]]:
    declared = getattr(convert, "owned_paths", None)
    if declared is None:
        return None
    paths = []
    for rel in declared(**options):
        if not _inside(rel):
            raise DatasetError(f"converter declares owned path {rel!r}, which is not inside out_dir")
        paths.append(Path(rel).as_posix())
    return sorted(set(paths))


def _existing_annotations(out: Path, owned: Optional[List[str]]) -> List[str]:
    """What in ``out`` a conversion would replace: owned files that exist, and non-empty
    ``txt_db`` folders (the annotation folders) the converter writes into."""
    found = [rel for rel in (owned or []) if os.path.lexists(out / rel)]
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


def _staging_folders(out: Path) -> List[Path]:
    """The staging folders (of interrupted runs) in ``out``."""
    return [entry for entry in sorted(out.iterdir())
            if STAGING_PATTERN.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink()]


def interrupted_install(out: Path) -> Optional[Tuple[Path, str]]:
    """``(plan, command that finishes it)`` when a gf prepare into ``out`` stopped (or is still
    running) while moving its files in, else None. Why: until then ``out`` may lack files of
    both conversions, and a builder reading it would say "not found, check data_root"."""
    try:
        plans = [s / PLAN_NAME for s in _staging_folders(out) if os.path.lexists(s / PLAN_NAME)]
    except OSError:  # not a folder, or not readable: nothing gf prepare left there
        return None
    if not plans:
        return None
    try:
        command = json.loads(plans[0].read_text(encoding="utf-8")).get("rerun")
    except (OSError, ValueError, AttributeError):
        command = None
    if not isinstance(command, str):  # a plan of gf before it recorded the command
        command = f"gf prepare <benchmark> --raw <release folder> --out {shlex.quote(str(out))} --overwrite"
    return plans[0], command


def _rerun_command(command: str, raw_dir: PathLike, out: Path, options: Dict[str, Any]) -> str:
    """The command line that runs this ``gf prepare`` again (finishing an interrupted install),
    recorded in the plan for :func:`interrupted_install`. ``--overwrite``: the rerun replaces
    the files the interrupted run had already moved in. With options it starts in this
    process's folder: a converter reads a relative path option from there, and the message
    naming the command may be shown in another folder (a builder's, a training run's)."""
    words = [command, "--raw", shlex.quote(os.path.abspath(raw_dir)), "--out", shlex.quote(os.path.abspath(out))]
    words += ["--set " + shlex.quote(f"{k}={json.dumps(v, default=str)}") for k, v in options.items()]
    words = (["cd", shlex.quote(os.getcwd()), "&&"] if options else []) + words
    return " ".join(words + ["--overwrite"])


def _read_plan(staging: Path) -> Tuple[List[str], List[str]]:
    """The ``install`` and ``remove`` lists :func:`_install` wrote before its first move."""
    plan = load_json(staging / PLAN_NAME, "gf prepare install plan")
    lists = [plan.get(key) if isinstance(plan, dict) else None for key in ("install", "remove")]
    if not all(isinstance(v, list) and all(isinstance(rel, str) and _inside(rel) for rel in v) for v in lists):
        raise DatasetError(f"{staging / PLAN_NAME} is not an install plan gf prepare wrote (lists 'install' and "
                           f"'remove' of relative paths); the files an interrupted gf prepare moved out of "
                           f"{staging.parent} are in {staging / 'old'}: move them back, then delete {staging}.")
    return lists[0], lists[1]


def _recover(out: Path) -> None:
    """Finish what an interrupted (killed) ``gf prepare`` into ``out`` left; called holding the lock.

    Why: its staging folder may hold the earlier conversion's files (``old/``) and the rest
    of a complete new one (``new/``); deleting it would lose both. A folder with a plan is
    finished from ``new/`` (that conversion was complete, and the user asked for it); one
    without a plan never moved anything out of ``out`` and is deleted."""
    for staging in _staging_folders(out):
        if os.path.lexists(staging / PLAN_NAME):
            install, remove = _read_plan(staging)
            logger.warning("%s: finishing the install of the conversion an interrupted gf prepare had completed in "
                           "%s", out, staging)
            _apply(out, staging, install, remove)
            _finish(staging)
        elif _files_under(staging / "old"):  # left by a gf prepare from before the plans
            raise DatasetError(f"{staging} holds files that an interrupted gf prepare moved out of {out} (in old/); "
                               f"move them back into {out}, then delete {staging}.")
        else:
            logger.warning("removing %s, left by an interrupted gf prepare", staging)
        _discard(staging)


def _apply(out: Path, staging: Path, install: Sequence[str], remove: Sequence[str]) -> None:
    """Move ``install`` from ``staging/new`` into ``out``, after moving what they replace and
    ``remove`` into ``staging/old``. Every step looks where the file is now, so the moves of a
    run killed half-way can be run again to finish them (:func:`_recover`)."""
    new, old = staging / "new", staging / "old"
    pending = [rel for rel in install if os.path.lexists(new / rel)]
    for rel in sorted(set(pending) | set(remove)):
        if os.path.lexists(out / rel):
            _move(out / rel, old / rel)
    for rel in pending:
        _move(new / rel, out / rel)


def _undo(out: Path, staging: Path, install: Sequence[str], remove: Sequence[str]) -> bool:
    """Put back what :func:`_apply` moved; the new files go back into ``new/``, so the plan
    still holds if this is interrupted too. False if something could not be put back."""
    new, old = staging / "new", staging / "old"
    try:
        for rel in install:
            if not os.path.lexists(new / rel) and os.path.lexists(out / rel):
                _move(out / rel, new / rel)
        for rel in sorted(set(install) | set(remove)):
            if os.path.lexists(old / rel):
                _move(old / rel, out / rel)
        return True
    except OSError as e:
        logger.error("could not undo the install into %s (%s); the next gf prepare into it finishes the install "
                     "from %s", out, e, staging)
        return False


def _install(out: Path, staging: Path, install: Sequence[str], remove: Sequence[str], rerun: str) -> None:
    """:func:`_apply`, all or nothing: a failed move is undone; a kill leaves the plan
    (written first, atomically), from which the next run (``rerun``) finishes the install."""
    atomic_write_json(staging / PLAN_NAME, {"install": list(install), "remove": list(remove), "rerun": rerun})
    try:
        _apply(out, staging, install, remove)
    except BaseException:
        if _undo(out, staging, install, remove):
            os.unlink(staging / PLAN_NAME)
        raise
    _finish(staging)


def _finish(staging: Path) -> None:
    """Drop the replaced files of a finished install, then its plan (the plan goes last, so a
    staging folder with files in ``old/`` always has one)."""
    shutil.rmtree(staging / "old", ignore_errors=True)
    if not os.path.lexists(staging / "old"):
        os.unlink(staging / PLAN_NAME)


def _discard(staging: Path) -> None:
    """Delete a staging folder, unless its plan says it still holds files (see :func:`_undo`)."""
    if not os.path.lexists(staging / PLAN_NAME):
        shutil.rmtree(staging, ignore_errors=True)


def run_staged(convert: Callable[..., Any], command: str, raw_dir: PathLike, out_dir: PathLike, *,
               overwrite: bool = False, **options: Any) -> Any:
    """``convert(raw_dir, <staging>, **options)``, its files then moved into ``out_dir`` (see
    the module docs). Returns what ``convert`` returns."""
    out = Path(out_dir)
    if os.path.lexists(out) and not out.is_dir():
        raise DatasetError(f"output folder {out} exists and is not a folder; choose another --out")
    owned = _owned(convert, options)
    if not overwrite and not (os.path.lexists(out) and _staging_folders(out)):  # before the lock and the conversion
        _refuse_if_any(out, _existing_annotations(out, owned))
    created = not os.path.lexists(out)
    lock = output_lock(out, command)
    try:
        with lock:
            _recover(out)
            if not overwrite:  # again, now that no other gf prepare can write here
                _refuse_if_any(out, _existing_annotations(out, owned))
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, suffix=STAGING_SUFFIX, dir=str(out)))
            try:
                new = staging / "new"
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
                        _refuse_if_any(out, [rel for rel in written if os.path.lexists(out / rel)])
                else:
                    owned_set: Set[str] = set(owned)
                    install = [rel for rel in written if rel in owned_set or not os.path.lexists(out / rel)]
                    remove = [rel for rel in owned if rel not in set(written)]
                replaced = [rel for rel in install + remove if os.path.lexists(out / rel)]
                _install(out, staging, install, remove, _rerun_command(command, raw_dir, out, options))
                if replaced:
                    logger.warning("%s: replaced %d file(s) of an earlier conversion in %s: %s", command,
                                   len(replaced), out, describe_ids(replaced))
                return result
            finally:
                _discard(staging)
    except BaseException:
        if created:  # leave no empty folder behind for a conversion that failed
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
