"""The predictions file (round trip, validation, duplicates) and report dispatch/IO."""
import json

import pytest

from gf.benchmarks.agqa import evaluator as agqa
from gf.benchmarks.egotaskqa import evaluator as egotaskqa
from gf.benchmarks.nextqa import evaluator as nextqa
from gf.benchmarks.star import evaluator as star
from gf.common.utils import repeated
from gf.evaluation import (
    EvaluationError,
    MissingPredictionError,
    PredictionsFile,
    PredictionsFileError,
    evaluate_predictions,
    format_report,
    load_predictions,
    match_split,
    save_predictions,
    save_report,
)
from gf.evaluation.core import check_complete


def star_preds():
    return {
        "Interaction_T1_1": {"prediction": 0, "answer": 0, "fields": {"type": "Interaction"}},
        "Sequence_T1_2": {"prediction": 2, "answer": 1, "fields": {"type": "Sequence"}},
        "Prediction_T1_3": {"prediction": 3, "answer": None, "fields": {"type": "Prediction"}},
    }


def test_round_trip(tmp_path):
    path = tmp_path / "out" / "preds.json"
    written = save_predictions(path, "star", "val", star_preds())
    loaded = load_predictions(path)
    assert isinstance(loaded, PredictionsFile)
    assert loaded == written
    assert (loaded.benchmark, loaded.split, loaded.answer_vocab) == ("star", "val", None)
    assert loaded.predictions == star_preds()
    assert loaded.path == str(path)
    raw = json.loads(path.read_text())
    assert raw["format"] == "gf-predictions" and raw["version"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["preds.json"]


def test_round_trip_open_ended_with_vocab_and_int_ids(tmp_path):
    vocab = ["yes", "no", "cup"]
    preds = [{"question_id": 7, "prediction": 2, "answer": -1, "fields": {"reasoning_type": "a$query"}},
             {"question_id": 8, "prediction": 0, "answer": 0, "fields": {"reasoning_type": "a$verify"}}]
    save_predictions(tmp_path / "p.json", "egotaskqa", "test", preds, answer_vocab=vocab)
    loaded = load_predictions(tmp_path / "p.json")
    assert loaded.answer_vocab == vocab
    assert loaded.predictions["7"] == {"prediction": 2, "answer": -1, "fields": {"reasoning_type": "a$query"}}
    assert evaluate_predictions(loaded)["overall"] == 50.0  # 7 is OOV -> wrong, 8 right


def test_duplicate_ids_are_errors(tmp_path):
    with pytest.raises(PredictionsFileError, match="duplicate question id.*'5'"):
        save_predictions(tmp_path / "a.json", "agqa", "test",
                         [{"question_id": 5, "prediction": 0, "answer": 0},
                          {"question_id": "5", "prediction": 1, "answer": 0}])
    with pytest.raises(PredictionsFileError, match="duplicate"):
        save_predictions(tmp_path / "a.json", "agqa", "test", {5: {"prediction": 0, "answer": 0},
                                                               "5": {"prediction": 0, "answer": 0}})
    assert not (tmp_path / "a.json").exists()
    path = tmp_path / "dup.json"
    path.write_text('{"format": "gf-predictions", "version": 1, "benchmark": "star", "split": "val",'
                    ' "answer_vocab": null, "predictions": {'
                    '"Interaction_T1_1": {"prediction": 0, "answer": 0, "fields": {}},'
                    '"Interaction_T1_1": {"prediction": 1, "answer": 0, "fields": {}}}}')
    with pytest.raises(PredictionsFileError, match=r"dup\.json.*duplicate.*'Interaction_T1_1'"):
        load_predictions(path)


@pytest.mark.parametrize("record, match", [
    ({"answer": 0, "fields": {}}, "missing key 'prediction'"),
    ({"prediction": 0, "fields": {}}, "missing key 'answer'"),
    ({"prediction": True, "answer": 0}, "'prediction' must be"),
    ({"prediction": -1, "answer": 0}, "'prediction' must be"),
    ({"prediction": 1.0, "answer": 0}, "'prediction' must be"),
    ({"prediction": 0, "answer": -2}, "'answer' must be"),
    ({"prediction": 0, "answer": 3}, "'answer' 3 is out of range"),
    ({"prediction": 0, "answer": 0, "type": "CW"}, "unknown key.*'type'"),
    ({"prediction": 0, "answer": 0, "fields": [1]}, "'fields' must be an object"),
])
def test_bad_record_in_file_names_file_and_question(tmp_path, record, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "gf-predictions", "version": 1, "benchmark": "agqa", "split": "test",
                                "answer_vocab": ["a", "b", "c"], "predictions": {"q42": record}}))
    with pytest.raises(PredictionsFileError, match=match) as err:
        load_predictions(path)
    assert "bad.json" in str(err.value) and "'q42'" in str(err.value)



def test_an_index_beyond_the_files_own_vocabulary_names_that_vocabulary(tmp_path):
    """A STAR (multiple-choice) file with a stray answer_vocab ["yes"] was told "this benchmark
    has 1 answers": the bound is the file's vocabulary, and the message says so."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"format": "gf-predictions", "version": 1, "benchmark": "star", "split": "val",
                                "answer_vocab": ["yes"],
                                "predictions": {"Interaction_T1_1": {"prediction": 2, "answer": 2, "fields": {}}}}))
    with pytest.raises(PredictionsFileError, match=r"p.json: question 'Interaction_T1_1': 'prediction' 2 is out of "
                                                   r"range; the file's answer_vocab lists 1 answer\(s\) \(indices "
                                                   r"0..0\); a multiple-choice benchmark's file has answer_vocab null"):
        load_predictions(path)

@pytest.mark.parametrize("change, match", [
    ({"format": "something"}, "'format'"),
    ({"version": 2}, "'version' 2 is not supported"),
    ({"split": ""}, "'split'"),
    ({"extra": 1}, "unknown top-level key.*'extra'"),
    ({"answer_vocab": ["a", "a"]}, "'answer_vocab' lists answer"),
    ({"predictions": []}, "'predictions' must be an object"),
])
def test_bad_header_is_an_error(tmp_path, change, match):
    data = {"format": "gf-predictions", "version": 1, "benchmark": "star", "split": "val",
            "answer_vocab": None, "predictions": {}}
    data.update(change)
    path = tmp_path / "h.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PredictionsFileError, match=match):
        load_predictions(path)


def test_missing_file_and_invalid_json(tmp_path):
    with pytest.raises(PredictionsFileError, match="not found"):
        load_predictions(tmp_path / "nope.json")
    (tmp_path / "t.json").write_text('{"format": ')
    with pytest.raises(PredictionsFileError, match="t.json: invalid JSON at line 1"):
        load_predictions(tmp_path / "t.json")
    (tmp_path / "latin1.json").write_bytes('{"format": "gf-predictions", "split": "v\xe4l"}'.encode("latin-1"))
    with pytest.raises(PredictionsFileError, match="latin1.json.*UTF-8"):  # was a UnicodeDecodeError traceback
        load_predictions(tmp_path / "latin1.json")


def test_dispatch_report_text_and_saved_report(tmp_path):
    path = tmp_path / "p.json"
    save_predictions(path, "star", "val", star_preds())
    report = evaluate_predictions(path)
    # labelled: Interaction right, Sequence wrong -> overall 1/2 = 50; mean over those two = (100 + 0) / 2
    assert report["overall"] == 50.0 and report["mean"] == 50.0
    assert report["split"] == "val" and report["predictions_file"] == str(path)
    assert report["unlabelled"] == 1
    text = format_report(report)
    assert "Interaction" in text and "100.00" in text and "1/2" in text and "unlabelled" in text
    save_report(tmp_path / "r" / "report.json", report)
    assert json.loads((tmp_path / "r" / "report.json").read_text()) == report


def test_unknown_benchmark_lists_known_ones(tmp_path):
    save_predictions(tmp_path / "p.json", "msrvtt", "val", {"a": {"prediction": 0, "answer": 0}})
    with pytest.raises(EvaluationError, match="'msrvtt'.*agqa, egotaskqa, nextqa, star"):
        evaluate_predictions(tmp_path / "p.json")


def test_missing_and_extra_ids_are_named_up_to_ten():
    preds = {f"{v}_0": {"prediction": 0, "answer": 0, "fields": {"type": "CW"}} for v in range(5)}
    expected = [f"{v}_0" for v in range(20)]  # 15 missing
    with pytest.raises(MissingPredictionError) as err:
        nextqa.evaluate(preds, expected_ids=expected)
    msg = str(err.value)
    assert "15 question(s)" in msg and "'5_0'" in msg and "'14_0'" in msg and "'15_0'" not in msg
    assert "(and 5 more)" in msg
    with pytest.raises(EvaluationError, match="1 prediction.*not in the split.*'4_0'"):
        nextqa.evaluate(preds, expected_ids=expected[:4])
    with pytest.raises(EvaluationError, match="more than once"):
        nextqa.evaluate(preds, expected_ids=expected[:5] + ["0_0"])


def test_repeated_names_each_repeated_value_once_in_order_of_first_occurrence():
    assert repeated(["a", "b", "b", "b", "a", "c"]) == ["a", "b"]
    assert repeated(["x", "y"]) == [] and repeated(iter(())) == []


def test_ids_repeated_in_expected_ids_are_each_named_once():
    with pytest.raises(EvaluationError) as err:
        check_complete(["a"], ["a", "b", "b", "b", "c", "c"], "star")
    assert str(err.value) == "star: expected_ids lists question id(s) more than once: 'b', 'c'"


def test_answers_repeated_in_answer_vocab_are_each_named_once(tmp_path):
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"format": "gf-predictions", "version": 1, "benchmark": "star",
                                "split": "val", "answer_vocab": ["a", "b", "b", "b"],
                                "predictions": {}}))
    with pytest.raises(PredictionsFileError) as err:
        load_predictions(path)
    assert str(err.value) == (f"{path}: 'answer_vocab' lists answer(s) more than once: 'b'; "
                              f"indices would be ambiguous")


@pytest.mark.parametrize("module, fields", [
    (star, {}),
    (agqa, {"global": ["exists"], "semantic": "object", "structural": "verify", "ans_type": "binary"}),
    (egotaskqa, {"reasoning_type": "descriptive$verify"}),
    (nextqa, {"type": "CW"}),
])
def test_all_unlabelled_gives_null_not_zero(module, fields):
    report = module.evaluate({"Interaction_1_0": {"prediction": 0, "answer": None, "fields": fields}})
    assert report["overall"] is None
    assert report["unlabelled"] == 1 and report["num_questions"] == 0
    for cells in report["breakdowns"].values():
        assert all(c["accuracy"] is None for c in cells.values())
    json.dumps(report, allow_nan=False)


def test_a_file_is_checked_against_the_splits_labels(tmp_path):
    """gf evaluate --predictions --cfg-path scores the split, so a record whose answer is not
    the split's label is refused (naming the question and both answers); a question
    unlabelled in both (hidden test labels) passes, and the split's fields fill in."""
    pf = save_predictions(tmp_path / "p.json", "star", "val", star_preds())
    split = [{"question_id": q, "answer": r["answer"], "fields": {"type": r["fields"]["type"], "video": "v"}}
             for q, r in star_preds().items()]
    checked = match_split(pf, split)
    assert checked["Prediction_T1_3"]["answer"] is None
    assert checked["Sequence_T1_2"]["fields"] == {"type": "Sequence", "video": "v"}
    split[1]["answer"] = 3  # the split's label differs from the file's
    with pytest.raises(EvaluationError, match=r"p.json: question 'Sequence_T1_2' has answer 1 but the split's "
                                              r"annotation says 3.*predict this split again"):
        match_split(pf, split)
    split[1]["answer"], split[2]["answer"] = 1, 0  # the file lacks a label the split has
    with pytest.raises(EvaluationError, match="'Prediction_T1_3' has answer None but .* says 0"):
        match_split(pf, split)


def test_a_report_keeps_the_files_provenance_it_replaces(tmp_path):
    pf = save_predictions(tmp_path / "p.json", "star", "val", star_preds(),
                          provenance={"split_fingerprint": "old", "checkpoint": "c.pth"})
    report = evaluate_predictions(pf, provenance={"split_fingerprint": "new", "checkpoint": "c.pth"})
    prov = report["provenance"]
    assert (prov["split_fingerprint"], prov["predictions_file_split_fingerprint"]) == ("new", "old")
    assert "predictions_file_checkpoint" not in prov  # the same value: nothing to keep
