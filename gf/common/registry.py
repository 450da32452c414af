"""One registry per kind of component, filled by decorators.

Why a registry: every command, run script and leaderboard resolves components by the
names written in configs, so a user's own builder or model (registered in their own
package and named under ``plugins:``) is picked up everywhere without edits to gf.

Built-in components register lazily: the first lookup or listing of a kind imports the
gf modules that hold that kind, so ``import gf`` stays fast and never imports heavy
optional libraries.
"""
from __future__ import annotations

import difflib
import fnmatch
import importlib
from typing import Any, Callable, Dict, Iterable, List, Optional

__all__ = ["Registry", "RegistryError", "registry"]


class RegistryError(KeyError):
    """A lookup or registration failed; the message says what is known instead."""

    def __str__(self) -> str:  # KeyError would quote the message; keep it readable.
        return str(self.args[0]) if self.args else ""


class Registry:
    """Maps names to objects for one kind of component (model, builder, ...)."""

    def __init__(self, kind: str, builtin_modules: Iterable[str] = ()):
        self.kind = kind
        self._objects: Dict[str, Any] = {}
        self._builtin_modules = tuple(builtin_modules)
        self._builtins_loaded = False

    # -- registration -------------------------------------------------------------
    def register(self, name: str, obj: Any = None):
        """Register ``obj`` under ``name``; usable as ``@reg.register("name")``."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def _do(o):
            old = self._objects.get(name)
            if old is not None and not _same_object(old, o):
                raise RegistryError(
                    f"{self.kind} name {name!r} is already registered to "
                    f"{_describe(old)}; cannot register {_describe(o)} under the same name. "
                    f"Choose another name."
                )
            self._objects[name] = o
            return o

        if obj is not None:
            return _do(obj)
        return _do

    # -- lookup -------------------------------------------------------------------
    def _load_builtins(self) -> None:
        if self._builtins_loaded:
            return
        self._builtins_loaded = True
        for mod in self._builtin_modules:
            importlib.import_module(mod)

    def get(self, name: str) -> Any:
        self._load_builtins()
        try:
            return self._objects[name]
        except KeyError:
            raise RegistryError(self._unknown_message(name)) from None

    def __contains__(self, name: str) -> bool:
        self._load_builtins()
        return name in self._objects

    def names(self, pattern: Optional[str] = None) -> List[str]:
        """Sorted registered names, optionally filtered by a shell-style pattern."""
        self._load_builtins()
        names = sorted(self._objects)
        if pattern:
            if not any(c in pattern for c in "*?["):
                pattern = f"*{pattern}*"
            names = [n for n in names if fnmatch.fnmatch(n, pattern)]
        return names

    def _unknown_message(self, name: str) -> str:
        known = sorted(self._objects)
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
        msg = f"unknown {self.kind} {name!r}."
        if close:
            msg += f" Did you mean: {', '.join(repr(c) for c in close)}?"
        msg += f" Registered {self.kind} names: {', '.join(known) if known else '(none)'}."
        return msg

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._objects)} entries)"


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


class _GlobalRegistry:
    """The registries of gf, one per kind, with LAVIS-style decorator helpers."""

    KINDS = {
        "model": ("gf.models",),
        "builder": ("gf.datasets.builders",),
        "processor": ("gf.processors",),
        "task": ("gf.tasks",),
        "runner": ("gf.runners",),
        "lr_scheduler": ("gf.common.optim",),
    }

    def __init__(self):
        self.registries: Dict[str, Registry] = {
            kind: Registry(kind, mods) for kind, mods in self.KINDS.items()
        }
        self._model_types: Dict[str, Dict[str, Callable[[], dict]]] = {}
        # Variants are declared next to their model, so the model kind's builtins cover them.

    def kind(self, kind: str) -> Registry:
        try:
            return self.registries[kind]
        except KeyError:
            raise RegistryError(
                f"unknown registry kind {kind!r}. Kinds: {', '.join(sorted(self.registries))}."
            ) from None

    # decorators -------------------------------------------------------------------
    def register_model(self, name: str):
        return self.registries["model"].register(name)

    def register_builder(self, name: str):
        return self.registries["builder"].register(name)

    def register_processor(self, name: str):
        return self.registries["processor"].register(name)

    def register_task(self, name: str):
        return self.registries["task"].register(name)

    def register_runner(self, name: str):
        return self.registries["runner"].register(name)

    def register_lr_scheduler(self, name: str):
        return self.registries["lr_scheduler"].register(name)

    def register_model_type(self, model_name: str, model_type: str):
        """Register a named variant (timm style: one function per variant).

        The decorated function takes no argument and returns the config overrides that
        define the variant on top of the model's defaults.
        """

        def deco(fn: Callable[[], dict]):
            types = self._model_types.setdefault(model_name, {})
            old = types.get(model_type)
            if old is not None and not _same_object(old, fn):
                raise RegistryError(
                    f"model type {model_type!r} of model {model_name!r} is already registered "
                    f"to {_describe(old)}."
                )
            types[model_type] = fn
            return fn

        return deco

    # lookups ------------------------------------------------------------------------
    def get_model_class(self, name: str):
        return self.registries["model"].get(name)

    def get_builder_class(self, name: str):
        return self.registries["builder"].get(name)

    def get_processor_class(self, name: str):
        return self.registries["processor"].get(name)

    def get_task_class(self, name: str):
        return self.registries["task"].get(name)

    def get_runner_class(self, name: str):
        return self.registries["runner"].get(name)

    def get_lr_scheduler_class(self, name: str):
        return self.registries["lr_scheduler"].get(name)

    def list_models(self, pattern: Optional[str] = None) -> List[str]:
        return self.registries["model"].names(pattern)

    def list_builders(self, pattern: Optional[str] = None) -> List[str]:
        return self.registries["builder"].names(pattern)

    def list_processors(self, pattern: Optional[str] = None) -> List[str]:
        return self.registries["processor"].names(pattern)

    def list_tasks(self, pattern: Optional[str] = None) -> List[str]:
        return self.registries["task"].names(pattern)

    def list_runners(self, pattern: Optional[str] = None) -> List[str]:
        return self.registries["runner"].names(pattern)

    def list_lr_schedulers(self, pattern: Optional[str] = None) -> List[str]:
        return self.registries["lr_scheduler"].names(pattern)

    def list_model_types(self, model_name: str) -> List[str]:
        self.get_model_class(model_name)  # loads builtins; unknown model -> clear error
        return sorted(self._model_types.get(model_name, {}))

    def get_model_type(self, model_name: str, model_type: str) -> dict:
        """The config overrides of a registered variant."""
        types = self._model_types.get(model_name, {})
        if not types:
            self.get_model_class(model_name)
            types = self._model_types.get(model_name, {})
        if model_type not in types:
            known = sorted(types)
            close = difflib.get_close_matches(model_type, known, n=3, cutoff=0.5)
            hint = f" Did you mean: {', '.join(map(repr, close))}?" if close else ""
            raise RegistryError(
                f"unknown model type {model_type!r} for model {model_name!r}.{hint} "
                f"Registered model types of {model_name!r}: {', '.join(known) or '(none)'}."
            )
        return dict(types[model_type]())


registry = _GlobalRegistry()
