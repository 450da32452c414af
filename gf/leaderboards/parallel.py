"""``gf leaderboard run --jobs N``: the work spread over N fresh processes on one machine.

Why apart from the engine: :mod:`.work` evaluates items in one process; this only deals the
items out (an entry's items, a seed group member's, stay together, so its model is built
once per process), gathers each outcome as it comes and notices a worker that died without
reporting (killed, out of memory), whose items then count as failed.
"""
from __future__ import annotations

import os
from dataclasses import astuple
from pathlib import Path
from queue import Empty
from typing import Any, Dict, List, Optional, Sequence, Tuple

from gf.leaderboards.manifest import Manifest, manifest_from_dict
from gf.leaderboards.work import RunSummary, WorkItem, evaluate_items

__all__ = ["exit_with_parent", "run_parallel"]


def exit_with_parent() -> None:
    """End this process when the process that started it ends: a ``gf leaderboard run``
    killed outright (``kill -9``, out of memory) runs no cleanup, and its workers would go on
    evaluating, holding locks, for a board nobody writes. A watcher thread waits on
    multiprocessing's sentinel of the parent; nothing a worker writes is lost by its exit
    (writes are atomic and the next run recomputes what is missing)."""
    import multiprocessing as mp
    import sys
    import threading

    parent = mp.parent_process()
    if parent is None:  # not started by multiprocessing
        return

    def watch() -> None:
        parent.join()
        print(f"[gf] leaderboard worker {os.getpid()}: the gf leaderboard process ended; stopping",
              file=sys.stderr, flush=True)
        os._exit(1)

    threading.Thread(target=watch, name="gf-exit-with-parent", daemon=True).start()


def worker(manifest_data: Dict[str, Any], root: str, items: List[Tuple[Any, ...]], run_id: str, queue,
           threads: int, plugins: Sequence[str]) -> None:
    """One ``--jobs`` process: its entries' items, each outcome sent to the parent."""
    exit_with_parent()
    import torch

    from gf.common.config import load_plugins

    torch.set_num_threads(max(1, threads))
    load_plugins(plugins)
    manifest = manifest_from_dict(manifest_data["source"], where=manifest_data["path"])
    manifest.output_dir = manifest_data["output_dir"]

    def report(item: WorkItem, outcome: str, error: Optional[str]) -> None:
        queue.put((astuple(item), outcome, error))

    try:
        evaluate_items(manifest, Path(root), [WorkItem(*i) for i in items], run_id, on_item=report)
    finally:
        queue.put(None)


def run_parallel(manifest: Manifest, root: Path, items: Sequence[WorkItem], run_id: str,
                 jobs: int, tick, plugins: Sequence[str]) -> RunSummary:
    """Evaluate ``items`` in ``min(jobs, members)`` processes; ``tick(item, outcome, error)``
    as each outcome arrives."""
    import multiprocessing as mp

    groups: Dict[str, List[Tuple[Any, ...]]] = {}
    for item in items:  # a seed group's members are different models: spread them too
        groups.setdefault(item.member, []).append(astuple(item))  # WorkItem(*t) gives it back
    buckets: List[List[Tuple[Any, ...]]] = [[] for _ in range(min(jobs, len(groups)))]
    for k, entry_items in enumerate(groups.values()):
        buckets[k % len(buckets)].extend(entry_items)
    ctx = mp.get_context("spawn")  # a fresh interpreter: no inherited torch threads or locks
    queue = ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // len(buckets))
    data = {"source": manifest.source, "path": manifest.path, "output_dir": manifest.output_dir}
    procs = [ctx.Process(target=worker, args=(data, str(root), bucket, run_id, queue, threads, list(plugins)),
                         daemon=False) for bucket in buckets]
    for p in procs:
        p.start()
    summary = RunSummary()
    finished = 0
    try:
        while finished < len(procs):
            try:
                message = queue.get(timeout=1.0)
            except Empty:  # nothing for a second: check that the workers are alive
                if all(p.exitcode is not None for p in procs) and any(p.exitcode != 0 for p in procs):
                    if queue.empty():  # every message of the workers that did report has been read
                        break
                continue
            if message is None:
                finished += 1
                continue
            fields, outcome, error = message
            item = WorkItem(*fields)
            summary.add(item, outcome, error)
            tick(item, outcome, error)
    finally:
        for p in procs:
            p.join()
    done = set(summary.computed) | set(summary.cached) | set(summary.busy) | set(summary.failed)
    for item in items:  # a worker that died (killed, out of memory) left its items unreported
        if item not in done:
            summary.failed[item] = "the worker process evaluating it exited before reporting a result " \
                                   f"(exit codes {[p.exitcode for p in procs]})"
    return summary
