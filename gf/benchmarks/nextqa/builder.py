"""NExT-QA (multiple choice, 5 options) from the layout ``gf prepare nextqa`` writes.

Why not the authors' ``dataset/nextqa.py``: it read a renamed ``video_id`` column, keyed
results by ``qid`` (unique only within a video, so the official ``eval_mc.py`` could not
be run on them), dropped the question type, and its batches did not match the training
scripts (B17). Here question ids are the official ``"<video>_<qid>"``, each question
carries its ``type`` for the CW/CH/TN/TC/DC/DL/DO breakdown, and the test split is
scored: NExT-QA's test labels are public (the authors' ``test()`` scored label-free, B6).
B codes: docs/data_formats.md §6; the layout, and the CSV files ``annotations`` may name
instead: §4.2.

Without event annotations, ``info()["event_pred_dim"]`` is ``None`` and the
(unsupervised-memory) model keeps its own cluster count.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from gf.benchmarks.nextqa.converter import NUM_OPTIONS, QUESTION_TYPES, read_split_csv
from gf.common.io import DataFileError, load_jsonl
from gf.common.registry import registry
from gf.datasets.base import VideoQABuilder
from gf.datasets.converters import annotation_record

__all__ = ["NextQABuilder"]


@registry.register_builder("nextqa")
class NextQABuilder(VideoQABuilder):
    """Builds NExT-QA train/val/test from ``<data_root>/<dataset_dir>/{txt_db,vis_db}``.

    Config keys:

    * ``data_root`` / ``dataset_dir`` -- the data lives in ``<data_root>/<dataset_dir>``
      (``NExT-QA``).
    * ``annotations`` -- ``{split: file}``: the converter's ``txt_db/<split>.jsonl``, or an
      official ``<split>.csv``.
    * ``features`` / ``feature_format`` -- feature store (``null`` format = detect from
      the path). Default ``vis_db/features.pth``: a ``torch.save`` dict ``{video: Tensor}``,
      the way the authors passed NExT-QA features; their pandas int64 keys work. Any rank
      is flattened to rows of the last dimension, as the authors' loader did: region/HCRN
      ``(.., 2048)`` -> 2048-d rows, MIST CLIP ``(32, 17, 512)`` -> 544 rows of 512.
    * ``key_field`` -- record field that keys the features: ``video_id`` (NExT-QA features
      are per video) or ``question_id``.
    * ``max_feats`` -- frames after sampling/padding: 80, what the authors' scripts pass
      (their loader's own default was 20).
    * ``feature_dim`` -- expected D, checked against the store when set; ``null`` = take it
      from the store.
    * ``text_format`` -- one text per option, ``{question}`` and ``{option}``. The default
      joins with a space, like the STAR/AGQA loaders and gf's other builders;
      ``"{question} [SEP] {option}"``
      reproduces the authors' NExT-QA loader (RoBERTa reads ``[SEP]`` as plain text).
    * ``skip_file`` -- optional file of question ids to leave out (one per line, ``#``
      comments), e.g. videos whose features could not be extracted; counted in ``stats``.
    * ``splits`` -- splits built by default.
    * ``unlabelled_splits`` -- splits whose answers are ignored. Empty: NExT-QA's test
      labels are public, so test is scored like val.
    * ``seed`` -- kept for the dataset's seeded sampling (NExT-QA has no events to sample).
    """

    benchmark = "nextqa"
    answer_mode = "mc"
    display_name = "NExT-QA"
    NUM_OPTIONS = NUM_OPTIONS  # the converter's
    CLASS_KEY = None  # no event annotations

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

    # -- records -----------------------------------------------------------------------------
    def _records(self, path: Path) -> List[Dict[str, Any]]:
        """Annotation rows -> dataset records (values are checked again by the dataset)."""
        rows = read_split_csv(path) if path.suffix.lower() == ".csv" else load_jsonl(path, "NExT-QA annotation file")
        records = []
        for i, row in self._objects(rows, path):
            qid = row.get("question_id")
            qtype = row.get("type")
            if qtype not in QUESTION_TYPES:
                raise DataFileError(
                    f"{path}: record {i} (question_id {qid!r}): 'type' is {qtype!r}, expected one of "
                    f"{', '.join(QUESTION_TYPES)}; the per-type scoring needs it. Re-run `gf prepare nextqa`."
                )
            records.append(annotation_record(self, row, path, i, qid, answer=row.get("answer"), fields={"type": qtype}))
        return records
