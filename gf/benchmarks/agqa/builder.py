"""AGQA 2.0 balanced (open-ended) from the layout ``gf prepare agqa`` writes.

Why not the authors' ``dataset/agqa.py``: their val dataset was built without an answer
vocabulary and crashed at start-up (B5), an answer outside the vocabulary raised
``KeyError`` (B8), their README trained with ``output_dim`` = the Charades class count
instead of the vocabulary size (B9), and event spans were start-end for a centre-width
head (B1). Here the vocabulary size is the model's answer count, val/test answers outside
the vocabulary get the label -1 (kept, and scored wrong by the evaluator, as MIST does),
and events go through the shared :class:`~gf.datasets.events.EventTable`. B codes:
docs/data_formats.md §6.

The layout, and which of the authors' own files work as well (with their lack of a val
split): docs/data_formats.md §2.2.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

from gf.common.io import DataFileError, load_jsonl
from gf.common.registry import registry
from gf.datasets.base import VideoQABuilder
from gf.evaluation.core import OOV_ANSWER

__all__ = ["AGQABuilder"]


@registry.register_builder("agqa")
class AGQABuilder(VideoQABuilder):
    """Builds AGQA 2.0 train/val/test from ``<data_root>/<dataset_dir>/{txt_db,vis_db}``.

    Config keys: docs/data_formats.md §0, "Builder config keys", and §2.2.
    ``stats["splits"][split]["answers_outside_vocab"]`` counts the -1 labels of each split.
    """

    benchmark = "agqa"
    answer_mode = "oe"
    display_name = "AGQA"
    CLASS_LIST_WHAT = "Charades action class list"
    CLASSES_WITHOUT_EVENTS = False  # the class list only labels the optional events

    DEFAULT_CONFIG: Dict[str, Any] = {
        "data_root": "gf_data",
        "dataset_dir": "AGQA",
        "annotations": {"train": "txt_db/train.jsonl", "val": "txt_db/val.jsonl", "test": "txt_db/test.jsonl"},
        "answer_vocab": "txt_db/answer_vocab.json",
        "events": None,
        "action_mapping": "txt_db/action_mapping.txt",
        "features": "vis_db/frcnn.pth",
        "feature_format": None,
        "key_field": "video_id",
        "max_feats": 80,
        "feature_dim": None,
        "max_events": 10,
        "skip_file": None,
        "splits": ["train", "val", "test"],
        "unlabelled_splits": [],
        "seed": 0,
    }

    def _answer_list(self, data: Any, path: Path) -> Any:
        """The vocabulary file's JSON (the authors' HCRN-style file works too) -> the answer list;
        the list itself is checked by :func:`~gf.datasets.base.check_answer_vocab`, as for every benchmark."""
        if isinstance(data, dict) and "answer_token_to_idx" in data:
            mapping = data["answer_token_to_idx"]
            if not isinstance(mapping, dict) or not all(isinstance(i, int) and not isinstance(i, bool)
                                                        for i in mapping.values()):
                raise DataFileError(f"{path}: 'answer_token_to_idx' must map answer strings to integer indices")
            by_index = sorted(mapping.items(), key=lambda kv: kv[1])
            indices = [i for _, i in by_index]
            if indices != list(range(len(indices))):
                raise DataFileError(f"{path}: 'answer_token_to_idx' indices must be 0..{len(indices) - 1} with "
                                    f"each used once; a gap or repeat would make labels ambiguous")
            return [a for a, _ in by_index]
        if isinstance(data, list):
            return data
        raise DataFileError(f"{path}: expected a JSON list of answers (gf prepare agqa) or an object with "
                            f"'answer_token_to_idx' (HCRN style), got {type(data).__name__}")

    # -- records -----------------------------------------------------------------------------
    def _records(self, path: Path) -> List[Dict[str, Any]]:
        from gf.benchmarks.agqa.converter import check_record, read_balanced_file

        if path.suffix.lower() != ".jsonl":
            rows = read_balanced_file(path)  # the official {question_id: record} file
        else:
            rows = [check_record(row.get("question_id"), row, f"{path}: record {i}")
                    for i, row in self._objects(load_jsonl(path, "AGQA annotation file"), path)]
        index = {a: i for i, a in enumerate(self.answer_vocab())}
        kinds = ("global", "semantic", "structural", "ans_type")
        return [self._annotation_record(row, path, i, row["question_id"], answer=index.get(row["answer"], OOV_ANSWER),
                                  fields={k: row[k] for k in kinds})
                for i, row in enumerate(rows)]
