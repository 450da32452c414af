"""Temporal probes at evaluation time (gf.probes): what each probe does to the frames, that
constructed models react to them as they must, and the paired comparisons."""
import json
import pickle
import zlib
from pathlib import Path

import pytest
import torch
from scipy.stats import binomtest
from torch import nn
from torch.utils.data import DataLoader

from gf.common.errors import ConfigError, EvaluationError, RegistryError
from gf.common.registry import registry
from gf.datasets.streaming import StreamingVideoQADataset
from gf.datasets.videoqa import collate_videoqa
from gf.probes import (
    ProbedDataset,
    apply_probe,
    event_blocks,
    flip_rate,
    flipped_ids,
    get_probe,
    probe_coverage,
    probe_names,
    probe_sample,
    probe_test,
    question_seed,
    swap_order,
    swap_pair,
)
from gf.probes.frames import NO_EVENT_PAIR
from gf.tasks.videoqa import VideoQATask

# at most 6 events of <= 3 frames, gaps of 1, edges of <= 2: clips of <= 27 frames, so max_feats 28 always pads
TINY = dict(train_per_type=1, val_per_type=4, test_per_type=1, feature_dim=8, max_event_frames=3, max_gap_frames=1)
ALL_PROBES = ("shuffle", "reverse", "static", "static_first", "static_middle", "static_last", "zeros", "noise",
              "swap_events")


def _builder(root, **extra):
    return registry.get_builder_class("synthetic_star")({"data_root": str(root), "max_feats": 28, "generator": TINY,
                                                         **extra})


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("probes")


@pytest.fixture(scope="module")
def split(data_root):
    """16 val questions of the synthetic benchmark, every clip padded."""
    return _builder(data_root).build_datasets(["val"])["val"]


# ---------------------------------------------------------------------------------------
# constructed models: GlanceFocus's predict() contract, {"scores", "prediction"}
# ---------------------------------------------------------------------------------------
class _Readout(nn.Module):
    """Scores the K=4 options by a fixed random projection of one vector read from the video."""

    def __init__(self, dim=8, options=4):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim, options, generator=torch.Generator().manual_seed(0)))

    def read(self, batch):
        raise NotImplementedError

    def forward(self, batch):
        return {"pred_answer": self.read(batch) @ self.weight}

    def predict(self, batch):
        scores = self.forward(batch)["pred_answer"]
        return {"scores": scores, "prediction": scores.argmax(-1)}


class MeanOfRealFrames(_Readout):
    def read(self, batch):
        mask = batch["video_mask"].unsqueeze(-1).float()
        return (batch["video"] * mask).sum(1) / mask.sum(1)


class FirstRealFrame(_Readout):
    def read(self, batch):
        return batch["video"][:, 0]


class TextOnly(nn.Module):
    """Scores each option by a hash of its text; never looks at the video."""

    def forward(self, batch):
        codes = [zlib.crc32(t.encode()) % 1000 for t in batch["text"]]
        return {"pred_answer": torch.tensor(codes, dtype=torch.float32).reshape(len(batch["question_id"]), -1)}

    def predict(self, batch):
        scores = self.forward(batch)["pred_answer"]
        return {"scores": scores, "prediction": scores.argmax(-1)}


def predict(model, dataset):
    """Prediction records of every question, as the runner's evaluation makes them."""
    task, records = VideoQATask(), {}
    for batch in DataLoader(dataset, batch_size=5, collate_fn=collate_videoqa):
        records.update(task.valid_step(model, batch))
    return records


def scores(model, dataset):
    loader = DataLoader(dataset, batch_size=len(dataset), collate_fn=collate_videoqa)
    return model.predict(next(iter(loader)))["scores"]


# ---------------------------------------------------------------------------------------
# models under probes
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["shuffle", "reverse", "static"])
def test_a_model_reading_the_mean_of_the_real_frames_ignores_the_order(split, name):
    """``static`` (the mean frame repeated) keeps exactly what such a model reads."""
    model, probed = MeanOfRealFrames(), ProbedDataset(split, name, seed=0)
    assert probed.coverage()["changed"] == len(split)  # the probe did change every clip ...
    assert flip_rate(predict(model, split), predict(model, probed)) == 0.0  # ... and no answer moved
    assert torch.allclose(scores(model, split), scores(model, probed), atol=1e-5)


def test_a_text_only_model_is_unchanged_by_every_probe(split):
    model = TextOnly()
    plain = predict(model, split)
    assert set(probe_names()) >= set(ALL_PROBES)
    for name in ALL_PROBES:
        assert flip_rate(plain, predict(model, ProbedDataset(split, name, seed=0))) == 0.0, name


def test_a_first_frame_model_changes_under_shuffle_but_not_under_static_first(split):
    model = FirstRealFrame()
    plain = predict(model, split)
    assert flip_rate(plain, predict(model, ProbedDataset(split, "shuffle", seed=0))) > 0
    assert flip_rate(plain, predict(model, ProbedDataset(split, "static_first", seed=0))) == 0.0
    assert flip_rate(plain, predict(model, ProbedDataset(split, "static_last", seed=0))) > 0


# ---------------------------------------------------------------------------------------
# what each probe does to a sample
# ---------------------------------------------------------------------------------------
def _pairs(split, name, seed=0):
    probed = ProbedDataset(split, name, seed=seed)
    for i in range(len(split)):
        plain, out = split[i], probed[i]
        yield plain, out, int(plain["video_mask"].sum())


@pytest.mark.parametrize("name", ALL_PROBES)
def test_a_probe_changes_only_the_real_frames(split, name):
    """Padding, mask, text, answer and the annotations stay as they are."""
    for plain, out, n in _pairs(split, name):
        assert n < len(plain["video"])  # every clip is padded
        assert torch.equal(out["video"][n:], plain["video"][n:]), name
        assert set(out) == set(plain)
        for key in plain:
            if key != "video":
                same = torch.equal if isinstance(plain[key], torch.Tensor) else (lambda a, b: a == b)
                assert same(out[key], plain[key]), (name, key)


def test_shuffle_permutes_the_real_frames_and_reverse_reverses_them(split):
    for plain, out, n in _pairs(split, "shuffle"):
        assert sorted(map(tuple, out["video"][:n].tolist())) == sorted(map(tuple, plain["video"][:n].tolist()))
        assert not torch.equal(out["video"][:n], plain["video"][:n])
    for plain, out, n in _pairs(split, "reverse"):
        assert torch.equal(out["video"][:n], plain["video"][:n].flip(0))


@pytest.mark.parametrize("name,row", [("static", lambda v: v.mean(0)), ("static_first", lambda v: v[0]),
                                      ("static_middle", lambda v: v[len(v) // 2]),
                                      ("static_last", lambda v: v[-1])])
def test_static_repeats_one_frame_over_the_real_length(split, name, row):
    for plain, out, n in _pairs(split, name):
        expected = row(plain["video"][:n])
        assert torch.allclose(out["video"][:n], expected.expand(n, -1), atol=1e-6), name


def test_zeros_and_noise_remove_the_video(split):
    for _, out, n in _pairs(split, "zeros"):
        assert not out["video"][:n].any()
    z = []
    for plain, out, n in _pairs(split, "noise"):
        real = plain["video"][:n]
        assert not torch.isclose(out["video"][:n], real).any()
        z.append((out["video"][:n] - real.mean(0)) / real.std(0, unbiased=False))
    z = torch.cat(z)  # pooled over all clips: standard normal if mean and std are the clip's
    assert abs(float(z.mean())) < 0.1 and abs(float(z.std()) - 1) < 0.1


# ---------------------------------------------------------------------------------------
# swap_events
# ---------------------------------------------------------------------------------------
def _fixture(spans, n=10, padding=2):
    """Row t of the video is [t, t, t] (padding rows are -1, -2: any move of them shows)."""
    video = torch.arange(n + padding, dtype=torch.float32).unsqueeze(1).repeat(1, 3)
    video[n:] = -torch.arange(1, padding + 1, dtype=torch.float32).unsqueeze(1)
    return {"question_id": "q1", "video": video, "video_mask": torch.arange(n + padding) < n,
            "spans": torch.tensor(spans, dtype=torch.float32), "event_classes": torch.arange(len(spans)),
            "text": ["a", "b"], "answer": 0}


def test_event_blocks_follow_the_frames_centres():
    # frame t of 10 covers t/10..(t+1)/10 and belongs to an event when its centre does
    assert event_blocks([[0.3, 0.2], [0.75, 0.3]], 10) == [(2, 4), (6, 9)]
    assert event_blocks([[0.4, 0.22]], 10) == [(3, 5)]  # [0.29, 0.51): centres 0.35, 0.45
    assert event_blocks([[0.52, 0.02]], 10) == [(5, 5)]  # no centre inside: empty


def test_swap_events_exchanges_two_blocks_frame_for_frame():
    sample = _fixture([[0.3, 0.2], [0.75, 0.3]])  # A = frames 2,3; B = frames 6,7,8
    outcome = probe_sample(sample, "swap_events", seed=0)
    got = outcome.sample["video"][:, 0].tolist()
    # P = 0 1 | A = 2 3 | M = 4 5 | B = 6 7 8 | S = 9   ->   P B M A S, padding untouched
    assert got == [0, 1, 6, 7, 8, 4, 5, 2, 3, 9, -1, -2]
    assert outcome.changed
    assert torch.equal(outcome.sample["spans"], sample["spans"])
    assert torch.equal(sample["video"][:, 0], torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -2.]))  # input kept


def test_swap_events_picks_adjacent_non_overlapping_events_by_seed():
    spans = [[0.15, 0.3], [0.15, 0.1], [0.6, 0.2], [0.85, 0.1]]  # frames [0,3) [1,2) [5,7) [8,9)
    assert event_blocks(spans, 10) == [(0, 3), (1, 2), (5, 7), (8, 9)]
    picks = {swap_pair(event_blocks(spans, 10), question_seed(s, "q")) for s in range(40)}
    assert picks == {(0, 2), (1, 2), (2, 3)}  # never (0, 1) (they overlap) nor (0, 3) (not adjacent)


def test_swap_events_leaves_clips_without_two_events_unchanged_and_counts_them():
    one = probe_sample(_fixture([[0.3, 0.2]]), "swap_events", seed=0)
    assert not one.changed and one.reason == NO_EVENT_PAIR
    assert torch.equal(one.sample["video"], _fixture([[0.3, 0.2]])["video"])
    overlapping = probe_sample(_fixture([[0.3, 0.2], [0.35, 0.1]]), "swap_events", seed=0)
    assert not overlapping.changed


def test_swap_order_keeps_everything_outside_the_blocks():
    order = swap_order(12, (1, 4), (8, 10)).tolist()
    assert order == [0, 8, 9, 4, 5, 6, 7, 1, 2, 3, 10, 11]
    with pytest.raises(ValueError, match="sa <= ea <= sb"):
        swap_order(12, (5, 8), (6, 9))


def test_swap_events_on_the_benchmark_moves_only_the_annotated_segments(split, data_root):
    """The spans, read through the event table, give back the generator's own frames, and the
    probed clip is the plain one with exactly those two blocks exchanged."""
    events = json.loads((Path(data_root) / "SYNTHETIC_STAR" / "txt_db" / "events.json").read_text())
    for plain, out, n in _pairs(split, "swap_events"):
        raw = events[plain["question_id"]]
        assert raw["duration"] == n  # one row per second, no frame dropped
        blocks = event_blocks(plain["spans"], n)
        assert blocks == [(int(s), int(e)) for _, s, e in raw["actions"]]
        i, j = swap_pair(blocks, question_seed(0, plain["question_id"]))
        (sa, ea), (sb, eb) = blocks[i], blocks[j]
        v, w = plain["video"], out["video"]
        assert torch.equal(w[:sa], v[:sa]) and torch.equal(w[eb:], v[eb:])  # outside: in place
        assert torch.equal(w[sa:sa + eb - sb], v[sb:eb])  # B where A started
        assert torch.equal(w[eb - (ea - sa):eb], v[sa:ea])  # A ends where B ended
        assert torch.equal(w[sa + eb - sb:eb - (ea - sa)], v[ea:sb])  # between: shifted, in order


def test_events_are_placed_on_sampled_frames_as_the_video_processor_samples(tmp_path):
    """Clips longer than max_feats: frame t shows row t * T // n, and belongs to an event
    exactly when that row does; swap_events moves those frames."""
    generator = dict(TINY, max_event_frames=7, max_gap_frames=3)
    split = registry.get_builder_class("synthetic_star")({"data_root": str(tmp_path), "max_feats": 12,
                                                          "generator": generator}).build_datasets(["val"])["val"]
    events = json.loads((tmp_path / "SYNTHETIC_STAR" / "txt_db" / "events.json").read_text())
    probed, sampled = ProbedDataset(split, "swap_events"), 0
    for i in range(len(split)):
        plain, out, n = split[i], probed[i], int(split[i]["video_mask"].sum())
        # the streaming path (sample_from_features) knows the clip's length too
        assert torch.equal(probed.sample_from_features(i, split.read_features(i))["video"], out["video"])
        raw = events[plain["question_id"]]
        length = int(raw["duration"])
        sampled += length > n
        shown = [t * length // n if length > n else t for t in range(n)]
        blocks = event_blocks(plain["spans"], n, source_frames=length)
        for (first, stop), (_, s, e) in zip(blocks, raw["actions"]):
            assert [t for t in range(n) if s <= shown[t] < e] == list(range(first, stop))
        pair = swap_pair(blocks, question_seed(0, plain["question_id"]))
        if pair is None:  # sampling can leave fewer than two events with frames of their own
            assert torch.equal(out["video"], plain["video"])
            continue
        order = swap_order(n, blocks[pair[0]], blocks[pair[1]])
        assert torch.equal(out["video"][:n], plain["video"][:n][order])
    assert sampled > len(split) // 2


def test_swap_events_on_a_split_without_events_is_refused(data_root, split):
    bare = _builder(data_root, events=None, grounding=None).build_datasets(["val"])["val"]
    with pytest.raises(ConfigError, match="needs annotated events; star val has none"):
        ProbedDataset(bare, "swap_events")
    ProbedDataset(bare, "shuffle")  # the others need no events


# ---------------------------------------------------------------------------------------
# determinism, registry, wrapper
# ---------------------------------------------------------------------------------------
def test_the_same_probe_seed_gives_the_same_perturbation_and_another_seed_another(split):
    a, again, other = (ProbedDataset(split, "shuffle", seed=s) for s in (0, 0, 1))
    moved = 0
    for i in range(len(split)):
        assert torch.equal(a[i]["video"], again[i]["video"])
        assert torch.equal(a[i]["video"], pickle.loads(pickle.dumps(a))[i]["video"])  # workers alike
        moved += not torch.equal(a[i]["video"], other[i]["video"])
    assert moved == len(split)
    # a hash stable across processes (Python's hash() of a str is salted per process)
    assert question_seed(0, "Sequence_T1_9") == question_seed(0, "Sequence_T1_9")
    assert question_seed(0, "Sequence_T1_9") == 1846025965846296962
    assert question_seed(1, "Sequence_T1_9") != question_seed(0, "Sequence_T1_9")


def test_an_unknown_probe_name_lists_the_known_ones(split):
    with pytest.raises(RegistryError) as info:
        get_probe("shufle")
    message = str(info.value)
    assert "unknown probe 'shufle'" in message and "Did you mean: 'shuffle'" in message
    assert all(name in message for name in ALL_PROBES)
    with pytest.raises(RegistryError, match="Registered probe names"):
        ProbedDataset(split, "mirror")


def test_a_probed_split_stands_in_for_the_split(split):
    probed = ProbedDataset(split, "reverse", seed=3)
    assert len(probed) == len(split)
    assert probed.question_ids() == split.question_ids() and probed.video_ids() == split.video_ids()
    assert probed.records is split.records and probed.stats is split.stats
    assert (probed.benchmark, probed.split, probed.answer_mode) == (split.benchmark, split.split, split.answer_mode)
    assert probed.provenance() == {"probe": "reverse", "probe_seed": 3}
    # the function form (for streaming) and sample_from_features give the same sample
    assert torch.equal(apply_probe(split[2], "reverse", 3)["video"], probed[2]["video"])
    assert torch.equal(probed.sample_from_features(2, split.read_features(2))["video"], probed[2]["video"])
    # a streamed split is probed through the random-access split beneath it, and a stream
    # can be built over a probed split
    stream = StreamingVideoQADataset(split, ["unused.tar"], epoch_length=None)
    assert ProbedDataset(stream, "reverse").dataset is split
    assert StreamingVideoQADataset(probed, ["unused.tar"], epoch_length=None).seed == split.seed
    with pytest.raises(ConfigError, match="probe seed must be an integer"):
        ProbedDataset(split, "reverse", seed="0")


def test_probe_coverage_counts_what_a_probe_could_not_change(split):
    cov = probe_coverage(split, "swap_events", seed=0)
    assert cov["questions"] == len(split)
    assert cov["changed"] + cov["unchanged"] == len(split)
    assert cov["unchanged"] == len(cov["unchanged_ids"]) == sum(cov["reasons"].values())
    few = [q for q, s in ((split[i]["question_id"], split[i]) for i in range(len(split))) if len(s["spans"]) < 2]
    assert set(few) <= set(cov["unchanged_ids"])


# ---------------------------------------------------------------------------------------
# flip rates and the paired test on hand-made predictions
# ---------------------------------------------------------------------------------------
def _records(preds, answers):
    return {f"q{i}": {"prediction": p, "answer": a, "fields": {}} for i, (p, a) in enumerate(zip(preds, answers))}


ANSWERS = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
PLAIN = [0, 1, 2, 3, 0, 1, 2, 0, 1, 1]  # 8 right
PROBED = [0, 2, 2, 1, 0, 1, 2, 0, 0, 1]  # q1, q3 right -> wrong; q8 wrong -> right: 3 flips, 7 right


def test_flip_rate_is_the_share_of_changed_answers():
    plain, probed = _records(PLAIN, ANSWERS), _records(PROBED, ANSWERS)
    assert flip_rate(plain, probed) == pytest.approx(0.3)
    assert flipped_ids(plain, probed) == ["q1", "q3", "q8"]
    assert flip_rate({q: r["prediction"] for q, r in plain.items()}, probed) == pytest.approx(0.3)  # bare answers
    assert flip_rate(plain, probed, ids=["q0", "q1"]) == pytest.approx(0.5)


def test_flip_rate_refuses_predictions_of_other_questions():
    plain = _records(PLAIN, ANSWERS)
    with pytest.raises(EvaluationError, match=r"1 only in a \('q9'\)"):
        flip_rate(plain, {q: r for q, r in plain.items() if q != "q9"})
    with pytest.raises(EvaluationError, match="only in a .* only in b"):
        flip_rate(plain, {f"x{i}": 0 for i in range(10)})
    with pytest.raises(EvaluationError, match="no prediction for 1 of the questions"):
        flip_rate(plain, plain, ids=["q0", "q77"])


def test_the_paired_test_is_mcnemar_on_the_discordant_questions():
    result = probe_test(_records(PLAIN, ANSWERS), _records(PROBED, ANSWERS))
    assert (result["only_plain"], result["only_probe"]) == (2, 1)
    assert result["p"] == pytest.approx(binomtest(2, 3, 0.5).pvalue)
    assert result["accuracy"] == pytest.approx(80.0) and result["accuracy_probe"] == pytest.approx(70.0)
    assert result["drop"] == pytest.approx(10.0) and result["flip_rate"] == pytest.approx(0.3)
    assert (result["questions"], result["labelled"]) == (10, 10)
    # many one-way flips: significant
    strong = probe_test(_records([0] * 12, [0] * 12), _records([1] * 12, [0] * 12))
    assert strong["p"] == pytest.approx(binomtest(12, 12, 0.5).pvalue) and strong["p"] < 0.001


def test_the_paired_test_needs_the_same_labels():
    with pytest.raises(EvaluationError, match="not predictions of the same split"):
        probe_test(_records(PLAIN, ANSWERS), _records(PROBED, [1] + ANSWERS[1:]))
    with pytest.raises(EvaluationError, match="needs prediction records with their 'answer'"):
        probe_test({"q0": 1}, {"q0": 1})
    unlabelled = probe_test(_records(PLAIN, [None] * 10), _records(PROBED, [None] * 10))
    assert unlabelled["accuracy"] is None and unlabelled["p"] is None and unlabelled["flip_rate"] == pytest.approx(0.3)
