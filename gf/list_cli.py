"""Arguments and entry point of ``gf list``: the registered components, the zoo's pretrained
entries and the data bundles (every kind of ``registry.KINDS``). At the top of the package
because it reads every layer; ``gf/common`` must not import the layers above it."""
from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def _kind_aliases():
    """Every name ``gf list`` takes for a kind: each of ``registry.KINDS`` as it is and in the
    plural (``model``, ``models``), plus a few other words users type. A kind added to the
    registry is listed with no edit here."""
    from gf.common.registry import plural, registry

    aliases = {"datasets": "builder", "dataset": "builder", "schedulers": "lr_scheduler", "stores": "feature_store",
               "zoo": "pretrained", "bundles": "data"}
    for kind in registry.KINDS:
        aliases[kind] = aliases[plural(kind)] = kind
    return aliases


KIND_ALIASES = _kind_aliases()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", nargs="?", help="models | datasets | processors | tasks | runners | hooks | optimizers | "
                                                "lr_schedulers | evaluators | converters | feature_stores | pretrained | data | "
                                                "probes")
    parser.add_argument("pattern", nargs="?", help="substring or shell pattern to filter names")
    parser.add_argument("--plugins", nargs="+", action="extend", metavar="MODULE",
                        help="modules to import first (as under plugins:)")


def run(args) -> int:
    from gf.common.config import load_plugins
    from gf.common.errors import ConfigError
    from gf.common.registry import plural, registry
    from gf.common.utils import did_you_mean

    load_plugins(args.plugins or [], "--plugins")
    if args.kind is not None and args.kind not in KIND_ALIASES:
        raise ConfigError(f"unknown kind {args.kind!r}.{did_you_mean(args.kind, KIND_ALIASES)} Choose from: "
                          f"{', '.join(sorted(set(KIND_ALIASES.values())))}.")
    kinds = [KIND_ALIASES[args.kind]] if args.kind else list(registry.registries)
    for kind in kinds:
        names = registry.list(kind, args.pattern)
        label = plural(kind)
        print(f"{label}:" if len(kinds) > 1 else f"{label} ({len(names)}):")
        for name in names:
            if kind == "data":  # the bundle's key, target folder, url and sha256
                print(f"  {registry.get('data', name).summary()}")
                continue
            line = f"  {name}"
            if kind == "model":
                types = registry.list_model_types(name)
                if types:
                    line += f"  model_types: {', '.join(types)}"
            print(line)
            if kind == "model":
                from gf.models import zoo

                for entry in zoo.pretrained_entries(name):
                    print(f"    pretrained {entry.name}  ({entry.format}, {entry.benchmark or '-'}, "
                          f"sha256 {entry.sha256 or 'not yet known'})")
        if not names:
            print("  (none)")
    return 0
