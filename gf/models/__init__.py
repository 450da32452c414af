"""Models. Importing this package registers the built-in models and their variants."""
from .glance_focus import GlanceFocus, GlanceFocusConfig  # noqa: F401
