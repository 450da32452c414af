"""EgoTaskQA scoring: every '$' token of reasoning_type counted, open/binary from the
structural token, categories taken from the data (or a given list)."""
import pytest

from gf.benchmarks.egotaskqa import evaluator as egotaskqa
from gf.evaluation import EvaluationError


def rec(prediction, answer, reasoning_type):
    return {"prediction": prediction, "answer": answer, "fields": {"reasoning_type": reasoning_type}}


def sample():
    return {
        1: rec(3, 3, "descriptive$world$action$query$direct"),                                # right
        2: rec(0, 1, "predictive$intent$object$verify$direct"),                               # wrong
        3: rec(0, 0, "descriptive$counterfactual$world$multi-agent$state$verify$indirect"),   # right
        4: rec(2, -1, "descriptive$world$action$query$direct"),                               # OOV: wrong
    }


def test_every_token_counted_by_hand():
    report = egotaskqa.evaluate(sample())
    cells = report["breakdowns"]["reasoning_type"]
    counts = {k: (v["correct"], v["total"]) for k, v in cells.items()}
    assert counts == {
        "action": (1, 2),          # q1 right, q4 wrong
        "counterfactual": (1, 1),  # q3
        "descriptive": (2, 3),     # q1, q3 right; q4 wrong
        "direct": (1, 3),          # q1 right; q2, q4 wrong
        "indirect": (1, 1),        # q3
        "intent": (0, 1),          # q2
        "multi-agent": (1, 1),     # q3
        "object": (0, 1),          # q2
        "predictive": (0, 1),      # q2
        "query": (1, 2),           # q1 right, q4 wrong
        "state": (1, 1),           # q3
        "verify": (1, 2),          # q2 wrong, q3 right
        "world": (2, 3),           # q1, q3 right; q4 wrong
    }
    assert list(cells) == sorted(cells)  # data-derived categories in a stable order
    # 5 + 5 + 7 + 5 = 22 tokens in all
    assert sum(v["total"] for v in cells.values()) == 22
    assert cells["descriptive"]["accuracy"] == pytest.approx(200 / 3)
    # open = 'query': q1 right, q4 wrong -> 50.00; binary = 'verify': q2 wrong, q3 right -> 50.00
    assert report["breakdowns"]["answer_type"]["open"] == {"accuracy": 50.0, "correct": 1, "total": 2, "unlabelled": 0}
    assert report["breakdowns"]["answer_type"]["binary"]["accuracy"] == 50.0
    # micro overall: 2 of 4 -> 50.00
    assert report["overall"] == 50.0 and report["num_questions"] == 4
    assert report["out_of_vocabulary_answers"] == 1


def test_given_category_list_fixes_order_and_keeps_zero_rows():
    order = ["predictive", "explanatory", "descriptive", "counterfactual", "world", "intent", "multi-agent",
             "action", "object", "state", "change", "query", "verify", "direct", "indirect"]
    report = egotaskqa.evaluate(sample(), all_reasoning_types=order)
    cells = report["breakdowns"]["reasoning_type"]
    assert list(cells) == order
    assert cells["explanatory"] == {"accuracy": None, "correct": 0, "total": 0, "unlabelled": 0}
    assert cells["change"]["accuracy"] is None
    with pytest.raises(EvaluationError, match="'indirect'.*not in all_reasoning_types") as err:
        egotaskqa.evaluate(sample(), all_reasoning_types=order[:-1])
    assert "question '3'" in str(err.value)


def test_question_without_structural_token_counts_only_in_overall():
    report = egotaskqa.evaluate({"a": rec(1, 1, "descriptive$world$action$direct")})
    assert report["overall"] == 100.0
    assert all(c["total"] == 0 for c in report["breakdowns"]["answer_type"].values())
    assert any("neither" in n for n in report["notes"])


@pytest.mark.parametrize("reasoning_type, match", [
    ("descriptive$$query", "empty token"),
    ("", "fields.reasoning_type"),
    (["descriptive", "query"], "fields.reasoning_type"),
    ("descriptive$query$verify", "both"),
])
def test_bad_reasoning_type_is_an_error_naming_the_question(reasoning_type, match):
    with pytest.raises(EvaluationError, match=match) as err:
        egotaskqa.evaluate({"q9": rec(0, 0, reasoning_type)})
    assert "q9" in str(err.value)
