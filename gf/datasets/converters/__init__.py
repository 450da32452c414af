"""Converters from each benchmark's official release to gf's on-disk layout (`gf prepare`).

Each converter module registers one function ``convert(raw_dir, out_dir, **options) ->
dict`` (a summary of what was written) with :func:`register_converter`. Modules are
imported on first use, so `import gf` stays light.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Dict

_CONVERTERS: Dict[str, Callable[..., Dict[str, Any]]] = {}
_MODULES = ("star", "agqa", "egotaskqa", "nextqa")


def register_converter(name: str):
    def deco(fn):
        if name in _CONVERTERS and _CONVERTERS[name] is not fn:
            raise ValueError(f"converter {name!r} is already registered")
        _CONVERTERS[name] = fn
        return fn

    return deco


def _load() -> None:
    for mod in _MODULES:
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{mod}":
                raise


def list_converters():
    _load()
    return sorted(_CONVERTERS)


def prepare(benchmark: str, raw_dir, out_dir, **options) -> Dict[str, Any]:
    """Convert ``raw_dir`` (the official release) into ``out_dir`` (gf's layout)."""
    _load()
    if benchmark not in _CONVERTERS:
        raise ValueError(f"no converter for {benchmark!r}; known: {', '.join(sorted(_CONVERTERS)) or '(none)'}")
    return _CONVERTERS[benchmark](raw_dir, out_dir, **options)
