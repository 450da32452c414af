"""Glance-Focus: model, losses, matcher, spans and the authors' checkpoint import."""
from .config import GlanceFocusConfig
from .model import GlanceFocus

__all__ = ["GlanceFocus", "GlanceFocusConfig"]
