"""``gf leaderboard run``: evaluate every (entry, benchmark, split) of a manifest, once.

Why the work is organised this way (what a user sees of each point: docs/leaderboards.md,
"What is kept, and when it is trusted", "Parallel and distributed" and "Temporal
sensitivity"):

* **Cached by what the figures depend on.** Each result is keyed (:mod:`.results`) and
  records its input files and its own files (:mod:`.freshness`), so a rerun skips what is
  done, a damaged or out-of-date result is computed again, and the board can tell a stale
  row from a current one.
* **One failure is one failure.** It is recorded in its result's ``failed.json``; the other
  results go on, and the command ends non-zero naming the failures.
* **Shared work.** In one process, the entries on a split share the built split, and
  models with the same frozen text encoder share it and its cache (:mod:`.text_pool`).
* **Seeds and probes are results of their own** (:attr:`WorkItem.seed`,
  :attr:`WorkItem.probe`): a seed added later is the only thing computed, and a probe item
  follows the unperturbed item of the same checkpoint, so the model is loaded once.
* **Parallel and distributed.** ``jobs`` spreads entries over processes on one machine
  (:mod:`.parallel`), ``shard=(i, n)`` over machines that share the output folder. Each
  result is written under its own lock, atomically.
"""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

from gf.common.errors import ConfigError
from gf.common.sharding import check_shard
from gf.leaderboards.manifest import Manifest
from gf.leaderboards.work import RunSummary, WorkItem, evaluate_items

__all__ = ["RunSummary", "WorkItem", "check_jobs", "plan", "run_leaderboard", "select_shard"]


def check_jobs(jobs: Any, option: str = "--jobs") -> int:
    """``jobs`` as the number of processes to use: an integer >= 1, else a ConfigError naming
    the option, the value and the range."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"{option} must be an integer >= 1 (the number of processes), got {jobs!r}")
    return jobs


def plan(manifest: Manifest, only: Optional[Sequence[str]] = None) -> List[WorkItem]:
    items = [WorkItem(*t) for t in manifest.work_items()]
    if only:
        names = [e.name for e in manifest.entries]
        unknown = [o for o in only if o not in names]
        if unknown:
            from gf.common.utils import did_you_mean

            raise ConfigError(f"--only: no entry named {', '.join(map(repr, unknown))} in {manifest.path}."
                              f"{did_you_mean(unknown[0], names)} Entries: {', '.join(names)}.")
        items = [i for i in items if i.entry in only]
    return items


def select_shard(items: Sequence[WorkItem], shard: Optional[Tuple[int, int]]) -> List[WorkItem]:
    """The shard's items: every n-th from i, so each shard gets a similar mix of entries."""
    if shard is None:
        return list(items)
    index, count = shard
    return list(items[index::count])


def one_line(message: Optional[str], limit: int = 600) -> str:
    """A failure's message on one line, shortened: enough to act on in a summary."""
    text = " ".join(line.strip() for line in (message or "").splitlines() if line.strip())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_leaderboard(manifest: Manifest, *, jobs: int = 1,
                    only: Optional[Sequence[str]] = None, shard: Optional[Tuple[int, int]] = None,
                    progress: bool = True, plugins: Sequence[str] = ()) -> RunSummary:
    """Evaluate the manifest's work (or its shard / its ``only`` entries); with ``jobs`` > 1,
    through :mod:`.parallel`."""
    from tqdm.auto import tqdm

    from gf.leaderboards.folder import check_manifest_record, write_manifest_record

    # everything that can refuse the run comes before the folder is made: a refused run leaves nothing
    jobs = check_jobs(jobs)
    shard = check_shard(shard)
    root = Path(manifest.output_dir)
    items = select_shard(plan(manifest, only), shard)
    check_manifest_record(root / "manifest.json", manifest)
    write_manifest_record(root, manifest, plugins)
    run_id = uuid.uuid4().hex
    summary = RunSummary()
    if not items:
        return summary
    bar = tqdm(total=len(items), desc=f"leaderboard {manifest.name}", unit="result", disable=not progress,
               dynamic_ncols=True)
    counts = {"computed": 0, "cached": 0, "failed": 0, "busy": 0}

    def tick(item: WorkItem, outcome: str, error: Optional[str]) -> None:
        counts[outcome] += 1
        bar.set_postfix(counts, refresh=False)
        bar.update(1)
        if outcome == "failed":
            bar.write(f"[gf] {item}: failed: {one_line(error)}")

    try:
        if jobs <= 1:
            summary = evaluate_items(manifest, root, items, run_id, on_item=tick)
        else:
            from gf.leaderboards.parallel import run_parallel

            summary = run_parallel(manifest, root, items, run_id, jobs, tick, plugins)
    finally:
        bar.close()
    return summary
