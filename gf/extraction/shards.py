"""``gf extract --shard I/N``: one job of a job array extracting its part into a shared folder.

Why the folder is laid out this way: N jobs on N machines write into one ``--out`` at
once, so no file may have two writers, and nothing one job writes may be trusted before it
is complete. Hence a split decided by the samples alone (:func:`split_samples`), each part
writing only its own shards and bookkeeping under its own lock, one recipe and layout
checked by every job under the folder's lock, and a merge (:mod:`gf.extraction.merge`)
that trusts none of it. The files, the split and the refusals: docs/extraction.md,
"Over a job array: `--shard I/N` and `--merge`".
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from gf.common.errors import ConfigError, DataFileError
from gf.common.io import OutputLock, atomic_write_json, load_json, output_lock, remove_stale_temp_files
from gf.common.utils import utc_now
from gf.datasets.extract_state import write_state
from gf.datasets.feature_recipe import RECIPE_NAME, check_or_write_recipe
from gf.extraction.out_folder import PARTS_DIR, SHARD_INDEX, forget_merge, holds_features
from gf.extraction.sources import Job
from gf.extraction.writers import NpyWriter, WebDatasetWriter

__all__ = ["LAYOUT_NAME", "PLAN_NAME", "SHARDABLE_FORMATS", "check_format",
           "refuse_unsharded", "part_name", "split_samples", "fingerprint", "folder_lock", "read_layout",
           "read_plan", "Part", "part_of_array"]

logger = logging.getLogger(__name__)

LAYOUT_NAME = "layout.json"
PLAN_NAME = "plan.json"
#: formats whose files are per sample or per shard, so that N jobs never write one file
SHARDABLE_FORMATS = ("webdataset", "npy")
#: holders of the folder lock that hold it for a moment only (another job waits for them)
_BRIEF_HOLDERS = ("gf extract --shard", "gf extract --merge")
#: how long a job waits for them: N jobs setting up take moments; a merge reads every shard's
#: headers. A holder still there after this is stuck, and the job says which one it is.
BRIEF_WAIT_S = 600.0


def check_format(fmt: str) -> None:
    """Refuse ``--shard`` with a format gathered into one file (before anything is made)."""
    if fmt not in SHARDABLE_FORMATS:
        shown = {"hdf5": "h5"}.get(fmt, fmt)
        raise ConfigError(
            f"--format {shown} gathers every sample into one file, which the jobs of an array cannot write "
            f"together: use --shard with --format webdataset (default) or npy, which the builders read as they "
            f"are, or extract without --shard")


def refuse_unsharded(out: str) -> None:
    """An extraction without ``--shard`` into a folder a job array writes would write the
    same keys again under other names: refused, naming what to run instead."""
    if os.path.isdir(os.path.join(out, PARTS_DIR)):
        layout = read_layout(out)
        count = layout["parts"] if layout else "N"
        raise ConfigError(
            f"--out {out} is extracted by a job array ({os.path.join(out, PARTS_DIR)} holds its parts): run its "
            f"parts with --shard I/{count}, or gf extract --merge --out {out} once they are done; a run without "
            f"--shard would store their samples a second time")


def part_name(index: int, count: int) -> str:
    return f"part-{index}-of-{count}"


def split_samples(jobs: Sequence[Job], failures: Sequence[Dict[str, Any]], shard: Tuple[int, int]
                  ) -> Tuple[List[Job], List[Dict[str, Any]]]:
    """Part ``shard = (I, N)`` of the jobs and of the failures found before decoding
    (questions without a video): every ``video_id`` in sorted order, the k-th to part k % N."""
    index, count = shard
    ids = sorted({job.video_id for job in jobs} | {str(f["video_id"]) for f in failures})
    mine = {vid for k, vid in enumerate(ids) if k % count == index}
    return [j for j in jobs if j.video_id in mine], [f for f in failures if str(f["video_id"]) in mine]


def sample_keys(jobs: Sequence[Job], failures: Sequence[Dict[str, Any]]) -> List[str]:
    return sorted([k for job in jobs for k, _, _ in job.windows] + [str(f["key"]) for f in failures])


def fingerprint(jobs: Sequence[Job], failures: Sequence[Dict[str, Any]]) -> str:
    """sha256 of every sample's key and video id: equal in every job that lists the same
    samples, whatever folder the videos are mounted at."""
    pairs = sorted([[k, job.video_id] for job in jobs for k, _, _ in job.windows]
                   + [[str(f["key"]), str(f["video_id"])] for f in failures])
    return hashlib.sha256(json.dumps(pairs).encode("utf-8")).hexdigest()


def folder_lock(out: str, command: str) -> OutputLock:
    """The folder's own lock (:func:`gf.common.io.output_lock`), waited for while another
    job of the array or a merge holds it (moments; at most :data:`BRIEF_WAIT_S`, then the
    error names the holder), refused at once while a run without ``--shard`` does (hours: it
    would write the same samples). A holder that has not written its command yet (``None``:
    it took the lock a moment ago) is waited for; the next look sees what it is."""
    return output_lock(out, command, wait_s=BRIEF_WAIT_S,
                       wait_for=lambda holder: holder is None or holder.startswith(_BRIEF_HOLDERS))


def read_layout(out: str) -> Optional[Dict[str, Any]]:
    """``parts/layout.json`` of ``out`` (``None`` when absent), checked: gf wrote it, so any
    other shape is damage, named rather than left to fail as a traceback further on."""
    path = os.path.join(out, PARTS_DIR, LAYOUT_NAME)
    if not os.path.exists(path):
        return None
    layout = load_json(path, "job array layout")
    parts = layout.get("parts") if isinstance(layout, dict) else None
    if not (isinstance(parts, int) and not isinstance(parts, bool) and parts >= 1
            and isinstance(layout.get("fingerprint"), str)):
        raise DataFileError(
            f"{path}: not a job array layout (an object with an integer \"parts\" >= 1 and a \"fingerprint\" "
            f"string), so the parts of {out} cannot be checked: it was edited or damaged. Restore it from a "
            f"backup, or extract the array again into a new --out.")
    return layout


def read_plan(path: str, shard: Tuple[int, int]) -> Dict[str, Any]:
    """A part's ``plan.json``, checked against the part it belongs to (``shard``); damage is a
    :class:`DataFileError` saying to rerun the part, which rewrites its plan and resumes."""
    plan = load_json(path, "part plan")
    keys = plan.get("keys") if isinstance(plan, dict) else None
    if not (isinstance(plan, dict) and plan.get("shard") == list(shard) and isinstance(keys, list)
            and all(isinstance(k, str) for k in keys)):
        raise DataFileError(
            f"{path}: not the plan of part {shard[0]}/{shard[1]} (an object with \"shard\": {list(shard)} and a "
            f"list of \"keys\"): it was edited or damaged. Rerun that part with the same command "
            f"(--shard {shard[0]}/{shard[1]}): it writes its plan again and resumes.")
    return plan


def _started_parts(out: str) -> List[str]:
    """Names of the part folders that hold a plan (the jobs that have started)."""
    root = os.path.join(out, PARTS_DIR)
    if not os.path.isdir(root):
        return []
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and os.path.exists(os.path.join(e.path, PLAN_NAME)))


class Part:
    """Part ``(index, count)`` of ``out``: its samples, its folder, its lock and its writer."""

    def __init__(self, out: str, shard: Tuple[int, int], fmt: str, shard_size: int,
                 jobs: Sequence[Job], failures: Sequence[Dict[str, Any]]):
        self.out, self.shard, self.fmt, self.shard_size = out, shard, fmt, shard_size
        self.name = part_name(*shard)
        self.folder = os.path.join(out, PARTS_DIR, self.name)
        self.fingerprint = fingerprint(jobs, failures)
        self.total = len(sample_keys(jobs, failures))
        self.jobs, self.failures = split_samples(jobs, failures, shard)
        self.keys = sample_keys(self.jobs, self.failures)
        self._own_files = {f"{k}.npy" for k in self.keys} | {f"{k}.json" for k in self.keys}  # npy and meta/
        self._lock = None

    @property
    def option(self) -> str:
        return f"--shard {self.shard[0]}/{self.shard[1]}"

    def setup(self, recipe: Dict[str, Any]) -> None:
        """Under the folder's lock: check (or, first, write) the layout and the recipe, take
        this part's own lock, and record its plan (not done). The first job writes the recipe
        before the layout: a job killed between the two leaves a recipe and no plan, which
        its rerun (or any other part) takes as a fresh folder; a layout without a recipe
        would make the folder look like one gf extract did not make, refused for good."""

        with folder_lock(self.out, f"gf extract {self.option} (setting up)"):
            others = [p for p in _started_parts(self.out) if p != self.name]
            fresh = not others and not holds_features(self.out)
            if not fresh:
                self._check_layout()
            self._check_recipe(recipe, fresh, others)
            if fresh:
                atomic_write_json(os.path.join(self.out, PARTS_DIR, LAYOUT_NAME),
                                  {"parts": self.shard[1], "samples": self.total, "fingerprint": self.fingerprint,
                                   "format": self.fmt})
            write_state(self.out, done=False, parts=self.shard[1])  # whole again only after a merge
            forget_merge(self.out)  # the folder changes: merge again
            lock = output_lock(self.folder, f"gf extract {self.option}")
            lock.acquire()  # refused while the same part runs elsewhere
            self._lock = lock
            self._write_plan(done=False)

    def _check_layout(self) -> None:
        """A started folder's layout against this job: the same N and the same samples."""
        count = self.shard[1]
        layout = read_layout(self.out)
        if layout is None:
            raise ConfigError(
                f"{self.option}: --out {self.out} holds features of a run without --shard: a job array would store "
                f"its samples a second time under other names. Use another --out, or finish it without --shard.")
        if layout.get("parts") != count:
            raise ConfigError(
                f"{self.option}: {self.out} is extracted in {layout.get('parts')} parts "
                f"({os.path.join(self.out, PARTS_DIR, LAYOUT_NAME)}), not {count}: give --shard I/{layout.get('parts')} "
                f"(the same N in every job), or use another --out")
        if layout.get("fingerprint") != self.fingerprint:
            raise ConfigError(
                f"{self.option}: this job lists other samples ({self.total}) than the job that started "
                f"{self.out} ({layout.get('samples')}; {os.path.join(self.out, PARTS_DIR, LAYOUT_NAME)}): every job "
                f"of the array must be given the same --videos and --windows, so that the parts split the same "
                f"list. Use another --out for another list.")

    def _check_recipe(self, recipe: Dict[str, Any], fresh: bool, others: List[str]) -> None:
        """One recipe for the whole array: the first job writes it; any job whose features
        would differ is refused, naming the differences and the jobs that follow it."""
        path = os.path.join(self.out, RECIPE_NAME)
        if fresh:
            atomic_write_json(path, recipe)
            return
        started = ", ".join(others) if others else "an earlier run"
        check_or_write_recipe(self.out, recipe, update=False, refusal=lambda shown: (
            f"{self.option}: {path} (the recipe of {self.out}, followed by {started}) differs from this job's "
            f"(recipe's value -> this job's): {shown}. Every job of the array must be given the same options; "
            f"use another --out for another recipe, or delete {self.out} to start over."))

    def _write_plan(self, done: bool, **extra: Any) -> None:
        atomic_write_json(os.path.join(self.folder, PLAN_NAME),
                          {"shard": list(self.shard), "fingerprint": self.fingerprint, "done": done,
                           "written": utc_now(), "keys": self.keys, **extra}, indent=None)

    def _mine(self, name: str, meta: bool) -> bool:
        if self.fmt == "webdataset":
            return not meta and name.startswith(f"{self.name}-") and name.endswith(".tar")
        return name in self._own_files

    def remove_own_temp_files(self) -> None:
        """Remove the temporary files a killed run of this part left (never another job's, which
        may be writing its own right now)."""
        remove_stale_temp_files(self.folder)
        remove_stale_temp_files(self.out, recursive=False, owned=lambda name: self._mine(name, meta=False))
        remove_stale_temp_files(os.path.join(self.out, "meta"), recursive=False,
                                owned=lambda name: self._mine(name, meta=True))

    def writer(self):
        """This part's writer, once its own leftovers are gone."""
        self.remove_own_temp_files()
        if self.fmt == "npy":
            return NpyWriter(self.out)
        return WebDatasetWriter(self.out, self.shard_size, prefix=self.name,
                                index=os.path.join(self.folder, SHARD_INDEX))

    def finish(self, written: int, failed: int) -> None:
        self._write_plan(done=True, stored=written, failed=failed)
        done = [p for p in _started_parts(self.out) if _plan_done(os.path.join(self.out, PARTS_DIR, p))]
        count = self.shard[1]
        if len([p for p in done if p.endswith(f"-of-{count}")]) == count:
            logger.info("%s: all %d parts are done; merge them with gf extract --merge --out %s", self.out, count,
                        self.out)

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _plan_done(folder: str) -> bool:
    with contextlib.suppress(Exception):
        return bool(load_json(os.path.join(folder, PLAN_NAME), "part plan").get("done"))
    return False


@contextlib.contextmanager
def part_of_array(o, jobs: Sequence[Job], failures: Sequence[Dict[str, Any]], recipe: Dict[str, Any]
                  ) -> Iterator[Part]:
    """Set part ``o.shard`` of ``o.out`` up, yield it for the run, and mark it done when the
    run returns (a run stopped by an error or a kill leaves it not done: the merge refuses
    it until a rerun of the part completes). A setup refused in a folder this job created
    leaves no folder behind."""
    created = not os.path.lexists(o.out)
    part = Part(o.out, o.shard, o.format, o.shard_size, jobs, failures)
    try:
        part.setup(recipe)
    except BaseException:
        part.release()
        if created:
            for folder in (part.folder, os.path.join(o.out, PARTS_DIR), o.out):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
        raise
    try:
        yield part
    finally:
        part.release()
