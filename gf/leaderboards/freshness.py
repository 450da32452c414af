"""Whether a kept leaderboard result still describes its inputs, checked cheaply.

Why: the board is written by every ``gf leaderboard run``, whatever part of the work it
evaluated (``--only``, ``--shard``), and by ``gf leaderboard show``, which evaluates
nothing. A result kept from before its checkpoint was replaced, its config edited or its
predictions file damaged must never be shown as a current figure.

What each ``result.json`` records for this (``inputs``, ``files``, ``spec``), when a file is
hashed rather than only stat'ed, and how a result kept by an older gf (without ``inputs``)
is checked: docs/leaderboards.md, "Stale rows".
"""
from __future__ import annotations

import glob
import os
import shlex
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from gf.common.errors import GfError
from gf.common.io import load_json
from gf.leaderboards.results import ResultPaths, canonical_hash, read_json_or_none

__all__ = ["FileHashes", "ResultCheck", "file_problems", "read_done",
           "read_result_files", "result_files", "spec_hash", "split_data_problems", "split_file_states"]

#: What each role of an input is called in a stale row's reason.
SOURCE_ROLES = {"model": "checkpoint", "predictions": "predictions file"}


def _short(sha: Optional[str]) -> str:
    return f"{sha[:12]}..." if sha else "none"


class FileHashes:
    """sha256 of files, each computed at most once per (path, size, ``mtime_ns``), and taken
    from a record without reading the file when its size and mtime are the recorded ones."""

    def __init__(self):
        self._known: Dict[tuple, str] = {}

    def state(self, path: os.PathLike, recorded: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """``{"path", "size", "mtime_ns", "sha256"}`` of ``path`` as it is now (absolute path,
        symbolic links kept: the file the manifest names is the one checked)."""
        from gf.common.io import sha256sum

        path = Path(os.path.abspath(path))
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._known:  # a record of this file (a result's own files are recorded by name only)
            same = (isinstance(recorded, Mapping) and recorded.get("path", str(path)) == str(path)
                    and recorded.get("size") == stat.st_size and recorded.get("mtime_ns") == stat.st_mtime_ns
                    and recorded.get("sha256"))
            self._known[key] = recorded["sha256"] if same else sha256sum(path)
        return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": self._known[key]}

    def sha256(self, path: os.PathLike) -> str:
        return self.state(path)["sha256"]

    def changed(self, path: os.PathLike, recorded: Mapping[str, Any]) -> Optional[str]:
        """Why ``path`` is no longer the recorded file (it is gone, or its bytes differ); None
        when it is, by size and mtime or else by its sha256."""
        try:
            now = self.state(path, recorded)
        except FileNotFoundError:
            return "is not there any more"
        except OSError as error:
            return f"cannot be read ({error.strerror or error})"
        if now["sha256"] != recorded.get("sha256"):
            return f"changed (sha256 {_short(recorded.get('sha256'))} when the result was computed, " \
                   f"{_short(now['sha256'])} now)"
        return None


def split_file_states(files: Sequence[tuple], hashes: FileHashes) -> List[Dict[str, Any]]:
    """What a split record keeps of the files the split is built from (``(label, path)``, the
    builder's ``split_data_files``): each text file's size, ``mtime_ns`` and sha256; the
    feature files' size and ``mtime_ns`` only, as the split fingerprint does (they can be
    many GB)."""
    states = []
    for label, path in files:
        if label == "features":
            stat = os.stat(path)
            states.append({"label": label, "path": os.path.abspath(path), "size": stat.st_size,
                           "mtime_ns": stat.st_mtime_ns})
        else:
            states.append({"label": label, **hashes.state(path)})
    return states


def split_data_problems(record: Optional[Mapping[str, Any]], hashes: FileHashes) -> List[tuple]:
    """Why the split on record is no longer the split on disk: ``(label, reason)`` per file
    that is gone or changed since (a text file by size and mtime, else its sha256; a feature
    file by size and mtime). ``gf leaderboard show`` builds no split, so this is how it learns
    that every figure on the split is out of date; the label lets a result scored without the
    features ignore a feature file. A record without ``data_files`` (an older gf) says
    nothing."""
    problems = []
    for state in (record or {}).get("data_files") or []:
        what = f"the split's {state.get('label')} file {state.get('path')}"
        if state.get("sha256"):
            reason = hashes.changed(state["path"], state)
        else:
            try:
                stat = os.stat(state["path"])
                reason = None if (stat.st_size, stat.st_mtime_ns) == (state.get("size"), state.get("mtime_ns")) \
                    else "changed (its size or modification time differs)"
            except OSError:
                reason = "is not there any more"
        if reason:
            problems.append((state.get("label"), f"{what} {reason}"))
    return problems


def result_files(paths: ResultPaths, hashes: FileHashes,
                 recorded: Optional[Mapping[str, Mapping[str, Any]]] = None) -> Dict[str, Dict[str, Any]]:
    """The state of a result's own predictions and report, by file name (so the folder can be
    moved), for its ``result.json``."""
    out = {}
    for role, path in (("predictions", paths.predictions), ("report", paths.report)):
        state = hashes.state(path, (recorded or {}).get(role))
        out[role] = {"name": path.name, **{k: state[k] for k in ("size", "mtime_ns", "sha256")}}
    return out


def file_problems(paths: ResultPaths, files: Mapping[str, Mapping[str, Any]], hashes: FileHashes) -> List[str]:
    """Why a result's own files are not the ones its ``result.json`` describes (truncated,
    edited, removed): they would not give its figures."""
    problems = []
    for role, path in (("predictions", paths.predictions), ("report", paths.report)):
        recorded = files.get(role)
        if not isinstance(recorded, Mapping):
            problems.append(f"its result.json records no {role} file")
            continue
        why = hashes.changed(path, recorded)
        if why is not None:
            problems.append(f"its {role} file {path} {why}: damaged or edited after it was written")
    return problems


def _entry_of(manifest: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The entry called ``name`` of a manifest in ``Manifest.to_dict()`` form; {} when it has none."""
    return next((e for e in manifest.get("entries") or [] if e.get("name") == name), {})


def _source_role(entry: Mapping[str, Any]) -> str:
    return SOURCE_ROLES["predictions" if entry.get("predictions") else "model"]


def _given_source(entry: Mapping[str, Any], benchmark: str, split: str, seed: Optional[int]) -> Optional[str]:
    """What the manifest (as saved by :meth:`Manifest.to_dict`) names as the result's source."""
    if entry.get("predictions"):
        return (entry["predictions"].get(benchmark) or {}).get(split)
    if entry.get("checkpoints"):
        seeds = list(entry.get("seeds") or [])
        return entry["checkpoints"][seeds.index(seed)] if seed in seeds else None
    return entry.get("checkpoint")


def spec_hash(manifest: Mapping[str, Any], entry_name: str, benchmark: str, split: str,
              seed: Optional[int]) -> Optional[str]:
    """A hash of what the manifest (``Manifest.to_dict()`` form) says about one result; None
    when the manifest no longer has that entry, benchmark or seed."""
    entry = _entry_of(manifest, entry_name)
    bench = (manifest.get("benchmarks") or {}).get(benchmark)
    if not entry or bench is None:
        return None
    source = _given_source(entry, benchmark, split, seed)
    if source is None:
        return None
    return canonical_hash({"config": entry.get("config"), "options": list(entry.get("options") or []),
                           "source": source, "benchmark": {k: bench.get(k) for k in ("config", "dataset", "options")},
                           "device": (manifest.get("run") or {}).get("device")})


class ResultCheck:
    """Checks the kept results of one leaderboard folder for its board, and says how to
    refresh one that is stale."""

    def __init__(self, root: Path, record: Mapping[str, Any], hashes: Optional[FileHashes] = None):
        self.root = Path(root)
        self.manifest = record["manifest"]
        self.record = record
        self.cwd = record.get("cwd") or os.getcwd()
        self.hashes = hashes or FileHashes()

    def problems(self, paths: ResultPaths, done: Mapping[str, Any], entry: str, benchmark: str, split: str,
                 seed: Optional[int]) -> List[str]:
        """Why the kept result ``done`` is not current; [] when it is."""
        spec = _entry_of(self.manifest, entry)
        if "inputs" not in done:
            return self._legacy_problems(done, spec, benchmark, split, seed)
        problems = []
        if done.get("spec") != spec_hash(self.manifest, entry, benchmark, split, seed):
            problems.append("the manifest describes it differently now (its config, options, checkpoint or "
                            "predictions file, its benchmark's config, dataset or options, or run.device changed)")
        problems += self._input_problems(done["inputs"], spec, benchmark, split, seed)
        return problems + file_problems(paths, done.get("files") or {}, self.hashes)

    def _input_problems(self, inputs: Mapping[str, Mapping[str, Any]], spec: Mapping[str, Any], benchmark: str,
                        split: str, seed: Optional[int]) -> List[str]:
        """Why the recorded ``inputs`` (role -> file state) no longer hold, one reason per input.
        Each is checked as the file the manifest names now, read from the folder the last run
        worked in: the same manifest run from another folder names other files by its
        relative paths (its text, hence ``spec``, is the same), and the result is current
        only if those hold the recorded bytes."""
        given = {_source_role(spec): _given_source(spec, benchmark, split, seed), "config": spec.get("config"),
                 "benchmark config": ((self.manifest.get("benchmarks") or {}).get(benchmark) or {}).get("config")}
        problems = []
        for role, recorded in inputs.items():
            recorded = recorded if isinstance(recorded, Mapping) else {}
            path = recorded.get("path", "")
            named = self._named_file(role, given.get(role)) if "cwd" in self.record else None
            why = self.hashes.changed(named or path, recorded)
            if why is not None and named and named != path:
                problems.append(f"its {role} is now {named} (the manifest's relative paths are taken from "
                                f"{self.cwd}, where the last run worked), not {path}, and it {why}")
            elif why is not None:
                problems.append(f"its {role} {path} {why}")
        return problems

    def _named_file(self, role: str, given: Optional[str]) -> Optional[str]:
        """The absolute path a run in the recorded folder takes ``given`` as; None when it names
        no local path (nothing given, a URL, or a zoo name, which the run resolves into its
        cache)."""
        if not given:
            return None
        text = os.path.expanduser(str(given))
        path = os.path.abspath(os.path.join(self.cwd, text))
        if role != SOURCE_ROLES["model"] or os.path.lexists(path):
            return path
        from gf.models.zoo.entries import _is_url, zoo_name_of

        if _is_url(text):  # as resolve_checkpoint tells a URL
            return None
        try:
            return None if zoo_name_of(text) is not None else path
        except GfError:  # an unknown zoo:<name>: the run says so
            return None

    def _legacy_problems(self, done: Mapping[str, Any], spec: Mapping[str, Any], benchmark: str, split: str,
                         seed: Optional[int]) -> List[str]:
        """A result kept by an older gf (no ``inputs``): its source file against its provenance's sha256."""
        provenance = done.get("provenance") or {}
        given = _given_source(spec, benchmark, split, seed)
        recorded_given = provenance.get("predictions") if spec.get("predictions") else provenance.get("checkpoint")
        sha = provenance.get("predictions_sha256") if spec.get("predictions") else provenance.get("checkpoint_sha256")
        if given is None or str(recorded_given) != str(given):
            return [f"the manifest now names {given} as its source; the result is of {recorded_given}"]
        path = Path(self.cwd, os.path.expanduser(str(given)))
        if not sha or not path.is_file():
            return [f"it was kept by an older gf that did not record its inputs, and {given} is not a local file "
                    f"here to check it against"]
        why = self.hashes.changed(path, {"sha256": sha})
        return [] if why is None else [f"its {_source_role(spec)} {path} {why}"]

    def refresh_command(self, entry: str) -> str:
        """The command that evaluates ``entry`` again into this folder."""
        manifest_path = self.manifest.get("path")
        words = ["gf", "leaderboard", "run", "--manifest",
                 os.path.join(self.cwd, manifest_path) if manifest_path else "<manifest>"]
        source = self.record.get("source") or {}
        default = source.get("output_dir") or f"output/leaderboards/{self.manifest.get('name')}"
        if os.path.abspath(os.path.join(self.cwd, default)) != os.path.abspath(self.root):
            words += ["--output-dir", str(self.root)]
        if self.record.get("plugins"):
            words += ["--plugins", *self.record["plugins"]]
        return " ".join(shlex.quote(str(w)) for w in words + ["--only", entry])

    def new_checkpoints(self, entry: Mapping[str, Any]) -> List[str]:
        """Files a seed group's glob matches now that the last run did not know (a seed added
        since): the group's row is over its known seeds only."""
        pattern = entry.get("checkpoints_pattern")
        if not pattern:
            return []
        found = glob.glob(os.path.join(self.cwd, os.path.expanduser(pattern)), recursive=True)
        known = {os.path.abspath(os.path.join(self.cwd, os.path.expanduser(p))) for p in entry.get("checkpoints") or []}
        return sorted(p for p in map(os.path.abspath, found) if p not in known)


def read_done(paths: ResultPaths) -> tuple:
    """``(record, problem)``: a result's ``result.json`` (None when there is none), or the
    reason it cannot be read (a damaged record is a result to compute again, not an error
    that stops the board)."""
    try:
        record = read_json_or_none(paths.done, "leaderboard result record")
    except GfError as error:
        return None, f"its result.json is damaged ({error})"
    if record is not None and not (isinstance(record, dict) and isinstance(record.get("provenance"), dict)
                                   and "evaluator" in record):
        return None, "its result.json is not a leaderboard result record (no provenance or evaluator)"
    return record, None


def read_result_files(paths: ResultPaths, expected: Sequence[str]) -> tuple:
    """``(report, predictions, problems)`` of a kept result, its files read whole: why they
    cannot be read, or why its predictions do not answer exactly the split's ``expected``
    questions (a kept result is current only when both hold)."""
    try:
        report = load_json(paths.report, "leaderboard report")
        predictions = load_json(paths.predictions, "leaderboard predictions")
    except GfError as error:
        return None, None, [f"its files cannot be read ({error})"]
    predictions = predictions.get("predictions") if isinstance(predictions, dict) else None
    if not isinstance(predictions, Mapping):
        return report, None, [f"its predictions file {paths.predictions} holds no predictions mapping"]
    wanted = set(expected)
    missing = [q for q in expected if q not in predictions]
    extra = [q for q in predictions if q not in wanted]
    if not missing and not extra:
        return report, predictions, []
    from gf.common.utils import describe_ids

    parts = ([f"misses {len(missing)} of the split's questions ({describe_ids(missing)})"] if missing else []) + \
            ([f"answers {len(extra)} questions the split does not have ({describe_ids(extra)})"] if extra else [])
    return report, predictions, [f"its predictions file {paths.predictions} {' and '.join(parts)}"]
