"""STAR scoring: per-type accuracy, the official unweighted Mean vs micro overall, and the
EvalAI submission file."""
import json

import pytest

from gf.benchmarks.star import evaluator as star
from gf.evaluation import EvaluationError, format_report


def rec(prediction, answer, **fields):
    return {"prediction": prediction, "answer": answer, "fields": fields}


def unbalanced():
    """Interaction 3/4, Sequence 0/1, Prediction 2/2, Feasibility 1/3 correct."""
    return {
        "Interaction_T1_1": rec(0, 0, type="Interaction"),
        "Interaction_T1_2": rec(1, 1, type="Interaction"),
        "Interaction_T2_3": rec(2, 2),
        "Interaction_T2_4": rec(3, 0),
        "Sequence_T1_1": rec(1, 2),
        "Prediction_T1_1": rec(0, 0),
        "Prediction_T3_2": rec(3, 3),
        "Feasibility_T1_1": rec(2, 2),
        "Feasibility_T4_2": rec(0, 1),
        "Feasibility_T5_3": rec(0, 3),
    }


def test_mean_and_overall_differ_on_unbalanced_types():
    report = star.evaluate(unbalanced())
    cells = report["breakdowns"]["type"]
    assert list(cells) == ["Interaction", "Sequence", "Prediction", "Feasibility"]
    # per type: 3/4 = 75.00, 0/1 = 0.00, 2/2 = 100.00, 1/3 = 33.33...
    assert cells["Interaction"] == {"accuracy": 75.0, "correct": 3, "total": 4, "unlabelled": 0}
    assert cells["Sequence"]["accuracy"] == 0.0 and cells["Sequence"]["total"] == 1
    assert cells["Prediction"]["accuracy"] == 100.0
    assert cells["Feasibility"]["accuracy"] == pytest.approx(100 / 3)
    # overall (micro) = (3 + 0 + 2 + 1) / 10 = 60.00
    assert report["overall"] == pytest.approx(60.0)
    assert (report["num_questions"], report["num_correct"]) == (10, 6)
    # mean (official) = (75 + 0 + 100 + 33.333) / 4 = 52.0833
    assert report["mean"] == pytest.approx(208.33333333 / 4)
    assert report["mean_over"] == list(star.STAR_TYPES)
    assert report["primary_metric"] == "mean"
    assert report["notes"] == []


def test_mean_over_present_types_is_reported_with_a_note():
    preds = {k: v for k, v in unbalanced().items() if not k.startswith(("Sequence", "Feasibility"))}
    report = star.evaluate(preds)
    # Interaction 75.00, Prediction 100.00 -> mean over the two present = 87.50
    assert report["mean"] == pytest.approx(87.5)
    assert report["mean_over"] == ["Interaction", "Prediction"]
    assert report["breakdowns"]["type"]["Sequence"]["accuracy"] is None
    assert any("Sequence" in n and "Feasibility" in n for n in report["notes"])


def test_unlabelled_questions_are_counted_not_scored():
    preds = unbalanced()
    preds["Sequence_T2_9"] = rec(1, None)
    preds["Sequence_T2_10"] = rec(0, None)
    report = star.evaluate(preds)
    assert report["unlabelled"] == 2
    assert report["num_predictions"] == 12
    assert report["num_questions"] == 10
    assert report["overall"] == pytest.approx(60.0)  # unchanged: 6/10
    assert report["breakdowns"]["type"]["Sequence"]["unlabelled"] == 2


def test_all_unlabelled_gives_null_accuracies_not_zero():
    preds = {q: rec(r["prediction"], None) for q, r in unbalanced().items()}
    report = star.evaluate(preds)
    assert report["overall"] is None and report["mean"] is None
    assert all(c["accuracy"] is None for c in report["breakdowns"]["type"].values())
    assert report["unlabelled"] == 10 and report["num_questions"] == 0
    assert "n/a" in format_report(report)


@pytest.mark.parametrize("qid, record, match", [
    ("Interaction_T1_1", rec(0, 0, type="Sequence"), "prefix says 'Interaction'"),
    ("Counting_T1_1", rec(0, 0), "does not start with a STAR"),
    ("Interaction_T1_1", rec(4, 0), "'prediction' 4 is out of range"),
    ("Interaction_T1_1", rec(0, -1), "'answer' must be a non-negative integer choice"),
])
def test_bad_records_are_errors_naming_the_question(qid, record, match):
    with pytest.raises(EvaluationError, match=match) as err:
        star.evaluate({qid: record})
    assert qid in str(err.value)


def test_expected_ids_missing_and_extra():
    preds = unbalanced()
    with pytest.raises(EvaluationError, match="Sequence_T9_9"):
        star.evaluate(preds, expected_ids=list(preds) + ["Sequence_T9_9"])
    with pytest.raises(EvaluationError, match="Interaction_T1_1"):
        star.evaluate(preds, expected_ids=[q for q in preds if q != "Interaction_T1_1"])
    assert star.evaluate(preds, expected_ids=reversed(list(preds)))["num_questions"] == 10


def test_submission_is_compact_grouped_ints_each_question_once(tmp_path):
    preds = {q: rec(r["prediction"], None) for q, r in unbalanced().items()}  # test split: no labels
    path = tmp_path / "sub" / "submission.json"
    returned = star.write_submission(path, preds)
    text = path.read_text()
    assert "\n" not in text and ", " not in text and ": " not in text  # compact
    sub = json.loads(text)
    assert sub == returned
    assert list(sub) == ["Interaction", "Sequence", "Prediction", "Feasibility"]
    seen = []
    for qtype, items in sub.items():
        for item in items:
            assert set(item) == {"question_id", "answer"}
            assert item["question_id"].split("_")[0] == qtype
            assert type(item["answer"]) is int and item["answer"] == preds[item["question_id"]]["prediction"]
            seen.append(item["question_id"])
    assert sorted(seen) == sorted(preds) and len(seen) == len(set(seen))
    assert [x["question_id"] for x in sub["Feasibility"]] == ["Feasibility_T1_1", "Feasibility_T4_2", "Feasibility_T5_3"]
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left behind


def test_submission_keeps_all_type_keys_when_a_type_is_absent(tmp_path):
    sub = star.write_submission(tmp_path / "s.json", {"Prediction_T1_1": rec(2, None)})
    assert sub == {"Interaction": [], "Sequence": [], "Prediction": [{"question_id": "Prediction_T1_1", "answer": 2}],
                   "Feasibility": []}


def test_accepts_a_loaded_predictions_file_of_its_own_benchmark_only(tmp_path):
    from gf.evaluation import load_predictions, save_predictions

    save_predictions(tmp_path / "p.json", "star", "test", {q: rec(r["prediction"], None) for q, r in unbalanced().items()})
    pf = load_predictions(tmp_path / "p.json")
    sub = star.write_submission(tmp_path / "s.json", pf)
    assert sum(len(v) for v in sub.values()) == 10
    pf.benchmark = "nextqa"
    with pytest.raises(EvaluationError, match="'nextqa' predictions; this is the 'star' evaluator"):
        star.evaluate(pf)
