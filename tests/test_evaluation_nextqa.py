"""NExT-QA scoring must reproduce the official eval_mc.py figures and printout exactly."""
import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gf.benchmarks.nextqa import evaluator as nextqa
from gf.evaluation import EvaluationError, MissingPredictionError

REAL_VAL_CSV = Path(__file__).resolve().parents[1] / ".." / "shared" / "real_data" / "nextqa" / "val.csv"
HEADER = "Why\tHow\tBef&Aft\tWhen\tCnt\tLoc\tOther\tAcc_C\tAcc_T\tAcc_D\t"


def rec(prediction, answer, qtype):
    return {"prediction": prediction, "answer": answer, "fields": {"type": qtype}}


def small():
    return {
        "1_0": rec(0, 0, "CW"),  # right
        "1_1": rec(1, 0, "CW"),  # wrong
        "2_0": rec(2, 2, "TN"),  # right
        "2_1": rec(3, 4, "TP"),  # wrong, merged into TN
        "3_0": rec(4, 4, "TC"),  # right
        "3_1": rec(1, 1, "DC"),  # right
        "4_0": rec(0, 1, "CH"),  # wrong
        "4_1": rec(0, 2, "DL"),  # wrong
        "5_0": rec(3, 3, "DO"),  # right
    }


def test_groups_supergroups_and_tp_merge_by_hand():
    report = nextqa.evaluate(small())
    t = report["breakdowns"]["type"]
    assert list(t) == ["CW", "CH", "TN", "TC", "DC", "DL", "DO"]
    assert "TP" not in t
    # TN = TN (right) + TP (wrong) -> 1/2
    assert (t["TN"]["correct"], t["TN"]["total"]) == (1, 2)
    s = report["breakdowns"]["super_type"]
    # C = CW 1/2 + CH 0/1 -> 1/3; T = TN 1/2 + TC 1/1 -> 2/3; D = DC 1/1 + DL 0/1 + DO 1/1 -> 2/3
    assert {k: (v["correct"], v["total"]) for k, v in s.items()} == {"C": (1, 3), "T": (2, 3), "D": (2, 3)}
    # overall 5/9 = 55.56
    assert report["overall"] == pytest.approx(500 / 9)
    assert nextqa.official_table(report) == (
        HEADER + "\n"
        # CW 1/2, CH 0/1, TN 1/2, TC 1/1, DC 1/1, DL 0/1, DO 1/1, C 1/3, T 2/3, D 2/3
        "50.00\t0.00\t50.00\t100.00\t100.00\t0.00\t100.00\t33.33\t66.67\t66.67\t\n"
        "Acc: 55.56\n"
    )


def test_empty_group_shows_na_in_table():
    report = nextqa.evaluate({"1_0": rec(0, 0, "CW")})
    lines = nextqa.official_table(report).split("\n")
    assert lines[1] == "100.00\tn/a\tn/a\tn/a\tn/a\tn/a\tn/a\t100.00\tn/a\tn/a\t"
    assert report["breakdowns"]["type"]["CH"]["accuracy"] is None


def test_unknown_type_and_missing_type_are_errors():
    with pytest.raises(EvaluationError, match="'XX' is not a NExT-QA type"):
        nextqa.evaluate({"1_0": rec(0, 0, "XX")})
    with pytest.raises(EvaluationError, match="'1_0'.*fields.type"):
        nextqa.evaluate({"1_0": {"prediction": 0, "answer": 0, "fields": {}}})



@pytest.mark.parametrize("qtype", [["CW"], {"type": "CW"}])
def test_a_type_that_is_not_a_string_is_an_evaluation_error(tmp_path, capsys, qtype):
    """A list or an object as fields.type was a raw TypeError traceback (unhashable) and exit 1."""
    from gf.cli import main as gf_main
    from gf.evaluation import save_predictions

    with pytest.raises(EvaluationError, match=r"question '1_0': fields.type must be a string, one of CW, .*got "):
        nextqa.evaluate({"1_0": rec(0, 0, qtype)})
    save_predictions(tmp_path / "p.json", "nextqa", "val", {"1_0": rec(1, 0, qtype)})
    assert gf_main(["evaluate", "--predictions", str(tmp_path / "p.json")]) == 5
    assert "fields.type must be a string" in capsys.readouterr().err

def test_official_results_round_trip(tmp_path):
    path = tmp_path / "results.json"
    written = nextqa.write_official_results(path, small())
    assert json.loads(path.read_text()) == written
    assert written["2_1"] == {"prediction": 3, "answer": 4}
    back = nextqa.read_official_results(path)
    assert back == written
    assert all(set(v) == {"prediction", "answer"} for v in back.values())
    with pytest.raises(EvaluationError, match="'9_9'"):
        nextqa.write_official_results(tmp_path / "x.json", {"9_9": rec(0, None, "CW")})
    assert not (tmp_path / "x.json").exists()


def test_read_official_results_rejects_bad_entries(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"1_0": {"prediction": 0, "answer": 0}, "1_1": {"prediction": "2", "answer": 0}}')
    with pytest.raises(EvaluationError, match="bad.json.*'1_1'.*prediction"):
        nextqa.read_official_results(bad)
    dup = tmp_path / "dup.json"
    dup.write_text('{"1_0": {"prediction": 0, "answer": 0}, "1_0": {"prediction": 1, "answer": 0}}')
    with pytest.raises(EvaluationError, match="dup.json.*duplicate.*'1_0'"):
        nextqa.read_official_results(dup)


def write_csv(path, rows):
    cols = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4"
    lines = [cols] + [f"{v},300,640,480,what is it,{a},{q},{t},w,x,y,z,u" for v, q, t, a in rows]
    path.write_text("\n".join(lines) + "\n")


def test_against_csv_missing_extra_and_duplicates(tmp_path):
    csv = tmp_path / "val.csv"
    write_csv(csv, [(11, 0, "CW", 1), (11, 1, "TP", 2), (12, 0, "DO", 0)])
    results = {"11_0": {"prediction": 1, "answer": 1}, "11_1": {"prediction": 0, "answer": 2},
               "12_0": {"prediction": 0, "answer": 0}}
    report = nextqa.evaluate_against_csv(results, csv)
    # CW 1/1, TN (the TP row) 0/1, DO 1/1 -> overall 2/3
    assert report["breakdowns"]["type"]["TN"]["total"] == 1
    assert (report["num_correct"], report["num_questions"]) == (2, 3)

    partial = {k: v for k, v in results.items() if k != "11_1"}
    with pytest.raises(KeyError) as err:  # same exception family as the official script
        nextqa.evaluate_against_csv(partial, csv)
    assert isinstance(err.value, MissingPredictionError) and "'11_1'" in str(err.value)

    extra = dict(results, **{"99_0": {"prediction": 0, "answer": 0}})
    with pytest.raises(EvaluationError, match="'99_0'"):
        nextqa.evaluate_against_csv(extra, csv)
    lenient = nextqa.evaluate_against_csv(extra, csv, allow_extra=True)
    assert lenient["ignored_extra"] == 1 and lenient["num_questions"] == 3

    write_csv(csv, [(11, 0, "CW", 1), (11, 0, "CW", 1)])
    with pytest.raises(EvaluationError, match="'11_0' also on line 2"):
        nextqa.evaluate_against_csv(results, csv)
    write_csv(csv, [(11, 0, "QQ", 1)])
    with pytest.raises(EvaluationError, match="val.csv:2.*'QQ'"):
        nextqa.evaluate_against_csv(results, csv)


def official_loop_printout(csv_path, preds):
    """A plain re-implementation of eval_mc.py's accuracy_metric, step by step
    (docs/data_formats.md §4.3), returning what it prints. Deliberately shares no code
    with gf."""
    sample_list = pd.read_csv(csv_path, delimiter=",")
    group = {"CW": [], "CH": [], "TN": [], "TC": [], "DC": [], "DL": [], "DO": []}
    for _, row in sample_list.iterrows():
        key = str(row["video"]) + "_" + str(row["qid"])
        qtype = str(row["type"])
        if qtype == "TP":
            qtype = "TN"
        group[qtype].append(key)
    group_acc = {k: 0 for k in group}
    group_cnt = {k: 0 for k in group}
    super_acc, super_cnt = {"C": 0, "T": 0, "D": 0}, {"C": 0, "T": 0, "D": 0}
    all_acc = all_cnt = 0
    for qtype, keys in group.items():
        acc = sum(1 for k in keys if preds[k]["answer"] == preds[k]["prediction"])
        group_cnt[qtype] = len(keys)
        group_acc[qtype] = acc
        super_acc[qtype[0]] += acc
        super_cnt[qtype[0]] += len(keys)
        all_acc += acc
        all_cnt += len(keys)
    group_acc.update(super_acc)
    group_cnt.update(super_cnt)
    names = {"CW": "Why", "CH": "How", "TN": "Bef&Aft", "TC": "When", "DC": "Cnt", "DL": "Loc",
             "DO": "Other", "C": "Acc_C", "T": "Acc_T", "D": "Acc_D"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for qtype in group_acc:
            print(names[qtype], end="\t")
        print("")
        for qtype, acc in group_acc.items():
            print("{:.2f}".format(acc * 100.0 / group_cnt[qtype]), end="\t")
        print("")
        print("Acc: {:.2f}".format(all_acc * 100.0 / all_cnt))
    return out.getvalue(), group_acc, group_cnt


@pytest.mark.skipif(not REAL_VAL_CSV.is_file(), reason="NExT-QA's released val.csv is not available on this machine")
def test_real_val_csv_matches_official_script_exactly(tmp_path):
    df = pd.read_csv(REAL_VAL_CSV)
    rng = np.random.default_rng(20240607)
    # ~ 60% right, the rest a random (possibly also right) choice
    guess = np.where(rng.random(len(df)) < 0.6, df["answer"].to_numpy(), rng.integers(0, 5, len(df)))
    preds = {f"{v}_{q}": {"prediction": int(p), "answer": int(a), "fields": {"type": t}}
             for v, q, t, a, p in zip(df["video"], df["qid"], df["type"], df["answer"], guess)}
    assert len(preds) == len(df) == 4996

    expected_text, exp_acc, exp_cnt = official_loop_printout(REAL_VAL_CSV, preds)
    report = nextqa.evaluate(preds, expected_ids=[f"{v}_{q}" for v, q in zip(df["video"], df["qid"])])
    assert nextqa.official_table(report) == expected_text
    assert expected_text.startswith(HEADER + "\n")
    for name, cell in {**report["breakdowns"]["type"], **report["breakdowns"]["super_type"]}.items():
        assert (cell["correct"], cell["total"]) == (exp_acc[name], exp_cnt[name])
        assert cell["accuracy"] == exp_acc[name] * 100.0 / exp_cnt[name]
    # TP merged: TN count = TN rows + TP rows of the CSV
    assert report["breakdowns"]["type"]["TN"]["total"] == int(df["type"].isin(["TN", "TP"]).sum())

    # the official-format file path gives the same figures
    path = tmp_path / "results.json"
    nextqa.write_official_results(path, preds)
    from_csv = nextqa.evaluate_against_csv(nextqa.read_official_results(path), REAL_VAL_CSV)
    assert nextqa.official_table(from_csv) == expected_text
    assert from_csv["breakdowns"] == report["breakdowns"]
