"""The `star` builder on a small bundle written in the authors' STAR layout (txt_db/, vis_db/)."""
from __future__ import annotations

import json
import logging
import pickle
import re
from pathlib import Path

import pytest
import torch

from gf.benchmarks.star.builder import StarBuilder
from gf.common.errors import ConfigError, DatasetError, RegistryError
from gf.common.io import DataFileError
from gf.common.registry import registry
from gf.datasets.base import BaseBuilder
from gf.datasets.videoqa import collate_videoqa

D = 8
MAX_FEATS = 6
NUM_CLASSES = 5
TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")


def _question(qid: str, answer, n: int) -> dict:
    row = {"question_id": qid, "video_id": f"V{n:04d}", "question": f"What happened  in clip {n}?",
           "options": [f"Option {n}-{k}." for k in range(4)]}
    if answer is not None:
        row["answer"] = answer
    return row


def _write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_star_bundle(root: Path) -> dict:
    """A tiny STAR bundle: 8 train, 4 val, 3 test (unlabelled) questions; returns what was written.

    Special clips (all train): ``Interaction_T1_0`` has hand-checkable spans plus events
    that vanish after clipping; ``Sequence_T1_1`` has 7 events (> max_events) whose class
    is ``start % 5``; ``Prediction_T1_2`` has an empty action list; ``Feasibility_T1_3``
    is absent from events.json.
    """
    star = root / "STAR"
    (star / "txt_db").mkdir(parents=True)
    (star / "vis_db").mkdir()
    splits = {"train": [], "val": [], "test": []}
    n = 0
    for split, count in (("train", 8), ("val", 4), ("test", 3)):
        for i in range(count):
            qid = f"{TYPES[n % 4]}_T1_{n}"
            splits[split].append(_question(qid, None if split == "test" else (n * 3) % 4, n))
            n += 1
    for split, rows in splits.items():
        _write_jsonl(star / "txt_db" / f"{split}.jsonl", rows)

    g = torch.Generator().manual_seed(0)
    features = {}
    for i, row in enumerate(r for rows in splits.values() for r in rows):
        frames = 3 + (i % 3) * 4  # 3, 7, 11 frames: padded and sampled cases
        features[row["question_id"]] = torch.randn(frames, D, generator=g)
    torch.save(features, star / "vis_db" / "s3d.pth")

    events = {}
    for rows in splits.values():
        for r in rows:
            events[r["question_id"]] = {"duration": 10.0, "actions": [[r.get("answer") or 0, 1.0, 4.0]]}
    events["Interaction_T1_0"] = {"duration": 10, "actions": [[3, 8, 14], [1, 2, 6], [2, 12, 14], [0, 5, 5]]}
    events["Sequence_T1_1"] = {"duration": 20, "actions": [[s % NUM_CLASSES, s, s + 2] for s in (6, 0, 3, 9, 1, 12, 4)]}
    events["Prediction_T1_2"] = {"duration": 10, "actions": []}
    del events["Feasibility_T1_3"]
    (star / "txt_db" / "events.json").write_text(json.dumps(events), encoding="utf-8")
    # The real file has no final newline; all lines are classes.
    (star / "txt_db" / "action_mapping.txt").write_text(
        "\n".join(f"a{k:03d} v{k:03d} o{k:03d}" for k in range(NUM_CLASSES)), encoding="utf-8")
    return {"splits": splits, "features": features, "events": events, "dir": star}


@pytest.fixture
def bundle(tmp_path):
    return write_star_bundle(tmp_path)


def make_builder(bundle, **overrides) -> StarBuilder:
    cfg = {"data_root": str(bundle["dir"].parent), "max_feats": MAX_FEATS, "max_events": 3}
    cfg.update(overrides)
    return StarBuilder(cfg)


def test_star_is_registered_with_its_evaluator_name():
    assert registry.get_builder_class("star") is StarBuilder
    assert StarBuilder.benchmark == "star" and StarBuilder.answer_mode == "mc"


def test_builds_all_splits_with_the_sample_contract(bundle):
    datasets = make_builder(bundle).build_datasets()
    assert sorted(datasets) == ["test", "train", "val"]
    for split, ds in datasets.items():
        rows = bundle["splits"][split]
        assert ds.question_ids() == [r["question_id"] for r in rows]
        assert len(ds) == len(rows)
    ds, rows = datasets["val"], bundle["splits"]["val"]
    for i, row in enumerate(rows):
        s = ds[i]
        feats = bundle["features"][row["question_id"]]
        assert s["question_id"] == row["question_id"]
        assert s["video"].shape == (MAX_FEATS, D) and s["video"].dtype == torch.float32
        assert s["video_mask"].dtype == torch.bool
        real = min(len(feats), MAX_FEATS)
        assert s["video_mask"].tolist() == [True] * real + [False] * (MAX_FEATS - real)
        if len(feats) < MAX_FEATS:
            assert torch.equal(s["video"][: len(feats)], feats)
            assert not s["video"][len(feats):].any()
        # options in file order, whitespace normalised, "question option"
        assert s["text"] == [f"What happened in clip {i + 8}? {o}" for o in row["options"]]
        assert s["answer"] == row["answer"] and isinstance(s["answer"], int)
        assert s["fields"] == {"type": row["question_id"].split("_")[0]}
        assert s["spans"].dtype == torch.float32 and s["spans"].shape[1] == 2
        assert s["event_classes"].dtype == torch.long and len(s["event_classes"]) == len(s["spans"])


def test_collated_batch(bundle):
    ds = make_builder(bundle).build_datasets(["val"])["val"]
    samples = [ds[i] for i in range(3)]
    batch = collate_videoqa(samples)
    assert batch["video"].shape == (3, MAX_FEATS, D)
    assert batch["video_mask"].shape == (3, MAX_FEATS) and batch["video_mask"].dtype == torch.bool
    assert batch["text"] == samples[0]["text"] + samples[1]["text"] + samples[2]["text"]
    assert len(batch["text"]) == 12
    assert batch["answer"].dtype == torch.long
    assert batch["answer"].tolist() == [r["answer"] for r in bundle["splits"]["val"][:3]]
    assert batch["question_id"] == ds.question_ids()[:3]
    assert len(batch["spans"]) == 3 and len(batch["event_classes"]) == 3
    assert [f["type"] for f in batch["fields"]] == [q.split("_")[0] for q in ds.question_ids()[:3]]


def test_unlabelled_test_split_gives_none_answers(bundle):
    datasets = make_builder(bundle).build_datasets(["train", "test"])
    test = datasets["test"]
    assert all(test[i]["answer"] is None for i in range(len(test)))
    assert test.stats["labelled"] == 0
    assert collate_videoqa([test[0], test[1]])["answer"] is None
    mixed = collate_videoqa([datasets["train"][0], test[0]])
    assert mixed["answer"].tolist() == [bundle["splits"]["train"][0]["answer"], -100]


def test_class_file_without_final_newline_counts_every_class(bundle):
    text = (bundle["dir"] / "txt_db" / "action_mapping.txt").read_text()
    assert not text.endswith("\n")
    info = make_builder(bundle, feature_dim=D).info()
    assert info == {"num_options": 4, "num_event_classes": NUM_CLASSES, "event_pred_dim": NUM_CLASSES + 1,
                    "feature_dim": D, "max_feats": MAX_FEATS, "max_events": 3, "answer_vocab": None,
                    "class_names": [line.strip() for line in text.splitlines()], "feature_recipe": None,
                    "class_labels": None}  # no action_classes.txt in this bundle


def test_event_classes_are_named_from_action_classes_where_listed(bundle):
    """gf predict shows events by STAR's action names: each action_mapping line's code
    looked up in action_classes.txt (a code it lacks keeps its mapping line)."""
    text = (bundle["dir"] / "txt_db" / "action_mapping.txt").read_text()
    (bundle["dir"] / "txt_db" / "action_classes.txt").write_text("a000 hold some clothes\na002 take a towel")
    labels = make_builder(bundle, feature_dim=D).info()["class_labels"]
    assert labels[0] == "a000 hold some clothes" and labels[2] == "a002 take a towel"
    assert labels[1] == text.splitlines()[1] and len(labels) == NUM_CLASSES
    assert make_builder(bundle, feature_dim=D, action_classes=None).info()["class_labels"] is None
    with pytest.raises(DataFileError, match=r"STAR action names not found: .*names.txt .*action_classes"):
        make_builder(bundle, feature_dim=D, action_classes="txt_db/names.txt").info()  # a path given must exist
    (bundle["dir"] / "txt_db" / "action_classes.txt").write_text("a000 hold some clothes\n\na002 take a towel")
    assert make_builder(bundle, feature_dim=D).info()["class_labels"] is None  # damaged: warned, not fatal


def test_spans_are_clipped_centre_width_and_empty_events_are_dropped(bundle):
    builder = make_builder(bundle)
    train = builder.build_datasets(["train"])["train"]
    s = train[train.question_ids().index("Interaction_T1_0")]
    # duration 10: [2, 6] -> (0.4, 0.4); [8, 14] -> clipped to [0.8, 1.0] -> (0.9, 0.2); in start order
    assert torch.allclose(s["spans"], torch.tensor([[0.4, 0.4], [0.9, 0.2]]))
    assert s["event_classes"].tolist() == [1, 3]
    # [12, 14] (outside the clip) and [5, 5] (zero length) are dropped and counted
    assert builder.stats["events"]["dropped_events"] == 2
    assert builder.stats["events"]["clips_with_dropped_events"] == 1


def test_clips_without_events_have_empty_targets_and_are_counted(bundle):
    builder = make_builder(bundle)
    train = builder.build_datasets(["train"])["train"]
    for qid in ("Prediction_T1_2", "Feasibility_T1_3"):  # empty actions; absent from events.json
        s = train[train.question_ids().index(qid)]
        assert s["spans"].shape == (0, 2) and s["spans"].dtype == torch.float32
        assert s["event_classes"].shape == (0,) and s["event_classes"].dtype == torch.long
    assert train.stats["no_events"] == 2
    assert builder.stats["splits"]["train"]["no_events"] == 2
    batch = collate_videoqa([train[2], train[3]])
    assert [t.shape[0] for t in batch["spans"]] == [0, 0]


def _pairs(sample, duration=20.0):
    """(start second, class) of each event; the fixture's class is start % 5."""
    starts = ((sample["spans"][:, 0] - sample["spans"][:, 1] / 2) * duration).round().long().tolist()
    return list(zip(starts, sample["event_classes"].tolist()))


def test_more_events_than_max_events(bundle):
    datasets = make_builder(bundle).build_datasets(["train", "val"])
    train = datasets["train"]
    i = train.question_ids().index("Sequence_T1_1")
    assert train.stats["events_capped"] == 1

    # eval mode: the first 3 by start time, every time
    from gf.datasets.videoqa import VideoQADataset
    evaluation = VideoQADataset(
        train.records, train.feature_store, train.video_processor, train.events, split="train-eval",
        benchmark="star", max_events=3, train=False, seed=0, key_field="question_id", text_format="{question} {option}")
    assert _pairs(evaluation[i]) == [(0, 0), (1, 1), (3, 3)]
    evaluation.set_epoch(5)
    assert _pairs(evaluation[i]) == [(0, 0), (1, 1), (3, 3)]

    # train mode: 3 of the 7, pairs intact, time-ordered, reproducible from (seed, epoch, index)
    seen = set()
    for epoch in range(8):
        train.set_epoch(epoch)
        pairs = _pairs(train[i])
        assert len(pairs) == 3
        assert all(c == s % NUM_CLASSES and s in (6, 0, 3, 9, 1, 12, 4) for s, c in pairs)
        assert [s for s, _ in pairs] == sorted(s for s, _ in pairs)
        assert _pairs(train[i]) == pairs
        seen.add(tuple(pairs))
    assert len(seen) > 1, "the subsample should change with the epoch"
    resumed = make_builder(bundle).build_datasets(["train"])["train"]
    resumed.set_epoch(3)
    train.set_epoch(3)
    assert _pairs(resumed[i]) == _pairs(train[i])


def test_malformed_jsonl_line_names_file_and_line(bundle):
    path = bundle["dir"] / "txt_db" / "train.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = lines[2][:-5]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFileError, match=rf"{path}:3"):
        make_builder(bundle).build_datasets(["train"])


def test_answer_out_of_range_names_file_line_and_question(bundle):
    path = bundle["dir"] / "txt_db" / "val.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[1]["answer"] = 4
    _write_jsonl(path, rows)
    with pytest.raises(DataFileError, match=r"val\.jsonl:2.*" + rows[1]["question_id"]):
        make_builder(bundle).build_datasets(["val"])


def test_an_id_without_a_star_type_prefix_is_refused_when_the_split_is_built(bundle):
    """The evaluator reads the type from the id: such an id used to fail only when scored,
    after a whole training epoch."""
    val = bundle["dir"] / "txt_db" / "val.jsonl"
    val.write_text(val.read_text().replace('"Sequence_T1_9"', '"Sequenc_T1_9"'))
    with pytest.raises(DataFileError, match=rf"^{val}:2: question id 'Sequenc_T1_9' does not start with a STAR "
                                            rf"question type \(Interaction, .*Correct the id"):
        make_builder(bundle).build_datasets(["val"])


def test_missing_features_error_names_ids_and_suggests_skip_file(bundle):
    feats = dict(bundle["features"])
    gone = ["Sequence_T1_5", "Interaction_T1_4"]
    for qid in gone:
        del feats[qid]
    torch.save(feats, bundle["dir"] / "vis_db" / "s3d.pth")
    with pytest.raises(DataFileError) as err:
        make_builder(bundle).build_datasets(["train"])
    msg = str(err.value)
    assert all(qid in msg for qid in gone) and "2 of 8" in msg and "skip_file" in msg


@pytest.mark.parametrize("prefix, advice", [
    ("0001/", r"the store's keys look like paths whose last part is the question_id \(e\.g\. '0001/\w+_T1_\d+' for "
              r"'\w+_T1_\d+'\): key the features by that last part\.$"),
    ("other-", r"Use the feature file that matches these annotations\.$"),
])
def test_no_key_matching_shows_the_stores_keys_not_skip_file(bundle, prefix, advice):
    """When not one key matches, leaving questions out (skip_file) is no help: the store's
    keys are shown beside the expected ones, and keys like '<folder>/<id>' are named as such."""
    torch.save({prefix + k: v for k, v in bundle["features"].items()}, bundle["dir"] / "vis_db" / "s3d.pth")
    with pytest.raises(DataFileError) as err:
        make_builder(bundle).build_datasets(["train"])
    msg = str(err.value)
    assert "8 of 8" in msg and "skip_file" not in msg
    assert f"Not one key matches: the store's keys look like '{prefix}" in msg
    assert "the question_ids looked up like 'Feasibility_T1_3'" in msg
    assert re.search(advice, msg), msg


def test_skip_file_skips_and_counts(bundle, caplog):
    feats = dict(bundle["features"])
    del feats["Sequence_T1_5"], feats["Interaction_T1_4"]
    torch.save(feats, bundle["dir"] / "vis_db" / "s3d.pth")
    (bundle["dir"] / "skip.txt").write_text("# no features\nSequence_T1_5\nInteraction_T1_4\n\nNot_A_Question\n")
    with caplog.at_level(logging.WARNING):
        datasets = make_builder(bundle, skip_file="skip.txt").build_datasets(["train", "val"])
    train = datasets["train"]
    assert len(train) == 6 and "Sequence_T1_5" not in train.question_ids()
    assert train.stats["skipped"] == 2 and train.stats["skip_ids_not_in_split"] == 1
    assert datasets["val"].stats["skipped"] == 0 and len(datasets["val"]) == 4
    assert any("skipped 2" in r.getMessage() for r in caplog.records)
    [train[i] for i in range(len(train))]  # every remaining sample loads


def test_missing_annotation_file_names_path_and_config_key(bundle):
    path = bundle["dir"] / "txt_db" / "val.jsonl"
    path.unlink()
    with pytest.raises(DataFileError) as err:
        make_builder(bundle).build_datasets()
    assert str(path) in str(err.value) and "datasets.star.annotations.val" in str(err.value)
    (bundle["dir"] / "vis_db" / "s3d.pth").unlink()
    with pytest.raises(DataFileError, match=r"datasets\.star\.features"):
        make_builder(bundle).build_datasets(["train"])


def test_class_index_out_of_range_names_key_and_index(bundle):
    events = dict(bundle["events"])
    events["Sequence_T1_5"] = {"duration": 10, "actions": [[NUM_CLASSES, 1, 2]]}
    (bundle["dir"] / "txt_db" / "events.json").write_text(json.dumps(events))
    with pytest.raises(DataFileError, match=rf"'Sequence_T1_5'.*class index {NUM_CLASSES}, outside \[0, {NUM_CLASSES}\)"):
        make_builder(bundle).build_datasets(["train"])


def test_non_positive_duration_names_key(bundle):
    events = dict(bundle["events"])
    events["Sequence_T1_5"] = {"duration": 0, "actions": [[1, 1, 2]]}
    (bundle["dir"] / "txt_db" / "events.json").write_text(json.dumps(events))
    with pytest.raises(DataFileError, match=r"'Sequence_T1_5'.*duration"):
        make_builder(bundle).build_datasets(["train"])


def test_feature_dim_is_checked_against_the_store(bundle):
    with pytest.raises(DataFileError, match=rf"dimension {D}.*feature_dim is {D + 1}"):
        make_builder(bundle, feature_dim=D + 1).build_datasets(["val"])


def test_dataloader_with_two_workers(bundle):
    train = make_builder(bundle).build_datasets(["train"])["train"]
    loader = torch.utils.data.DataLoader(train, batch_size=3, num_workers=2, collate_fn=collate_videoqa)
    ids, videos = [], []
    for batch in loader:
        ids += batch["question_id"]
        videos.append(batch["video"])
    assert ids == train.question_ids()
    assert torch.equal(torch.cat(videos), torch.stack([train[i]["video"] for i in range(len(train))]))


def test_pickled_dataset_carries_no_feature_data(bundle):
    feature_file = bundle["dir"] / "vis_db" / "s3d.pth"
    g = torch.Generator().manual_seed(1)
    big = {k: torch.randn(400, D, generator=g) for k in bundle["features"]}  # ~190 KiB of features
    torch.save(big, feature_file)
    train = make_builder(bundle).build_datasets(["train"])["train"]
    train[0]  # the store has been opened (mmapped) in this process
    blob = pickle.dumps(train)
    assert len(blob) < feature_file.stat().st_size / 20
    one_clip = big["Sequence_T1_1"].numpy().tobytes()
    assert one_clip not in blob
    clone = pickle.loads(blob)
    a, b = clone[1], train[1]
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["spans"], b["spans"]) and a["text"] == b["text"]


def test_splits_share_one_feature_store(bundle):
    builder = make_builder(bundle)
    datasets = builder.build_datasets()
    stores = {id(ds.feature_store) for ds in datasets.values()}
    assert len(stores) == 1
    assert builder.build_datasets(["val"])["val"].feature_store is datasets["train"].feature_store
    assert datasets["train"].events is datasets["test"].events


def test_unknown_config_key_is_an_error_naming_it(bundle):
    with pytest.raises(ConfigError) as err:
        StarBuilder({"max_feat": 5})
    msg = str(err.value)
    assert "'max_feat'" in msg and "did you mean 'max_feats'" in msg and "skip_file" in msg
    assert isinstance(err.value, ValueError)  # code written before gf's error root still catches it
    with pytest.raises(ConfigError, match="key_field"):
        StarBuilder({"key_field": "vid"})
    # a feature format typo fails at construction, naming the key and the registered formats
    with pytest.raises(RegistryError, match=r"datasets\.star\.feature_format: unknown feature_store 'pht'.*'pth'"):
        StarBuilder({"feature_format": "pht"})
    assert StarBuilder({"feature_format": "PT"}).config["feature_format"] == "PT"
    # nested mappings merge one level: overriding one split keeps the others
    b = StarBuilder({"annotations": {"val": "elsewhere/val.jsonl"}})
    assert b.config["annotations"] == {"train": "txt_db/train.jsonl", "val": "elsewhere/val.jsonl",
                                       "test": "txt_db/test.jsonl"}
    assert StarBuilder().config == StarBuilder.DEFAULT_CONFIG
    assert StarBuilder().config is not StarBuilder.DEFAULT_CONFIG


def test_base_builder_rejects_unknown_keys():
    class Tiny(BaseBuilder):
        benchmark = "tiny"
        DEFAULT_CONFIG = {"a": 1, "paths": {"x": "1"}}

    assert Tiny({"a": 2}).config == {"a": 2, "paths": {"x": "1"}}
    with pytest.raises(ConfigError, match=r"datasets\.tiny: unknown key 'b'\. Known keys: a, paths\."):
        Tiny({"b": 2})


def test_video_id_key_field(bundle):
    star = bundle["dir"]
    feats = {}
    for rows in bundle["splits"].values():
        for r in rows:
            feats[r["video_id"]] = bundle["features"][r["question_id"]]
    torch.save(feats, star / "vis_db" / "by_video.pth")
    events = {}
    for rows in bundle["splits"].values():
        for r in rows:
            if r["question_id"] in bundle["events"]:
                events[r["video_id"]] = bundle["events"][r["question_id"]]
    (star / "txt_db" / "events_by_video.json").write_text(json.dumps(events))
    builder = make_builder(bundle, key_field="video_id", features="vis_db/by_video.pth", events="txt_db/events_by_video.json")
    train = builder.build_datasets(["train"])["train"]
    s = train[0]
    assert s["question_id"] == "Interaction_T1_0"
    assert torch.equal(s["video"][:3], bundle["features"]["Interaction_T1_0"])
    assert torch.allclose(s["spans"], torch.tensor([[0.4, 0.4], [0.9, 0.2]]))


def test_an_hdf5_store_reads_the_datasets_the_config_names(bundle):
    """Every builder takes features_dataset / ids_dataset (an HDF5 file whose features are
    not under resnet_features could not be read through a config); other stores refuse them."""
    import h5py

    qids = [r["question_id"] for rows in bundle["splits"].values() for r in rows]
    rows = torch.stack([bundle["features"][q][:3] for q in qids])
    with h5py.File(bundle["dir"] / "vis_db" / "clip.h5", "w") as fh:
        fh["features"], fh["qids"] = rows.numpy(), [q.encode() for q in qids]
    with pytest.raises(DataFileError, match="no dataset 'ids'.*datasets.<name>.features_dataset in a config"):
        len(make_builder(bundle, features="vis_db/clip.h5").feature_store())
    store = make_builder(bundle, features="vis_db/clip.h5", features_dataset="features",
                         ids_dataset="qids").feature_store()
    assert torch.equal(store[qids[4]], rows[4])
    with pytest.raises(ConfigError, match=r"datasets\.star\.features_dataset names a dataset inside an HDF5 feature "
                                          r"file; .*s3d\.pth is a pth store"):
        make_builder(bundle, features_dataset="features").feature_store()


def test_questions_whose_clip_is_absent_from_the_events_file_are_said(bundle, caplog):
    """A clip absent from the events file trains as one without events (gf prepare agqa
    leaves out videos its Charades CSVs lack), but a partial file would look the same, so
    the run counts and names them."""
    train = make_builder(bundle).build_datasets(["train", "val"])
    said = [r.getMessage() for r in caplog.records if "find no entry" in r.getMessage()]
    assert said == [f"star train: 1 of 8 question(s) find no entry for their clip in the events file "
                    f"{bundle['dir'] / 'txt_db' / 'events.json'} (e.g. Feasibility_T1_3); they train as clips without events (no "
                    f"event targets)"]
    assert train["train"].stats["no_events"] == 2  # the absent clip and Prediction_T1_2's empty list


def test_events_keyed_differently_from_the_records_is_an_error(bundle):
    # The authors' events.json is keyed by question id; looked up by video id, no question
    # would find its events and training would silently run without event targets.
    star = bundle["dir"]
    feats = {r["video_id"]: bundle["features"][r["question_id"]] for rows in bundle["splits"].values() for r in rows}
    torch.save(feats, star / "vis_db" / "by_video.pth")
    builder = make_builder(bundle, key_field="video_id", features="vis_db/by_video.pth")
    with pytest.raises(DataFileError, match=r"datasets\.star: no question of split 'train' finds its clip in the "
                                            r"events file \(looked up by video_id\).*keys it by question_id"):
        builder.build_datasets(["train"])
    assert make_builder(bundle, key_field="video_id", features="vis_db/by_video.pth", events=None) \
        .build_datasets(["train"])["train"].stats["no_events"] == 8  # without events: fine
