"""What a split is built from: the files, their fingerprint and the features' recipe.

Why a module of its own: reports, checkpoints and leaderboards must say exactly which
data a figure was computed on, and notice when it changed. That is one job, apart from
reading the data: :class:`SplitProvenance` lists a split's files
(:meth:`~SplitProvenance.split_data_files`), hashes them
(:meth:`~SplitProvenance.split_fingerprint`) and finds how its features were made
(:meth:`~SplitProvenance.feature_recipe`). :class:`gf.datasets.base.VideoQABuilder`
mixes it in; it relies on the builder's ``config``, ``require_path``,
``_requested_splits``, ``feature_store`` and the class attributes naming its files.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from gf.common.errors import DataFileError
from gf.common.io import sha256sum
from gf.datasets.builder_config import to_plain

__all__ = ["SplitProvenance", "recipe_describing", "store_files"]

logger = logging.getLogger(__name__)


def store_files(store: Any) -> List[str]:
    """The files a feature store reads (its ``files()``; else its ``path``, a folder listed
    recursively), for :meth:`SplitProvenance.split_fingerprint`."""
    files = getattr(store, "files", None)
    if callable(files):
        return [str(f) for f in files()]
    path = str(getattr(store, "path", ""))
    if os.path.isdir(path):
        return sorted(str(Path(d) / n) for d, _, names in os.walk(path) for n in names)
    return [path]


def recipe_describing(store: Any) -> Tuple[Optional[str], Optional[Dict[str, Any]], Optional[str]]:
    """``(folder, recipe, mismatch)``: the ``gf extract`` output folder whose recipe
    (``features.json``) describes ``store`` -- the folder itself (webdataset, npy) or the one
    file it names (pth, h5), in the store's format -- and that recipe; all ``None`` where no
    recipe lies beside the features. ``mismatch`` says why a recipe found there does not
    describe them (folder and recipe are then ``None``). A ``features.json`` that is not a
    recipe is an error naming it. One rule for the recipe a checkpoint records and for the
    folder whose ``state.json`` explains missing features."""
    from gf.datasets.feature_recipe import RECIPE_NAME, read_recipe, store_path

    files = [os.path.abspath(f) for f in store_files(store)]
    path = str(getattr(store, "path", ""))
    folder = os.path.abspath(path) if os.path.isdir(path) else os.path.dirname(files[0]) if files else ""
    if not folder or not os.path.isfile(os.path.join(folder, RECIPE_NAME)):
        return None, None, None
    recipe = read_recipe(folder)
    try:
        described, fmt = store_path(folder, recipe)
    except DataFileError as e:  # an output format this gf does not know
        return None, None, str(e)
    described = os.path.abspath(described)
    if fmt != getattr(store, "format_name", None) or not (described == folder or described in files):
        return None, None, (f"{os.path.join(folder, RECIPE_NAME)} describes {fmt} features in {described}, not the "
                            f"configured features {path}")
    return folder, recipe, None


class SplitProvenance:
    """The traceability half of :class:`~gf.datasets.base.VideoQABuilder` (a mixin)."""

    def _fingerprint_files(self, split: str) -> List[Tuple[str, Path]]:
        """``(label, path)`` of the files whose bytes :meth:`split_fingerprint` hashes: the
        split's annotation file and, when configured, the skip file, the events file, the
        grounding file, the class list (when the builder reads it) and the answer vocabulary.
        A builder that reads more files (EgoTaskQA's reasoning types) adds them."""
        c, name = self.config, self.display_name
        files = [("annotations", self.require_path(f"annotations.{split}", c["annotations"][split],
                                                   f"{name} annotation file for split {split!r}"))]
        optional = (("skip_file", "skip file"), ("events", f"{name} events file"),
                    ("grounding", f"{name} grounding file"))
        files += [(key, self.require_path(key, c[key], what)) for key, what in optional if c.get(key)]
        key = self.CLASS_KEY
        if key and c.get(key) and (self.CLASSES_WITHOUT_EVENTS or c.get("events")):
            files.append((key, self.require_path(key, c[key], self.CLASS_LIST_WHAT)))
        if c.get("answer_vocab"):
            files.append(("answer_vocab", self.require_path("answer_vocab", c["answer_vocab"],
                                                            f"{name} answer vocabulary")))
        return files

    def split_data_files(self, split: str, *, features: bool = True) -> List[Tuple[str, str]]:
        """``(label, path)`` of every file split ``split`` is built from: the files whose bytes
        :meth:`split_fingerprint` hashes, then (``features=True``) the feature store's files
        (label ``features``), whose identity it records. What a leaderboard checks, cheaply,
        before it shows a figure computed on this split."""
        (split,) = self._requested_splits([split])
        files = [(label, str(path)) for label, path in self._fingerprint_files(split)]
        return files + ([("features", path) for path in store_files(self.feature_store())] if features else [])

    def split_fingerprint(self, split: str, *, features: bool = True,
                          sha256: Callable[[str], str] = sha256sum) -> str:
        """A sha256 (hex) naming exactly what split ``split`` is built from, for reports and
        checkpoints to record. ``features=False``: what scoring reads only (the annotation
        files below, not the feature store), marked as such so the two never coincide.

        What it covers, and what a feature file's identity (path, size, ``mtime_ns``, not its
        bytes) leaves unnoticed: docs/data_formats.md §0, "Split fingerprint"; the text files
        are those of :meth:`_fingerprint_files`. Deterministic for the same inputs. Reads the
        text files once (streamed) and stats the feature files; the feature store is opened
        as when the splits are built (for a ``.pth`` file that can mean loading it), not read
        key by key. ``sha256``: how a text file is hashed (a leaderboard passes its cache,
        which also records each file's hash).
        """
        (split,) = self._requested_splits([split])
        digest = hashlib.sha256()

        def part(label: str, data: bytes) -> None:  # length-framed, so parts never run together
            digest.update(f"{label}\0{len(data)}\0".encode("utf-8"))
            digest.update(data)

        part("gf-split-fingerprint", b"1")
        if not features:
            part("scope", b"annotations")
        part("builder", f"{type(self).__module__}.{type(self).__qualname__}".encode("utf-8"))
        part("split", split.encode("utf-8"))
        part("config", json.dumps(to_plain(self.config), sort_keys=True, default=str).encode("utf-8"))
        for label, path in self.split_data_files(split, features=features):  # text files first, then features
            if label == "features":
                try:
                    st = os.stat(path)
                except OSError as e:
                    raise DataFileError(f"feature file {path} cannot be read: {e}") from None
                part("features", f"{path}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8"))
                continue
            part(f"file:{label}", f"{path}\0".encode("utf-8") + bytes.fromhex(sha256(path)))
        return digest.hexdigest()

    def feature_recipe(self) -> Optional[Dict[str, Any]]:
        """The ``features.json`` that ``gf extract`` wrote beside this builder's features, else ``None``.

        Why: features from another backbone or sampling load without complaint, so a
        checkpoint records how its training features were made (the runner stores this in
        its ``extra``). Which ``features.json`` describes the store: :func:`recipe_describing`;
        one beside some other file is left out (logged) rather than recorded wrongly.
        """
        _, recipe, mismatch = recipe_describing(self.feature_store())
        if mismatch:
            logger.warning("%s: %s; the recipe is not recorded", self.config_prefix, mismatch)
        return recipe
