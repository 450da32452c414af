"""gf: train, evaluate and compare models on multi-event video question answering.

Importing gf is cheap: it loads neither torch nor any model code. Components register
themselves in :data:`gf.registry` and are imported on first lookup; the Python API
(``gf.load_model``, ``gf.load_model_and_preprocess``, ``gf.load_dataset``) is imported on
first use.
"""
from gf.common.registry import registry  # light: no torch
from gf.version import __version__

_LAZY_API = ("load_model", "load_model_and_preprocess", "load_dataset")

__all__ = ["registry", "__version__", *_LAZY_API]


def __getattr__(name):
    if name in _LAZY_API:
        from gf import api

        return getattr(api, name)
    raise AttributeError(f"module 'gf' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_API))
