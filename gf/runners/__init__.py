"""Runners (the training / evaluation loop), its hooks, :func:`build_runner`, and the
commands that run them (``gf train``, ``gf evaluate``, ``gf validate``,
``gf summarize-seeds``).

Importing this package is light (no torch), so ``gf evaluate --predictions`` and
``gf validate`` start fast; the registry imports the runner and the hooks when they are
first looked up (``KINDS`` in :mod:`gf.common.registry`).
"""


def __getattr__(name):
    if name == "build_runner":
        from gf.runners.build import build_runner

        return build_runner
    raise AttributeError(f"module 'gf.runners' has no attribute {name!r}")
