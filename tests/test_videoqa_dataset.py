"""VideoQADataset, EventTable, collate_videoqa and the videoqa_text processor, built directly."""
from __future__ import annotations

import json

import pytest
import torch

import gf.processors  # noqa: F401  (registers the built-in processors)
from gf.common.io import DataFileError
from gf.common.registry import registry
from gf.datasets.feature_stores import open_feature_store
from gf.datasets.events import EventTable
from gf.datasets.videoqa import IGNORE_INDEX, VideoQADataset, collate_videoqa
from gf.processors.text import VideoQATextProcessor
from gf.processors.video import VideoFeatureProcessor

D, T = 4, 5


@pytest.fixture
def store(tmp_path):
    feats = {f"v{i}": torch.full((3 + i, D), float(i)) for i in range(4)}
    torch.save(feats, tmp_path / "feats.pth")
    return open_feature_store(tmp_path / "feats.pth")


def mc(qid, key, answer=0, k=4):
    return {"question_id": qid, "video_id": key, "question": f"why {qid}?",
            "options": [f"o{j}" for j in range(k)], "answer": answer, "fields": {"type": qid.split("_")[0]}}


def oe(qid, key, answer=0):
    return {"question_id": qid, "video_id": key, "question": f"what  {qid}?\n", "options": None, "answer": answer}


def dataset(records, store, events=None, **kw):
    args = dict(split="val", benchmark="bench", max_events=2, train=False, seed=0, key_field="video_id",
                text_format="{question} {option}")
    args.update(kw)
    return VideoQADataset(records, store, VideoFeatureProcessor(T), events, **args)


# -- EventTable ---------------------------------------------------------------------------
def test_event_table_sorts_clips_and_converts():
    table = EventTable.from_raw({"a": {"duration": 4, "actions": [[2, 2, 4], [1, -1, 1], [0, 3, 3]]},
                                 "b": {"duration": 2, "actions": []}}, num_classes=3)
    spans, classes = table.select("a")
    # [-1, 1] -> clipped [0, 0.25] -> (0.125, 0.25); [2, 4] -> (0.75, 0.5); [3, 3] dropped
    assert torch.allclose(spans, torch.tensor([[0.125, 0.25], [0.75, 0.5]]))
    assert classes.tolist() == [1, 2]
    assert table.count("b") == 0 and table.count("not-there") == 0
    assert table.select("not-there")[0].shape == (0, 2)
    assert table.stats["dropped_events"] == 1 and table.stats["events"] == 2
    spans[0, 0] = 9.0  # callers get copies
    assert table.select("a")[0][0, 0] == 0.125


@pytest.mark.parametrize("entry,match", [
    ({"duration": -1, "actions": []}, r"'k'.*duration"),
    ({"actions": []}, r"'k'.*duration"),
    ({"duration": 5, "actions": [[0, 3, 1]]}, r"'k'.*ends before it starts"),
    ({"duration": 5, "actions": [[1.5, 0, 1]]}, r"'k'.*class index 1.5"),
    ({"duration": 5, "actions": [[3, 0, 1]]}, r"'k'.*class index 3, outside \[0, 3\)"),
    ({"duration": 5, "actions": [[0, 1]]}, r"'k'.*action 0"),
])
def test_event_table_rejects_malformed_entries(entry, match):
    with pytest.raises(DataFileError, match=match):
        EventTable.from_raw({"k": entry}, num_classes=3, source="ev.json")


# -- dataset ------------------------------------------------------------------------------
def test_multiple_choice_sample(store):
    ds = dataset([mc("Seq_1", "v0", 3), mc("Int_2", "v3", 1)], store,
                 events={"v0": {"duration": 10, "actions": [[4, 0, 5]]}})
    s = ds[0]
    assert s["text"] == ["why Seq_1? o0", "why Seq_1? o1", "why Seq_1? o2", "why Seq_1? o3"]
    assert s["answer"] == 3 and s["fields"] == {"type": "Seq"}
    assert s["video_mask"].tolist() == [True, True, True, False, False]
    assert torch.allclose(s["spans"], torch.tensor([[0.25, 0.5]])) and s["event_classes"].tolist() == [4]
    assert ds[1]["video_mask"].all() and ds.answer_mode == "mc"
    s["fields"]["type"] = "changed"
    assert ds[0]["fields"] == {"type": "Seq"}


def test_open_ended_sample_and_batch(store):
    ds = dataset([oe("q1", "v1", 7), oe("q2", "v2", 0)], store, num_answers=10)
    s = ds[0]
    assert s["text"] == ["what q1?"] and s["answer"] == 7 and ds.answer_mode == "oe"
    batch = collate_videoqa([ds[0], ds[1]])
    assert batch["text"] == ["what q1?", "what q2?"] and batch["answer"].tolist() == [7, 0]
    with pytest.raises(DataFileError, match=r"answer-vocabulary index \[0, 5\)"):
        dataset([oe("q1", "v1", 7)], store, num_answers=5)


def test_record_errors_name_the_file_line(tmp_path, store):
    src = tmp_path / "val.jsonl"
    rows = [mc("a_1", "v0"), mc("a_2", "v1", answer=True)]
    src.write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n")
    with pytest.raises(DataFileError, match=rf"{src}:3, question_id 'a_2'.*answer"):
        dataset(rows, store, source=str(src))
    with pytest.raises(DataFileError, match="has 3 options, expected 4"):
        dataset([mc("a_1", "v0", k=3)], store, num_options=4)


def test_split_level_checks(store):
    with pytest.raises(DataFileError, match="appears twice"):
        dataset([mc("a_1", "v0"), mc("a_1", "v1")], store)
    with pytest.raises(DataFileError, match="Training needs labels"):
        dataset([mc("a_1", "v0", answer=None)], store, train=True)
    with pytest.raises(DataFileError, match="fully labelled or fully unlabelled"):
        dataset([mc("a_1", "v0", answer=None), mc("a_2", "v1")], store)
    with pytest.raises(DataFileError, match="multiple choice or open-ended"):
        dataset([mc("a_1", "v0"), oe("a_2", "v1")], store)


def test_missing_features_are_found_at_construction(store):
    records = [mc(f"a_{i}", f"v{i}") for i in range(6)]  # v4, v5 are not in the store
    with pytest.raises(DataFileError, match=r"2 of 6 questions.*'a_4', 'a_5'.*datasets\.bench\.skip_file"):
        dataset(records, store)
    ds = dataset(records, store, skip_ids=["a_4", "a_5", "elsewhere"])
    assert ds.question_ids() == [f"a_{i}" for i in range(4)]
    assert ds.stats["skipped"] == 2 and ds.stats["skip_ids_not_in_split"] == 1


def test_raw_events_mapping_and_no_events(store):
    ds = dataset([mc("a_1", "v0"), mc("a_2", "v1")], store, events={"v0": {"duration": 2, "actions": [[0, 0, 1]]}})
    assert ds.stats["no_events"] == 1
    assert ds[1]["spans"].shape == (0, 2) and ds[1]["event_classes"].shape == (0,)
    none = dataset([mc("a_1", "v0")], store, events=None)
    assert none[0]["spans"].shape == (0, 2) and none.stats["no_events"] == 1


# -- collator -----------------------------------------------------------------------------
def test_collator_rejects_mixed_option_counts(store):
    ds4 = dataset([mc("a_1", "v0")], store)
    ds5 = dataset([mc("b_1", "v1", k=5)], store)
    with pytest.raises(ValueError, match=r"'a_1': 4, 'b_1': 5"):
        collate_videoqa([ds4[0], ds5[0]])
    with pytest.raises(ValueError, match="empty batch"):
        collate_videoqa([])


def test_collator_ignore_index_for_unlabelled(store):
    labelled = dataset([mc("a_1", "v0", 2)], store)[0]
    unlabelled = dataset([mc("b_1", "v1", None)], store)[0]
    batch = collate_videoqa([unlabelled, labelled])
    assert IGNORE_INDEX == -100  # torch's default ignore_index, which gf's QA loss relies on
    assert batch["answer"].dtype == torch.long
    assert torch.equal(batch["answer"], torch.tensor([-100, 2]))
    assert collate_videoqa([labelled, unlabelled])["answer"].tolist() == [2, -100]
    assert collate_videoqa([unlabelled, unlabelled])["answer"] is None  # nothing labelled: no labels


def test_unlabelled_questions_add_nothing_to_the_qa_loss(store):
    """gf's criterion on the collated labels: only the labelled question counts.

    Question 1 (unlabelled): logits [9, -9, 9, -9], whatever label it got, would add a
    loss of at least ln 2. Question 2 (answer 2): logits [0, 0, ln 2, 0] -> softmax
    [1, 1, 2, 1] / 5, so the loss is -ln(2/5) = ln 2.5 = 0.916291."""
    from gf.models.glance_focus.config import GlanceFocusConfig
    from gf.models.glance_focus.criterion import GlanceFocusCriterion

    labelled = dataset([mc("a_1", "v0", 2)], store)[0]
    unlabelled = dataset([mc("b_1", "v1", None)], store)[0]
    batch = collate_videoqa([unlabelled, labelled])
    outputs = {"pred_answer": torch.tensor([[9.0, -9.0, 9.0, -9.0], [0.0, 0.0, 0.6931472, 0.0]]),
               "pred_logits": torch.zeros(2, 3, 4), "pred_spans": torch.full((2, 3, 2), 0.5)}
    crit = GlanceFocusCriterion(GlanceFocusConfig(event_pred_dim=4, memory="uns"))
    loss_qa = crit(outputs, batch["answer"])["losses"]["loss_qa"]
    assert abs(loss_qa.item() - 0.916291) < 1e-5


# -- text processor -----------------------------------------------------------------------
def test_text_processor_formats_and_normalises():
    proc = registry.get_processor_class("videoqa_text")()
    assert isinstance(proc, VideoQATextProcessor)
    assert proc("  What  did\tthe person do?\n", ["Sat  down.", " Ate."]) == [
        "What did the person do? Sat down.", "What did the person do? Ate."]
    assert proc("What  now? ") == ["What now?"]
    sep = VideoQATextProcessor("{question} [SEP] {option}", max_words=2)
    assert sep("why did it fall", ["the wind blew"]) == ["why did [SEP] the wind blew"]
    assert VideoQATextProcessor.from_config({"name": "videoqa_text", "max_words": 3}).max_words == 3


@pytest.mark.parametrize("fmt,match", [("{question} {answer}", "unknown placeholder"),
                                       ("{question}", "missing: {option}"),
                                       ("{question {option}", "not a valid format")])
def test_text_processor_rejects_bad_templates(fmt, match):
    with pytest.raises(ValueError, match=match):
        VideoQATextProcessor(fmt)
