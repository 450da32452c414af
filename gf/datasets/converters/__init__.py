"""Running converters from a benchmark's official release to gf's on-disk layout (`gf prepare`).

Each benchmark folder's ``converter.py`` (``gf/benchmarks/<name>/``) registers one function
``convert(raw_dir, out_dir, **options) -> dict`` (a summary of what was written) as a
``converter`` in gf's registry (``@registry.register_converter("star")``), so a plugin can
add a benchmark the same way, and declares the files it may write (``@owns(...)``, see
:mod:`gf.datasets.converters.staging`). Shared readers live here too (:mod:`.charades`).

:func:`prepare` is the safe way to run one (why and how: :mod:`gf.datasets.converters.staging`).
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sized

from gf.common.errors import ConfigError, DataFileError
from gf.common.registry import from_gf, registry
from gf.datasets.converters.staging import run_staged

__all__ = ["first_file", "path_option", "prepare", "readme_head", "require_questions"]


def prepare(benchmark: str, raw_dir, out_dir, *, overwrite: bool = False, **options) -> Dict[str, Any]:
    """Convert ``raw_dir`` (the official release) into ``out_dir`` (gf's layout); returns the
    converter's summary.

    Existing annotations are refused (a :class:`~gf.common.errors.DatasetError`) unless
    ``overwrite=True``, and a second ``prepare`` into a locked ``out_dir`` is an
    :class:`~gf.common.errors.OutputLockedError` (the rules:
    :mod:`gf.datasets.converters.staging`). An unknown ``benchmark`` raises the registry's
    error (listing the known and close names) before anything is touched.
    """
    convert = registry.get("converter", benchmark)
    try:  # an unknown option is a message naming the converter's options, not a TypeError
        inspect.signature(convert).bind(raw_dir, out_dir, **options)
    except TypeError as e:
        params = [p for p in inspect.signature(convert).parameters if p not in ("raw_dir", "out_dir")]
        raise ConfigError(f"gf prepare {benchmark}: {e}; the converter's options are: "
                          f"{', '.join(params) or '(none)'}.") from None
    command = f"gf prepare {benchmark}"
    if not from_gf(convert):  # a plugin's: the rerun that finishes an install imports it
        command += f" --plugins {convert.__module__}"
    return run_staged(convert, command, raw_dir, out_dir, overwrite=overwrite, **options)


def first_file(paths: Iterable[Path]) -> Optional[Path]:
    """The first of ``paths`` that is a file (where a converter looks for a release file), else ``None``."""
    return next((path for path in paths if path.is_file()), None)


def readme_head(title: str, summary: Mapping[str, Any]) -> List[str]:
    """The first lines of the ``README.md`` a converter writes next to its files (``summary``
    names the benchmark and the release folder): what wrote them, and the opening of the file list."""
    return [f"# {title} in gf's layout", "",
            f"Written by `gf prepare {summary['benchmark']}` from `{summary['source']}`. Do not edit by hand; "
            f"re-run the converter.", "", "```"]


def require_questions(questions: Sized, path: Path, split: str, fix: str) -> None:
    """Refuse a release file without questions while converting, before anything is written.
    Why here: written, it became an empty ``<split>.jsonl`` that only the builder refused, at
    ``gf train``, naming gf's file instead of the release file. ``fix`` says what to do."""
    if not len(questions):
        raise DataFileError(f"{path}: no questions for split {split!r} (an empty {split}.jsonl would be refused "
                            f"by every run); {fix}")


def path_option(converter: str, name: str, value: Any, *, many: bool = False,
                raw: Optional[Path] = None) -> List[Path]:
    """A converter option's path(s); ``[]`` when not given. Options come from ``gf prepare
    --set`` as any JSON value, so a number, ``null`` inside a list or an empty string is a
    ConfigError naming the converter and the option, not a TypeError (or the current
    folder) further down. Every converter's path options are checked here.

    With ``raw`` (the converter's ``--raw`` folder) each path must also be a file: a relative
    path is read from the current folder, as in any shell command, while the defaults are
    looked up under ``--raw``, so a bare release file name fails; the error says where gf
    looked and, when the name is under ``--raw``, the path to give instead."""
    items = value if many and isinstance(value, (list, tuple)) else [] if value is None else [value]
    if not all(isinstance(v, Path) or (isinstance(v, str) and v) for v in items):
        expected = "a path or a list of paths" if many else "a path"
        raise ConfigError(f"{converter} converter: {name} must be {expected} (--set {name}=path/to/file), "
                          f"got {value!r}")
    paths = [Path(v) for v in items]
    for path in paths if raw is not None else ():
        if not path.is_file():
            raise ConfigError(_missing_path_message(converter, name, path, Path(raw)))
    return paths


def _missing_path_message(converter: str, name: str, path: Path, raw: Path) -> str:
    """Why a given path option is not a file, where it was looked up, and what to give instead."""
    what = "is a folder, not a file" if path.is_dir() else "not found"
    where = "" if path.is_absolute() else f" (looked up from the current folder {Path.cwd()})"
    near = first_file(([] if path.is_absolute() else [raw / path]) + [raw / path.name])
    advice = (f"did you mean {near}? --set paths are relative to the current folder, not to --raw" if near
              else "give the file's path (absolute, or relative to the current folder)")
    return f"{converter} converter: {name}: {path} {what}{where}; {advice}"
