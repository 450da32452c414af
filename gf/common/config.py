"""Run configuration: OmegaConf with sections ``model``, ``datasets``, ``run``.

The sections and their precedence: README.md, "Configs". Everything is validated before
any work starts, naming the key and where it came from (the YAML file, or ``--options``),
so a typo never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
import os
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from omegaconf.nodes import BooleanNode, StringNode

from gf.common.errors import ConfigError
from gf.common.io import atomic_write_text
from gf.common.registry import registry
from gf.common.utils import check_known_keys, did_you_mean, non_utf8, one_line

TOP_LEVEL = ("plugins", "model", "datasets", "run")
MODEL_META_KEYS = ("name", "model_type", "glance_per_option", "checkpoint")


@dataclass
class RunConfig:
    """The ``run`` section: how to train and evaluate."""

    task: str = "videoqa"
    runner: str = "runner_base"
    hooks: List[str] = field(default_factory=list)  # registered hooks run after the built-in ones
    train_dataset: Optional[str] = None    # with several datasets: the one to train on (all are evaluated)
    output_dir: str = "output/run"
    seed: int = 42
    seeds: Optional[List[int]] = None      # several seeds: one run each, in <output_dir>/seed<N> (docs/seeds.md)
    epochs: int = 10
    max_steps: Optional[int] = None        # stop training after this many optimizer steps (smoke tests)
    batch_size: int = 64                   # per process; the global batch is batch_size x processes
    eval_batch_size: int = 64
    num_workers: int = 2
    optimizer: str = "adam"                # a registered optimizer: adam | adamw | sgd (momentum 0.9)
    lr: float = 5e-6
    weight_decay: float = 0.0
    lr_sched: str = "constant"             # a registered lr_scheduler
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    grad_clip: float = 0.0                 # max grad norm; 0 = off
    amp: str = "none"                      # none | bf16 | fp16 (CUDA only; fp32 on CPU)
    device: str = "auto"                   # auto | cpu | cuda
    train_split: str = "train"
    valid_splits: List[str] = field(default_factory=lambda: ["val"])
    test_splits: List[str] = field(default_factory=lambda: ["test"])
    best_metric: str = "overall"           # report key used to pick checkpoint_best (STAR: mean)
    log_every: int = 10
    resume: Optional[str] = None           # null | auto | path to a checkpoint
    overwrite: bool = False                # start again in an output_dir that already holds a run
    progress: bool = True


def _struct(obj) -> DictConfig:
    cfg = OmegaConf.structured(obj) if dataclasses.is_dataclass(obj) else OmegaConf.create(dict(obj))
    OmegaConf.set_struct(cfg, True)
    return cfg


def _merge_section(section: str, base: DictConfig, update: Mapping, source: str) -> DictConfig:
    """Merge ``update`` onto ``base``: a key ``base`` lacks is refused, then OmegaConf's type
    checks apply; either error names the key and its source."""
    check_known_keys(update, list(base.keys()), owner=source, error=ConfigError, prefix=f"{section}.")
    _check_shapes(f"{section}.", OmegaConf.to_container(base, resolve=False), update, source)
    try:
        return OmegaConf.merge(base, update)
    except Exception as e:  # omegaconf.errors.ValidationError / ConfigKeyError
        key = getattr(e, "full_key", None) or ""
        hint = ""
        if not key:  # OmegaConf names no key when a mapping meets a list (run.seeds.0=5)
            lists = [k for k, v in update.items() if isinstance(v, Mapping) and v and all(str(i).isdigit() for i in v)]
            key = lists[0] if lists else ", ".join(map(str, update))
            hint = f"; {section}.{key} is a list: give the whole list ({section}.{key}=[...])" if lists else ""
        raise ConfigError(f"invalid value for {section}.{key} in {source}: {e}{hint}".replace("\n", " ")) from None


def _wrong_type(key: str, value: Any, expected: str, source: str) -> ConfigError:
    return ConfigError(f"{key} in {source} must be {expected}, got {type(value).__name__} "
                       f"{reprlib.repr(value)}")


def _is_interpolation(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _parse_options(options: Sequence[str], name: str = "--options") -> Dict[str, Any]:
    """``--options key=value`` entries as one nested dict (``name``: what the user calls them).

    Each entry is parsed on its own first, so a value YAML cannot read (``run.hooks=[a``),
    an interpolation OmegaConf cannot parse (``run.lr=${``) or bytes that are not UTF-8 (a
    shell's ``$(printf '\\xff')``) is an error naming that entry, not the parser's traceback."""
    bad = [o for o in options if "=" not in o]
    if bad:
        raise ConfigError(f"{name} entries must look like key=value; got {bad}")
    for option in options:
        shown = non_utf8(option)
        if shown:
            raise ConfigError(f"{name} entry {shown} is not UTF-8 text; gf reads options (and the paths in them) "
                              f"as UTF-8. Rename the path or give a UTF-8 one.")
        try:
            parsed = OmegaConf.to_container(OmegaConf.from_dotlist([option]))
        except Exception as e:  # yaml.YAMLError, omegaconf GrammarParseError
            raise ConfigError(f"{name} entry {option!r}: the value cannot be read ({one_line(e)}). A list "
                              f"is written [a,b]; text holding brackets, braces or quotes goes in double quotes "
                              f"inside the entry ('key=\"[text\"'), and a literal '${{' is written '\\${{'.") from None
        _refuse_cut_comment(option, parsed, name)
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(list(options)))
    except Exception as e:  # a key set both as a value and as a section (a=1 a.b=2)
        raise ConfigError(f"{name} {list(options)} do not fit together: {one_line(e)}") from None


def _strings(value: Any) -> List[str]:
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _strings(v)]
    return [value] if isinstance(value, str) else []


def _refuse_cut_comment(option: str, parsed: Mapping, name: str) -> None:
    """YAML reads `` #...`` (or a leading ``#``) as a comment and drops it without a word,
    so ``run.output_dir=/runs/exp #2`` would write into ``/runs/exp``: refused, naming the
    entry, when the parsed value holds fewer ``#`` than the text given."""
    value = option.split("=", 1)[1]
    if re.search(r"(^|\s)#", value) and "".join(_strings(parsed)).count("#") < value.count("#"):
        key = option.split("=", 1)[0]
        raise ConfigError(f"{name} entry {option!r}: YAML reads what follows '#' as a comment and would drop it. "
                          f"Put the value in double quotes inside the entry ('{key}=\"{value}\"').")


def escape_interpolations(value: Any) -> Any:
    """``value`` with each ``${`` written ``\\${``, so that OmegaConf keeps it as text: a path
    given to a typed flag, or a resolved value written back to ``config.yaml``, is read back
    as the same text, never as an interpolation."""
    if isinstance(value, Mapping):
        return {k: escape_interpolations(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_interpolations(v) for v in value]
    return value.replace("${", "\\${") if isinstance(value, str) else value


def _check_layer(data: Any, source: str) -> None:
    """The sections of one layer have the shapes gf reads them with: ``plugins`` a list of
    module names; ``model``, ``run``, ``datasets`` and each ``datasets.<name>`` mappings (null
    is an empty section). Checked before any is read, so ``run: 3`` or ``plugins: foo`` is one
    message naming the section, not a traceback or a plugin named 'f'."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping with {', '.join(TOP_LEVEL)}")
    check_known_keys(data, TOP_LEVEL, owner=source, error=ConfigError)
    plugins = data.get("plugins")
    if plugins is not None and not isinstance(plugins, (list, tuple)):
        raise _wrong_type("plugins", plugins, "a list of module names (e.g. [my_plugin])", source)
    for item in plugins or ():
        if not isinstance(item, str) or not item.strip() or item.startswith("."):
            raise _wrong_type("each item of plugins", item, "a module name (a string such as my_plugin)", source)
    for section in ("model", "run", "datasets"):
        if data.get(section) is not None and not isinstance(data[section], Mapping):
            raise _wrong_type(section, data[section], "a mapping of keys to values", source)
    for name, section in (data.get("datasets") or {}).items():
        if section is not None and not isinstance(section, Mapping):
            raise _wrong_type(f"datasets.{name}", section, "a mapping of the builder's keys to values", source)


def _check_shapes(prefix: str, base: Mapping, update: Mapping, source: str) -> None:
    """A key whose default is a mapping (``generator``, ``annotations``) takes a mapping, and
    one whose default is a list takes a list (null and interpolations aside). OmegaConf
    checks this only for typed fields; a builder's defaults are untyped, so without it
    ``generator: 7`` would pass validation and fail inside the builder."""
    for key, value in update.items():
        default = base.get(key)
        if value is None or _is_interpolation(value):
            continue
        if isinstance(default, Mapping):
            if not isinstance(value, Mapping):
                raise _wrong_type(f"{prefix}{key}", value, "a mapping", source)
            _check_shapes(f"{prefix}{key}.", default, value, source)
        elif isinstance(default, list) and not isinstance(value, (list, tuple)):
            raise _wrong_type(f"{prefix}{key}", value, "a list", source)


def load_plugins(modules: Sequence[str], source: str = "plugins:") -> None:
    """Import user modules so that their ``@registry.register_*`` decorators run. ``source``:
    where the names were given (``plugins:``, ``--plugins``), for the error. A name that is
    not a module name ('', '.x') is refused as such, not left to importlib's traceback; a
    module that imports but fails to import another names that other one."""
    for mod in modules or ():
        if not isinstance(mod, str) or not mod.strip() or mod.startswith("."):
            raise ConfigError(f"{source}: {mod!r} is not a module name (give an absolute one, e.g. my_plugin)")
        try:
            importlib.import_module(mod)
        except ImportError as e:
            missing = getattr(e, "name", None)
            if missing and mod != missing and not mod.startswith(missing + "."):
                raise ConfigError(f"plugin {mod!r} (from {source}) was found but failed to import {missing!r}: "
                                  f"{e}. Install {missing!r} or fix the plugin's import.") from e
            raise ConfigError(f"plugin {mod!r} (from {source}) could not be imported: {e}. "
                              f"Install it or put it on PYTHONPATH.") from e
        except (ValueError, TypeError) as e:
            raise ConfigError(f"plugin {mod!r} (from {source}) could not be imported: {one_line(e)}") from None


def _resolve_alone(key: str, value: Any) -> Any:
    """``model.name`` and ``model.model_type`` pick the model's schema before the config is put
    together, so an interpolation there is resolved on its own: a resolver such as
    ``${oc.env:MT,demo_sup}`` works; a reference to another key cannot."""
    if _is_interpolation(value):
        try:
            value = OmegaConf.create({"value": value}).value
        except Exception as e:
            raise ConfigError(f"{key} is {value!r}, which cannot be resolved before the config is put together (it "
                              f"picks the model's defaults): use a resolver such as ${{oc.env:VAR,default}} or a "
                              f"plain name, not a reference to another key ({one_line(e)})") from None
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{key} must be a name (text), got {type(value).__name__} {reprlib.repr(value)}; "
                          f"see `gf list models`")
    return value


def model_schema(model_cfg: Mapping) -> DictConfig:
    """The model's defaults for ``model.name`` and ``model.model_type``, keys fixed."""
    name = model_cfg.get("name")
    if not name:
        raise ConfigError("model.name is required (e.g. glance_focus); see `gf list models`")
    model_cls = registry.get_model_class(name)
    defaults = dict(model_cls.default_config())
    model_type = model_cfg.get("model_type")
    if model_type:
        defaults.update(registry.get_model_type(name, model_type))
    config_class = getattr(model_cls, "config_class", None)
    try:
        base = _struct(config_class(**defaults)) if config_class else _struct(defaults)
    except (TypeError, ValueError) as e:  # only a model type's overrides can be wrong here
        raise ConfigError(f"model type {model_type!r} of model {name!r} gives overrides the model refuses: "
                          f"{one_line(e)}. Fix the function registered as that model type.") from None
    with open_dict(base):
        if "loss_weights" in base:  # the filled-in defaults depend on `memory`; keep only explicit ones
            base.loss_weights = dict(defaults.get("loss_weights") or {})
            OmegaConf.set_struct(base.loss_weights, False)  # any loss name: the model refuses unknown ones
        # typed, so that glance_per_option='false' or checkpoint=[1,2] is refused naming the key
        base.name = StringNode(name, is_optional=False)
        base.model_type = StringNode(model_type)
        base.glance_per_option = BooleanNode(False, is_optional=False)
        base.checkpoint = StringNode(None)
    return base


def _builder_schema(name: str) -> DictConfig:
    """The builder's defaults, keys fixed, except that a mapping keyed by split (e.g.
    ``annotations``) takes a new split, as the builder's own merge does: an extra split is
    legitimate, not a typo. Other mappings (``generator``, ``stream``) stay closed."""
    defaults = dict(getattr(registry.get_builder_class(name), "DEFAULT_CONFIG", {}))
    schema = _struct(defaults)
    splits = set(defaults.get("splits") or ())
    for key, value in defaults.items():
        if isinstance(value, Mapping) and value and set(value) <= splits:
            OmegaConf.set_struct(schema[key], False)
    return schema


def build_config(cfg_path: Optional[str] = None, options: Sequence[str] = (),
                 extra: Optional[Mapping] = None, options_name: str = "--options",
                 flags: Optional[Mapping] = None, flags_name: str = "the command line") -> DictConfig:
    """Load, merge and validate a run config. ``extra`` is a dict layer above the YAML.
    ``options_name``: what errors call ``options`` (a leaderboard manifest's entry names its
    own key, since the user never typed --options there). ``flags``: a nested dict of the
    values typed flags give (``--resume``, ``--checkpoint``, ``--data-root``), the top layer;
    taken as they are, not read as YAML, so a path holding ' #' or '${' stays that path."""
    layers: List[tuple] = []
    if cfg_path:
        path = Path(cfg_path)
        if path.is_dir():
            hint = f": give its config, {path / 'config.yaml'}" if (path / "config.yaml").is_file() else ""
            raise ConfigError(f"config file {path} is a folder, not a config file{hint}")
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            layers.append((OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}, f"file {path}"))
        except Exception as e:
            raise ConfigError(f"could not parse {path}: {e}") from e
    if extra:
        layers.append((dict(extra), "file <extra>"))
    if options:
        layers.append((_parse_options(options, options_name), options_name))
    if flags:
        layers.append((escape_interpolations(flags), flags_name))
    for data, source in layers:
        _check_layer(data, source)

    plugins: List[str] = []
    for data, _ in layers:
        plugins.extend(p for p in (data.get("plugins") or []) if p not in plugins)
    load_plugins(plugins)

    model_raw: Dict[str, Any] = {}
    for data, _ in layers:
        model_raw.update({k: _resolve_alone(f"model.{k}", v) for k, v in (data.get("model") or {}).items()
                          if k in ("name", "model_type")})
    model = model_schema(model_raw)
    for data, source in layers:
        model = _merge_section("model", model, data.get("model") or {}, source)

    datasets: Dict[str, DictConfig] = {}
    for data, source in layers:
        for name, section in (data.get("datasets") or {}).items():
            if name not in datasets:
                try:
                    datasets[name] = _builder_schema(name)
                except KeyError as e:
                    raise ConfigError(f"datasets.{name} in {source}: {e}") from None
            datasets[name] = _merge_section(f"datasets.{name}", datasets[name], section or {}, source)
    if not datasets:
        raise ConfigError("the config names no dataset under datasets: (see `gf list datasets`)")

    run = _struct(RunConfig())
    for data, source in layers:
        run = _merge_section("run", run, data.get("run") or {}, source)

    cfg = OmegaConf.create({"plugins": plugins, "model": model, "datasets": datasets, "run": run})
    _validate_values(cfg)
    _expand_home(cfg.run)
    return cfg


def _expand_home(run: DictConfig) -> None:
    """``~`` in ``run.output_dir`` and a ``run.resume`` path means the home folder, as it does
    in a dataset's ``data_root`` (bash leaves ``key=~/x`` and YAML values unexpanded): done
    here, once, so the run writes, resumes and records ``config.yaml`` with the same path."""
    for key in ("output_dir", "resume"):
        value = run[key]
        if isinstance(value, str) and value.startswith("~"):
            expanded = os.path.expanduser(value)
            if key == "output_dir":
                _refuse_literal_tilde_run(value, Path(expanded))
            run[key] = escape_interpolations(expanded)


def _refuse_literal_tilde_run(value: str, expanded: Path) -> None:
    """An earlier gf left ``~`` unexpanded and wrote the run to ``./~/...``: a resume or a
    sweep would silently start again in the home folder, away from that run."""
    def holds_run(folder: Path) -> bool:
        return (folder / "checkpoint_last.pth").is_file() or any(folder.glob("seed*/checkpoint_last.pth"))

    literal = Path(value)
    if literal.is_dir() and holds_run(literal) and not holds_run(expanded):
        raise ConfigError(f"run.output_dir {value} now means {expanded}, but an earlier gf wrote this run to "
                          f"{literal.resolve()} (the '~' taken literally). Move that folder to {expanded}, or give "
                          f"{literal.resolve()} as run.output_dir.")


def _validate_values(cfg: DictConfig) -> None:
    """Values the schema's types cannot catch. Interpolations are resolved first, so one
    that fails is the one clean message whichever key holds it, before any value is read."""
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except Exception as e:
        hint = ("; an interpolation such as oc.env gives text: ${oc.decode:${oc.env:VAR}} gives a number or a list"
                if "str is not" in str(e) else "")
        raise ConfigError(f"config interpolation failed{_failing_key(cfg)}: {one_line(e)}{hint}") from None
    _validate_run(cfg)
    _validate_seeds(cfg.run)
    _validate_data_roots(cfg)
    _validate_interpolated_numbers(cfg)
    _validate_max_events(cfg)
    _validate_best_metric(cfg)
    # The model validates its own value ranges (choices, divisibility) at construction;
    # check them now rather than after data loading.
    model_cls = registry.get_model_class(cfg.model.name)
    config_class = getattr(model_cls, "config_class", None)
    if config_class is not None:
        values = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items()
                  if k not in MODEL_META_KEYS}
        try:
            config_class(**values)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"model: {e}") from None


def _failing_key(cfg: DictConfig, prefix: str = "") -> str:
    """`` at <key>``: the first key whose interpolation fails (OmegaConf's error may name
    none, e.g. text from ``oc.env`` given to a list key), else ``""``."""
    for key in cfg.keys():
        try:
            value = cfg[key]
            if OmegaConf.is_list(value):
                OmegaConf.to_container(value, resolve=True)
        except Exception:
            return f" at {prefix}{key}"
        found = _failing_key(value, f"{prefix}{key}.") if OmegaConf.is_dict(value) else ""
        if found:
            return found
    return ""


def _validate_run(cfg: DictConfig) -> None:
    run = cfg.run
    registry.get_task_class(run.task)
    registry.get_runner_class(run.runner)
    registry.get_lr_scheduler_class(run.lr_sched)
    registry.get("optimizer", run.optimizer)
    for hook in run.hooks:
        registry.get("hook", hook)
    train_dataset_name(cfg)  # refuses a train_dataset not listed, or none with several listed
    if not run.output_dir.strip():
        raise ConfigError("run.output_dir is empty: name the folder the run writes into (e.g. output/run); "
                          "use '.' to mean the current folder")
    for key in ("valid_splits", "test_splits"):  # each split is one evaluation and one record per epoch
        repeated = sorted({s for s in run[key] if list(run[key]).count(s) > 1})
        if repeated:
            raise ConfigError(f"run.{key} lists {', '.join(map(repr, repeated))} more than once "
                              f"({list(run[key])}): each split is evaluated once")
    if run.amp not in ("none", "bf16", "fp16"):
        raise ConfigError(f"run.amp must be none, bf16 or fp16, got {run.amp!r}")
    if run.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"run.device must be auto, cpu or cuda, got {run.device!r}")
    _validate_run_numbers(run)


def _validate_run_numbers(run: DictConfig) -> None:
    for key in ("epochs", "batch_size", "eval_batch_size", "log_every"):
        if run[key] < 1:
            raise ConfigError(f"run.{key} must be >= 1, got {run[key]}")
    if run.max_steps is not None and run.max_steps < 1:
        raise ConfigError(f"run.max_steps must be >= 1 or null (no limit), got {run.max_steps}: a run of no "
                          f"step would write an untrained checkpoint")
    for key in ("lr", "weight_decay", "grad_clip", "min_lr_ratio"):
        value = run[key]
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"run.{key} must be a finite number >= 0, got {value}")
    if run.min_lr_ratio > 1:
        raise ConfigError(f"run.min_lr_ratio must be in [0, 1], got {run.min_lr_ratio}")
    for key in ("warmup_steps", "num_workers"):
        if run[key] < 0:
            raise ConfigError(f"run.{key} must be >= 0, got {run[key]}")


def _validate_interpolated_numbers(cfg: DictConfig) -> None:
    """A dataset key whose default is a number, set by an interpolation that gives text
    (``${oc.env:MAXF,36}`` gives ``'36'``, a str): the builder would refuse ``'36'`` without
    saying why, so say it here, with the resolver that gives a number. Keys of a mapping
    (the synthetic builder's ``generator``) are looked at too."""
    for name, section in cfg.datasets.items():
        defaults = getattr(registry.get_builder_class(name), "DEFAULT_CONFIG", {})
        _check_numbers(f"datasets.{name}", defaults, section, OmegaConf.to_container(section, resolve=False))


def _check_numbers(where: str, defaults: Mapping, section: DictConfig, raws: Mapping) -> None:
    for key, default in defaults.items():
        if key not in section:
            continue
        if isinstance(default, Mapping) and OmegaConf.is_dict(section[key]) and isinstance(raws[key], Mapping):
            _check_numbers(f"{where}.{key}", default, section[key], raws[key])
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            raw, value = raws[key], section[key]
            if _is_interpolation(raw) and isinstance(value, str):
                raise ConfigError(f"{where}.{key} is {raw!r}, which gives the text {value!r}, not a number: "
                                  f"oc.env gives text; write ${{oc.decode:${{oc.env:VAR}}}} to get a number")


def train_dataset_name(cfg: DictConfig) -> str:
    """The dataset the run trains on: ``run.train_dataset``, or the only one listed."""
    names = list(cfg.datasets)
    chosen = cfg.run.get("train_dataset")
    if chosen is None:
        if len(names) > 1:
            raise ConfigError(f"the config lists several datasets ({', '.join(names)}); set "
                              f"run.train_dataset to the one to train on (every listed dataset "
                              f"is evaluated).")
        return names[0]
    if chosen not in names:
        raise ConfigError(f"run.train_dataset is {chosen!r}, which is not under datasets: "
                          f"({', '.join(names)}).")
    return chosen


def _validate_max_events(cfg: DictConfig) -> None:
    """The training dataset's configured ``max_events`` against ``model.num_queries``, from the
    config: ``gf validate`` refuses it as ``gf train`` does once the data is built."""
    name = train_dataset_name(cfg)  # the one the model's sizes come from
    if "max_events" not in getattr(registry.get_builder_class(name), "DEFAULT_CONFIG", {}):
        return  # a builder without the key of gf's builders may mean something else by it
    queries, events = cfg.model.get("num_queries"), cfg.datasets[name].get("max_events")
    if isinstance(events, int) and not isinstance(events, bool) and isinstance(queries, int):
        check_max_events(name, events, queries)


def check_max_events(dataset: str, max_events: int, num_queries: int) -> None:
    """Events beyond the queries could never be matched: refused from the config and the built data alike."""
    if max_events > num_queries:
        raise ConfigError(f"datasets.{dataset}.max_events ({max_events}) exceeds model.num_queries ({num_queries}): "
                          f"events beyond the queries could never be matched. Lower max_events or raise num_queries.")


def _validate_data_roots(cfg: DictConfig) -> None:
    """A builder whose ``data_root`` defaults to a folder (``gf_data``) reads -- the synthetic
    one also writes -- ``<data_root>/<dataset_dir>``; a null or empty ``data_root`` would
    silently mean the current folder, and a null or empty ``dataset_dir`` the whole data root
    (which the synthetic builder would then call its benchmark, and advise deleting). A
    builder whose own default is null keeps its meaning."""
    for name, section in cfg.datasets.items():
        defaults = getattr(registry.get_builder_class(name), "DEFAULT_CONFIG", {})
        for key, dot in (("data_root", "the current folder"), ("dataset_dir", "data_root itself")):
            default = defaults.get(key)
            if isinstance(default, str) and default and key in section:
                value = section[key]
                if value is None or not str(value).strip():
                    shown = "null" if value is None else repr(value)
                    raise ConfigError(f"datasets.{name}.{key} is {shown}: name the folder that holds the data "
                                      f"(default {default!r}; '.' for {dot})")


def _validate_best_metric(cfg: DictConfig) -> None:
    """``run.best_metric`` names an accuracy of the training dataset's reports (its
    evaluator's ``metrics``): a typo would otherwise let no epoch count as best, and the test
    splits would be scored with the last checkpoint without a word. An evaluator that does
    not declare its metrics (a plugin's) is checked at the first evaluation instead."""
    name = train_dataset_name(cfg)
    benchmark = getattr(registry.get_builder_class(name), "benchmark", "")
    if benchmark not in registry.list("evaluator"):
        return  # refused with its own message where the split is scored
    metrics = registry.get("evaluator", benchmark).metrics
    if metrics is not None and cfg.run.best_metric not in metrics:
        raise ConfigError(f"run.best_metric is {cfg.run.best_metric!r}, which {benchmark}'s reports do not have; "
                          f"they have {', '.join(metrics)}.{did_you_mean(cfg.run.best_metric, metrics)}")


def check_seed_list(seeds: Sequence[Any], name: str = "run.seeds") -> None:
    """A list of seeds (``name``: how the user gave it) names run folders (``seed<N>``) and
    seeds numpy, so each must be a distinct integer numpy accepts, and there must be one."""
    seeds = list(seeds)
    if not seeds:
        raise ConfigError(f"{name} is empty: list one seed or more (run.seeds=[0,1,2]), or leave it null for a "
                          f"single run seeded by run.seed")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"{name} lists {repeated} more than once ({seeds}): each seed is one run folder")
    bad = [s for s in seeds if not 0 <= s < 2 ** 32]
    if bad:
        raise ConfigError(f"{name} must be integers in [0, 2**32) (numpy's seed range), got {bad}")


def _validate_seeds(run: DictConfig) -> None:
    """``run.seed`` seeds numpy, which takes [0, 2**32) only (each seed replaces it when
    ``run.seeds`` is set, so it is checked only without). ``run.seeds``: see
    :func:`check_seed_list`; a checkpoint path in ``run.resume`` fits one run, not several
    (each seed resumes from its own folder)."""
    if run.seeds is None:
        if not 0 <= run.seed < 2 ** 32:
            raise ConfigError(f"run.seed must be an integer in [0, 2**32) (numpy's seed range), got {run.seed}")
        return
    check_seed_list(run.seeds)
    if run.resume not in (None, "auto"):
        raise ConfigError(f"run.resume is a checkpoint ({run.resume}) but run.seeds lists {len(run.seeds)} seed(s): "
                          f"each seed resumes from its own folder. Use run.resume=auto or leave it null.")


def config_yaml(cfg: DictConfig) -> str:
    """The resolved config as YAML that reads back as the same values: a literal ``${`` in a
    resolved value (given as ``\\${``) is written ``\\${`` again, not as an interpolation."""
    return OmegaConf.to_yaml(OmegaConf.create(escape_interpolations(OmegaConf.to_container(cfg, resolve=True))))


def save_config(cfg: DictConfig, path) -> None:
    """Write the resolved config (what actually ran) atomically."""
    atomic_write_text(path, config_yaml(cfg))


def to_dict(cfg) -> Any:
    if isinstance(cfg, (DictConfig, ListConfig)):
        return OmegaConf.to_container(cfg, resolve=True)
    return cfg


def make_builder(name: str, section: Any):
    """The registered builder of dataset ``name``, made from its config section
    (``cfg.datasets[name]`` of a run config, or a plain mapping of the builder's keys).

    The one place a builder is made, so training, evaluation, leaderboards, ``gf.load_dataset``
    and the demo's data generation hand a builder the same plain dict."""
    return registry.get_builder_class(name)(dict(to_dict(section)))
