"""Arguments and entry point of ``gf prepare``: convert a benchmark's official release into gf's layout."""
from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("benchmark", help="star | agqa | egotaskqa | nextqa (gf list converters)")
    parser.add_argument("--raw", required=True, help="folder with the official release files")
    parser.add_argument("--out", required=True, help="output folder, e.g. $DATA_ROOT/NExT-QA")
    parser.add_argument("--set", nargs="+", action="extend", metavar="KEY=VALUE",
                        help="converter options (JSON values)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the annotations gf prepare wrote before (other files in --out are kept)")
    parser.add_argument("--plugins", nargs="+", action="extend", metavar="MODULE",
                        help="modules to import first (a plugin's converter)")


_OWN_FLAGS = {"benchmark": "the benchmark argument", "raw_dir": "--raw", "out_dir": "--out", "overwrite": "--overwrite"}


def run(args) -> int:
    import json

    from gf.common.config import load_plugins
    from gf.datasets.converters import prepare

    from gf.common.errors import ConfigError

    load_plugins(args.plugins or [], "--plugins")
    options = {}
    for item in args.set or []:
        if "=" not in item:
            raise ConfigError(f"--set entries must look like key=value, got {item!r}")
        key, value = item.split("=", 1)
        if key in _OWN_FLAGS:  # prepare's own parameters: a clash would be a TypeError
            raise ConfigError(f"--set {item!r}: {key} is given by {_OWN_FLAGS[key]}, not --set")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    from gf.evaluation import check_distinct_paths

    check_distinct_paths({"--raw": args.raw}, {"--out": args.out})  # the release is never written over
    summary = prepare(args.benchmark, args.raw, args.out, overwrite=args.overwrite, **options)
    print(json.dumps(summary, indent=2, default=str))
    return 0
