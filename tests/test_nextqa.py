"""NExT-QA: converter from the official CSVs, the `nextqa` builder, training and the official scoring."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gf.benchmarks.nextqa import evaluator as nextqa_eval
from gf.benchmarks.nextqa.converter import convert, read_split_csv
from gf.cli import main as gf_main
from gf.common.io import DataFileError
from gf.common.registry import registry
from gf.datasets.converters import prepare
from gf.datasets.videoqa import collate_videoqa

from conftest import SHARED, TINY_TEXT_ENCODER

REPO = Path(__file__).resolve().parents[1]
REAL_NEXTQA = SHARED / "real_data" / "nextqa"
HEADER = ["video", "frame_count", "width", "height", "question", "answer", "qid", "type", "a0", "a1", "a2", "a3", "a4"]
D = 12

# (video, qid, type, answer); 20 rows in the official column layout. Videos are the real
# int64-style ids; every type occurs, TP included.
ROWS = {
    "train": [(5001000001, 0, "CW", 1), (5001000001, 1, "CH", 2), (5001000001, 2, "TN", 0), (5001000001, 3, "TP", 4),
              (5002000002, 0, "TC", 3), (5002000002, 1, "DC", 1), (5002000002, 2, "DL", 2), (5002000002, 3, "DO", 0),
              (5003000003, 4, "CW", 4), (5003000003, 5, "TN", 3)],
    "val": [(4010069381, 6, "CH", 0), (4010069381, 1, "CW", 2), (4882821564, 1, "TP", 1),
            (4882821564, 7, "TC", 4), (4882821564, 8, "DO", 3), (4882821564, 9, "CW", 0)],
    "test": [(6001000001, 0, "CW", 2), (6001000001, 1, "TN", 1), (6002000002, 0, "DL", 0), (6002000002, 3, "TP", 3)],
}


def _options(video: int, qid: int) -> list:
    opts = [f"option {k} of {video % 1000} q{qid}" for k in range(5)]
    if (video, qid) == (4010069381, 1):
        opts[3] = opts[1]  # a duplicated option string, as in 3 real val rows
    return opts


def write_nextqa_raw(raw: Path, rows=ROWS, video_map: bool = True) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    for split, split_rows in rows.items():
        with open(raw / f"{split}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(HEADER)
            for video, qid, qtype, answer in split_rows:
                question = f"why did the man in video {video % 1000} wave, then sit" if qtype == "CW" \
                    else f"what happened at {qid} in {video % 1000}"
                w.writerow([video, 300 + qid, 640, 480, question, answer, qid, qtype, *_options(video, qid)])
    if video_map:
        vids = {str(v) for rs in rows.values() for v, *_ in rs}
        (raw / "map_vid_vidorID.json").write_text(json.dumps({v: f"0001/{v}" for v in sorted(vids)}))
    return raw


def write_features(path: Path, videos, dim: int = D) -> dict:
    """``.pth`` dict keyed by int video ids (the type the authors' pandas loader used)."""
    g = torch.Generator().manual_seed(0)
    feats = {int(v): torch.randn(3 + (i % 3) * 5, dim, generator=g) for i, v in enumerate(sorted(set(videos)))}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(feats, path)
    return feats


@pytest.fixture
def nextqa_root(tmp_path):
    """``<tmp>/data/NExT-QA`` converted from the fixture CSVs, with int-keyed features."""
    raw = write_nextqa_raw(tmp_path / "raw")
    out = tmp_path / "data" / "NExT-QA"
    convert(raw, out)
    write_features(out / "vis_db" / "features.pth", [v for rs in ROWS.values() for v, *_ in rs])
    return out


def builder(root: Path, **cfg):
    base = {"data_root": str(root.parent), "dataset_dir": root.name}
    return registry.get_builder_class("nextqa")({**base, **cfg})


# ---------------------------------------------------------------------------------------
# converter
# ---------------------------------------------------------------------------------------
def test_convert_writes_official_keys_types_and_options_as_released(tmp_path):
    raw = write_nextqa_raw(tmp_path / "raw")
    summary = prepare("nextqa", raw, tmp_path / "out")  # the entry point `gf prepare` uses
    val = [json.loads(line) for line in (tmp_path / "out/txt_db/val.jsonl").read_text().splitlines()]
    assert [r["question_id"] for r in val] == [f"{v}_{q}" for v, q, _, _ in ROWS["val"]]
    first = val[0]
    assert first == {"question_id": "4010069381_6", "video_id": "4010069381",
                     "question": "what happened at 6 in 381", "options": _options(4010069381, 6),
                     "answer": 0, "type": "CH"}
    dup = next(r for r in val if r["question_id"] == "4010069381_1")
    assert dup["options"] == _options(4010069381, 1) and dup["options"][1] == dup["options"][3]
    assert dup["question"] == "why did the man in video 381 wave, then sit"  # quoted comma survives
    assert [r["type"] for r in val] == [t for _, _, t, _ in ROWS["val"]]  # TP kept as released
    assert summary["splits"]["val"]["types"]["TP"] == 1 and summary["splits"]["val"]["videos"] == 2
    assert summary["splits"]["val"]["rows_with_duplicated_options"] == 1
    assert summary["splits"]["train"]["super_types"] == {"C": 3, "T": 4, "D": 3}
    assert summary["splits"]["test"]["videos_missing_from_map"] == 0
    assert json.loads((tmp_path / "out/meta.json").read_text()) == json.loads(json.dumps(summary))
    assert "| val | 6 | 2 |" in (tmp_path / "out/README.md").read_text()
    assert json.loads((tmp_path / "out/map_vid_vidorID.json").read_text())["4010069381"] == "0001/4010069381"


def _rewrite(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


@pytest.mark.parametrize("edit, expected", [
    (lambda ls: ls[:3] + [ls[3].replace(",1,1,TP,", ",7,1,TP,")] + ls[4:], ["val.csv:4", "'answer'", "'7'"]),
    (lambda ls: ls[:2] + [ls[2].replace(",CW,", ",XX,")] + ls[3:], ["val.csv:3", "'type'", "'XX'"]),
    (lambda ls: ls + [ls[1]], ["val.csv:8", "'qid'", "line 2", "4010069381_6"]),
    (lambda ls: ls[:5] + [ls[5].rsplit(",", 1)[0] + ","] + ls[6:], ["val.csv:6", "'a4'", "empty"]),
    (lambda ls: [ls[0].replace("qid", "question_no")] + ls[1:], ["val.csv:1", "'qid'"]),
    # str.isdigit() digits that are not 0-9: int() raised on '²' and read '٥' as qid 5
    (lambda ls: ls[:1] + [ls[1].replace(",0,6,CH,", ",0,\u00b2,CH,")] + ls[2:], ["val.csv:2", "'qid'", "'\u00b2'"]),
    (lambda ls: ls[:3] + [ls[3].replace(",1,1,TP,", ",1,\u0665,TP,")] + ls[4:], ["val.csv:4", "'qid'", "'\u0665'"]),
    (lambda ls: ls[:2] + [ls[2].replace(",2,1,CW,", ",\u0662,1,CW,")] + ls[3:], ["val.csv:3", "'answer'"]),
    (lambda ls: ls[:2] + ["\u0664" + ls[2]] + ls[3:], ["val.csv:3", "'video'", "non-ASCII digits"]),
])
def test_bad_rows_name_file_line_and_column(tmp_path, edit, expected):
    raw = write_nextqa_raw(tmp_path / "raw")
    _rewrite(raw / "val.csv", edit)
    with pytest.raises(DataFileError) as e:
        convert(raw, tmp_path / "out")
    for part in expected:
        assert part in str(e.value)
    assert not (tmp_path / "out").exists()  # nothing written when any split is bad


@pytest.mark.parametrize("value", ["5", "null", '["val", 1]'])
def test_splits_of_the_wrong_json_type_are_config_errors(tmp_path, capsys, value):
    raw = write_nextqa_raw(tmp_path / "raw")
    rc = gf_main(["prepare", "nextqa", "--raw", str(raw), "--out", str(tmp_path / "out"), "--set", f"splits={value}"])
    err = capsys.readouterr().err
    assert rc == 2 and "splits must be a split name or a list of split names" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "txt_db").exists()


def test_line_numbers_count_quoted_newlines(tmp_path):
    raw = write_nextqa_raw(tmp_path / "raw")
    _rewrite(raw / "val.csv", lambda ls: ls[:1] + [ls[1].replace("what happened", '"what\nhappened', 1)
                                                   .replace(",0,6,", '",0,6,', 1)] + ls[2:3]
             + [ls[3].replace(",1,1,TP,", ",9,1,TP,")] + ls[4:])
    assert read_split_csv(raw / "test.csv")  # other files unaffected
    with pytest.raises(DataFileError, match=r"val\.csv:5: column 'answer'"):
        read_split_csv(raw / "val.csv")


def test_missing_split_file_is_named_unless_not_requested(tmp_path):
    raw = write_nextqa_raw(tmp_path / "raw")
    (raw / "train.csv").unlink()
    with pytest.raises(DataFileError, match=r"train\.csv"):
        convert(raw, tmp_path / "out")
    summary = convert(raw, tmp_path / "out", splits=["val", "test"])
    assert sorted(summary["splits"]) == ["test", "val"]
    assert not (tmp_path / "out/txt_db/train.jsonl").exists()


def test_real_val_csv_converts_to_the_published_counts(tmp_path):
    if not (REAL_NEXTQA / "val.csv").is_file():
        pytest.skip("NExT-QA's released val.csv is not available on this machine")
    summary = convert(REAL_NEXTQA, tmp_path / "out", splits=["val"])
    s = summary["splits"]["val"]
    assert (s["questions"], s["videos"], s["rows_with_duplicated_options"]) == (4996, 570, 3)
    assert s["types"] == {"CW": 1924, "CH": 683, "TN": 895, "TP": 54, "TC": 663, "DC": 177, "DL": 295, "DO": 305}
    assert s["super_types"] == {"C": 2607, "T": 1612, "D": 777} and s["videos_missing_from_map"] == 0
    rows = [json.loads(line) for line in (tmp_path / "out/txt_db/val.jsonl").read_text().splitlines()]
    assert len({r["question_id"] for r in rows}) == 4996
    assert rows[0]["question_id"] == "4010069381_6" and rows[0]["options"][2] == "strum the string"
    # The converted ids are the keys the official eval_mc.py expects: an oracle scores 100
    # on the CSV, and one wrong answer per question of type CW lowers exactly CW and C.
    results = {r["question_id"]: {"prediction": (r["answer"] + (r["type"] == "CW")) % 5, "answer": r["answer"]}
               for r in rows}
    report = nextqa_eval.evaluate_against_csv(results, REAL_NEXTQA / "val.csv")
    assert report["num_questions"] == 4996
    assert report["breakdowns"]["type"]["CW"]["accuracy"] == 0.0
    assert report["breakdowns"]["type"]["TN"]["total"] == 895 + 54 and report["breakdowns"]["type"]["TN"]["accuracy"] == 100.0
    assert report["overall"] == pytest.approx(100.0 * (4996 - 1924) / 4996)


# ---------------------------------------------------------------------------------------
# builder
# ---------------------------------------------------------------------------------------
def test_builder_with_int_keyed_features(nextqa_root):
    b = builder(nextqa_root, max_feats=6)
    ds = b.build_datasets()
    assert {s: len(d) for s, d in ds.items()} == {"train": 10, "val": 6, "test": 4}
    assert b.info() == {"num_options": 5, "num_event_classes": None, "event_pred_dim": None, "feature_dim": D,
                        "max_feats": 6, "max_events": None, "answer_vocab": None, "class_names": None,
                        "feature_recipe": None}
    assert b.answer_mode == "mc" and b.benchmark == "nextqa"
    val = ds["val"]
    item = val[1]
    assert item["question_id"] == "4010069381_1" and item["answer"] == 2 and item["fields"] == {"type": "CW"}
    assert len(item["text"]) == 5 and item["text"][1] == item["text"][3]  # duplicate option kept in place
    assert item["text"][0] == "why did the man in video 381 wave, then sit option 0 of 381 q1"
    assert item["video"].shape == (6, D) and item["spans"].shape == (0, 2)
    assert ds["test"].stats["labelled"] == 4  # public test labels are kept (docs/data_formats.md, B6)
    batch = collate_videoqa([val[i] for i in range(len(val))])
    assert len(batch["text"]) == 30 and batch["answer"].tolist() == [a for *_, a in ROWS["val"]]


def test_builder_reads_official_and_authors_csv_directly(tmp_path):
    raw = write_nextqa_raw(tmp_path / "NExT-QA")
    # the authors' *_mc.csv copies name the video column video_id
    _rewrite(raw / "train.csv", lambda ls: [ls[0].replace("video,", "video_id,", 1)] + ls[1:])
    write_features(raw / "vis_db/features.pth", [v for rs in ROWS.values() for v, *_ in rs])
    b = builder(raw, annotations={s: f"{s}.csv" for s in ROWS}, text_format="{question} [SEP] {option}")
    ds = b.build_datasets(["train", "val"])
    assert ds["train"].question_ids()[:2] == ["5001000001_0", "5001000001_1"]
    assert ds["val"][0]["text"][0] == "what happened at 6 in 381 [SEP] option 0 of 381 q6"


def test_builder_errors_name_the_config_key(nextqa_root):
    with pytest.raises(DataFileError, match=r"datasets\.nextqa\.features"):
        builder(nextqa_root, features="vis_db/nope.pth").build_datasets()
    with pytest.raises(DataFileError, match=r"feature_dim is 2048"):
        builder(nextqa_root, feature_dim=2048).build_datasets()
    with pytest.raises(ValueError, match=r"datasets\.nextqa: unknown key 'max_event'"):
        builder(nextqa_root, max_event=3)
    feats = torch.load(nextqa_root / "vis_db/features.pth", weights_only=True)
    del feats[4882821564]
    torch.save(feats, nextqa_root / "vis_db/features.pth")
    with pytest.raises(DataFileError, match=r"4882821564_1.*skip_file"):
        builder(nextqa_root).build_datasets(["val"])


# ---------------------------------------------------------------------------------------
# training, evaluation, official results, run script
# ---------------------------------------------------------------------------------------
TINY_MODEL = {"text_encoder": TINY_TEXT_ENCODER, "freeze_text_encoder": True, "d_model": 32, "nhead": 4,
              "dim_feedforward": 64, "num_queries": 4, "event_pred_dim": 5, "num_encoder_layers": 1,
              "num_decoder_layers": 1}
TINY_RUN = {"epochs": 1, "batch_size": 4, "eval_batch_size": 8, "num_workers": 0, "lr": 1e-3,
            "log_every": 1, "progress": False, "device": "cpu"}


def test_gf_train_reports_official_groups_and_results_round_trip(nextqa_root, tmp_path, capsys):
    out = tmp_path / "out"
    cfg = {"model": {"name": "glance_focus", "model_type": "nextqa_uns", **TINY_MODEL},
           "datasets": {"nextqa": {"data_root": str(nextqa_root.parent), "max_feats": 8}},
           "run": {**TINY_RUN, "output_dir": str(out), "best_metric": "overall"}}
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    assert gf_main(["train", "--cfg-path", str(path)]) == 0
    assert "nextqa test (best)" in capsys.readouterr().out
    report = json.loads((out / "eval/test_best_report.json").read_text())
    assert list(report["breakdowns"]["type"]) == ["CW", "CH", "TN", "TC", "DC", "DL", "DO"]
    assert report["num_questions"] == 4 and report["breakdowns"]["type"]["TN"]["total"] == 2  # TP folded in
    preds = json.loads((out / "eval/test_best_predictions.json").read_text())["predictions"]
    assert preds["6002000002_3"]["fields"] == {"type": "TP"} and preds["6002000002_3"]["answer"] == 3
    # official results file: written, read back, scored against the released-format CSV
    written = nextqa_eval.write_official_results(tmp_path / "results.json", preds)
    assert nextqa_eval.read_official_results(tmp_path / "results.json") == written
    again = nextqa_eval.evaluate_against_csv(written, tmp_path / "raw" / "test.csv")
    assert again["overall"] == report["overall"] and again["breakdowns"] == report["breakdowns"]
    assert "Why\tHow\tBef&Aft" in nextqa_eval.official_table(report)


@pytest.mark.parametrize("video_input", ["none", "mean"])
def test_blind_and_atemporal_baselines_train_and_evaluate(video_input, nextqa_root, tmp_path):
    """The baselines of "does the model use the video?" (model.video_input) on NExT-QA."""
    out = tmp_path / "out"
    cfg = {"model": {"name": "glance_focus", "model_type": "nextqa_uns", "video_input": video_input, **TINY_MODEL},
           "datasets": {"nextqa": {"data_root": str(nextqa_root.parent), "max_feats": 8}},
           "run": {**TINY_RUN, "output_dir": str(out), "best_metric": "overall"}}
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg))
    assert gf_main(["train", "--cfg-path", str(path)]) == 0
    ckpt = torch.load(out / "checkpoint_best.pth", weights_only=True)
    assert ckpt["extra"]["model_config"]["video_input"] == video_input
    assert json.loads((out / "eval/test_best_report.json").read_text())["num_questions"] == 4
    assert gf_main(["evaluate", "--cfg-path", str(path), "--checkpoint", str(out / "checkpoint_best.pth"),
                    "--splits", "test"]) == 0
    assert (json.loads((out / "eval/test_eval_report.json").read_text())["overall"]
            == json.loads((out / "eval/test_best_report.json").read_text())["overall"])


def test_run_script_trains_end_to_end(nextqa_root, tmp_path):
    env = dict(os.environ, DATA_ROOT=str(nextqa_root.parent), OUTPUT_DIR=str(tmp_path / "run"),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               OMP_NUM_THREADS="1")
    args = [f"model.{k}={v}" for k, v in TINY_MODEL.items()] + [f"run.{k}={v}" for k, v in TINY_RUN.items()]
    args += ["datasets.nextqa.feature_dim=null", "datasets.nextqa.max_feats=8"]
    proc = subprocess.run(["bash", str(REPO / "run_scripts/glance_focus/nextqa/train_uns.sh"), *args],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    report = json.loads((tmp_path / "run/eval/test_best_report.json").read_text())
    assert report["benchmark"] == "nextqa" and report["num_questions"] == 4
    saved = (tmp_path / "run/config.yaml").read_text()
    assert "lr: 0.001" in saved and "batch_size: 4" in saved and "nextqa_uns" in saved
