"""One registry per kind of component, filled by decorators.

Why a registry: every command, run script and leaderboard resolves components by the
names written in configs, so a user's own builder or model (registered in their own
package and named under ``plugins:``) is picked up everywhere without edits to gf.

Built-in components register lazily: the first lookup or listing of a kind imports the
gf modules that hold that kind (``_GlobalRegistry.KINDS``; the benchmark folders: README.md,
"How gf is built"), so ``import gf`` stays fast and never imports heavy optional libraries.
"""
from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

from gf.common.errors import ConfigError, RegistryError
from gf.common.utils import did_you_mean, one_line

__all__ = ["Registry", "RegistryError", "plural", "registry"]


class Registry:
    """Maps names to objects for one kind of component (model, builder, ...)."""

    def __init__(self, kind: str, builtin_modules: Iterable[str] = ()):
        self.kind = kind
        self._objects: Dict[str, Any] = {}
        self._builtin_modules = tuple(builtin_modules)
        self._builtins_loaded = False
        #: Optional ``extra_entries(registered) -> {name: object}`` for a kind whose entries
        #: also come from elsewhere (the pretrained kind's user zoo files): called on each
        #: lookup (``get``, ``names``, ``in``) with the registered objects; its entries are
        #: added to them and win on a shared name (so it may bring one up to date). A hook
        #: that reads files keeps its result until they change
        #: (:func:`gf.common.zoo_file.cached_on_zoo_files`).
        self.extra_entries: Optional[Callable[[Mapping[str, Any]], Mapping[str, Any]]] = None

    # -- registration -------------------------------------------------------------
    def register(self, name: str, obj: Any = None):
        """Register ``obj`` under ``name``; usable as ``@reg.register("name")``."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def _do(o):
            if not from_gf(o):  # a plugin: the built-ins first, so a clash refuses the plugin, not them
                self._load_builtins()
            _refuse_clash(f"{self.kind} name {name!r}", self._objects.get(name), o)
            self._objects[name] = o
            return o

        if obj is not None:
            return _do(obj)
        return _do

    def register_entry(self, name: str, entry: Any, conflict: Callable[[Any], Exception]) -> Any:
        """Register a value (a zoo or data entry, not a class): an equal one again is a no-op
        that returns the first; another one under the same name raises ``conflict(old)``."""
        old = self.entries(dynamic=False).get(name)
        if old is not None:
            if old != entry:
                raise conflict(old)
            return old
        return self.register(name, entry)

    # -- lookup -------------------------------------------------------------------
    def _load_builtins(self) -> None:
        if self._builtins_loaded:
            return
        self._builtins_loaded = True
        for mod in self._builtin_modules:
            for name in _expand(mod):
                importlib.import_module(name)

    def entries(self, dynamic: bool = True) -> Dict[str, Any]:
        """name -> object: the registered objects, plus ``extra_entries`` when ``dynamic``."""
        self._load_builtins()
        out = dict(self._objects)
        if dynamic and self.extra_entries is not None:
            out.update(self.extra_entries(dict(self._objects)))
        return out

    def get(self, name: str) -> Any:
        self._load_builtins()
        if self.extra_entries is None and name in self._objects:  # the common case: no copy
            return self._objects[name]
        entries = self.entries()
        try:
            return entries[name]
        except KeyError:
            raise RegistryError(self._unknown_message(name, entries)) from None

    def __contains__(self, name: str) -> bool:
        return name in self.entries()

    def names(self, pattern: Optional[str] = None) -> List[str]:
        """Sorted registered names, optionally filtered by a shell-style pattern."""
        names = sorted(self.entries())
        if pattern:
            if not any(c in pattern for c in "*?["):
                pattern = f"*{pattern}*"
            names = [n for n in names if fnmatch.fnmatch(n, pattern)]
        return names

    def _unknown_message(self, name: str, entries: Mapping[str, Any]) -> str:
        known = sorted(entries)
        return (f"unknown {self.kind} {name!r}.{did_you_mean(str(name), known)} "
                f"Registered {self.kind} names: {', '.join(known) if known else '(none)'}.")

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._objects)} entries)"


def _expand(mod: str) -> List[str]:
    """``mod``, or for ``pkg.*`` every subpackage of ``pkg`` (sorted), e.g. one per benchmark folder."""
    if not mod.endswith(".*"):
        return [mod]
    pkg = importlib.import_module(mod[:-2])
    return [f"{pkg.__name__}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if m.ispkg]


def from_gf(obj: Any) -> bool:
    """Whether ``obj`` is gf's own (a built-in, registered while its kind's built-ins load)."""
    return str(getattr(obj, "__module__", None) or "").split(".")[0] == "gf"


def _same_object(a: Any, b: Any) -> bool:
    if a is b:
        return True
    # Re-importing a module (e.g. a plugin loaded twice by path) yields a new object with
    # the same qualified name; that is the same component, not a clash.
    qa = (getattr(a, "__module__", None), getattr(a, "__qualname__", None))
    qb = (getattr(b, "__module__", None), getattr(b, "__qualname__", None))
    return None not in qa and qa == qb


def _describe(o: Any) -> str:
    mod, qn = getattr(o, "__module__", None), getattr(o, "__qualname__", None)
    return f"{mod}.{qn}" if mod and qn else repr(o)


def _refuse_clash(what: str, old: Any, new: Any) -> None:
    """``what`` (``model name 'x'``) is already ``old``'s: registering ``new`` under it is
    refused, unless it is the same component again."""
    if old is not None and not _same_object(old, new):
        raise RegistryError(f"{what} is already registered to {_describe(old)}; cannot register {_describe(new)} "
                            f"under the same name. Choose another name.")


class _GlobalRegistry:
    """The registries of gf, one per kind, with LAVIS-style decorator helpers.

    Every kind works the same way: ``@registry.register_<kind>(name)`` (or
    ``registry.register(kind, name)``), ``registry.get(kind, name)`` (or
    ``get_<kind>_class``) whose failure lists the known and close names, and
    ``registry.list(kind, pattern)`` (or ``list_<kind>s``); see :func:`_add_kind_helpers`.
    ``gf list`` shows every kind.
    """

    KINDS = {
        "model": ("gf.models.glance_focus", "gf.benchmarks.*"),  # the benchmarks' models.py: model types
        "builder": ("gf.benchmarks.*",),
        "processor": ("gf.processors",),
        "task": ("gf.tasks",),
        "runner": ("gf.runners.runner_base",),
        "hook": ("gf.runners.hooks", "gf.runners.grounding_diagnostics"),
        "optimizer": ("gf.common.optim",),
        "lr_scheduler": ("gf.common.optim",),
        "evaluator": ("gf.benchmarks.*",),
        "converter": ("gf.benchmarks.*",),
        "feature_store": ("gf.datasets.feature_stores", "gf.datasets.webdataset_store"),
        "pretrained": ("gf.models.zoo",),
        "data": ("gf.datasets.data_entries",),  # data bundles (``gf download data:<name>``)
        "probe": ("gf.probes.frames",),
    }

    def __init__(self):
        self.registries: Dict[str, Registry] = {
            kind: Registry(kind, mods) for kind, mods in self.KINDS.items()
        }
        self._model_types: Dict[str, Dict[str, Callable[[], dict]]] = {}
        # Variants are declared in the benchmark folders, which the model kind's builtins cover.

    def kind(self, kind: str) -> Registry:
        try:
            return self.registries[kind]
        except KeyError:
            raise RegistryError(
                f"unknown registry kind {kind!r}. Kinds: {', '.join(sorted(self.registries))}."
            ) from None

    # generic ------------------------------------------------------------------------
    def register(self, kind: str, name: str, obj: Any = None):
        """Register ``obj`` under ``name`` in ``kind``; a decorator when ``obj`` is omitted."""
        return self.kind(kind).register(name, obj)

    def get(self, kind: str, name: str) -> Any:
        return self.kind(kind).get(name)

    def list(self, kind: str, pattern: Optional[str] = None) -> List[str]:
        return self.kind(kind).names(pattern)

    def register_model_type(self, model_name: str, model_type: str):
        """Register a named variant (timm style: one function per variant).

        The decorated function takes no argument and returns the config overrides that
        define the variant on top of the model's defaults.
        """

        def deco(fn: Callable[[], dict]):
            if not from_gf(fn):  # a plugin: the built-in variants first, so a clash refuses the plugin
                self.kind("model")._load_builtins()
            types = self._model_types.setdefault(model_name, {})
            _refuse_clash(f"model type {model_type!r} of model {model_name!r}", types.get(model_type), fn)
            types[model_type] = fn
            return fn

        return deco

    def list_model_types(self, model_name: str) -> List[str]:
        self.get_model_class(model_name)  # loads builtins; unknown model -> clear error
        return sorted(self._model_types.get(model_name, {}))

    def get_model_type(self, model_name: str, model_type: str) -> dict:
        """The config overrides of a registered variant."""
        self.get_model_class(model_name)  # loads builtins (a plugin's variants may come first)
        types = self._model_types.get(model_name, {})
        if model_type not in types:
            known = sorted(types)
            raise RegistryError(
                f"unknown model type {model_type!r} for model {model_name!r}."
                f"{did_you_mean(model_type, known)} "
                f"Registered model types of {model_name!r}: {', '.join(known) or '(none)'}."
            )
        try:  # the function is plugin code: one that fails or gives no mapping is named, not a traceback
            return dict(types[model_type]())
        except (TypeError, ValueError) as e:  # dict(None), dict(3): not a mapping
            raise ConfigError(f"model type {model_type!r} of model {model_name!r} must return a dict of config "
                              f"overrides: {one_line(e)}. Fix the function registered as that "
                              f"model type.") from None


def plural(kind: str) -> str:
    """A kind in the plural, but for the mass nouns: ``models``, ``pretrained``, ``data``
    (how ``list_<kinds>`` is named and ``gf list`` heads a kind)."""
    return kind if kind in ("pretrained", "data") else f"{kind}s"


def _add_kind_helpers(cls: type) -> type:
    """Give every kind the same three helpers, LAVIS style: ``register_<kind>(name)`` (a
    decorator), ``get_<kind>_class(name)`` and ``list_<kind>s(pattern)`` (``list_pretrained``,
    ``list_data``). Written once here so a kind added to ``KINDS`` gets them with no edit."""
    for kind in cls.KINDS:
        setattr(cls, f"register_{kind}", lambda self, name, _kind=kind: self.register(_kind, name))
        setattr(cls, f"get_{kind}_class", lambda self, name, _kind=kind: self.get(_kind, name))
        setattr(cls, f"list_{plural(kind)}", lambda self, pattern=None, _kind=kind: self.list(_kind, pattern))
    return cls


registry = _add_kind_helpers(_GlobalRegistry)()
