"""Converters from each benchmark's official release to gf's on-disk layout (`gf prepare`).

Each converter module registers one function ``convert(raw_dir, out_dir, **options) ->
dict`` (a summary of what was written) as a ``converter`` in gf's registry
(``@registry.register_converter("star")``), so a plugin can add a benchmark the same way.
The registry imports this package on the first converter lookup, so `import gf` stays
light.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from gf.common.registry import registry

# Imported for their registrations (the registry's lazy builtin import lands here).
from gf.datasets.converters import agqa, egotaskqa, nextqa, star  # noqa: E402,F401

__all__ = ["list_converters", "prepare"]


def list_converters(pattern: Optional[str] = None) -> List[str]:
    """Registered converter names (built-in and plugins), sorted."""
    return registry.list("converter", pattern)


def prepare(benchmark: str, raw_dir, out_dir, **options) -> Dict[str, Any]:
    """Convert ``raw_dir`` (the official release) into ``out_dir`` (gf's layout).

    An unknown ``benchmark`` raises the registry's error, which lists the known and close
    names.
    """
    return registry.get("converter", benchmark)(raw_dir, out_dir, **options)
