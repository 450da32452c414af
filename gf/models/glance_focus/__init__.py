"""Glance-Focus: model, losses, matcher, spans and the authors' checkpoint import."""
from . import variants  # noqa: F401  (registers the model types)
from .config import GlanceFocusConfig
from .model import GlanceFocus

__all__ = ["GlanceFocus", "GlanceFocusConfig"]
