"""A leaderboard's output folder as a whole: its own lock and its ``manifest.json``.

Why apart from the engine: ``gf leaderboard show`` needs both without evaluating anything,
and they are where a refused command could leave something behind. ``manifest.json`` keeps
what re-checking the results needs later (:mod:`.freshness`; what it holds:
docs/leaderboards.md, "What is kept, and when it is trusted"); a benchmark config's own
``plugins:`` are kept with its split record (:mod:`.split_records`).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Sequence

from gf.common.errors import ConfigError, DataFileError, GfError
from gf.common.io import atomic_write_json, load_json
from gf.common.utils import PathLike

__all__ = ["MANIFEST_RECORD_FORMAT", "check_manifest_record", "hold_board", "load_saved_record",
           "write_manifest_record"]

#: What marks ``<output_dir>/manifest.json`` as the leaderboard's own record (replaced on every run).
MANIFEST_RECORD_FORMAT = "gf-leaderboard-manifest"


@contextmanager
def hold_board(root: Path, wait_s: float = 300.0):
    """Hold the leaderboard folder's own lock (for ``manifest.json`` and the board files;
    every result has its own) and remove what a killed writer left there. Shards take it
    in turn, each briefly, so a busy lock is waited for (up to ``wait_s``)."""
    from gf.common.io import output_lock, remove_stale_temp_files

    with output_lock(root, "gf leaderboard", wait_s=wait_s):
        remove_stale_temp_files(root, recursive=False)
        remove_stale_temp_files(root / "plots")
        yield


def check_manifest_record(path: Path, manifest) -> None:
    """``manifest.json`` is replaced only when it is the record a leaderboard run wrote; the
    manifest being run, or any other file of that name, is refused with what to do."""
    if not path.exists():
        return
    if manifest.path and Path(manifest.path).exists() and os.path.samefile(path, manifest.path):
        raise ConfigError(f"{manifest.path}: output_dir {manifest.output_dir} would put the leaderboard's "
                          f"manifest.json over this manifest itself; choose another output_dir")
    try:
        data = load_json(path, "leaderboard manifest record")
    except GfError:
        data = None
    ours = isinstance(data, dict) and (data.get("format") == MANIFEST_RECORD_FORMAT
                                       or (set(data) == {"manifest", "source"}))  # written before the marker
    if not ours:
        raise ConfigError(f"{path} exists and was not written by gf leaderboard; the leaderboard keeps its own "
                          f"manifest.json there. Move that file, or choose another output_dir in {manifest.path}")


def write_manifest_record(root: Path, manifest, plugins: Sequence[str] = ()) -> None:
    """Write ``manifest.json`` under the folder's lock (checked again there: another process
    may have put a file of that name meanwhile)."""
    record = root / "manifest.json"
    with hold_board(root):
        check_manifest_record(record, manifest)
        atomic_write_json(record, {"format": MANIFEST_RECORD_FORMAT, "manifest": manifest.to_dict(),
                                   "source": manifest.source, "cwd": os.getcwd(), "plugins": list(plugins)})


def load_saved_record(root: PathLike) -> Dict[str, Any]:
    """The whole ``manifest.json`` record of a leaderboard folder; refused (with what to do)
    before anything is created when the folder holds no leaderboard."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{root} holds no leaderboard (no manifest.json): run `gf leaderboard run --manifest "
                              f"M` first, or give the folder it wrote")
    record = load_json(path, "leaderboard manifest record")
    if not isinstance(record, dict) or not isinstance(record.get("manifest"), dict):
        raise DataFileError(f"{path} is not a leaderboard's manifest record (no manifest: mapping); run "
                              f"`gf leaderboard run --manifest M` to write it again")
    return record
