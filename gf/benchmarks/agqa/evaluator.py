"""AGQA 2.0 scoring: reasoning / semantic / structural / answer-type breakdowns, as the AGQA
paper's tables (DeST's ``eval.py``). Which categories a question counts toward, and how an
answer outside the vocabulary (-1) is scored: docs/data_formats.md §2.3.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional

from gf.common.registry import registry
from gf.evaluation.base import Evaluator, answer_vocab_size
from gf.evaluation.core import EvaluationError, Tally, normalise_predictions, note_out_of_vocabulary, score_by_category

__all__ = ["ANSWER_TYPES", "BENCHMARK", "REASONING_TYPES", "SEMANTIC_TYPES", "STRUCTURAL_TYPES", "evaluate"]

BENCHMARK = "agqa"
# The value sets DeST asserts exhaustive on the test set. They fix the table order and
# keep rows for absent categories; values outside them are still scored (data decides).
REASONING_TYPES = ("obj-rel", "rel-act", "obj-act", "superlative", "sequencing", "exists",
                   "duration-comparison", "action-recognition")
SEMANTIC_TYPES = ("object", "relation", "action")
STRUCTURAL_TYPES = ("query", "compare", "choose", "logic", "verify")
ANSWER_TYPES = ("binary", "open")


def _categories(qid: str, record: Mapping[str, Any]) -> Dict[str, List[str]]:
    fields = record["fields"]

    def need_str(key: str) -> str:
        value = fields.get(key)
        if not isinstance(value, str) or not value:
            raise EvaluationError(f"agqa: question {qid!r}: fields.{key} must be a non-empty "
                                  f"string (from the AGQA record), got {value!r}")
        return value

    reasoning = fields.get("global")
    if not isinstance(reasoning, list) or not all(isinstance(r, str) and r for r in reasoning):
        raise EvaluationError(f"agqa: question {qid!r}: fields.global must be the list of "
                              f"reasoning-type strings from the AGQA record, got {reasoning!r}")
    ans_type = need_str("ans_type")
    if ans_type not in ANSWER_TYPES:
        raise EvaluationError(f"agqa: question {qid!r}: fields.ans_type is {ans_type!r}, "
                              f"expected one of {', '.join(ANSWER_TYPES)}")
    # A type listed twice in one question still counts the question once.
    return {"reasoning": list(dict.fromkeys(reasoning)), "semantic": [need_str("semantic")],
            "structural": [need_str("structural")], "answer_type": [ans_type]}


def evaluate(predictions: Mapping[str, Mapping[str, Any]], *,
             expected_ids: Optional[Iterable[Any]] = None,
             answer_vocab_size: Optional[int] = None) -> Dict[str, Any]:
    """Score AGQA predictions (answer = vocabulary index, -1 = out of vocabulary).

    Reasoning-type accuracies are multi-label, so their counts sum to more than the
    number of questions; ``overall`` is plain micro accuracy over questions.
    """
    records = normalise_predictions(predictions, benchmark=BENCHMARK,
                                    num_classes=answer_vocab_size, open_ended=True, expected_ids=expected_ids)
    report = score_by_category(BENCHMARK, records, _categories, {
        "reasoning": Tally(REASONING_TYPES, sort_new=True),
        "semantic": Tally(SEMANTIC_TYPES, sort_new=True),
        "structural": Tally(STRUCTURAL_TYPES, sort_new=True),
        "answer_type": Tally(ANSWER_TYPES),
    })
    note_out_of_vocabulary(report, records)
    return report


@registry.register_evaluator(BENCHMARK)
class AgqaEvaluator(Evaluator):
    """Reasoning, semantic, structural and answer-type breakdowns; answers bounded by the
    vocabulary ``info`` gives."""

    metrics = ("overall",)

    def question_categories(self, question_id, record, info):
        return _categories(question_id, record)

    def evaluate(self, predictions, info, expected_ids=None):
        return evaluate(predictions, expected_ids=expected_ids, answer_vocab_size=answer_vocab_size(info))
