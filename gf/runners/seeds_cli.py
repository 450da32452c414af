"""Arguments and entry point of ``gf summarize-seeds``: re-write the seeds summary of a
``gf train --seeds`` folder from its ``seed<N>`` runs, without training."""
from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", help="the run.output_dir that holds seed<N>/ folders")
    parser.add_argument("--seeds", type=int, nargs="+", action="extend", metavar="N",
                        help="the seeds to summarise (default: every seed<N> folder); unfinished ones are listed")


def run(args) -> int:
    from gf.runners.seeds import format_summary, summarize, write_summary

    summary = summarize(args.output_dir, args.seeds)
    write_summary(args.output_dir, summary)
    print(format_summary(summary))
    return 0
