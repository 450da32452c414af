"""AGQA scoring: multi-label reasoning types, semantic / structural / answer-type tables,
out-of-vocabulary answers (-1) scored wrong."""
import pytest

from gf.benchmarks.agqa import evaluator as agqa
from gf.evaluation import EvaluationError, evaluate_predictions, save_predictions


def rec(prediction, answer, global_, semantic, structural, ans_type):
    return {"prediction": prediction, "answer": answer,
            "fields": {"global": global_, "semantic": semantic, "structural": structural, "ans_type": ans_type}}


def sample():
    return {
        "q1": rec(0, 0, ["obj-rel", "exists"], "object", "verify", "binary"),       # right
        "q2": rec(5, 7, ["obj-rel"], "relation", "query", "open"),                  # wrong
        "q3": rec(0, -1, ["exists", "sequencing"], "action", "compare", "binary"),  # OOV -> wrong
        "q4": rec(9, 9, ["sequencing"], "object", "query", "open"),                 # right
        "q5": rec(1, 1, ["exists"], "object", "verify", "binary"),                  # right
    }


def test_breakdowns_by_hand():
    report = agqa.evaluate(sample())
    # overall: q1, q4, q5 right of 5 -> 3/5 = 60.00
    assert report["overall"] == pytest.approx(60.0)
    assert (report["num_correct"], report["num_questions"]) == (3, 5)
    b = report["breakdowns"]
    reasoning = {k: (v["correct"], v["total"]) for k, v in b["reasoning"].items() if v["total"]}
    # obj-rel: q1 right, q2 wrong -> 1/2; exists: q1, q5 right, q3 wrong -> 2/3;
    # sequencing: q3 wrong, q4 right -> 1/2
    assert reasoning == {"obj-rel": (1, 2), "exists": (2, 3), "sequencing": (1, 2)}
    assert b["reasoning"]["exists"]["accuracy"] == pytest.approx(200 / 3)
    # multi-label: 2 + 3 + 2 = 7 memberships for 5 questions
    assert sum(v["total"] for v in b["reasoning"].values()) == 7
    # semantic: object q1, q4, q5 -> 3/3 = 100; relation q2 -> 0/1; action q3 -> 0/1
    assert {k: v["accuracy"] for k, v in b["semantic"].items()} == {"object": 100.0, "relation": 0.0, "action": 0.0}
    # structural: verify q1, q5 -> 2/2; query q2 wrong, q4 right -> 1/2; compare q3 -> 0/1
    s = b["structural"]
    assert (s["verify"]["accuracy"], s["query"]["accuracy"], s["compare"]["accuracy"]) == (100.0, 50.0, 0.0)
    assert s["logic"]["total"] == 0 and s["logic"]["accuracy"] is None
    # answer type: binary q1 right, q3 wrong, q5 right -> 2/3; open q2 wrong, q4 right -> 1/2
    assert b["answer_type"]["binary"]["accuracy"] == pytest.approx(200 / 3)
    assert b["answer_type"]["open"]["accuracy"] == pytest.approx(50.0)
    assert report["out_of_vocabulary_answers"] == 1


def test_oov_answer_is_wrong_and_prediction_minus_one_is_refused():
    preds = {"q3": rec(0, -1, ["exists"], "action", "compare", "binary")}
    report = agqa.evaluate(preds)
    assert report["overall"] == 0.0 and report["num_questions"] == 1
    with pytest.raises(EvaluationError, match="q3.*'prediction'"):
        agqa.evaluate({"q3": rec(-1, -1, ["exists"], "action", "compare", "binary")})


def test_type_listed_twice_counts_once_and_unknown_values_still_scored():
    report = agqa.evaluate({"a": rec(1, 1, ["exists", "exists", "new-kind"], "object", "verify", "binary")})
    assert report["breakdowns"]["reasoning"]["exists"]["total"] == 1
    assert report["breakdowns"]["reasoning"]["new-kind"]["accuracy"] == 100.0


@pytest.mark.parametrize("fields, match", [
    ({"semantic": "object", "structural": "verify", "ans_type": "binary"}, "fields.global"),
    ({"global": "exists", "semantic": "object", "structural": "verify", "ans_type": "binary"}, "fields.global"),
    ({"global": [], "structural": "verify", "ans_type": "binary"}, "fields.semantic"),
    ({"global": [], "semantic": "object", "structural": "verify", "ans_type": "yesno"}, "ans_type"),
])
def test_missing_or_bad_fields_name_question_and_key(fields, match):
    with pytest.raises(EvaluationError, match=match) as err:
        agqa.evaluate({"q77": {"prediction": 0, "answer": 0, "fields": fields}})
    assert "q77" in str(err.value)


def test_vocabulary_in_file_bounds_answers(tmp_path):
    path = tmp_path / "p.json"
    save_predictions(path, "agqa", "test", sample(), answer_vocab=[f"a{i}" for i in range(10)])
    assert evaluate_predictions(path)["overall"] == pytest.approx(60.0)
    with pytest.raises(EvaluationError, match="out of range"):
        evaluate_predictions(path, {"answer_vocab_size": 9})  # q4 answers index 9
