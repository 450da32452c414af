"""Arguments and entry point of ``gf zoo list`` and ``gf zoo publish``: the pretrained model entries."""
from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    zsub = parser.add_subparsers(dest="zoo_command", metavar="<zoo command>", required=True)
    z = zsub.add_parser("list", help="list zoo entries")
    z.add_argument("model", nargs="?")
    z.add_argument("--plugins", nargs="+", action="extend", default=[], metavar="MODULE",
                   help="modules to import first, whose zoo entries (register_pretrained) are listed too")
    z = zsub.add_parser("publish", help="publish a gf checkpoint as a zoo entry (sha256 recorded)")
    z.add_argument("checkpoint")
    z.add_argument("--name", required=True, help="e.g. glance_focus/demo_sup")
    z.add_argument("--url", help="where the file will be served (default: its file:// URI)")
    z.add_argument("--zoo-file", help="zoo JSON to write (default: $GF_ZOO or $GF_CACHE_DIR/zoo.json)")
    z.add_argument("--reported", help="JSON dict of reported figures (with a 'source')")


def run(args) -> int:
    from gf.models import zoo

    if args.zoo_command == "publish":
        entry = zoo.publish_checkpoint(args.checkpoint, args.name, url=args.url, zoo_file=args.zoo_file,
                                       reported=_reported(args.reported))
        written = args.zoo_file or zoo.user_zoo_file()
        print(f"{entry.name}\n  url {entry.url}\n  sha256 {entry.sha256}\n  written to {written}")
        return 0
    from gf.common.config import load_plugins

    load_plugins(getattr(args, "plugins", None) or [], "--plugins")
    for e in zoo.pretrained_entries(args.model):
        print(f"{e.name}  format={e.format} benchmark={e.benchmark} sha256={e.sha256 or 'not yet known'}")
    return 0


def _reported(text):
    """``--reported``: a JSON object, or an error saying so (not a JSONDecodeError traceback)."""
    import json

    from gf.common.errors import ConfigError

    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"--reported is not JSON ({e}); give an object, e.g. "
                          f"'{{\"mean\": 96.5, \"source\": \"gf evaluate, seeds 0-9\"}}'") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--reported must be a JSON object of figures, got {type(value).__name__}")
    return value
