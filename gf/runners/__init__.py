"""Runners (the training / evaluation loop), its hooks, and :func:`build_runner`.

Importing this package registers the built-in runner and hooks.
"""
from gf.runners import grounding_diagnostics, hooks, runner_base  # noqa: F401
from gf.runners.build import build_runner  # noqa: F401
