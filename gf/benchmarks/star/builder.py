"""STAR (Situated Reasoning) from the Glance-Focus authors' bundle.

Why a builder rather than the authors' ``dataset/star.py``: that loader needed a dummy
``answer`` in ``test.jsonl`` (B7), dropped the last action class (B3), fed start-end spans
to a centre-width head (B1), crashed on clips without events (B2), subsampled events at
random during validation (B20) and loaded ``s3d.pth`` once per split (B18). Here every one
of those is handled explicitly; see docs/data_formats.md §1 and §6.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

from gf.benchmarks.star.evaluator import NUM_CHOICES, type_problem
from gf.common.io import DataFileError, load_jsonl, record_place
from gf.common.registry import registry
from gf.datasets.base import VideoQABuilder
from gf.datasets.text_files import read_class_lines

logger = logging.getLogger(__name__)

__all__ = ["StarBuilder"]


@registry.register_builder("star")
class StarBuilder(VideoQABuilder):
    """Builds STAR train/val/test from ``<data_root>/<dataset_dir>/{txt_db,vis_db}``.

    Config keys: docs/data_formats.md §0, "Builder config keys", and §1.2 (why
    ``unlabelled_splits`` defaults to ``[test]``: B6, B7). How events become targets:
    docs/data_formats.md §0 and B1, B2, B20 in §6.
    """

    benchmark = "star"
    answer_mode = "mc"
    display_name = "STAR"
    NUM_OPTIONS = NUM_CHOICES
    KEY_FIELDS = ("question_id", "video_id")
    CLASS_LIST_WHAT = "STAR action class list"
    EVENTS_KEY = "question_id"  # one trimmed clip per question (the authors' bundle, gf prepare star)

    DEFAULT_CONFIG: Dict[str, Any] = {
        "data_root": "gf_data",
        "dataset_dir": "STAR",
        "annotations": {"train": "txt_db/train.jsonl", "val": "txt_db/val.jsonl", "test": "txt_db/test.jsonl"},
        "events": "txt_db/events.json",
        "grounding": None,
        "action_mapping": "txt_db/action_mapping.txt",
        "action_classes": "txt_db/action_classes.txt",
        "features": "vis_db/s3d.pth",
        "feature_format": None,
        "key_field": "question_id",
        "max_feats": 80,
        "feature_dim": None,
        "max_events": 10,
        "text_format": "{question} {option}",
        "skip_file": None,
        "splits": ["train", "val", "test"],
        "unlabelled_splits": ["test"],
        "seed": 0,
    }

    def class_labels(self) -> Optional[List[str]]:
        """Each event class's name, aligned with :meth:`class_names`: the ``action_classes``
        line whose code (``a000``) starts the class's ``action_mapping`` line (``a000 v004
        o019``), or that line where no name is listed; ``None`` without the file. Shown to
        people only, never used to train, so a bundle without it (the authors') loses nothing."""
        classes, names = self.class_names(), self.config.get("action_classes")
        if not classes or not names:
            return None
        default = names == self.DEFAULT_CONFIG["action_classes"]  # optional where gf put it; a path given must be there
        path = self.require_path("action_classes", names, "STAR action names", must_exist=not default)
        if not path.is_file():
            return None
        try:
            by_code = {line.split(maxsplit=1)[0]: line for line in read_class_lines(path)}
        except DataFileError as e:  # shown to people only: a damaged names file must not stop a run
            logger.warning("%s; events are shown by their action_mapping lines", e)
            return None
        return [by_code.get(c.split(maxsplit=1)[0], c) for c in classes]

    def info(self, *, features: bool = True) -> Dict[str, Any]:
        return {**super().info(features=features), "class_labels": self.class_labels()}

    # -- records -----------------------------------------------------------------------------
    def _records(self, path: Path) -> List[Dict[str, Any]]:
        """jsonl rows -> dataset records; values are validated by the dataset (file:line errors)."""
        rows = load_jsonl(path, "STAR annotation file")
        records = []
        for i, row in self._objects(rows, path):
            qid = self._id_text(row.get("question_id"))
            problem = type_problem(qid) if isinstance(qid, str) else None  # not a string: the dataset says so
            if problem:  # scoring reads the type from the id: refused here, not after a training epoch
                raise DataFileError(f"{record_place(path, i)}: {problem}. Correct the id, or leave the question out of "
                                    f"the file")
            rec = self._annotation_record(row, path, i, qid, answer=row.get("answer"),
                                    fields={"type": qid.split("_")[0]} if isinstance(qid, str) else {})
            if self.config["key_field"] == "question_id" and row.get("video_id") is not None:
                rec["video_id"] = self._id_text(row["video_id"])  # the video the trimmed clip comes from
            records.append(rec)
        return records
