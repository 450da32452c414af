"""``gf leaderboard run`` and ``gf leaderboard show``: the command-line side of :mod:`gf.leaderboards`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="leaderboard_command", metavar="<leaderboard command>", required=True)
    p = sub.add_parser("run", help="evaluate every entry x benchmark x split of a manifest (cached, resumable), "
                                   "then write the board")
    p.add_argument("--manifest", required=True, help="leaderboard manifest YAML (projects/leaderboards/<name>.yaml)")
    p.add_argument("--jobs", default="1", help="evaluate entries in this many processes (an integer >= 1; "
                                               "default 1)")
    p.add_argument("--only", nargs="+", action="extend", metavar="ENTRY",
                   help="evaluate only these entries (the board shows all)")
    p.add_argument("--shard", metavar="I/N", help="run the I-th (from 0) of N disjoint parts of the work, e.g. "
                                                  "${SLURM_ARRAY_TASK_ID}/4; shards share the output folder")
    p.add_argument("--output-dir", help="override the manifest's output_dir")
    p.add_argument("--plugins", nargs="+", action="extend", metavar="MODULE",
                   help="modules to import first (plugin benchmarks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p = sub.add_parser("show", help="re-render the board of a leaderboard folder from the finished results")
    p.add_argument("folder", help="the leaderboard's output folder")
    p.add_argument("--plugins", nargs="+", action="extend", metavar="MODULE",
                   help="modules to import first (plugin benchmarks)")


def _jobs(text: str) -> int:
    """``--jobs`` as an integer >= 1 (read here, not by argparse, so that a bad value is a
    ConfigError naming the option, the value and the range)."""
    from gf.common.errors import ConfigError
    from gf.leaderboards.engine import check_jobs

    try:
        return check_jobs(int(str(text).strip()))
    except ValueError:  # not a number, or one out of range (ConfigError is a ValueError)
        raise ConfigError(f"--jobs must be an integer >= 1 (the number of processes), got {text!r}") from None


def _render(root: Path) -> None:
    from gf.leaderboards.board import assemble_board
    from gf.leaderboards.folder import hold_board, load_saved_record
    from gf.leaderboards.render import render_all, render_markdown

    load_saved_record(root)  # a folder without a leaderboard is refused before the lock would create it
    with hold_board(root):
        board = assemble_board(root)
        written = render_all(board, root)
    print(render_markdown(board))
    print(f"[gf] leaderboard written to {written['markdown']}, {written['html']}, {written['csv']}, "
          f"{written['json']} and {len(written['plots'])} plot(s) in {root / 'plots'}", file=sys.stderr)


def run(args) -> int:
    from gf.common.config import load_plugins
    from gf.common.errors import EvaluationError

    load_plugins(args.plugins or [], "--plugins")
    if args.leaderboard_command == "show":
        _render(Path(args.folder))
        return 0
    from gf.common.sharding import parse_shard
    from gf.leaderboards.engine import one_line, run_leaderboard
    from gf.leaderboards.manifest import load_manifest

    jobs = _jobs(args.jobs)  # every option is checked before anything is read or written
    shard = parse_shard(args.shard) if args.shard is not None else None
    manifest = load_manifest(args.manifest)
    if args.output_dir:
        manifest.output_dir = args.output_dir
    summary = run_leaderboard(manifest, jobs=jobs, only=args.only, shard=shard, progress=not args.no_progress,
                              plugins=args.plugins or [])
    print(f"[gf] {len(summary.computed)} computed, {len(summary.cached)} already done, "
          f"{len(summary.busy)} being computed by another process, {len(summary.failed)} failed", file=sys.stderr)
    failures = None
    if summary.failed:
        lines = "; ".join(f"{item}: {one_line(error, 300)}" for item, error in summary.failed.items())
        failures = (f"{len(summary.failed)} result(s) failed (each recorded in its failed.json under "
                    f"{Path(manifest.output_dir) / 'results'}; the board lists them): {lines}")
    try:
        _render(Path(manifest.output_dir))
    except Exception as e:
        if failures is None:
            raise
        raise EvaluationError(f"{failures}; writing the board failed too: {one_line(str(e), 300)}") from e
    if failures:
        raise EvaluationError(failures)
    return 0
