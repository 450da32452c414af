"""Question grounding (which event a question names) and the pointer loss built on it.

The synthetic generator writes ``txt_db/grounding.json``; the dataset turns it into each
sample's ``named_event`` / ``answer_event``; the criterion's ``loss_pointer`` and the
``grounding_diagnostics`` hook read the pointer of the grounded answer score against it.
"""
import json
import math

import pytest
import torch

from gf.benchmarks.synthetic.config import OBJECTS, VERBS, SyntheticStarConfig
from gf.benchmarks.synthetic.generate import generate_synthetic_star
from gf.benchmarks.synthetic.questions import ActionVocabulary
from gf.common.errors import ConfigError, DataFileError
from gf.common.registry import registry
from gf.datasets.grounding import NO_EVENT, grounding_from_raw
from gf.models.glance_focus import GlanceFocus
from gf.models.glance_focus.criterion import GlanceFocusCriterion, grounding_slots

from test_glance_focus_model import TINY, random_batch, tiny_model

GEN = dict(train_per_type=12, val_per_type=4, test_per_type=4, feature_dim=8, max_event_frames=3,
           max_gap_frames=1, version=2)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("syn") / "SYNTHETIC_STAR"
    cfg = SyntheticStarConfig(**GEN)
    generate_synthetic_star(root, cfg)
    rows = [json.loads(line) for line in (root / "txt_db/train.jsonl").read_text().splitlines()]
    events = json.loads((root / "txt_db/events.json").read_text())
    grounding = json.loads((root / "txt_db/grounding.json").read_text())
    return root, cfg, rows, events, grounding


def test_the_generator_says_which_event_each_question_names(bench):
    """Checked against the question text and the options, type by type."""
    _, cfg, rows, events, grounding = bench
    vocab = ActionVocabulary(cfg.num_verbs, cfg.num_objects)
    seen = set()
    for row in rows:
        qid, qtype = row["question_id"], row["question_id"].split("_")[0]
        template = row["question_id"].split("_")[1]
        clip = [int(c) for c, _, _ in events[qid]["actions"]]
        answer_class = [c for c in range(vocab.size) if vocab.name(c) == row["options"][row["answer"]]][0]
        named, answer = grounding[qid]["named_event"], grounding[qid]["answer_event"]
        seen.add((qtype, template))
        if qtype == "Prediction":  # names no event; the answer is not in the clip
            assert named is None and answer is None
            continue
        if qtype == "Feasibility":  # names the event with the question's verb; the answer is absent
            assert answer is None
            assert f"they {VERBS[vocab.verb(clip[named])][1]}?" in row["question"]
            assert vocab.obj(clip[named]) == vocab.obj(answer_class)
            continue
        assert clip[answer] == answer_class
        if qtype == "Interaction" and template == "T1":  # "which action": no event named
            assert named is None
        elif qtype == "Interaction":
            assert named == answer and f"with the {OBJECTS[vocab.obj(clip[named])]}?" in row["question"]
        else:  # Sequence: the named event is the answer's neighbour
            assert vocab.gerund(clip[named]) in row["question"]
            assert answer == named + (1 if "right after" in row["question"] else -1)
    assert seen == {("Interaction", "T1"), ("Interaction", "T2"), ("Sequence", "T1"), ("Sequence", "T2"),
                    ("Prediction", "T1"), ("Feasibility", "T1")}


def _builder(root, **overrides):
    cls = registry.get_builder_class("synthetic_star")
    cfg = {"data_root": str(root.parent), "max_feats": 24, "generator": GEN, **overrides}
    return cls(cfg)


def test_samples_carry_the_grounding_and_the_batch_stacks_it(bench):
    from gf.datasets.videoqa import collate_videoqa

    root, _, _, _, grounding = bench
    train = _builder(root).build_datasets(["train"])["train"]
    samples = [train[i] for i in range(len(train))]
    for s in samples:
        g = grounding[s["question_id"]]
        assert s["named_event"] == (NO_EVENT if g["named_event"] is None else g["named_event"])
        assert s["answer_event"] == (NO_EVENT if g["answer_event"] is None else g["answer_event"])
    batch = collate_videoqa(samples[:5])
    assert batch["named_event"].tolist() == [s["named_event"] for s in samples[:5]]
    assert batch["answer_event"].dtype == torch.long


def test_subsampled_events_renumber_the_grounding(bench):
    """With fewer target slots than events, positions follow the kept events, and an event
    that was not kept is no target (-1) rather than another event's position."""
    root, _, _, events, grounding = bench
    train = _builder(root, max_events=3).build_datasets(["train"])["train"]
    checked = dropped = 0
    for i in range(len(train)):
        s = train[i]
        g = grounding[s["question_id"]]
        if g["named_event"] is None:
            continue
        full = events[s["question_id"]]["actions"]
        kept = [j for j, (c, a, b) in enumerate(full)
                if any(abs((a + b) / 2 / events[s["question_id"]]["duration"] - float(x)) < 1e-6
                       for x in s["spans"][:, 0])]
        if g["named_event"] in kept:
            assert s["named_event"] == kept.index(g["named_event"])
            assert int(s["event_classes"][s["named_event"]]) == full[g["named_event"]][0]
            checked += 1
        else:
            assert s["named_event"] == NO_EVENT
            dropped += 1
    assert checked and dropped


@pytest.mark.parametrize("entry,match", [
    ({"named_event": 99, "answer_event": None}, r"named_event = 99, but its clip has \d+ annotated event"),
    ({"named_event": "1", "answer_event": None}, "named_event must be null or an event position"),
    ({"named_event": 0, "answer": 1}, r"unknown field\(s\) \['answer'\]"),
])
def test_a_bad_grounding_entry_is_refused_naming_the_file_and_question(bench, tmp_path, entry, match):
    root, _, rows, _, grounding = bench
    bad = dict(grounding)
    bad[rows[0]["question_id"]] = entry
    path = tmp_path / "grounding.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(DataFileError, match=match) as err:
        _builder(root, grounding=str(path)).build_datasets(["train"])
    assert rows[0]["question_id"] in str(err.value) and str(path) in str(err.value)


def test_grounding_from_raw_reads_null_as_no_event():
    assert grounding_from_raw({"q": {"named_event": None, "answer_event": 2}}, "f") == {"q": (NO_EVENT, 2)}
    with pytest.raises(DataFileError, match="f: expected a JSON object"):
        grounding_from_raw([1], "f")


# -- the pointer loss ------------------------------------------------------------------------
def test_grounding_slots_follow_the_matcher_and_the_sort_order():
    # video 0: event 1 matched to slot 3, which is the 0th slot in time order
    # video 1: event 0 matched to slot 0 (2nd in order); video 2: no event named
    # video 3: named event 2 left unmatched
    indices = [(torch.tensor([2, 3]), torch.tensor([0, 1])), (torch.tensor([0]), torch.tensor([0])),
               (torch.tensor([1]), torch.tensor([0])), (torch.tensor([0, 1]), torch.tensor([0, 1]))]
    order = torch.tensor([[3, 2, 1, 0], [1, 2, 0, 3], [0, 1, 2, 3], [0, 1, 2, 3]])
    slots = grounding_slots(indices, order, torch.tensor([1, 0, -1, 2]))
    assert slots.tolist() == [0, 2, -1, -1]


def test_the_pointer_loss_is_cross_entropy_on_the_named_slot_and_log_weight_on_the_answer():
    k = 2  # two option texts per question, both trained
    logits = torch.tensor([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
    weights = torch.tensor([[0.5, 0.3, 0.2], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    pointer = {"anchor_logits": logits, "weights": weights, "num_texts": k,
               "order": torch.tensor([[0, 1, 2], [0, 1, 2], [2, 1, 0], [2, 1, 0]])}
    # question 0: named event 0 -> slot 0 (order pos 0), answer event 1 -> slot 1 (pos 1)
    # question 1: nothing named
    indices = [(torch.tensor([0, 1]), torch.tensor([0, 1])), (torch.tensor([0]), torch.tensor([0]))]
    loss = GlanceFocusCriterion.loss_pointer(pointer, indices, torch.tensor([0, -1]), torch.tensor([1, 0]))
    ce = (-torch.log_softmax(logits[0], 0)[0] - torch.log_softmax(logits[1], 0)[0]) / 2
    nll = -(math.log(0.3) + math.log(0.6)) / 2
    assert loss.item() == pytest.approx(ce.item() + nll, abs=1e-6)
    none = GlanceFocusCriterion.loss_pointer(pointer, indices, torch.tensor([-1, -1]), torch.tensor([1, 0]))
    assert none.item() == 0.0


def test_pointer_loss_is_in_the_total_only_when_switched_on(tiny_text_encoder):
    def run(weight):
        model = tiny_model(tiny_text_encoder, grounded_answer=True, pointer_loss=weight).train()
        batch = random_batch(model)
        batch["named_event"] = torch.tensor([1, -1])
        batch["answer_event"] = torch.tensor([0, -1])
        return model(batch)

    on, off = run(2.0), run(0.0)
    assert "loss_pointer" in on["losses"] and "loss_pointer" not in off["losses"]
    parts = on["losses"]
    expected = parts["loss_qa"] + 0.5 * parts["loss_cls"] + 0.5 * parts["loss_l1"] + 2.0 * parts["loss_pointer"]
    assert on["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert parts["loss_pointer"].item() > 0
    on["loss"].backward()


@pytest.mark.parametrize("overrides,match", [
    (dict(pointer_loss=1.0), "pointer_loss .* needs grounded_answer: true and memory: sup"),
    (dict(pointer_loss=1.0, grounded_answer=True, memory="uns"), "needs grounded_answer: true and memory: sup"),
    (dict(pointer_loss=-1.0, grounded_answer=True), "pointer_loss must be a finite number >= 0"),
    (dict(pointer_loss=float("nan"), grounded_answer=True), "pointer_loss must be a finite number >= 0"),
])
def test_pointer_loss_config_is_checked(overrides, match, tiny_text_encoder):
    with pytest.raises(ConfigError, match=match):
        GlanceFocus(dict(TINY, text_encoder=tiny_text_encoder, **overrides))


# -- the diagnostics hook --------------------------------------------------------------------
class _PointerAt(torch.nn.Module):
    """A stand-in model whose glance is the annotation itself and whose pointer sits on the
    named (and answer) event's slot, moved by ``offset`` slots: offset 0 is always right,
    offset 1 always wrong. Slots are given in reverse time order, so reading the pointer
    without the sort order would also be wrong."""

    def __init__(self, dataset, num_queries, offset):
        super().__init__()
        from gf.models.glance_focus.matcher import HungarianMatcher

        self.criterion = torch.nn.Module()
        self.criterion.matcher = HungarianMatcher()
        self.truth = {dataset[i]["question_id"]: dataset[i] for i in range(len(dataset))}
        self.q, self.offset = num_queries, offset
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.classes = int(max(int(s["event_classes"].max()) for s in self.truth.values() if len(s["event_classes"])) + 2)

    def forward(self, batch):
        assert set(batch) == {"question_id", "text", "video", "video_mask"}  # no annotation reaches it
        b, k = len(batch["question_id"]), len(batch["text"]) // len(batch["question_id"])
        logits = torch.full((b, self.q, self.classes), -9.0)
        logits[..., -1] = 9.0
        spans = torch.full((b, self.q, 2), 0.05)
        spans[..., 0] = 0.999
        anchor, weights = torch.zeros(b, self.q), torch.zeros(b, self.q)
        for i, qid in enumerate(batch["question_id"]):
            s = self.truth[qid]
            n = len(s["event_classes"])
            slots = list(range(self.q - 1, self.q - 1 - n, -1))  # event j in slot q-1-j
            for j, slot in enumerate(slots):
                logits[i, slot] = -9.0
                logits[i, slot, int(s["event_classes"][j])] = 9.0
                spans[i, slot] = s["spans"][j]
            # in time order event j is sorted position j
            if s["named_event"] >= 0:
                anchor[i, (s["named_event"] + self.offset) % self.q] = 20.0
            if s["answer_event"] >= 0:
                weights[i, (s["answer_event"] + self.offset) % self.q] = 1.0
        order = spans[..., 0].argsort(dim=1, stable=True)
        rep = lambda x: x.repeat_interleave(k, 0)  # noqa: E731
        return {"pred_logits": logits, "pred_spans": spans,
                "pointer": {"anchor_logits": rep(anchor), "weights": rep(weights), "order": rep(order), "num_texts": k}}


@pytest.mark.parametrize("offset,expected", [(0, 100.0), (1, 0.0)])
def test_grounding_metrics_count_the_pointer_on_the_matched_slot(bench, offset, expected):
    from torch.utils.data import DataLoader

    from gf.datasets.videoqa import collate_videoqa
    from gf.runners.grounding_diagnostics import grounding_metrics

    root = bench[0]
    val = _builder(root).build_datasets(["train"])["train"]
    model = _PointerAt(val, num_queries=8, offset=offset)
    metrics = grounding_metrics(model, DataLoader(val, batch_size=7, collate_fn=collate_videoqa))
    assert metrics["glance_cls_acc"] == 100.0
    assert metrics["anchor_on_named"] == expected and metrics["pointer_on_answer"] == expected
    for qtype in ("Interaction", "Sequence", "Feasibility"):
        assert metrics[f"anchor_on_named/{qtype}"] == expected
    assert "anchor_on_named/Prediction" not in metrics  # Prediction names no event
    assert 0 < metrics["anchor_mode_share"] <= 100


def test_the_hook_logs_every_epoch_and_does_not_change_training(tmp_path, plugin_path):
    """An observer: the run's weights are bit-identical with and without it."""
    from gf.cli import main as gf_main
    from gf.common.safe_load import torch_load_safe

    from test_runner import write_config

    grounded = ["model.grounded_answer=true", "model.pointer_loss=1.0", "run.seed=3"]
    runs = {}
    for name, hooks in (("with", "[grounding_diagnostics]"), ("without", "[]")):
        cfg = write_config(tmp_path / name, epochs=2, dropout=0.1)  # dropout draws from the global RNG
        assert gf_main(["train", "--cfg-path", str(cfg), "--options", *grounded, f"run.hooks={hooks}"]) == 0
        runs[name] = tmp_path / name / "out"
    records = [json.loads(line) for line in (runs["with"] / "log.jsonl").read_text().splitlines()]
    grounding = [r for r in records if r["kind"] == "grounding_val"]
    assert [r["epoch"] for r in grounding] == [0, 1]
    for key in ("anchor_on_named", "pointer_on_answer", "glance_cls_acc", "anchor_mode_share"):
        assert all(0.0 <= r[key] <= 100.0 for r in grounding), key
    assert not any(r["kind"] == "grounding_val" for r in map(json.loads, (runs["without"] / "log.jsonl").read_text().splitlines()))
    assert any(f.name.startswith("events.out.tfevents") for f in (runs["with"] / "tb").iterdir())
    a = torch_load_safe(runs["with"] / "checkpoint_last.pth")["model"]
    b = torch_load_safe(runs["without"] / "checkpoint_last.pth")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_hook_stays_idle_for_a_model_without_a_pointer(tmp_path, plugin_path, caplog):
    from gf.cli import main as gf_main

    from test_runner import write_config

    cfg = write_config(tmp_path, epochs=2, dropout=0.0)
    with caplog.at_level("WARNING", logger="gf.runner"):
        assert gf_main(["train", "--cfg-path", str(cfg), "--options", "run.hooks=[grounding_diagnostics]"]) == 0
    assert sum("grounding_diagnostics: the model has no grounded-score pointer" in m for m in caplog.messages) == 1
    assert "grounding_val" not in (tmp_path / "out" / "log.jsonl").read_text()
