"""The toy order builder: its ``DEFAULT_CONFIG`` is the benchmark's default config."""
from pathlib import Path
from typing import Any, Dict, List

from gf.common.io import load_jsonl
from gf.common.registry import registry
from gf.datasets.base import VideoQABuilder

from .evaluator import BENCHMARK


@registry.register_builder(BENCHMARK)
class ToyOrderBuilder(VideoQABuilder):
    benchmark = BENCHMARK
    answer_mode = "mc"
    display_name = "toy order"
    NUM_OPTIONS = 2
    CLASS_KEY = None  # no event annotations
    DEFAULT_CONFIG: Dict[str, Any] = {
        "data_root": ".",
        "dataset_dir": "TOY_ORDER",
        "annotations": {"train": "train.jsonl", "val": "val.jsonl", "test": "test.jsonl"},
        "features": "features.pth",
        "feature_format": None,
        "key_field": "video_id",
        "max_feats": 8,
        "feature_dim": None,
        "skip_file": None,
        "splits": ["train", "val", "test"],
        "unlabelled_splits": [],
        "seed": 0,
    }

    def _records(self, path: Path) -> List[Dict[str, Any]]:
        return [{"question_id": row["question_id"], "video_id": row["video_id"], "question": row["question"],
                 "options": row["options"], "answer": row["answer"], "fields": {"word": row["word"]}}
                for _, row in self._objects(load_jsonl(path, "toy order annotations"), path)]
