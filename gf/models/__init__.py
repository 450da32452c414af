"""Models. The built-in models register when the registry first looks up the kind ``"model"``
(it imports :mod:`gf.models.glance_focus`; their variants are in the benchmark folders,
``gf/benchmarks/<name>/models.py``). Importing this package alone imports no torch, so
``gf.models.zoo`` (``gf zoo list``, ``gf list pretrained``) stays light; ``GlanceFocus`` and
``GlanceFocusConfig`` are imported on first use."""

_LAZY = ("GlanceFocus", "GlanceFocusConfig")
__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        from gf.models import glance_focus

        return getattr(glance_focus, name)
    raise AttributeError(f"module 'gf.models' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
