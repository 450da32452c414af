"""The ``gf`` command line: ``gf <command> ...``. :data:`COMMANDS` names each command's
module, imported only when that command is parsed (so ``gf --help`` imports no torch).
How the commands are laid out: README.md, "How gf is built"; how :func:`main` reports a
:class:`~gf.common.errors.GfError`, ``--debug`` and the exit codes: README.md, "Errors".
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import List, Optional

#: name -> (module with ``add_arguments(parser)`` and ``run(args)``, help), in ``gf --help``'s order
COMMANDS = {
    "list": ("gf.list_cli", "list registered components"),
    "validate": ("gf.runners.validate_cli", "check a config without running it"),
    "train": ("gf.runners.train_cli", "train (and finally test) as the config says"),
    "summarize-seeds": ("gf.runners.seeds_cli", "re-write the seeds summary of a gf train --seeds folder from its "
                                                "seed<N> runs (e.g. after a SLURM array), without training"),
    "evaluate": ("gf.runners.evaluate_cli", "evaluate a checkpoint, or re-score a predictions file"),
    "prepare": ("gf.datasets.converters.cli", "convert a benchmark's official release into gf's layout"),
    "download": ("gf.datasets.download_cli", "download a file (http(s)://, file://, hf://, Google Drive) into the "
                                           "cache, or a data bundle (data:star) into the data root"),
    "zoo": ("gf.models.zoo_cli", "pretrained model entries: list, publish"),
    "extract": ("gf.extraction.cli", "features from videos (decord, PyAV fallback), per frame "
                                     "(timm) or per clip (torchvision, transformers), into "
                                     "webdataset shards or another store; --verify compares with a "
                                     "reference"),
    "predict": ("gf.inference.cli", "answer a question about a video file: features made with the checkpoint's "
                                    "own extraction recipe, option scores and the predicted events"),
    "leaderboard": ("gf.leaderboards.cli", "batch evaluation: many checkpoints x benchmarks, with intervals, "
                                           "significance, tables, plots and an HTML page"),
    "demo-data": ("gf.benchmarks.synthetic.cli", "the synthetic demo benchmark of a config (generated through its "
                                                 "builder when needed), rendered as small videos for the demo from "
                                                 "pixels"),
}


class _CommandParser(argparse.ArgumentParser):
    """A command's parser: its module adds the arguments (and ``func``, its ``run``) the first
    time the command is parsed or its help shown."""

    def __init__(self, *args, module: Optional[str] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._module = module

    def _load(self) -> None:
        if self._module is not None:
            module, self._module = importlib.import_module(self._module), None
            module.add_arguments(self)
            self.set_defaults(func=module.run)

    def parse_known_args(self, args=None, namespace=None):
        self._load()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._load()
        return super().format_usage()

    def format_help(self) -> str:
        self._load()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    from gf.version import __version__

    parser = argparse.ArgumentParser(prog="gf", description="Glance-Focus and multi-event VideoQA suite")
    parser.add_argument("--version", action="version", version=f"gf {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of gf's errors too")
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_CommandParser)
    for name, (module, text) in COMMANDS.items():
        sub.add_parser(name, help=text, module=module)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from gf.common.errors import GfError

    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, so that a reader gone early is handled below and not at exit
        return code
    except BrokenPipeError:
        if not _stdout_gone():
            raise
        # the reader (``gf ... | head``) has what it wanted: end quietly, as a command stopped by SIGPIPE does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
        return 141
    except GfError as e:
        if args.debug:
            raise
        return _report(args.command, e)
    except RuntimeError as e:
        peer = _peer_failure(e)
        if peer is None or args.debug:
            raise
        return _report(args.command, peer)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"gf {args.command}: interrupted; {_AFTER_INTERRUPT.get(args.command, _ATOMIC)}", file=sys.stderr)
        return 130  # the shell's code for a command stopped by SIGINT


def _report(command: str, error) -> int:
    message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    print(f"gf {command}: error: {message}", file=sys.stderr)
    return error.exit_code


def _peer_failure(error: RuntimeError):
    """A torchrun peer's failure as gf's error (:func:`gf.common.dist.peer_failure`), else
    None. Without torch.distributed loaded no collective ran, and gf --help imports no torch."""
    if "torch.distributed" not in sys.modules:
        return None
    from gf.common.dist import peer_failure

    return peer_failure(error)


def _stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it. Why ask: a BrokenPipeError from
    anything else (a socket, a worker's pipe) is a real failure and keeps its traceback."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() (Windows), or no real stdout
        return False


_ATOMIC = "files are written whole or not at all, so nothing half-written is left"
#: What continues an interrupted command, where it can be continued.
_AFTER_INTERRUPT = {
    "train": f"{_ATOMIC}. Continue with --resume auto (from checkpoint_last.pth, written after each epoch)",
    "extract": f"{_ATOMIC}. Run the same command again: it skips the videos already stored",
    "download": f"{_ATOMIC}. Run the same command again: it resumes the partial download",
}


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
