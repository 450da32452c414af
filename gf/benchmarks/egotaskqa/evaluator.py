"""EgoTaskQA scoring: accuracy per reasoning-type token, open / binary / all.

Follows the official ``ReasongingTypeAccCalculator``; how, and its two deliberate
differences from it: docs/data_formats.md §3.3. Both are there because the official
numbers mislead (averaging per-batch accuracies mis-weights the last batch; an empty
category is printed as 0). With ``all_reasoning_types``, a token it does not list is an
error.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from gf.common.registry import registry
from gf.evaluation.base import Evaluator, answer_vocab_size
from gf.evaluation.core import EvaluationError, Tally, normalise_predictions, note_out_of_vocabulary, score_by_category

__all__ = ["BENCHMARK", "SEPARATOR", "evaluate", "reasoning_tokens"]

BENCHMARK = "egotaskqa"
SEPARATOR = "$"
# The structural token decides the answer type (EgoTaskQA's balance_by_type).
OPEN_TOKEN, BINARY_TOKEN = "query", "verify"


def reasoning_tokens(qid: str, record: Mapping[str, Any]) -> List[str]:
    value = record["fields"].get("reasoning_type")
    if not isinstance(value, str) or not value:
        raise EvaluationError(f"egotaskqa: question {qid!r}: fields.reasoning_type must be the "
                              f"'$'-joined string from the EgoTaskQA record "
                              f"(e.g. 'counterfactual$world$action$verify$direct'), got {value!r}")
    tokens = value.split(SEPARATOR)
    if any(not t for t in tokens):
        raise EvaluationError(f"egotaskqa: question {qid!r}: reasoning_type {value!r} has an "
                              f"empty token")
    return tokens


def _answer_type(qid: str, tokens: Sequence[str]) -> Optional[str]:
    is_open, is_binary = OPEN_TOKEN in tokens, BINARY_TOKEN in tokens
    if is_open and is_binary:
        raise EvaluationError(f"egotaskqa: question {qid!r}: reasoning_type has both "
                              f"{OPEN_TOKEN!r} and {BINARY_TOKEN!r}; a question is either open "
                              f"or binary")
    return "open" if is_open else "binary" if is_binary else None


def _categories(qid: str, record: Mapping[str, Any]) -> Dict[str, List[str]]:
    """Every token (a repeated one counts twice, as in the official calculator) and the
    answer type, if the tokens say it."""
    tokens = reasoning_tokens(qid, record)
    answer_type = _answer_type(qid, tokens)
    return {"reasoning_type": tokens, "answer_type": [answer_type] if answer_type is not None else []}


def evaluate(predictions: Mapping[str, Mapping[str, Any]], *,
             expected_ids: Optional[Iterable[Any]] = None,
             all_reasoning_types: Optional[Sequence[str]] = None,
             answer_vocab_size: Optional[int] = None) -> Dict[str, Any]:
    """Score EgoTaskQA predictions (answer = index in ``answer_set.txt``, -1 = OOV)."""
    records = normalise_predictions(predictions, benchmark=BENCHMARK,
                                    num_classes=answer_vocab_size, open_ended=True, expected_ids=expected_ids)
    known = None
    if all_reasoning_types is not None:
        known = list(dict.fromkeys(str(t) for t in all_reasoning_types))
    by_token = Tally(order=known or (), sort_new=True)
    neither: List[str] = []

    def categories(qid: str, record: Mapping[str, Any]) -> Dict[str, List[str]]:
        if known is not None:  # checked before the answer type, as a question's first error
            unknown = [t for t in reasoning_tokens(qid, record) if t not in by_token]
            if unknown:
                raise EvaluationError(f"egotaskqa: question {qid!r}: reasoning-type token(s) "
                                      f"{', '.join(map(repr, unknown))} are not in "
                                      f"all_reasoning_types; pass the list generated for this "
                                      f"split, or omit it to take categories from the data")
        cells = _categories(qid, record)
        if not cells["answer_type"]:
            neither.append(qid)
        return cells

    report = score_by_category(BENCHMARK, records, categories, {
        "reasoning_type": by_token, "answer_type": Tally(order=("open", "binary"))})
    if neither:
        report["notes"].append(
            f"{len(neither)} question(s) have neither {OPEN_TOKEN!r} nor {BINARY_TOKEN!r} in "
            f"reasoning_type; they count in overall but in neither open nor binary "
            f"(e.g. {', '.join(map(repr, neither[:3]))}).")
    note_out_of_vocabulary(report, records)
    return report


@registry.register_evaluator(BENCHMARK)
class EgoTaskQAEvaluator(Evaluator):
    """Accuracy per reasoning-type token (rows from ``info["all_reasoning_types"]`` when
    the builder read that file) and open/binary; answers bounded by the vocabulary."""

    metrics = ("overall",)

    def question_categories(self, question_id, record, info):
        # A token repeated in one question counts twice in the official calculator; a
        # membership cannot say that, so such a cell's interval is left out (the leaderboard
        # checks every cell against the report).
        cells = _categories(question_id, record)
        return {**cells, "reasoning_type": list(dict.fromkeys(cells["reasoning_type"]))}

    def evaluate(self, predictions, info, expected_ids=None):
        return evaluate(predictions, expected_ids=expected_ids,
                        all_reasoning_types=info.get("all_reasoning_types"),
                        answer_vocab_size=answer_vocab_size(info))
