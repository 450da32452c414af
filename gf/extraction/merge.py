"""``gf extract --merge --out DIR``: check a job array's parts and join their lists.

Why a step of its own: each job of ``gf extract --shard I/N`` knows only its own part, so
only after all of them is there anyone who can say that the folder is whole. The merge
trusts nothing a job said about its files: it reads the keys from the shards (or ``.npy``
files) themselves. The features stay where the jobs wrote them: the builders read the
folder as they read any ``gf extract`` output. It holds the folder's lock and every part's
lock, so no job can write while it checks. What it checks, writes and refuses:
docs/extraction.md, "Over a job array: `--shard I/N` and `--merge`".
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

from gf.common.errors import ConfigError, DataFileError, OutputLockedError
from gf.common.io import atomic_write_json, load_jsonl, output_lock
from gf.common.utils import describe_ids, utc_now
from gf.datasets.extract_state import write_state
from gf.datasets.feature_recipe import read_recipe
from gf.extraction.out_folder import FAILURES_NAME, INDEX_NAME, PARTS_DIR, forget_merge, write_failures
from gf.extraction.shards import LAYOUT_NAME, PLAN_NAME, folder_lock, part_name, \
    read_layout, read_plan
from gf.extraction.writers import shard_keys

__all__ = ["MergeSummary", "merge"]


@dataclass
class MergeSummary:
    out: str
    parts: int = 0
    samples: int = 0  # stored
    failures: List[Dict[str, Any]] = field(default_factory=list)
    windows: bool = False
    failed_parts: List[str] = field(default_factory=list)  # "I/N" of the parts whose samples failed

    @property
    def total(self) -> int:
        return self.samples + len(self.failures)


def _layout(out: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``(recipe, layout)`` of a job array's folder, or an error saying what ``out`` is."""
    if not os.path.isdir(out):
        raise ConfigError(f"--merge --out {out}: no such folder")
    recipe = read_recipe(out)
    layout = read_layout(out)
    if recipe is None or layout is None:
        raise ConfigError(
            f"--merge --out {out}: not a folder extracted with gf extract --shard (no "
            f"{os.path.join(PARTS_DIR, LAYOUT_NAME) if recipe is not None else 'features.json'}); a folder "
            f"extracted in one run is complete as it is, nothing to merge")
    return recipe, layout


def _plans(out: str, count: int, stack: contextlib.ExitStack) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Each part's plan, read under that part's lock (held until the merge ends), and the
    problems: parts running, never started or not finished."""
    plans, problems = [], []
    for index in range(count):
        folder = os.path.join(out, PARTS_DIR, part_name(index, count))
        plan_path = os.path.join(folder, PLAN_NAME)
        if not os.path.exists(plan_path):
            problems.append(f"part {index}/{count} never ran (no {plan_path}): run it with --shard {index}/{count}")
            continue
        try:
            stack.enter_context(output_lock(folder, "gf extract --merge"))
        except OutputLockedError as e:
            who = f"process {e.pid}" if e.pid is not None else "another process"
            problems.append(f"part {index}/{count} is still running ({who}): wait for it")
            continue
        plan = read_plan(plan_path, (index, count))
        if not plan.get("done"):
            problems.append(f"part {index}/{count} did not finish (stopped or killed): rerun it with the same "
                            f"command (--shard {index}/{count}); it resumes")
            continue
        plans.append(plan)
    return plans, problems


def _stored(out: str, fmt: str) -> Dict[str, List[str]]:
    """``key -> [files holding it]``, read from the features themselves: every ``.tar`` in
    ``out`` (as the builders' store reads the folder), or every ``.npy``."""
    stored: Dict[str, List[str]] = {}
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        if fmt == "webdataset" and name.endswith(".tar"):
            for key in shard_keys(path):
                stored.setdefault(key, []).append(name)
        elif fmt == "npy" and name.endswith(".npy"):
            stored.setdefault(name[:-4], []).append(name)
    return stored


def _part_failures(out: str, plan: Dict[str, Any], stored: Dict[str, List[str]]) -> List[Dict[str, Any]]:
    path = os.path.join(out, PARTS_DIR, part_name(*plan["shard"]), FAILURES_NAME)
    rows = load_jsonl(path, "failures list") if os.path.exists(path) else []
    return [r for r in rows if isinstance(r, dict) and str(r.get("key")) not in stored]


def _check(plans: List[Dict[str, Any]], layout: Dict[str, Any], stored: Dict[str, List[str]],
           failures: List[Dict[str, Any]]) -> List[str]:
    """Every sample of every part stored exactly once or failed, and nothing else stored."""
    problems = []
    for plan in plans:
        if plan.get("fingerprint") != layout.get("fingerprint"):
            problems.append(f"part {plan['shard'][0]}/{plan['shard'][1]} listed other samples than the array's "
                            f"layout: rerun it with the same --videos and --windows as the others")
    failed = {str(f.get("key")) for f in failures}
    owner = {str(k): f"{p['shard'][0]}/{p['shard'][1]}" for p in plans for k in p.get("keys", [])}
    missing = sorted(k for k in owner if k not in stored and k not in failed)
    if missing:
        parts = sorted({owner[k] for k in missing})
        problems.append(f"{len(missing)} sample(s) neither stored nor listed as failed ({describe_ids(missing)}) of "
                        f"part(s) {', '.join(parts)}: rerun those parts with the same command")
    twice = {k: files for k, files in stored.items() if len(files) > 1}
    if twice:
        key = sorted(twice)[0]
        problems.append(f"{len(twice)} key(s) stored more than once, e.g. {key!r} in {' and '.join(twice[key])}: "
                        f"delete one of the files")
    stray = sorted(k for k in stored if k not in owner)
    if stray and len(plans) == layout.get("parts"):
        problems.append(f"{len(stray)} stored key(s) belong to no part ({describe_ids(stray)}, e.g. in "
                        f"{stored[stray[0]][0]}): they were not extracted by this array; remove their files")
    return problems


def merge(out: str) -> MergeSummary:
    """Check the parts of ``out`` and write its merged failure lists and ``index.json``;
    raises a :class:`DataFileError` naming every problem when the folder is not whole (and
    writes nothing but ``state.json``, ``done: false``; what an earlier merge wrote, the index
    and the merged failure lists, is removed). A whole folder is marked ``done: true`` (:mod:`gf.datasets.extract_state`).
    Failed samples are returned in the summary, not raised."""

    recipe, layout = _layout(out)
    count = int(layout["parts"])
    fmt = recipe["output"]["format"]
    with folder_lock(out, "gf extract --merge"), contextlib.ExitStack() as stack:
        plans, problems = _plans(out, count, stack)
        stored = _stored(out, fmt)
        by_part = {"{}/{}".format(*plan["shard"]): _part_failures(out, plan, stored) for plan in plans}
        failures = [f for part_failures in by_part.values() for f in part_failures]
        problems += _check(plans, layout, stored, failures)
        if problems:  # what an earlier merge wrote no longer describes the folder, nor is it whole
            write_state(out, done=False, parts=count)
            forget_merge(out)
            raise DataFileError(f"--merge --out {out}: the {count} parts are not whole: " + "; ".join(problems))
        write_failures(out, failures)
        by_file: Dict[str, List[str]] = {}
        for key in sorted(stored):
            by_file.setdefault(stored[key][0], []).append(key)
        files = dict(sorted(by_file.items()))
        atomic_write_json(os.path.join(out, INDEX_NAME), {
            "written_by": "gf extract --merge", "written": utc_now(), "format": fmt, "parts": count,
            "fingerprint": layout.get("fingerprint"), "samples": len(stored), "failed": len(failures),
            "files": files}, indent=None)
        write_state(out, done=True, parts=count, stored=len(stored), failed=len(failures))
    windows = bool((recipe.get("sampling") or {}).get("windows"))
    return MergeSummary(out=out, parts=count, samples=len(stored), failures=failures, windows=windows,
                        failed_parts=[part for part, rows in by_part.items() if rows])
