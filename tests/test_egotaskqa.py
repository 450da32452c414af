"""EgoTaskQA: converter (official files -> gf layout), builder, training, evaluation, run script.

Fixtures are written in the release's own formats: `|`-separated intervals with absolute
frame numbers, `formatted_*_qas_encode.json` lists, `answer_set.txt` starting with the two
UNK entries, `all_reasoning_types.txt` one token per line, the Glance-Focus `events.json`
keyed by interval, and HCRN-style HDF5 files with integer ids and (N, 8, 16, D) features.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from gf.benchmarks.egotaskqa.builder import ConcatFeatureStore, EgoTaskQABuilder
from gf.benchmarks.egotaskqa.converter import convert, parse_interval
from gf.cli import main as gf_main
from gf.common.io import DataFileError
from gf.common.registry import registry
from gf.datasets.converters import prepare
from gf.datasets.videoqa import collate_videoqa
from gf.evaluation import evaluate_predictions, load_predictions

from conftest import TINY_TEXT_ENCODER

REPO = Path(__file__).resolve().parents[1]
D = 8  # feature width of the tiny HDF5 files (the real ones are 2048)
ANSWERS = ["<UNK0>", "<UNK1>", "yes", "no", "apple", "knife", "cup"]
# The official order of all_reasoning_types.txt is first-seen; "explanatory" and "change"
# never occur in the fixture questions, so they must still appear as zero-count rows.
REASONING_TYPES = ["descriptive", "world", "action", "query", "direct", "predictive", "intent", "object",
                   "verify", "counterfactual", "multi-agent", "state", "indirect", "explanatory", "change"]
RTYPES = ["descriptive$world$action$query$direct", "predictive$intent$object$verify$direct",
          "counterfactual$world$multi-agent$state$verify$direct"]

# interval -> video_id (as qas2tagged_qas.py assigns: one id per distinct interval)
CLIPS = {
    "kitchen_1|P1|1200|1800": 0,   # hand-checked spans
    "kitchen_2|P2|0|300": 1,       # empty span list in events.json
    "kitchen_3|P1|100|500": 2,     # 12 events > max_events: paired subsampling
    "living_1|P1|50|250": 3,       # not in events.json at all
}
HAND_SPANS = [[1300, 1500], [1250, 1400], [1700, 1900]]  # absolute frames; the last runs past the clip end
HAND_HOIS = [3, 1, 2]
NUM_HOI = 14


def many_events():
    """Clip 2: event k has class k and a span that identifies it (start 10k, length 5 + k)."""
    return [[100 + 10 * k, 100 + 10 * k + 5 + k] for k in range(12)], list(range(12))


def qa(qid, interval, question, answer, rtype, **extra):
    rec = {"question": question, "answer": answer, "interval": interval, "video_id": CLIPS[interval],
           "question_id": qid, "reasoning_type": rtype, "type": [rtype.split("$")[0]],
           "category": [rtype.split("$")[1]], "semantic": rtype.split("$")[-3],
           "structural": rtype.split("$")[-2], "reference": rtype.split("$")[-1]}
    # as the official mode_qas2mode_qas_encode.py: membership is tested on the raw answer, so
    # "Yes" (not in the lower-cased set) and "banana" both get <UNK1> = 1
    rec["answer_encode"] = ANSWERS.index(answer) if answer in ANSWERS else 1
    rec.update(extra)
    return rec


def split_questions(offset: int):
    intervals = list(CLIPS)
    train = [qa(offset + i, intervals[i % 4], f"What did the person hold {i}?", ["yes", "no", "apple", "knife"][i % 4],
                RTYPES[i % 3]) for i in range(8)]
    val = [qa(offset + 100 + i, intervals[i % 4], f"Will the person open it {i}?", ["yes", "no", "apple"][i % 3],
              RTYPES[i % 3]) for i in range(3)]
    val.append(qa(offset + 103, intervals[0], "What is on the table?", "banana", RTYPES[0]))  # not in answer_set
    test = [qa(offset + 200 + i, intervals[i % 4], f"Why did the person wash it {i}?", ["no", "Yes", "cup", "knife"][i],
               RTYPES[i % 3]) for i in range(4)]
    return {"train": train, "val": val, "test": test}


def write_raw(root: Path) -> Path:
    """Official-looking release: direct/ and indirect/ QA folders, shared events + vocabularies."""
    raw = root / "raw"
    for split_type, offset in (("direct", 0), ("indirect", 5000)):
        d = raw / split_type
        d.mkdir(parents=True)
        for split, rows in split_questions(offset).items():
            if split_type == "indirect":
                for r in rows:
                    r["question"] = "[indirect] " + r["question"]
            (d / f"formatted_{split}_qas_encode.json").write_text(json.dumps(rows))
        (d / "answer_set.txt").write_text("".join(a + "\n" for a in ANSWERS))
        (d / "all_reasoning_types.txt").write_text("".join(t + "\n" for t in REASONING_TYPES))
    spans, hois = many_events()
    events = {
        "kitchen_1|P1|1200|1800": {"span": HAND_SPANS, "hoi": HAND_HOIS},
        "kitchen_2|P2|0|300": {"span": [], "hoi": []},
        "kitchen_3|P1|100|500": {"span": spans, "hoi": hois},
        "unused|P1|0|10": {"span": [[1, 2]], "hoi": [0]},
    }
    (raw / "events.json").write_text(json.dumps(events))
    (raw / "hois_full_trans.json").write_text(json.dumps([f"hoi number {k}" for k in range(NUM_HOI)]))
    return raw


def write_features(data: Path) -> dict:
    """HCRN-style HDF5: int ids in a shuffled row order, appearance (N,8,16,D), motion (N,8,D)."""
    ids = np.array([2, 0, 3, 1], dtype=np.int64)
    rng = np.random.default_rng(0)
    app = rng.standard_normal((4, 8, 16, D)).astype(np.float32)
    mot = rng.standard_normal((4, 8, D)).astype(np.float32)
    hcrn = data / "EgoTaskQA" / "hcrn_data"
    hcrn.mkdir(parents=True, exist_ok=True)
    with h5py.File(hcrn / "lemma-qa_appearance_feat.h5", "w") as f:
        f["ids"], f["resnet_features"] = ids, app
    with h5py.File(hcrn / "lemma-qa_motion_feat.h5", "w") as f:
        f["ids"], f["resnext_features"] = ids, mot
    return {"ids": ids, "app": app, "mot": mot}


@pytest.fixture
def prepared(tmp_path):
    raw = write_raw(tmp_path)
    data = tmp_path / "data"
    summaries = {t: prepare("egotaskqa", raw, data / "EgoTaskQA", split_type=t) for t in ("direct", "indirect")}
    feats = write_features(data)
    return {"raw": raw, "data": data, "summaries": summaries, "feats": feats}


def builder(data: Path, **cfg) -> EgoTaskQABuilder:
    return registry.get_builder_class("egotaskqa")({"data_root": str(data), **cfg})


def by_qid(ds):
    return {r["question_id"]: i for i, r in enumerate(ds.records)}


# ---------------------------------------------------------------------------------------
# converter
# ---------------------------------------------------------------------------------------
def test_converter_layout_records_and_summary(prepared):
    out = prepared["data"] / "EgoTaskQA" / "direct" / "txt_db"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["train.jsonl", "val.jsonl", "test.jsonl", "answer_vocab.json", "all_reasoning_types.txt",
         "events.json", "hoi_classes.txt"])
    assert json.loads((out / "answer_vocab.json").read_text()) == ANSWERS
    assert (out / "all_reasoning_types.txt").read_text().splitlines() == REASONING_TYPES
    assert len((out / "hoi_classes.txt").read_text().splitlines()) == NUM_HOI

    val = [json.loads(line) for line in (out / "val.jsonl").read_text().splitlines()]
    first = val[0]
    assert set(first) == {"question_id", "video_id", "question", "answer", "answer_text", "reasoning_type", "interval"}
    assert first["question_id"] == "100" and first["video_id"] == "0" and first["answer"] == ANSWERS.index("yes")
    oov = [r for r in val if r["answer_text"] == "banana"]
    assert [r["answer"] for r in oov] == [-1]  # not <UNK1>=1, the official encoding
    test = [json.loads(line) for line in (out / "test.jsonl").read_text().splitlines()]
    assert [r["answer"] for r in test] == [ANSWERS.index(a) for a in ("no", "yes", "cup", "knife")]  # "Yes" lower-cased

    s = prepared["summaries"]["direct"]
    assert s["splits"] == {"train": {"questions": 8, "out_of_vocabulary": 0},
                           "val": {"questions": 4, "out_of_vocabulary": 1},
                           "test": {"questions": 4, "out_of_vocabulary": 0}}
    assert s["answers_matched_lowercased"] == 1 and s["answer_encode_unk1_but_in_vocab"] == 1
    assert s["hoi_classes"] == NUM_HOI and s["clips"] == 4
    ev = s["events"]
    assert ev["events"] == 3 + 12 and ev["events_partly_outside_clip"] == 1 and ev["events_outside_clip"] == 0
    assert ev["clips_without_events"] == 2 and ev["clips_missing_from_events"] == 1 and ev["event_clips_not_in_qa"] == 1


def test_converter_events_rebased_to_clip_and_keyed_by_video_id(prepared):
    events = json.loads((prepared["data"] / "EgoTaskQA" / "direct" / "txt_db" / "events.json").read_text())
    assert set(events) == {"0", "1", "2", "3"}
    assert events["0"]["duration"] == 600 and events["0"]["interval"] == "kitchen_1|P1|1200|1800"
    # re-based to the clip start, classes kept next to their own spans (not re-ordered apart)
    assert events["0"]["actions"] == [[3, 100, 300], [1, 50, 200], [2, 500, 700]]
    assert events["1"]["actions"] == [] and events["3"]["actions"] == []


def test_parse_interval():
    assert parse_interval("v|P1|1200|1800", "x") == (1200, 1800)
    assert parse_interval("name|with|bars|P3|5|9", "x") == (5, 9)  # split from the right
    for bad in ("v|P1|1200", "v|P1|a|b", "v|P1|10|10", 17):
        with pytest.raises(DataFileError, match="interval"):
            parse_interval(bad, "where")


def test_indirect_split_is_converted_and_built_separately(prepared):
    s = prepared["summaries"]["indirect"]
    assert s["split_type"] == "indirect" and s["qa_dir"].endswith("indirect")
    b = builder(prepared["data"], split_type="indirect", max_events=4)
    ds = b.build_datasets(["val"])["val"]
    assert all(r["question"].startswith("[indirect]") for r in ds.records)
    assert ds.records[0]["question_id"] == "5100"
    direct = builder(prepared["data"], max_events=4).build_datasets(["val"])["val"]
    assert direct.records[0]["question_id"] == "100" and not direct.records[0]["question"].startswith("[indirect]")


def test_flat_raw_folder_is_taken_as_the_requested_split_type(tmp_path):
    raw = write_raw(tmp_path)
    flat = tmp_path / "flat"
    (raw / "direct").rename(flat)
    for name in ("events.json", "hois_full_trans.json"):
        (raw / name).rename(flat / name)
    s = convert(flat, tmp_path / "out", split_type="direct")
    assert s["splits"]["val"]["questions"] == 4
    # raw/ holds indirect/ but no direct/: the converter must not pass raw/ off as direct
    (flat / "indirect").mkdir()
    with pytest.raises(DataFileError, match="no direct/ folder"):
        convert(flat, tmp_path / "out2", split_type="direct")


def _mutate(raw: Path, split: str, fn):
    path = raw / "direct" / f"formatted_{split}_qas_encode.json"
    rows = json.loads(path.read_text())
    fn(rows)
    path.write_text(json.dumps(rows))


@pytest.mark.parametrize("case, match", [
    ("train_oov", "train answer 'durian' is not in answer_set.txt"),
    ("answer_encode", "answer_encode 5 disagrees"),
    ("bad_interval", "is not '<video>|P<k>|<start_frame>|<end_frame>'"),
    ("two_ids_one_interval", "has video_ids"),
    ("unknown_reasoning_token", "missing from"),
    ("unpaired_events", "must be lists of equal length"),
    ("hoi_out_of_range", "outside \\[0, 14\\)"),
    ("hoi_not_an_integer", "hoi 2 is 3.0; expected an integer class index"),
    ("relative_spans_read_as_absolute", "span_time_base='relative'"),
])
def test_converter_errors_name_the_problem(tmp_path, case, match):
    raw = write_raw(tmp_path)
    if case == "train_oov":
        _mutate(raw, "train", lambda rows: rows[0].update(answer="durian", answer_encode=1))
    elif case == "answer_encode":
        _mutate(raw, "val", lambda rows: rows[0].update(answer_encode=5))
    elif case == "bad_interval":
        _mutate(raw, "test", lambda rows: rows[0].update(interval="kitchen_1-1200-1800"))
    elif case == "two_ids_one_interval":
        _mutate(raw, "test", lambda rows: rows[0].update(video_id=99))
    elif case == "unknown_reasoning_token":
        _mutate(raw, "val", lambda rows: rows[0].update(reasoning_type="descriptive$world$action$query$spooky"))
    else:
        events = json.loads((raw / "events.json").read_text())
        if case == "unpaired_events":
            events["kitchen_1|P1|1200|1800"]["hoi"] = [3, 1]
        elif case == "hoi_out_of_range":
            events["kitchen_1|P1|1200|1800"]["hoi"] = [3, 1, NUM_HOI]
        elif case == "hoi_not_an_integer":
            events["kitchen_1|P1|1200|1800"]["hoi"] = [3, 1, 3.0]
        else:  # clip-relative spans: most fall before the clip's absolute start frame
            events["kitchen_1|P1|1200|1800"]["span"] = [[10, 20], [30, 60], [100, 200]]
            events["kitchen_3|P1|100|500"]["span"] = [[k, k + 5] for k in range(12)]
        (raw / "events.json").write_text(json.dumps(events))
    with pytest.raises(DataFileError, match=match):
        convert(raw, tmp_path / "out")


def test_relative_time_base_and_generated_reasoning_types(tmp_path):
    raw = write_raw(tmp_path)
    events = json.loads((raw / "events.json").read_text())
    events["kitchen_1|P1|1200|1800"]["span"] = [[100, 300], [50, 200], [500, 700]]
    events["kitchen_3|P1|100|500"]["span"] = [[10 * k, 10 * k + 5 + k] for k in range(12)]
    (raw / "events.json").write_text(json.dumps(events))
    (raw / "direct" / "all_reasoning_types.txt").unlink()
    s = convert(raw, tmp_path / "out", span_time_base="relative")
    out = tmp_path / "out" / "direct" / "txt_db"
    assert json.loads((out / "events.json").read_text())["0"]["actions"] == [[3, 100, 300], [1, 50, 200], [2, 500, 700]]
    # generated like the official script: first-seen tokens over train, test, val
    assert s["reasoning_types_source"].startswith("generated")
    assert (out / "all_reasoning_types.txt").read_text().splitlines()[:5] == RTYPES[0].split("$")


def test_files_saved_with_a_bom_and_crlf_convert_as_the_plain_ones(tmp_path):
    """A BOM was kept as U+FEFF: answer_vocab.json recorded '\\ufeff<UNK0>', the first
    reasoning type was 'missing' from the file listing it and the JSON files were refused."""
    raw = write_raw(tmp_path)
    for path in [*(raw / "direct").iterdir(), raw / "events.json"]:
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    convert(raw, tmp_path / "out")
    out = tmp_path / "out" / "direct" / "txt_db"
    assert json.loads((out / "answer_vocab.json").read_text()) == ANSWERS
    assert (out / "all_reasoning_types.txt").read_text().splitlines() == REASONING_TYPES


@pytest.mark.parametrize("vocab, said", [
    ({**{f"hoi {k}": k for k in range(NUM_HOI)}, "hoi zero (alt)": 0, "hoi one (alt)": 1},
     "0..15 \\(16 classes\\), each once; repeated: 0, 1; missing: 14, 15"),
    ({f"hoi {k}": k + 1 for k in range(NUM_HOI)}, "0..13 \\(14 classes\\), each once; missing: 0; outside 0..13: 14"),
])
def test_hoi_vocab_with_integer_values_not_each_of_0_to_n_minus_1_is_refused(tmp_path, vocab, said):
    """Such a file was read by key order: every class named after another, exit 0."""
    raw = write_raw(tmp_path)
    (raw / "hois_full_trans.json").write_text(json.dumps(vocab))
    with pytest.raises(DataFileError, match=rf"hois_full_trans\.json: the values must be the class indices {said}\. "
                                            rf".*--set hoi_vocab=PATH"):
        convert(raw, tmp_path / "out")


@pytest.mark.parametrize("split, value, token", [
    ("val", "descriptive$$world$action$query$direct", "''"),
    ("val", "descriptive$ world$action$query$direct", "' world'"),
    ("train", "descriptive$world$action$query$direct$", "''"),
])
def test_reasoning_type_tokens_must_be_words_even_without_a_released_list(tmp_path, split, value, token):
    """Without all_reasoning_types.txt these were written to the generated list (a blank or
    spaced line) and only the builder refused them, asking to run this converter again."""
    raw = write_raw(tmp_path)
    (raw / "direct" / "all_reasoning_types.txt").unlink()
    _mutate(raw, split, lambda rows: rows[0].update(reasoning_type=value))
    with pytest.raises(DataFileError, match=rf"formatted_{split}_qas_encode\.json: record 0 \(question_id \d+\): "
                                            rf"reasoning_type .* has token\(s\) {token}; each"):
        convert(raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key, value, said", [
    ("video_id", "--3", "'video_id' must be an integer"),
    ("video_id", "\u00b2", "'video_id' must be an integer"),        # isdigit, but int() raises
    ("video_id", "\u0663", "'video_id' must be an integer"),        # Arabic-Indic 3: int() reads it as clip 3
    ("answer_encode", "--1", "'answer_encode' '--1' is not an integer"),
])
def test_malformed_integer_strings_are_data_file_errors(tmp_path, key, value, said):
    raw = write_raw(tmp_path)
    _mutate(raw, "val", lambda rows: rows[0].update({key: value}))
    with pytest.raises(DataFileError, match=rf"formatted_val_qas_encode\.json: record 0 .*{said}"):
        convert(raw, tmp_path / "out")


@pytest.mark.parametrize("option, value, said", [
    ("hoi_vocab", "5", "hoi_vocab must be a path"),
    ("hoi_vocab", '["a.json"]', "hoi_vocab must be a path"),
    ("hoi_vocab", "no_such.json", r"hoi_vocab: no_such\.json not found \(looked up from the current folder "
                                  r"\S+\); give the file's path"),
    ("num_hoi_classes", "true", "num_hoi_classes must be a positive integer .* got True"),
    ("num_hoi_classes", '"14"', "num_hoi_classes must be a positive integer .* got '14'"),
])
def test_set_options_of_the_wrong_json_type_are_config_errors(tmp_path, capsys, option, value, said):
    raw = write_raw(tmp_path)
    rc = gf_main(["prepare", "egotaskqa", "--raw", str(raw), "--out", str(tmp_path / "out"), "--set", f"{option}={value}"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err, err
    assert re.search(f"egotaskqa converter: {said}", err), err
    assert not (tmp_path / "out" / "direct").exists()


# ---------------------------------------------------------------------------------------
# builder
# ---------------------------------------------------------------------------------------
def test_spans_normalised_by_clip_length_centre_width(prepared):
    ds = builder(prepared["data"], max_events=4).build_datasets(["val"])["val"]
    sample = ds[by_qid(ds)["100"]]  # clip "kitchen_1|P1|1200|1800"
    # sorted by start: [1250,1400] -> [50,200]; [1300,1500] -> [100,300]; [1700,1900] -> [500,600] (clipped)
    expected = torch.tensor([[(50 + 200) / 2 / 600, 150 / 600],
                             [(100 + 300) / 2 / 600, 200 / 600],
                             [(500 + 600) / 2 / 600, 100 / 600]])
    assert torch.allclose(sample["spans"], expected, atol=1e-6)
    assert sample["event_classes"].tolist() == [1, 3, 2]  # each class still with its own span


def test_subsampling_keeps_spans_and_classes_paired(prepared):
    ds = builder(prepared["data"], max_events=4).build_datasets(["train"])["train"]
    spans, hois = many_events()
    idx = next(i for i, r in enumerate(ds.records) if r["video_id"] == "2")
    seen = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        s = ds[idx]
        assert len(s["event_classes"]) == 4
        for (c, w), k in zip(s["spans"].tolist(), s["event_classes"].tolist()):
            st, ed = spans[k][0] - 100, spans[k][1] - 100  # clip starts at frame 100, lasts 400
            assert (c, w) == pytest.approx(((st + ed) / 2 / 400, (ed - st) / 400), abs=1e-6)
        seen.add(tuple(s["event_classes"].tolist()))
    assert len(seen) > 1  # training subsamples differently per epoch
    val = builder(prepared["data"], max_events=4).build_datasets(["val"])["val"]
    vidx = next(i for i, r in enumerate(val.records) if r["video_id"] == "2")
    assert val[vidx]["event_classes"].tolist() == [0, 1, 2, 3]  # deterministic: first by start time


def test_empty_and_missing_event_lists_give_empty_targets(prepared):
    ds = builder(prepared["data"], max_events=4).build_datasets(["train"])["train"]
    samples = [ds[i] for i, r in enumerate(ds.records) if r["video_id"] in ("1", "3")]
    assert len(samples) == 4
    for s in samples:
        assert s["spans"].shape == (0, 2) and s["event_classes"].shape == (0,)
    batch = collate_videoqa(samples)  # a batch with no events at all still collates
    assert batch["video"].shape == (4, 128, D) and all(len(c) == 0 for c in batch["event_classes"])
    assert ds.stats["no_events"] == 4


def test_oov_answer_is_minus_one_in_val_and_refused_in_train(prepared):
    b = builder(prepared["data"], max_events=4)
    ds = b.build_datasets(["val"])["val"]
    oov = ds[by_qid(ds)["103"]]
    assert oov["answer"] == -1 and ds.stats["answers_outside_vocab"] == 1
    assert collate_videoqa([oov])["answer"].tolist() == [-1]
    # train records with -1 (files that do not belong together) are an error naming the question
    path = prepared["data"] / "EgoTaskQA" / "direct" / "txt_db" / "train.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[2]["answer"] = -1
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataFileError, match="train.jsonl:3.*outside the answer vocabulary"):
        builder(prepared["data"], max_events=4).build_datasets(["train"])


def test_a_reasoning_type_the_evaluator_cannot_score_is_refused_as_the_file_is_read(prepared):
    """Missing, malformed or unlisted reasoning types were found only when the split was
    scored, after an epoch of training; now the builder names the line."""
    path = prepared["data"] / "EgoTaskQA" / "direct" / "txt_db" / "val.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for value, said in ((None, "reasoning_type must be the '\\$'-joined string .* got None"),
                        ("world$$query", "reasoning_type must be .* got 'world\\$\\$query'"),
                        ("world$spooky$query", "reasoning_type .* has token\\(s\\) 'spooky' that .*direct/txt_db/all_reasoning_types.txt "
                                               "does not list")):
        rows[1]["reasoning_type"] = value
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        with pytest.raises(DataFileError, match=rf"val\.jsonl:2: question '{rows[1]['question_id']}': {said}.*gf "
                                                rf"prepare egotaskqa"):
            builder(prepared["data"], max_events=4).build_datasets(["val"])


def test_integer_question_ids_become_strings_but_a_boolean_is_refused(prepared):
    path = prepared["data"] / "EgoTaskQA" / "direct" / "txt_db" / "val.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for value, expected in ((4242, "4242"), (True, None)):
        rows[0]["question_id"] = value
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        b = builder(prepared["data"], max_events=4)
        if expected is not None:
            assert expected in b.build_datasets(["val"])["val"].question_ids()
        else:  # not "True": a boolean is no id
            with pytest.raises(DataFileError, match=r"val\.jsonl:1.*'question_id' must be a non-empty string, got True"):
                b.build_datasets(["val"])
    path.write_text("[1, 2]\n")
    with pytest.raises(DataFileError, match=r"val\.jsonl: record 0 is list, expected a JSON object"):
        builder(prepared["data"], max_events=4).build_datasets(["val"])


def test_features_flattened_and_looked_up_by_int_id(prepared):
    feats = prepared["feats"]
    b = builder(prepared["data"], max_events=4)
    ds = b.build_datasets(["test"])["test"]
    for i, r in enumerate(ds.records):
        row = list(feats["ids"]).index(int(r["video_id"]))
        assert torch.equal(ds[i]["video"], torch.from_numpy(feats["app"][row].reshape(128, D)))
    info = b.info()
    assert info["feature_dim"] == D and info["max_feats"] == 128 and info["event_pred_dim"] == NUM_HOI + 1
    assert info["answer_vocab"] == ANSWERS and info["all_reasoning_types"] == REASONING_TYPES


def test_motion_stream_repeated_per_segment_and_concatenated(prepared):
    feats = prepared["feats"]
    b = builder(prepared["data"], max_events=4, motion_features="hcrn_data/lemma-qa_motion_feat.h5")
    store = b.feature_store()
    assert isinstance(store, ConcatFeatureStore) and store.feature_dim == 2 * D
    x = store["3"]
    row = list(feats["ids"]).index(3)
    assert x.shape == (128, 2 * D)
    assert torch.equal(x[:, :D], torch.from_numpy(feats["app"][row].reshape(128, D)))
    for seg in range(8):  # 16 appearance rows per motion row
        assert torch.equal(x[16 * seg:16 * (seg + 1), D:], torch.from_numpy(feats["mot"][row, seg]).expand(16, D))
    assert b.info()["feature_dim"] == 2 * D


def test_builder_config_errors(prepared):
    with pytest.raises(ValueError, match="split_type"):
        builder(prepared["data"], split_type="sideways")
    with pytest.raises(ValueError, match=r"unknown key 'max_event' \(did you mean 'max_events'\?\)"):
        builder(prepared["data"], max_event=3)
    with pytest.raises(DataFileError, match="datasets.egotaskqa.features"):
        builder(prepared["data"], features="hcrn_data/nope.h5").build_datasets(["val"])


# ---------------------------------------------------------------------------------------
# training, evaluation, run script
# ---------------------------------------------------------------------------------------
TINY_MODEL = dict(text_encoder=TINY_TEXT_ENCODER, freeze_text_encoder=True, d_model=32, nhead=4, dim_feedforward=64,
                  num_queries=4)


def _tiny_config(prepared, tmp_path, **model_extra):
    cfg = tmp_path / "ego.yaml"
    model = "".join(f"  {k}: {v}\n" for k, v in {**TINY_MODEL, **model_extra}.items())
    cfg.write_text("model:\n  name: glance_focus\n  model_type: egotaskqa_uns\n" + model + textwrap.dedent(f"""\
        datasets:
          egotaskqa:
            data_root: {prepared['data']}
            max_events: 4
        run:
          output_dir: {tmp_path / 'out'}
          epochs: 1
          batch_size: 4
          eval_batch_size: 4
          num_workers: 0
          lr: 0.001
          best_metric: overall
          valid_splits: [val]
          test_splits: [test]
          progress: false
        """))
    return cfg


def test_gf_train_then_report_by_reasoning_type(prepared, tmp_path):
    cfg = _tiny_config(prepared, tmp_path)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    out = tmp_path / "out" / "eval"
    val_preds = load_predictions(next(out.glob("val_*_predictions.json")))
    assert val_preds.answer_vocab == ANSWERS and len(val_preds.predictions) == 4
    assert val_preds.predictions["103"]["answer"] == -1
    # the per-token categories come from all_reasoning_types.txt: its order, zero rows kept
    types = builder(prepared["data"]).reasoning_types()
    report = evaluate_predictions(val_preds, {"all_reasoning_types": types})
    cells = report["breakdowns"]["reasoning_type"]
    assert list(cells) == REASONING_TYPES
    assert cells["explanatory"]["total"] == 0 and cells["explanatory"]["accuracy"] is None
    assert cells["direct"]["total"] == 4 and report["out_of_vocabulary_answers"] == 1
    assert sum(c["total"] for c in cells.values()) == sum(len(p["fields"]["reasoning_type"].split("$"))
                                                          for p in val_preds.predictions.values())
    assert json.loads(next(out.glob("test_*_report.json")).read_text())["num_questions"] == 4


@pytest.mark.parametrize("video_input", ["none", "mean"])
def test_blind_and_atemporal_baselines_train_and_evaluate(video_input, prepared, tmp_path):
    """The baselines of "does the model use the video?" (model.video_input) on EgoTaskQA."""
    cfg = _tiny_config(prepared, tmp_path, video_input=video_input)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    ckpt = torch.load(tmp_path / "out" / "checkpoint_best.pth", weights_only=True)
    assert ckpt["extra"]["model_config"]["video_input"] == video_input
    assert json.loads(next((tmp_path / "out" / "eval").glob("test_*_report.json")).read_text())["num_questions"] == 4


def test_run_script_trains_on_the_prepared_data(prepared, tmp_path):
    env = dict(os.environ, DATA_ROOT=str(prepared["data"]), OUTPUT_DIR=str(tmp_path / "run"), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    extra = [f"model.{k}={v}" for k, v in TINY_MODEL.items()] + [
        "datasets.egotaskqa.max_events=4", "datasets.egotaskqa.split_type=indirect", "run.epochs=1",
        "run.batch_size=8", "run.eval_batch_size=8", "run.num_workers=0", "run.progress=false"]
    proc = subprocess.run(["bash", str(REPO / "run_scripts/glance_focus/egotaskqa/train_sup.sh"), *extra],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "egotaskqa test" in proc.stdout
    run = tmp_path / "run"
    assert (run / "checkpoint_last.pth").is_file()
    saved = (run / "config.yaml").read_text()
    assert "split_type: indirect" in saved and "memory: sup" in saved
    preds = json.loads(next((run / "eval").glob("test_*_predictions.json")).read_text())["predictions"]
    assert set(preds) == {"5200", "5201", "5202", "5203"}  # the indirect test questions
