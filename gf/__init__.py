"""gf: train, evaluate and compare models on multi-event video question answering.

Importing gf is cheap: it loads neither torch nor any model code. Components register
themselves in :data:`gf.registry` and are imported on first lookup.
"""
__version__ = "0.1.0"

from gf.common.registry import registry  # noqa: E402  (light: no torch)

__all__ = ["registry", "__version__"]
