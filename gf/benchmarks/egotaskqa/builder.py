"""EgoTaskQA (open-ended, direct and indirect splits) from the layout `gf prepare egotaskqa` writes.

Why not the authors' ``dataset/egotaskqa.py``: it returned a tuple instead of the batch
the training scripts read, shuffled spans and classes independently (mis-pairing them),
divided spans by the clip's absolute end frame, crashed on clips without events, and
handed out ``(8, 16, 2048)`` features unflattened (B16 in docs/data_formats.md). The
converter fixes the files; this builder reads them into the shared
:class:`~gf.datasets.videoqa.VideoQADataset`. Layout: docs/data_formats.md §3.2.

Motion stream (``motion_features``): off by default, as in the Glance-Focus variant
(2048-d appearance, 128 frames); how it is joined to the appearance rows: §3.2. On the
feature axis, because time-axis concatenation would put 8 motion "frames" after 128
appearance frames that no event span refers to.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from gf.benchmarks.egotaskqa.converter import SPLIT_TYPES
from gf.common.io import DataFileError, load_jsonl, record_place
from gf.common.registry import registry
from gf.datasets.base import VideoQABuilder
from gf.datasets.text_files import read_class_lines

if TYPE_CHECKING:  # imported where used: registering the benchmark (gf prepare, gf evaluate) needs no torch
    import torch

    from gf.datasets.feature_stores import FeatureStore

__all__ = ["EgoTaskQABuilder", "ConcatFeatureStore"]


class ConcatFeatureStore:
    """Appearance ``[T, Da]`` + motion ``[M, Dm]`` -> ``[T, Da + Dm]``, motion rows repeated ``T / M``x.

    Same read-only interface as a :class:`~gf.datasets.feature_stores.FeatureStore` (what
    the dataset and collator use): ``[key]``, ``missing``, ``feature_dim``, ``path``.
    """

    def __init__(self, appearance: FeatureStore, motion: FeatureStore):
        self.appearance, self.motion = appearance, motion

    @property
    def path(self) -> str:
        return f"{self.appearance.path} + {self.motion.path}"

    @property
    def feature_dim(self) -> int:
        return self.appearance.feature_dim + self.motion.feature_dim

    def files(self) -> List[str]:
        """The files of both streams (for a split's fingerprint)."""
        from gf.datasets.split_provenance import store_files

        return store_files(self.appearance) + store_files(self.motion)

    def missing(self, keys) -> List[str]:
        keys = list(keys)
        return list(dict.fromkeys(self.appearance.missing(keys) + self.motion.missing(keys)))

    def __contains__(self, key) -> bool:
        return key in self.appearance and key in self.motion

    def __getitem__(self, key) -> torch.Tensor:
        import torch

        app, mot = self.appearance[key], self.motion[key]
        if len(mot) == 0 or len(app) % len(mot):
            raise DataFileError(f"{self.path}: key {key!r} has {len(app)} appearance rows and {len(mot)} motion "
                                f"rows; the appearance rows must split evenly into one segment per motion row")
        return torch.cat([app, mot.repeat_interleave(len(app) // len(mot), dim=0)], dim=1)

    def __repr__(self) -> str:
        return f"ConcatFeatureStore({self.appearance!r}, {self.motion!r})"


@registry.register_builder("egotaskqa")
class EgoTaskQABuilder(VideoQABuilder):
    """Builds EgoTaskQA train/val/test (one ``split_type``: ``direct`` or ``indirect``).

    Config keys (``{split_type}`` in a path is filled in): docs/data_formats.md §0, "Builder
    config keys", and §3.2. ``stats["splits"][split]["answers_outside_vocab"]`` counts the
    -1 labels of each split.
    """

    benchmark = "egotaskqa"
    answer_mode = "oe"
    display_name = "EgoTaskQA"
    KEY_FIELDS = ("video_id", "interval")
    CLASS_KEY = "hois"
    CLASS_LIST_WHAT = "EgoTaskQA event-class list"
    _types: Optional[List[str]] = None  # all_reasoning_types.txt, read on first use

    DEFAULT_CONFIG: Dict[str, Any] = {
        "data_root": "gf_data",
        "dataset_dir": "EgoTaskQA",
        "split_type": "direct",
        "annotations": {"train": "{split_type}/txt_db/train.jsonl", "val": "{split_type}/txt_db/val.jsonl",
                        "test": "{split_type}/txt_db/test.jsonl"},
        "answer_vocab": "{split_type}/txt_db/answer_vocab.json",
        "events": "{split_type}/txt_db/events.json",
        "hois": "{split_type}/txt_db/hoi_classes.txt",
        "reasoning_types": "{split_type}/txt_db/all_reasoning_types.txt",
        "features": "hcrn_data/lemma-qa_appearance_feat.h5",
        "features_dataset": "resnet_features",
        "ids_dataset": "ids",
        "motion_features": None,
        "motion_features_dataset": "resnext_features",
        "key_field": "video_id",
        "max_feats": 128,
        "feature_dim": None,
        "max_events": 10,
        "text_format": "{question} {option}",
        "skip_file": None,
        "splits": ["train", "val", "test"],
        "seed": 0,
    }

    def _check_config(self) -> None:
        if self.config["split_type"] not in SPLIT_TYPES:
            self._bad("split_type", f"one of {list(SPLIT_TYPES)}")
        super()._check_config()

    def _fill_path(self, value: Any) -> Any:
        return value.replace("{split_type}", self.config["split_type"]) if isinstance(value, str) else value

    # -- shared resources --------------------------------------------------------------------
    def _open_store(self, key: str, dataset_key: str, what: str) -> FeatureStore:
        from gf.datasets.feature_stores import HDF5Store, open_feature_store

        path = self.require_path(key, self.config[key], what)
        if path.suffix.lower() in (".h5", ".hdf5"):
            return HDF5Store(path, features=self.config[dataset_key], ids=self.config["ids_dataset"])
        return open_feature_store(path)

    def feature_store(self):
        """The one lazy store every split reads from (appearance, or appearance + motion)."""
        if self._store is None:
            store = self._open_store("features", "features_dataset", "EgoTaskQA appearance features")
            if self.config["motion_features"]:
                store = ConcatFeatureStore(store, self._open_store("motion_features", "motion_features_dataset",
                                                                   "EgoTaskQA motion features"))
            self._store = self._check_feature_dim(store, store.path)
        return self._store

    def reasoning_types(self) -> Optional[List[str]]:
        """Tokens of ``all_reasoning_types.txt``, for ``gf.benchmarks.egotaskqa.evaluator.evaluate``."""
        if self._types is None and self.config["reasoning_types"]:
            path = self.require_path("reasoning_types", self.config["reasoning_types"], "EgoTaskQA reasoning types")
            self._types = read_class_lines(path)
        return self._types

    def _records(self, path: Path) -> List[Dict[str, Any]]:
        records = []
        for i, row in self._objects(load_jsonl(path, "EgoTaskQA annotation file"), path):
            self._check_reasoning_type(row.get("reasoning_type"), path, i, row.get("question_id"))
            records.append(self._annotation_record(row, path, i, self._id_text(row.get("question_id")),
                                             answer=row.get("answer"),
                                             fields={"reasoning_type": row.get("reasoning_type")}))
        return records

    def _check_reasoning_type(self, value: Any, path: Path, index: int, qid: Any) -> None:
        """Each record's ``reasoning_type`` is the ``$``-joined tokens the evaluator scores by
        (and, with ``reasoning_types``, tokens that file lists): checked as the file is read,
        naming its line, rather than after an epoch of training when the split is scored."""
        from gf.benchmarks.egotaskqa.evaluator import SEPARATOR

        tokens = value.split(SEPARATOR) if isinstance(value, str) and value else None
        if tokens is not None and all(tokens):
            types = self.reasoning_types()
            unknown = [t for t in tokens if types is not None and t not in types]
            if not unknown:
                return
            listed = self.require_path("reasoning_types", self.config["reasoning_types"], "EgoTaskQA reasoning types")
            problem = f"reasoning_type {value!r} has token(s) {', '.join(map(repr, unknown))} that {listed} does not list"
        else:
            problem = (f"reasoning_type must be the '$'-joined string of the EgoTaskQA record (e.g. "
                       f"'counterfactual$world$action$verify$direct'), got {value!r}")
        raise DataFileError(f"{record_place(path, index)}: question {qid!r}: {problem}. Write the split again with "
                            f"gf prepare egotaskqa, or fix that record")

    def _fingerprint_files(self, split: str):
        files = super()._fingerprint_files(split)
        if self.config["reasoning_types"]:  # the evaluation's categories
            files.append(("reasoning_types", self.require_path("reasoning_types", self.config["reasoning_types"],
                                                               "EgoTaskQA reasoning types")))
        return files

    def info(self, **kwargs) -> Dict[str, Any]:
        return {**super().info(**kwargs), "all_reasoning_types": self.reasoning_types()}
