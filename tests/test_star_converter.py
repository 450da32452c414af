"""`gf prepare star`: STAR's official release + Charades actions -> the layout the `star` builder reads.

The fixture mimics the release: STAR_{train,val,test}.json lists (test without answers),
class files without a final newline, Charades CSVs whose `actions` use Charades c-ids, and
a Charades class list whose numbering differs from STAR's (STAR drops classes such as
"Fixing a door" and renumbers the rest).
"""
from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import pytest
import torch

from gf.benchmarks.star.converter import charades_to_star_ids, convert, parse_charades_actions
from gf.cli import main as gf_main
from gf.common.io import DataFileError
from gf.common.registry import registry
from gf.datasets.converters import prepare

from conftest import TINY_TEXT_ENCODER

D = 8
STAR_ACTIONS = ["a000 hold some clothes", "a001 put clothes somewhere", "a002 take some clothes from somewhere",
                "a003 close a door", "a004 open a door", "a005 watch/read/look at a book"]
STAR_MAPPING = ["a000 v004 o019", "a001 v007 o019", "a002 v010 o019", "a003 v000 o010", "a004 v006 o010",
                "a005 v016 o003"]
# Charades numbering: c003 "Fixing a door" has no STAR class, so Closing/Opening shift by one.
CHARADES = ["c000 Holding some clothes", "c001 Putting clothes somewhere", "c002 Taking clothes from somewhere",
            "c003 Fixing a door", "c004 Closing a door", "c005 Opening a door",
            "c006 Watching/Reading/Looking at a book"]
C2A = {"c000": 0, "c001": 1, "c002": 2, "c004": 3, "c005": 4, "c006": 5}
TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")


def question(qid, vid, start, end, answer_index, n):
    choices = [{"choice_id": k, "choice": f"The thing {n}-{k}.", "choice_program": []} for k in range(4)]
    q = {"question_id": qid, "question": f"What did the person do {n}?", "video_id": vid, "start": start, "end": end,
         "question_program": [], "choices": choices,
         "situations": {"000123": {"actions": ["a000"], "rel_pairs": [], "rel_labels": [], "bbox": [], "bbox_labels": []}}}
    if answer_index is not None:
        q["answer"] = choices[answer_index]["choice"]
    return q


def write_release(root: Path, *, id_space: str = "charades") -> dict:
    raw = root / "raw"
    (raw / "classes").mkdir(parents=True)
    # the real class files have no final newline
    (raw / "classes" / "action_classes.txt").write_text("\n".join(STAR_ACTIONS))
    (raw / "classes" / "action_mapping.txt").write_text("\n".join(STAR_MAPPING))
    (raw / "Charades_v1_classes.txt").write_text("\n".join(CHARADES) + "\n")
    videos = {
        # c000 1-5 overlaps the clip start; c003 has no STAR class; c005 runs past the clip end;
        # c001 ends exactly at the clip start (empty once clipped)
        "VID01": "c000 1.00 5.00;c003 2.00 3.00;c005 8.00 20.00;c001 0.50 2.00",
        "VID02": "c004 3.10 4.20;c006 1.00 9.00",
        "VID03": "c002 30.00 40.00",  # nothing inside its question's clip
        "VID04": "",
    }
    if id_space == "star":
        videos = {v: ";".join(f"a{C2A[a.split()[0]]:03d} {' '.join(a.split()[1:])}" for a in acts.split(";") if a
                              and a.split()[0] in C2A) for v, acts in videos.items()}
    header = ["id", "subject", "scene", "quality", "relevance", "verified", "script", "objects", "descriptions",
              "actions", "length"]
    for name, vids in (("Charades_v1_train.csv", ["VID01", "VID02"]), ("Charades_v1_test.csv", ["VID03", "VID04"])):
        with open(raw / name, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for v in vids:
                w.writerow([v, "S1", "Kitchen", 6, 7, "Yes", "A person, does things.", "door;book", "desc", videos[v], 30.0])
    plan = {
        "train": [("Interaction_T1_0", "VID01", 2.0, 10.0, 1), ("Sequence_T1_1", "VID02", 0.0, 6.5, 2),
                  ("Prediction_T1_2", "VID03", 1.0, 6.0, 0), ("Feasibility_T1_3", "VID04", 0.0, 4.0, 3),
                  ("Interaction_T2_4", "VID02", 3.5, 9.5, 0), ("Sequence_T2_5", "VID01", 0.0, 30.0, 1)],
        "val": [("Interaction_T1_6", "VID01", 0.0, 12.0, 3), ("Sequence_T1_7", "VID02", 1.0, 5.0, 1),
                ("Prediction_T1_8", "VID03", 29.0, 35.0, 2), ("Feasibility_T1_9", "VID04", 0.0, 8.0, 0)],
        "test": [("Interaction_T1_10", "VID02", 0.0, 9.0, None), ("Sequence_T1_11", "VID01", 4.0, 9.0, None),
                 ("Prediction_T1_12", "VID03", 31.0, 33.0, None), ("Feasibility_T1_13", "VID04", 1.0, 3.0, None)],
    }
    released = {}
    n = 0
    for split, rows in plan.items():
        released[split] = [question(qid, vid, s, e, a, (n := n + 1)) for qid, vid, s, e, a in rows]
        (raw / f"STAR_{split}.json").write_text(json.dumps(released[split]))
    return {"raw": raw, "released": released, "plan": plan}


def read_jsonl(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def converted(tmp_path):
    rel = write_release(tmp_path)
    out = tmp_path / "data" / "STAR"
    summary = prepare("star", rel["raw"], out)
    return {**rel, "out": out, "summary": summary}


def test_registered_under_its_benchmark_name():
    assert {"star", "egotaskqa"} <= set(registry.list("converter"))


def test_layout_records_and_labels(converted):
    out, released = converted["out"], converted["released"]
    assert sorted(p.name for p in (out / "txt_db").iterdir()) == sorted(
        ["train.jsonl", "val.jsonl", "test.jsonl", "events.json", "action_mapping.txt", "action_classes.txt"])
    assert (out / "vis_db" / "README.md").is_file() and not (out / "vis_db" / "s3d.pth").exists()
    for split in ("train", "val"):
        rows = read_jsonl(out / "txt_db" / f"{split}.jsonl")
        for row, q in zip(rows, released[split]):
            assert row["question_id"] == q["question_id"] and row["video_id"] == q["video_id"]
            assert row["options"] == [c["choice"] for c in q["choices"]]  # released order
            assert row["options"][row["answer"]] == q["answer"]
        assert [r["answer"] for r in rows] == [p[4] for p in converted["plan"][split]]
    test = read_jsonl(out / "txt_db" / "test.jsonl")
    assert len(test) == 4 and all("answer" not in r for r in test)  # no dummy label
    # copied byte for byte: all lines, still without a final newline
    assert (out / "txt_db" / "action_mapping.txt").read_bytes() == (converted["raw"] / "classes" / "action_mapping.txt").read_bytes()
    s = converted["summary"]
    assert s["action_classes"] == 6 and s["action_id_space"] == "charades"
    assert s["splits"]["train"]["by_type"] == {"Interaction": 2, "Sequence": 2, "Prediction": 1, "Feasibility": 1}
    assert s["splits"]["test"]["labelled"] == 0


def test_events_clipped_rebased_and_mapped_to_star_classes(converted):
    events = json.loads((converted["out"] / "txt_db" / "events.json").read_text())
    assert set(events) == {q[0] for rows in converted["plan"].values() for q in rows}
    # VID01, clip [2, 10]: c000 1-5 -> a000 [0, 3]; c005 8-20 -> a004 [6, 8]; c003 (no STAR class) left out;
    # c001 0.5-2.0 ends at the clip start -> dropped
    assert events["Interaction_T1_0"] == {"duration": 8.0, "actions": [[0, 0.0, 3.0], [4, 6.0, 8.0]]}
    # VID02, clip [0, 6.5]: c006 1-9 -> a005 [1, 6.5]; c004 3.1-4.2 -> a003 (Charades numbering shifted by one)
    assert events["Sequence_T1_1"] == {"duration": 6.5, "actions": [[5, 1.0, 6.5], [3, 3.1, 4.2]]}
    assert events["Prediction_T1_2"] == {"duration": 5.0, "actions": []}  # clip without actions
    assert events["Feasibility_T1_3"]["actions"] == []  # video without actions
    s = converted["summary"]
    assert s["charades_actions_outside_star"] == 1
    # dropped (empty once clipped): c001 0.5-2.0 in Interaction_T1_0 [2, 10] and in Sequence_T1_11 [4, 9];
    # c002 30-40 in Prediction_T1_2 [1, 6]
    assert s["events"]["dropped_outside_clip"] == 3
    assert s["events"]["questions_without_events"] == sum(not e["actions"] for e in events.values()) == 4  # VID03 once, VID04 thrice


def test_star_builder_reads_the_converted_bundle(converted):
    out = converted["out"]
    g = torch.Generator().manual_seed(0)
    qids = [q[0] for rows in converted["plan"].values() for q in rows]
    torch.save({q: torch.randn(5 + i % 3, D, generator=g) for i, q in enumerate(qids)}, out / "vis_db" / "s3d.pth")
    b = registry.get_builder_class("star")({"data_root": str(out.parent), "max_feats": 6, "max_events": 4})
    ds = b.build_datasets()
    assert b.info()["event_pred_dim"] == 7  # 6 classes, the last line included, + background
    train = ds["train"]
    s = train[[r["question_id"] for r in train.records].index("Interaction_T1_0")]
    assert s["event_classes"].tolist() == [0, 4]
    assert torch.allclose(s["spans"], torch.tensor([[1.5 / 8, 3 / 8], [7 / 8, 2 / 8]]))
    assert all(r["answer"] is None for r in ds["test"].records)
    assert [r["answer"] for r in ds["val"].records] == [p[4] for p in converted["plan"]["val"]]


def test_gf_train_few_steps_on_the_converted_bundle(converted, tmp_path):
    out = converted["out"]
    qids = [q[0] for rows in converted["plan"].values() for q in rows]
    torch.save({q: torch.randn(6, D) for q in qids}, out / "vis_db" / "s3d.pth")
    cfg = tmp_path / "star.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        model:
          name: glance_focus
          model_type: star_sup
          text_encoder: {TINY_TEXT_ENCODER}
          freeze_text_encoder: true
          d_model: 32
          nhead: 4
          dim_feedforward: 64
          num_queries: 4
        datasets:
          star:
            data_root: {out.parent}
            max_feats: 6
            max_events: 4
        run:
          output_dir: {tmp_path / 'run'}
          epochs: 1
          batch_size: 3
          eval_batch_size: 4
          num_workers: 0
          lr: 0.001
          best_metric: mean
          valid_splits: [val]
          test_splits: [test]
          progress: false
        """))
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    report = json.loads(next((tmp_path / "run" / "eval").glob("val_*_report.json")).read_text())
    assert report["num_questions"] == 4
    submission = json.loads(next((tmp_path / "run" / "eval").glob("test_*_submission.json")).read_text())
    assert sorted(q["question_id"] for v in submission.values() for q in v) == sorted(
        q[0] for q in converted["plan"]["test"])


def test_csv_with_star_ids_needs_no_charades_class_list(tmp_path):
    rel = write_release(tmp_path, id_space="star")
    (rel["raw"] / "Charades_v1_classes.txt").unlink()
    s = convert(rel["raw"], tmp_path / "out")
    events = json.loads((tmp_path / "out" / "txt_db" / "events.json").read_text())
    assert s["action_id_space"] == "star" and s["charades_actions_outside_star"] == 0
    assert events["Interaction_T1_0"]["actions"] == [[0, 0.0, 3.0], [4, 6.0, 8.0]]


def test_charades_to_star_map_by_description():
    star = [tuple(l.split(" ", 1)) for l in STAR_ACTIONS]
    charades = [tuple(l.split(" ", 1)) for l in CHARADES]
    assert charades_to_star_ids(star, charades) == {c: f"a{i:03d}" for c, i in C2A.items()}
    with pytest.raises(DataFileError, match="without a Charades match.*a004 'open a door'"):
        charades_to_star_ids(star, [c for c in charades if c[0] != "c005"])
    assert parse_charades_actions("c092 11.90 21.20;c147 0.00 12.60", "x") == [("c092", 11.9, 21.2), ("c147", 0.0, 12.6)]
    assert parse_charades_actions("", "x") == []
    with pytest.raises(DataFileError, match="c092 11.90"):
        parse_charades_actions("c092 11.90", "x")


def _edit(raw: Path, split: str, index: int, fn):
    path = raw / f"STAR_{split}.json"
    rows = json.loads(path.read_text())
    fn(rows[index])
    path.write_text(json.dumps(rows))


@pytest.mark.parametrize("case, match", [
    ("answer_matches_none", r"STAR_val.json: record 2 \(question_id 'Prediction_T1_8'\): answer 'Nothing\.' matches no choice"),
    ("answer_matches_two", r"STAR_train.json: record 1 \(question_id 'Sequence_T1_1'\): answer .* matches choices \[0, 1\]"),
    ("three_choices", r"record 0 .*expected 4 'choices', got 3"),
    ("some_test_answers", "1 of 4 questions have an 'answer'"),
    ("duplicate_id", "question_id 'Interaction_T1_0' appears again"),
    ("video_not_in_csv", r"not in .*Charades.*: 'VID99'; pass both"),
    ("no_charades_classes", r"Charades_v1_train\.csv, \S*Charades_v1_test\.csv use Charades c-ids.*"
                            r"Charades_v1_classes\.txt is not in .*; pass charades_classes"),
    ("unknown_type_prefix", r"STAR_val.json: record 0 \(question_id 'Interact_T1_8'\): question id 'Interact_T1_8' "
                            r"does not start with a STAR question type"),
])
def test_errors_name_file_and_question(tmp_path, case, match):
    raw = write_release(tmp_path)["raw"]
    if case == "answer_matches_none":
        _edit(raw, "val", 2, lambda q: q.update(answer="Nothing."))
    elif case == "answer_matches_two":
        def dup(q):
            q["choices"][1]["choice"] = q["choices"][0]["choice"]
            q["answer"] = q["choices"][0]["choice"]
        _edit(raw, "train", 1, dup)
    elif case == "three_choices":
        _edit(raw, "train", 0, lambda q: q["choices"].pop())
    elif case == "some_test_answers":
        _edit(raw, "test", 0, lambda q: q.update(answer=q["choices"][0]["choice"]))
    elif case == "duplicate_id":
        _edit(raw, "val", 0, lambda q: q.update(question_id="Interaction_T1_0"))
    elif case == "unknown_type_prefix":  # scoring reads the type from the id: refused here, not after training
        _edit(raw, "val", 0, lambda q: q.update(question_id="Interact_T1_8"))
    elif case == "video_not_in_csv":
        _edit(raw, "test", 1, lambda q: q.update(video_id="VID99"))
    else:
        (raw / "Charades_v1_classes.txt").unlink()
    with pytest.raises(DataFileError, match=match):
        convert(raw, tmp_path / "out")
    assert not (tmp_path / "out" / "txt_db" / "train.jsonl").exists()  # nothing half-written


@pytest.mark.parametrize("id_space, old, new, match", [
    # a typo in neither class list was counted as a Charades class outside STAR and dropped
    ("charades", "c004 3.10", "c0O4 3.10", r"Charades_v1_train.csv:3: column 'actions': action id 'c0O4' is not in "
                                           r".*Charades_v1_classes.txt"),
    ("star", "a003 3.10", "aO03 3.10", r"Charades_v1_train.csv:3: column 'actions': action id 'aO03' is not in "
                                       r".*action_classes.txt"),
    # a STAR a-id among Charades c-ids is not a Charades class either
    ("charades", "c004 3.10", "a003 3.10", r"Charades_v1_train.csv:3: column 'actions': action id 'a003' is a STAR "
                                           r"a-id, but .*Charades_v1_train.csv:2 uses 'c000'"),
])
def test_unknown_or_mixed_action_ids_name_file_line_and_id(tmp_path, id_space, old, new, match):
    raw = write_release(tmp_path, id_space=id_space)["raw"]
    csv_path = raw / "Charades_v1_train.csv"
    assert old in csv_path.read_text()
    csv_path.write_text(csv_path.read_text().replace(old, new))
    with pytest.raises(DataFileError, match=match):
        convert(raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option, value", [
    ("charades_csv", "123"), ("charades_csv", '["a.csv", 5]'), ("charades_csv", '""'),
    ("charades_classes", "5"), ("charades_classes", "[]"),
])
def test_path_options_of_the_wrong_json_type_are_config_errors(tmp_path, capsys, option, value):
    raw = write_release(tmp_path)["raw"]
    rc = gf_main(["prepare", "star", "--raw", str(raw), "--out", str(tmp_path / "out"), "--set", f"{option}={value}"])
    err = capsys.readouterr().err
    assert rc == 2 and f"star converter: {option} must be a path" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "txt_db").exists()


@pytest.mark.parametrize("option, value", [
    ("charades_csv", '["Charades_v1_train.csv", "Charades_v1_test.csv"]'),
    ("charades_classes", "Charades_v1_classes.txt"),
])
def test_a_set_path_missing_from_the_current_folder_says_where_it_was_looked_up(tmp_path, capsys, monkeypatch,
                                                                               option, value):
    """A bare release file name (the README's recipe) was 'Charades annotation CSV not found' (rc 3)
    or, for charades_classes, a list of PosixPath(...) told to pass the very option given; --set
    paths are read from the current folder, and the error says so and offers the --raw path."""
    write_release(tmp_path)
    monkeypatch.chdir(tmp_path)
    rc = gf_main(["prepare", "star", "--raw", "raw", "--out", "out", "--set", f"{option}={value}"])
    err = capsys.readouterr().err
    name = json.loads(value)[0] if value.startswith("[") else value
    assert rc == 2 and err.strip().splitlines() == [
        f"gf prepare: error: star converter: {option}: {name} not found (looked up from the current folder "
        f"{Path.cwd()}); did you mean raw/{name}? --set paths are relative to the current folder, not to --raw"]
    assert not (tmp_path / "out" / "txt_db").exists()
    assert gf_main(["prepare", "star", "--raw", "raw", "--out", "out", "--set", f"{option}={value}"
                    .replace("Charades_v1", "raw/Charades_v1")]) == 0
