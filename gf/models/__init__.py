"""Models. Importing this package registers the built-in models (their variants are in the
benchmark folders, ``gf/benchmarks/<name>/models.py``)."""
from .glance_focus import GlanceFocus, GlanceFocusConfig  # noqa: F401
