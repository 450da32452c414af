"""AGQA 2.0: converter from the balanced release (+ Charades CSV), the `agqa` builder,
out-of-vocabulary answers, evaluation fields, training and the evaluation script."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from gf.benchmarks.agqa.converter import convert, read_charades_csv
from gf.cli import main as gf_main
from gf.common.io import DataFileError
from gf.common.registry import registry
from gf.datasets.converters import prepare
from gf.datasets.videoqa import collate_videoqa
from gf.evaluation import evaluate_predictions
from gf.evaluation.predictions import PredictionsFile

from conftest import TINY_TEXT_ENCODER

REPO = Path(__file__).resolve().parents[1]
D = 10
TRAIN_VIDEOS = ["YSKX3", "A1B2C", "ZZ9QX", "K0L1M", "P4Q5R", "S6T7U", "V8W9X", "Y0Z1A", "B2C3D", "E4F5G"]
TEST_VIDEOS = ["H6I7J", "M8N9O"]
# train answers: "No" (capitalised, as in the official example) and "no" are different answers
TRAIN_ANSWERS = ["No", "no", "Yes", "table", "no", "chair", "No", "no"]
GLOBALS = [["exists", "obj-rel"], ["sequencing"], ["superlative", "obj-act"], ["duration-comparison"]]
STRUCT = [("verify", "binary"), ("query", "open"), ("choose", "open"), ("compare", "binary"), ("logic", "binary")]


def _record(n: int, video: str, answer: str) -> dict:
    structural, ans_type = STRUCT[n % len(STRUCT)]
    return {"question": f"Did they contact a blanket {n} times?", "answer": answer, "video_id": video,
            "global": GLOBALS[n % len(GLOBALS)], "local": "yes-no-o4", "ans_type": ans_type, "steps": 1,
            "semantic": ("object", "relation", "action")[n % 3], "structural": structural, "novel_comp": 0,
            "more_steps": 0, "sg_grounding": {"000245": {"objects": ["o006"]}}, "program": "Exists(blanket)"}


def write_agqa_raw(raw: Path) -> dict:
    """40 train questions on 10 videos (4 each) and 4 test questions on 2 videos; one test
    answer ("lamp") never occurs in train."""
    raw.mkdir(parents=True, exist_ok=True)
    train, n = {}, 0
    for video in TRAIN_VIDEOS:
        for _ in range(4):
            train[f"train{n}"] = _record(n, video, TRAIN_ANSWERS[n % len(TRAIN_ANSWERS)])
            n += 1
    test = {f"test{i}": _record(i, TEST_VIDEOS[i % 2], a) for i, a in enumerate(["no", "lamp", "No", "table"])}
    (raw / "train_balanced.txt").write_text(json.dumps(train))
    (raw / "test_balanced.txt").write_text(json.dumps(test))
    return {"train": train, "test": test}


def write_charades_csv(path: Path, videos) -> None:
    """Charades annotation CSV (official column order); YSKX3 has an action past the video's
    end, A1B2C none, E4F5G is missing."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "subject", "scene", "quality", "relevance", "verified", "script", "objects",
                    "descriptions", "actions", "length"])
        for i, v in enumerate(videos):
            if v == "E4F5G":
                continue
            actions = {"YSKX3": "c092 11.90 21.20;c147 0.00 12.60;c156 30.0 40.0", "A1B2C": ""}.get(
                v, f"c{i:03d} 1.00 5.50;c{i + 10:03d} 2.0 8.0")
            w.writerow([v, "S1", "Kitchen", 6, 7, "Yes", "A person ...", "blanket", "desc", actions, 32.5])


def write_features(path: Path, videos, dim: int = D) -> None:
    g = torch.Generator().manual_seed(1)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({v: torch.randn(4 + i % 5, dim, generator=g) for i, v in enumerate(videos)}, path)


def read_jsonl(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def agqa_root(tmp_path):
    """``<tmp>/data/AGQA`` converted with events (val: 20% of train videos), plus features."""
    raw = tmp_path / "raw"
    write_agqa_raw(raw)
    write_charades_csv(raw / "Charades_v1_train.csv", TRAIN_VIDEOS + TEST_VIDEOS)
    out = tmp_path / "data" / "AGQA"
    convert(raw, out, charades_csv=str(raw / "Charades_v1_train.csv"), val_fraction=0.2, seed=0)
    write_features(out / "vis_db" / "frcnn.pth", TRAIN_VIDEOS + TEST_VIDEOS)
    return out


def builder(root: Path, **cfg):
    return registry.get_builder_class("agqa")({"data_root": str(root.parent), "dataset_dir": root.name, **cfg})


# ---------------------------------------------------------------------------------------
# converter
# ---------------------------------------------------------------------------------------
def test_vocab_is_train_only_exact_strings_by_frequency(tmp_path):
    raw_data = write_agqa_raw(tmp_path / "raw")
    summary = prepare("agqa", tmp_path / "raw", tmp_path / "out")  # what `gf prepare agqa` calls
    vocab = json.loads((tmp_path / "out/txt_db/answer_vocab.json").read_text())
    counts = Counter(r["answer"] for r in raw_data["train"].values())
    assert counts["no"] == 15 and counts["No"] == 10  # distinct answers, no case folding
    assert vocab == ["no", "No", "Yes", "chair", "table"]  # frequency, then string (Yes/chair/table: 5 each)
    assert "lamp" not in vocab and summary["answer_vocab_size"] == 5
    assert summary["splits"]["test"]["answers_outside_vocab"] == 1
    test = read_jsonl(tmp_path / "out/txt_db/test.jsonl")
    assert test[1] == {"question_id": "test1", "video_id": "M8N9O", "question": "Did they contact a blanket 1 times?",
                       "answer": "lamp", "global": ["sequencing"], "semantic": "relation",
                       "structural": "query", "ans_type": "open"}


def test_val_is_carved_by_whole_videos_and_reproducible(tmp_path):
    write_agqa_raw(tmp_path / "raw")
    a = convert(tmp_path / "raw", tmp_path / "a", val_fraction=0.3, seed=7)
    convert(tmp_path / "raw", tmp_path / "b", val_fraction=0.3, seed=7)
    convert(tmp_path / "raw", tmp_path / "c", val_fraction=0.3, seed=8)
    txt = lambda d, f: (tmp_path / d / "txt_db" / f).read_text()  # noqa: E731
    for f in ("train.jsonl", "val.jsonl", "test.jsonl", "val_videos.txt", "answer_vocab.json"):
        assert txt("a", f) == txt("b", f), f  # same seed and fraction: byte-identical
    val_videos = txt("a", "val_videos.txt").split()
    assert len(val_videos) == 3 == a["val"]["videos"] and val_videos == sorted(val_videos)
    assert val_videos != txt("c", "val_videos.txt").split()  # the seed matters
    train, val = read_jsonl(tmp_path / "a/txt_db/train.jsonl"), read_jsonl(tmp_path / "a/txt_db/val.jsonl")
    assert {r["video_id"] for r in val} == set(val_videos)
    assert not {r["video_id"] for r in train} & set(val_videos)
    assert len(train) + len(val) == 40 and len(val) == 12  # every question of a val video moved
    # the vocabulary does not depend on the carve
    assert txt("a", "answer_vocab.json") == txt("c", "answer_vocab.json")
    none = convert(tmp_path / "raw", tmp_path / "d", val_fraction=0)
    assert "val" not in none["splits"] and not (tmp_path / "d/txt_db/val.jsonl").exists()


def test_events_from_charades_csv(agqa_root):
    events = json.loads((agqa_root / "txt_db/events.json").read_text())
    assert events["YSKX3"] == {"duration": 32.5, "actions": [[92, 11.9, 21.2], [147, 0.0, 12.6], [156, 30.0, 40.0]]}
    assert events["A1B2C"] == {"duration": 32.5, "actions": []} and "E4F5G" not in events
    classes = (agqa_root / "txt_db/action_mapping.txt").read_text().splitlines()
    assert len(classes) == 157 and classes[0] == "c000" and classes[156] == "c156"
    meta = json.loads((agqa_root / "meta.json").read_text())
    assert meta["events"]["qa_videos_without_events"] == 1 and meta["events"]["classes"] == 157


@pytest.mark.parametrize("damage, expected", [
    (lambda t: t["train3"].pop("answer"), ["train_balanced.txt", "'train3'", "'answer'", "missing"]),
    (lambda t: t["train5"].update({"global": "exists"}), ["'train5'", "'global'"]),
    (lambda t: t["train6"].update({"ans_type": "yes-no"}), ["'train6'", "'ans_type'"]),
])
def test_bad_records_name_file_question_and_field(tmp_path, damage, expected):
    raw = write_agqa_raw(tmp_path / "raw")
    damage(raw["train"])
    (tmp_path / "raw/train_balanced.txt").write_text(json.dumps(raw["train"]))
    with pytest.raises(DataFileError) as e:
        convert(tmp_path / "raw", tmp_path / "out")
    assert all(part in str(e.value) for part in expected), str(e.value)
    assert not (tmp_path / "out").exists()


def test_other_bad_inputs(tmp_path):
    raw = tmp_path / "raw"
    write_agqa_raw(raw)
    text = (raw / "test_balanced.txt").read_text()
    (raw / "test_balanced.txt").write_text(text[:-1] + ', "test0": ' + json.dumps(_record(0, "H6I7J", "no")) + "}")
    with pytest.raises(DataFileError, match=r"test_balanced\.txt: question id 'test0' appears twice"):
        convert(raw, tmp_path / "out")
    with pytest.raises(ValueError, match="val_fraction"):
        convert(raw, tmp_path / "out", val_fraction=1.0)
    (raw / "test_balanced.txt").write_text("{}")  # refused before anything is written, as an empty train file
    with pytest.raises(DataFileError, match=r"test_balanced\.txt: no questions"):
        convert(raw, tmp_path / "out")
    (raw / "test_balanced.txt").unlink()
    with pytest.raises(DataFileError, match=r"test_balanced\.txt"):
        convert(raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    bad = tmp_path / "charades.csv"
    write_charades_csv(bad, ["YSKX3", "ZZ9QX"])
    bad.write_text(bad.read_text().replace("c092 11.90", "c192 11.90"))
    with pytest.raises(DataFileError, match=r"charades\.csv:2: column 'actions'.*c192"):
        read_charades_csv(bad)


@pytest.mark.parametrize("value", ["123", '["Charades_v1_train.csv", null]', '""', "{}"])
def test_charades_csv_of_the_wrong_json_type_is_a_config_error(tmp_path, capsys, value):
    """Was a TypeError traceback ('int' object is not iterable)."""
    write_agqa_raw(tmp_path / "raw")
    rc = gf_main(["prepare", "agqa", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"),
                  "--set", f"charades_csv={value}"])
    err = capsys.readouterr().err
    assert rc == 2 and "agqa converter: charades_csv must be a path or a list of paths" in err, err
    assert "Traceback" not in err and not (tmp_path / "out" / "txt_db").exists()


def test_a_charades_csv_given_by_its_bare_name_is_looked_up_in_the_current_folder_and_says_so(tmp_path, capsys,
                                                                                              monkeypatch):
    """The README's recipe (bare names under --raw) failed with 'Charades annotation CSV not
    found: Charades_v1_train.csv' (rc 3), not saying where gf looked nor that --raw is not used."""
    write_agqa_raw(tmp_path / "raw")
    write_charades_csv(tmp_path / "raw" / "Charades_v1_train.csv", TRAIN_VIDEOS + TEST_VIDEOS)
    monkeypatch.chdir(tmp_path)
    rc = gf_main(["prepare", "agqa", "--raw", "raw", "--out", "out", "--set", 'charades_csv=["Charades_v1_train.csv"]'])
    assert rc == 2 and capsys.readouterr().err.strip().splitlines() == [
        f"gf prepare: error: agqa converter: charades_csv: Charades_v1_train.csv not found (looked up from the current "
        f"folder {Path.cwd()}); did you mean raw/Charades_v1_train.csv? --set paths are relative to the current "
        f"folder, not to --raw"]
    assert not (tmp_path / "out" / "txt_db").exists()
    assert gf_main(["prepare", "agqa", "--raw", "raw", "--out", "out", "--set",
                    'charades_csv=["raw/Charades_v1_train.csv"]']) == 0


def test_charades_csv_the_csv_module_cannot_read_names_the_file_and_line(tmp_path):
    """An over-long field (csv's limit is 131072 characters) was a raw _csv.Error traceback."""
    bad = tmp_path / "charades.csv"
    bad.write_text('id,length,actions\nYSKX3,30,\nA1B2C,30,"' + "x" * 200_000 + '"\n')
    with pytest.raises(DataFileError, match=r"charades\.csv:3: not a readable CSV row \(field larger than field limit"):
        read_charades_csv(bad)


# ---------------------------------------------------------------------------------------
# builder
# ---------------------------------------------------------------------------------------
def test_builder_labels_oov_and_events(agqa_root):
    b = builder(agqa_root, events="txt_db/events.json", max_feats=6, max_events=3)
    ds = b.build_datasets()
    vocab = json.loads((agqa_root / "txt_db/answer_vocab.json").read_text())
    info = b.info()
    assert info["answer_vocab"] == vocab and info["num_options"] is None
    assert info["event_pred_dim"] == 158 and info["feature_dim"] == D and info["max_events"] == 3
    assert b.answer_mode == "oe" and len(ds["val"]) == 8
    test = ds["test"]
    assert [test[i]["answer"] for i in range(4)] == [vocab.index("no"), -1, vocab.index("No"), vocab.index("table")]
    assert b.stats["splits"]["test"]["answers_outside_vocab"] == 1
    assert b.stats["splits"]["train"]["answers_outside_vocab"] == 0
    item = test[1]
    assert item["text"] == ["Did they contact a blanket 1 times?"]
    assert item["fields"] == {"global": ["sequencing"], "semantic": "relation", "structural": "query", "ans_type": "open"}
    batch = collate_videoqa([test[i] for i in range(4)])
    assert batch["answer"].tolist()[1] == -1
    # events: YSKX3's spans are clipped to the video, classes are the Charades indices
    split, idx = next((name, i) for name in ("train", "val") for i, r in enumerate(ds[name].records)
                      if r["video_id"] == "YSKX3")
    ev = ds[split][idx]
    assert sorted(ev["event_classes"].tolist()) == [92, 147, 156]
    ends = ev["spans"][:, 0] + ev["spans"][:, 1] / 2  # (centre, width) -> end
    assert float(ends.max()) == pytest.approx(1.0)  # c156 30-40 s clipped to the 32.5 s video
    no_events = builder(agqa_root)  # events: null (the unsupervised recipe)
    assert no_events.info()["event_pred_dim"] is None
    assert no_events.build_datasets(["val"])["val"][0]["spans"].shape == (0, 2)


def test_oov_is_scored_wrong_and_multilabel_globals_reach_the_evaluator(agqa_root):
    ds = builder(agqa_root).build_datasets(["test"])["test"]
    # an oracle: predicts the label wherever there is one, and index 0 for the OOV question
    preds = {}
    for i in range(len(ds)):
        s = ds[i]
        preds[s["question_id"]] = {"prediction": max(s["answer"], 0), "answer": s["answer"], "fields": s["fields"]}
    vocab = builder(agqa_root).answer_vocab()
    report = evaluate_predictions(PredictionsFile("agqa", "test", preds, answer_vocab=vocab))
    assert report["num_questions"] == 4 and report["num_correct"] == 3 and report["out_of_vocabulary_answers"] == 1
    reasoning = report["breakdowns"]["reasoning"]
    assert reasoning["exists"]["total"] == 1 and reasoning["obj-rel"]["total"] == 1  # test0: two labels
    assert reasoning["sequencing"] == {**reasoning["sequencing"], "total": 1, "correct": 0}  # test1 = lamp (OOV)
    assert report["breakdowns"]["answer_type"]["open"]["correct"] == 1


def test_authors_layout_raw_balanced_file_and_hcrn_vocab(agqa_root, tmp_path):
    raw_test = tmp_path / "raw" / "test_balanced.txt"
    hcrn = {"answer_token_to_idx": {"<UNK>": 0, "no": 1, "Yes": 2, "No": 3, "table": 4, "chair": 5},
            "question_token_to_idx": {"<NULL>": 0}}
    (agqa_root / "txt_db/agqa_balanced_txt_vocab.json").write_text(json.dumps(hcrn))
    b = builder(agqa_root, annotations={"test": str(raw_test)}, splits=["test"],
                answer_vocab="txt_db/agqa_balanced_txt_vocab.json")
    test = b.build_datasets()["test"]
    assert b.info()["answer_vocab"] == ["<UNK>", "no", "Yes", "No", "table", "chair"]
    assert [test[i]["answer"] for i in range(4)] == [1, -1, 3, 4]  # unknown -> -1, never <UNK> (0)
    # a training split must be fully in vocabulary
    (agqa_root / "txt_db/small_vocab.json").write_text(json.dumps(["no", "Yes"]))
    with pytest.raises(DataFileError, match=r"train.*outside the answer vocabulary"):
        builder(agqa_root, answer_vocab="txt_db/small_vocab.json").build_datasets(["train"])


@pytest.mark.parametrize("vocab, match", [
    (["no", "Yes", "no"], r"answer 'no' is listed twice \(entries 0 and 2\)"),
    ([], "non-empty JSON list of answer strings"),
    ({"answer_token_to_idx": {"no": 0, "Yes": 2}}, "indices must be 0..1"),
    ({"answers": ["no"]}, "HCRN style"),
])
def test_bad_answer_vocab_is_an_error_naming_the_file(agqa_root, vocab, match):
    # gf's list and the authors' HCRN-style file go through the same checks as every benchmark.
    (agqa_root / "txt_db/bad_vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(DataFileError, match=r"bad_vocab\.json: .*" + match):
        builder(agqa_root, answer_vocab="txt_db/bad_vocab.json").answer_vocab()


# ---------------------------------------------------------------------------------------
# training and the evaluation script
# ---------------------------------------------------------------------------------------
TINY_MODEL = {"text_encoder": TINY_TEXT_ENCODER, "freeze_text_encoder": True, "d_model": 32, "nhead": 4,
              "dim_feedforward": 64, "num_queries": 4, "num_encoder_layers": 1, "num_decoder_layers": 1}
TINY_RUN = {"epochs": 1, "batch_size": 8, "eval_batch_size": 8, "num_workers": 0, "lr": 0.001,
            "log_every": 1, "progress": False, "device": "cpu"}


def _train(agqa_root, tmp_path, memory: str, dataset_extra: dict, video_input: str = "frames") -> Path:
    out = tmp_path / f"out_{memory}"
    cfg = {"model": {"name": "glance_focus", "model_type": f"agqa_{memory}", "video_input": video_input,
                     **TINY_MODEL},
           "datasets": {"agqa": {"data_root": str(agqa_root.parent), "max_feats": 6, "max_events": 4,
                                 **dataset_extra}},
           "run": {**TINY_RUN, "output_dir": str(out)}}
    path = tmp_path / f"{memory}.yaml"
    path.write_text(json.dumps(cfg))
    assert gf_main(["train", "--cfg-path", str(path)]) == 0
    return out


def test_gf_train_sup_with_events_then_eval_script(agqa_root, tmp_path):
    sup = _train(agqa_root, tmp_path, "sup", {"events": "txt_db/events.json"})
    ckpt = torch.load(sup / "checkpoint_last.pth", weights_only=True)
    assert ckpt["extra"]["model_config"]["event_pred_dim"] == 158
    assert ckpt["extra"]["model_config"]["num_answers"] == 5
    trained = json.loads((sup / "eval/test_best_report.json").read_text())
    assert trained["out_of_vocabulary_answers"] == 1 and trained["num_questions"] == 4
    assert set(trained["breakdowns"]) == {"reasoning", "semantic", "structural", "answer_type"}
    log = [json.loads(line) for line in (sup / "log.jsonl").read_text().splitlines()]
    assert any(r.get("kind") == "val_val" for r in log)

    # the evaluation script on that checkpoint reproduces the test figures
    env = dict(os.environ, DATA_ROOT=str(agqa_root.parent), OUTPUT_DIR=str(tmp_path / "eval"),
               CHECKPOINT=str(sup / "checkpoint_best.pth"), MEMORY="sup", SPLITS="test",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               OMP_NUM_THREADS="1")
    args = [f"model.{k}={v}" for k, v in TINY_MODEL.items()] + [f"run.{k}={v}" for k, v in TINY_RUN.items()]
    args += ["datasets.agqa.feature_dim=null", "datasets.agqa.max_feats=6", "datasets.agqa.max_events=4"]
    proc = subprocess.run(["bash", str(REPO / "run_scripts/glance_focus/agqa/eval.sh"), *args],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    again = json.loads((tmp_path / "eval/eval/test_eval_report.json").read_text())
    assert again["overall"] == trained["overall"] and again["breakdowns"] == trained["breakdowns"]
    bad = subprocess.run(["bash", str(REPO / "run_scripts/glance_focus/agqa/eval.sh")],
                         env={**env, "MEMORY": "both"}, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "MEMORY must be sup or uns" in bad.stderr


@pytest.mark.parametrize("video_input", ["none", "mean"])
def test_blind_and_atemporal_baselines_train_and_evaluate(video_input, agqa_root, tmp_path):
    """The baselines of "does the model use the video?" (model.video_input) on AGQA (open-ended)."""
    out = _train(agqa_root, tmp_path, "uns", {}, video_input=video_input)
    ckpt = torch.load(out / "checkpoint_best.pth", weights_only=True)
    assert ckpt["extra"]["model_config"]["video_input"] == video_input
    report = json.loads((out / "eval/test_best_report.json").read_text())
    assert report["benchmark"] == "agqa" and report["num_questions"] == 4


def test_gf_train_uns_without_events(agqa_root, tmp_path):
    uns = _train(agqa_root, tmp_path, "uns", {})
    # the answers' texts travel with the model (gf predict answers with them)
    vocab = json.loads((agqa_root / "txt_db/answer_vocab.json").read_text())
    assert torch.load(uns / "checkpoint_best.pth", weights_only=True)["extra"]["answer_vocab"] == vocab
    report = json.loads((uns / "eval/test_best_report.json").read_text())
    assert report["benchmark"] == "agqa" and report["num_questions"] == 4
    assert report["out_of_vocabulary_answers"] == 1
