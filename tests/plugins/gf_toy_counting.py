"""A new open-ended benchmark, added from outside gf: one builder and one evaluator.

"Toy counting": each question asks how many times something happens; answers come from
a vocabulary file; each question has a ``skill`` that the evaluator breaks accuracy down by.
"""
from pathlib import Path
from typing import Any, Dict, List

from gf.common.io import load_jsonl
from gf.common.registry import registry
from gf.datasets.base import VideoQABuilder
from gf.evaluation.base import Evaluator, answer_vocab_size
from gf.evaluation.core import OOV_ANSWER, Tally, base_report, check_complete, normalise_predictions, outcome

BENCHMARK = "toy_counting"


@registry.register_builder("toy_counting")
class ToyCountingBuilder(VideoQABuilder):
    benchmark = BENCHMARK
    answer_mode = "oe"
    display_name = "toy counting"
    CLASS_KEY = None  # no event annotations
    DEFAULT_CONFIG: Dict[str, Any] = {
        "data_root": ".",
        "dataset_dir": "TOY",
        "annotations": {"train": "train.jsonl", "val": "val.jsonl", "test": "test.jsonl"},
        "answer_vocab": "answers.json",
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
        index = {a: i for i, a in enumerate(self.answer_vocab())}
        return [{"question_id": row["question_id"], "video_id": row["video_id"], "question": row["question"],
                 "options": None, "answer": index.get(row["answer"], OOV_ANSWER),
                 "fields": {"skill": row["skill"]}}
                for _, row in self._objects(load_jsonl(path, "toy annotations"), path)]


@registry.register_evaluator(BENCHMARK)
class ToyCountingEvaluator(Evaluator):
    """Accuracy per skill; predictions outside the vocabulary (whose size comes from
    ``info``, not from a list inside gf) are refused."""

    seen_vocab_sizes: list = []

    def evaluate(self, predictions, info, expected_ids=None):
        size = answer_vocab_size(info)
        ToyCountingEvaluator.seen_vocab_sizes.append(size)
        records = normalise_predictions(predictions, benchmark=BENCHMARK, num_classes=size, open_ended=True)
        check_complete(records, expected_ids, BENCHMARK)
        by_skill = Tally(order=("count", "compare"))
        outcomes = []
        for record in records.values():
            result = outcome(record)
            outcomes.append(result)
            by_skill.add(record["fields"]["skill"], result)
        report = base_report(BENCHMARK, outcomes)
        report["breakdowns"] = {"skill": by_skill.as_dict()}
        return report
