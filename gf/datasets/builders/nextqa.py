"""NExT-QA (multiple choice, 5 options) from the layout ``gf prepare nextqa`` writes.

Why not the authors' ``dataset/nextqa.py``: it read a renamed ``video_id`` column, keyed
results by ``qid`` (unique only within a video, so the official ``eval_mc.py`` could not
be run on them), dropped the question type, and its batches did not match the training
scripts (B17). Here question ids are the official ``"<video>_<qid>"``, each question
carries its ``type`` for the CW/CH/TN/TC/DC/DL/DO breakdown, and the test split is
scored: NExT-QA's test labels are public (the authors' ``test()`` scored label-free, B6).

NExT-QA has no event annotations, so only the unsupervised-memory model applies:
``info()["event_pred_dim"]`` is ``None`` and the model keeps its own cluster count.

Expected tree (relative paths are relative to ``<data_root>/<dataset_dir>``)::

    NExT-QA/
      txt_db/train.jsonl, val.jsonl, test.jsonl   written by `gf prepare nextqa`
      vis_db/features.pth                         your features, keyed by video id

``annotations`` may also point straight at the official ``<split>.csv`` files (or the
authors' ``*_mc.csv`` copies with a ``video_id`` column): files ending in ``.csv`` are
read with the converter's checks.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from gf.common.io import DataFileError, load_jsonl
from gf.common.registry import registry
from gf.datasets.base import BaseBuilder, positive_int
from gf.datasets.feature_stores import FeatureStore
from gf.datasets.videoqa import VideoQADataset
from gf.processors.text import VideoQATextProcessor
from gf.processors.video import VideoFeatureProcessor

__all__ = ["NextQABuilder"]

logger = logging.getLogger(__name__)

_KEY_FIELDS = ("video_id", "question_id")


@registry.register_builder("nextqa")
class NextQABuilder(BaseBuilder):
    """Builds NExT-QA train/val/test from ``<data_root>/<dataset_dir>/{txt_db,vis_db}``.

    Config keys:

    * ``data_root`` / ``dataset_dir`` -- the data lives in ``<data_root>/<dataset_dir>``
      (``NExT-QA``).
    * ``annotations`` -- ``{split: file}``: the converter's ``txt_db/<split>.jsonl``
      (records ``question_id``, ``video_id``, ``question``, ``options`` (5), ``answer``
      (0..4), ``type``), or an official ``<split>.csv``.
    * ``features`` / ``feature_format`` -- feature store (``null`` format = detect from
      the path). Default ``vis_db/features.pth``: a ``torch.save`` dict ``{video: Tensor}``,
      the way the authors passed NExT-QA features; integer keys (their pandas int64 ids)
      work, since stores compare keys as strings. Any rank is flattened to rows of the
      last dimension, as the authors' loader did: region/HCRN ``(.., 2048)`` -> 2048-d rows,
      MIST CLIP ``(32, 17, 512)`` -> 544 rows of 512. HDF5 (``ids`` + ``resnet_features`` /
      ``features``), ``.npy`` folders and webdataset shards work too.
    * ``key_field`` -- record field that keys the features: ``video_id`` (NExT-QA features
      are per video) or ``question_id``.
    * ``max_feats`` -- frames after sampling/padding: 80, what the authors' scripts pass
      (their loader's own default was 20).
    * ``feature_dim`` -- expected D, checked against the store when set; ``null`` = take it
      from the store.
    * ``text_format`` -- one text per option, ``{question}`` and ``{option}``. The default
      joins with a space, like the STAR/AGQA loaders and gf's other builders; the authors'
      NExT-QA loader wrote a literal ``"{question} [SEP] {option}"`` (RoBERTa reads
      ``[SEP]`` as plain text), set that to reproduce it.
    * ``skip_file`` -- optional file of question ids to leave out (one per line, ``#``
      comments), e.g. videos whose features could not be extracted; counted in ``stats``.
    * ``splits`` -- splits built by default.
    * ``unlabelled_splits`` -- splits whose answers are ignored. Empty: NExT-QA's test
      labels are public, so test is scored like val.
    * ``seed`` -- kept for the dataset's seeded sampling (NExT-QA has no events to sample).
    """

    benchmark = "nextqa"
    answer_mode = "mc"
    NUM_OPTIONS = 5

    DEFAULT_CONFIG: Dict[str, Any] = {
        "data_root": "gf_data",
        "dataset_dir": "NExT-QA",
        "annotations": {"train": "txt_db/train.jsonl", "val": "txt_db/val.jsonl", "test": "txt_db/test.jsonl"},
        "features": "vis_db/features.pth",
        "feature_format": None,
        "key_field": "video_id",
        "max_feats": 80,
        "feature_dim": None,
        "text_format": "{question} {option}",
        "skip_file": None,
        "splits": ["train", "val", "test"],
        "unlabelled_splits": [],
        "seed": 0,
    }

    def __init__(self, cfg: Optional[Mapping[str, Any]] = None):
        super().__init__(cfg)
        self._check_config()
        self._store: Optional[FeatureStore] = None
        self.stats = {"splits": {}}

    # -- config ----------------------------------------------------------------------------
    def _check_config(self) -> None:
        c, p = self.config, self.config_prefix

        def bad(key: str, expected: str) -> None:
            raise ValueError(f"{p}.{key} must be {expected}, got {c[key]!r}")

        if c["key_field"] not in _KEY_FIELDS:
            bad("key_field", f"one of {list(_KEY_FIELDS)}")
        if not positive_int(c["max_feats"]):
            bad("max_feats", "a positive integer")
        if c["feature_dim"] is not None and not positive_int(c["feature_dim"]):
            bad("feature_dim", "a positive integer or null")
        if not isinstance(c["seed"], int) or isinstance(c["seed"], bool):
            bad("seed", "an integer")
        if not isinstance(c["annotations"], dict):
            bad("annotations", "a mapping {split: jsonl or csv path}")
        for key in ("splits", "unlabelled_splits"):
            value = c[key]
            if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                bad(key, "a list of split names")
        unknown = [s for s in c["splits"] if s not in c["annotations"]]
        if unknown:
            raise ValueError(f"{p}.splits names {unknown} but {p}.annotations only has {sorted(c['annotations'])}")
        try:
            VideoQATextProcessor(c["text_format"])
        except ValueError as e:
            raise ValueError(f"{p}.text_format: {e}") from None

    # -- shared resources -------------------------------------------------------------------
    def feature_store(self) -> FeatureStore:
        """The one lazy store every split reads from (opened once, never copied per split)."""
        if self._store is None:
            self._store = self._open_configured_store("NExT-QA feature file")
        return self._store

    # -- records -----------------------------------------------------------------------------
    def _records(self, path: Path) -> List[Dict[str, Any]]:
        """Annotation rows -> dataset records (values are checked again by the dataset)."""
        from gf.datasets.converters.nextqa import QUESTION_TYPES, read_split_csv

        rows = read_split_csv(path) if path.suffix.lower() == ".csv" else load_jsonl(path, "NExT-QA annotation file")
        records = []
        for i, row in enumerate(rows):
            where = f"{path}: record {i}"
            if not isinstance(row, dict):
                raise DataFileError(f"{where} is {type(row).__name__}, expected a JSON object")
            qid = row.get("question_id")
            qtype = row.get("type")
            if qtype not in QUESTION_TYPES:
                raise DataFileError(
                    f"{where} (question_id {qid!r}): 'type' is {qtype!r}, expected one of "
                    f"{', '.join(QUESTION_TYPES)}; the per-type scoring needs it. Re-run `gf prepare nextqa`."
                )
            if row.get("options") is None:
                raise DataFileError(f"{where} (question_id {qid!r}) has no 'options'; NExT-QA questions have 5")
            rec = {
                "question_id": qid,
                "question": row.get("question"),
                "options": row.get("options"),
                "answer": row.get("answer"),
                "fields": {"type": qtype},
            }
            key_field = self.config["key_field"]
            if key_field != "question_id":
                vid = row.get(key_field)
                rec[key_field] = str(vid) if isinstance(vid, int) and not isinstance(vid, bool) else vid
            records.append(rec)
        return records

    # -- public API --------------------------------------------------------------------------
    def build_datasets(self, splits: Optional[Sequence[str]] = None) -> Dict[str, VideoQADataset]:
        c = self.config
        splits = self._requested_splits(splits)
        ann_paths = {s: self.require_path(f"annotations.{s}", c["annotations"][s],
                                          f"NExT-QA annotation file for split {s!r}") for s in splits}
        store = self.feature_store()
        skip_ids = self._skip_ids()
        datasets: Dict[str, VideoQADataset] = {}
        for split in splits:
            train = split == "train"
            records = self._records(ann_paths[split])
            if split in c["unlabelled_splits"]:
                for rec in records:
                    rec["answer"] = None
            ds = VideoQADataset(
                records, store, VideoFeatureProcessor(c["max_feats"], c["feature_dim"], train=train), None,
                split=split, benchmark=self.benchmark, max_events=None, train=train, seed=c["seed"],
                key_field=c["key_field"], text_format=c["text_format"], skip_ids=skip_ids,
                source=str(ann_paths[split]), num_options=self.NUM_OPTIONS,
            )
            self.stats["splits"][split] = dict(ds.stats)
            logger.info("%s %s: %s", self.benchmark, split, ds.stats)
            datasets[split] = ds
        return datasets

    def info(self) -> Dict[str, Any]:
        return {
            "num_options": self.NUM_OPTIONS,
            "num_event_classes": None,
            "event_pred_dim": None,  # no event annotations: unsupervised memories keep their own size
            "feature_dim": self.config["feature_dim"] or self.feature_store().feature_dim,
            "max_feats": self.config["max_feats"],
            "max_events": None,
            "answer_vocab": None,
        }
