"""The ``gf`` command line: ``gf <command> ...``. Each command lives in its own function."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

KIND_ALIASES = {
    "models": "model", "model": "model",
    "datasets": "builder", "dataset": "builder", "builders": "builder", "builder": "builder",
    "processors": "processor", "processor": "processor",
    "tasks": "task", "task": "task",
    "runners": "runner", "runner": "runner",
    "lr_schedulers": "lr_scheduler", "lr_scheduler": "lr_scheduler", "schedulers": "lr_scheduler",
}


def cmd_list(args) -> int:
    from gf.common.registry import registry

    if args.kind is not None and args.kind not in KIND_ALIASES:
        print(f"gf list: unknown kind {args.kind!r}; choose from: "
              f"{', '.join(sorted(set(KIND_ALIASES.values())))}", file=sys.stderr)
        return 2
    kinds = [KIND_ALIASES[args.kind]] if args.kind else list(registry.registries)
    for kind in kinds:
        names = registry.kind(kind).names(args.pattern)
        print(f"{kind}s:" if len(kinds) > 1 else f"{kind}s ({len(names)}):")
        for name in names:
            line = f"  {name}"
            if kind == "model":
                types = registry.list_model_types(name)
                if types:
                    line += f"  model_types: {', '.join(types)}"
            print(line)
        if not names:
            print("  (none)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from gf import __version__

    parser = argparse.ArgumentParser(prog="gf", description="Glance-Focus and multi-event VideoQA suite")
    parser.add_argument("--version", action="version", version=f"gf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    p = sub.add_parser("list", help="list registered components")
    p.add_argument("kind", nargs="?", help="models | datasets | processors | tasks | runners | lr_schedulers")
    p.add_argument("pattern", nargs="?", help="substring or shell pattern to filter names")
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
