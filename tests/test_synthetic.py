"""The synthetic STAR-layout benchmark: layout, determinism, balance, answers, no shortcuts.

Answers are re-derived here from ``events.json`` and the class files with this file's own
reading of each question, not with the generator's code; only the verb lexicon (past and
gerund forms) is shared, because the class files name verbs in the base form only.
"""
from __future__ import annotations

import collections
import itertools
import json
import random
import re
from pathlib import Path

import pytest
import torch

from gf.common.io import load_json, load_jsonl
from gf.benchmarks.synthetic import generate as synthetic
from gf.benchmarks.synthetic.config import QUESTION_TYPES, SPLITS, VERBS, SyntheticStarConfig
from gf.benchmarks.synthetic.generate import SyntheticBenchmarkError, ensure_synthetic_star, generate_synthetic_star

TINY = SyntheticStarConfig(seed=3, train_per_type=8, val_per_type=4, test_per_type=4, feature_dim=32)
AUDIT = SyntheticStarConfig(seed=11, train_per_type=300, val_per_type=4, test_per_type=200, feature_dim=4)
RECORD_KEYS = {"question_id", "video_id", "question", "options", "answer", "start", "end"}


# ---------------------------------------------------------------------------------------
# reading a generated folder, independently of the generator
# ---------------------------------------------------------------------------------------
class Bundle:
    def __init__(self, root: Path):
        self.root = root
        txt = root / "txt_db"
        self.rows = {s: load_jsonl(txt / f"{s}.jsonl") for s in SPLITS}
        self.events = load_json(txt / "events.json")
        self.meta = load_json(root / "meta.json")
        names = (txt / "action_classes.txt").read_text(encoding="utf-8").splitlines()
        mapping = (txt / "action_mapping.txt").read_text(encoding="utf-8").splitlines()
        verbs = dict(l.split(" ", 1) for l in (txt / "verb_classes.txt").read_text().splitlines())
        objects = dict(l.split(" ", 1) for l in (txt / "object_classes.txt").read_text().splitlines())
        self.name_to_class = {}
        self.verb_of, self.obj_of = [], []
        for k, (name_line, map_line) in enumerate(zip(names, mapping)):
            aid, name = name_line.split(" ", 1)
            aid2, vid, oid = map_line.split(" ")
            assert aid == aid2 == f"a{k:03d}"
            # The readable name is built from the verb and object the mapping names.
            assert name == f"{verbs[vid]} the {objects[oid]}"
            self.name_to_class[name] = k
            self.verb_of.append(vid)
            self.obj_of.append(objects[oid])
        self.num_classes = len(names)
        lexicon = {base: (past, gerund) for base, past, gerund in VERBS}
        self.gerund_to_class = {f"{lexicon[verbs[self.verb_of[k]]][1]} the {self.obj_of[k]}": k
                                for k in range(self.num_classes)}
        self.past_to_verb = {lexicon[name][0]: vid for vid, name in verbs.items()}
        self.routine = {int(a[1:]): int(b[1:]) for a, b in self.meta["prediction_routine"].items()}

    def all_rows(self):
        return [r for s in SPLITS for r in self.rows[s]]

    def clip(self, row):
        return [int(a[0]) for a in self.events[row["question_id"]]["actions"]]

    def option_classes(self, row):
        return [self.name_to_class[o] for o in row["options"]]


def qtype(row) -> str:
    return row["question_id"].split("_")[0]


def derive_answer(b: Bundle, row, clip):
    """The class that answers ``row`` if the clip's events were ``clip`` (in this order)."""
    q = row["question"]
    t = qtype(row)
    if t == "Interaction":
        m = re.fullmatch(r"What did the person do with the (\w+)\?", q)
        if m:
            hits = [c for c in clip if b.obj_of[c] == m.group(1)]
        else:
            assert q == "Which action did the person perform?"
            hits = [c for c in clip if c in b.option_classes(row)]
        assert len(hits) == 1, (row, clip)
        return hits[0]
    if t == "Sequence":
        m = re.fullmatch(r"What did the person do right (after|before) (.+)\?", q)
        anchor = b.gerund_to_class[m.group(2)]
        i = clip.index(anchor)
        j = i + 1 if m.group(1) == "after" else i - 1
        return clip[j] if 0 <= j < len(clip) else None
    if t == "Prediction":
        assert q == "What will the person do next?"
        return b.routine[clip[-1]]
    m = re.fullmatch(r"Which other action could the person do with the object they (.+)\?", q)
    verb = b.past_to_verb[m.group(1)]
    anchors = [c for c in clip if b.verb_of[c] == verb]
    assert len(anchors) == 1, (row, clip)
    obj = b.obj_of[anchors[0]]
    hits = [c for c in b.option_classes(row) if b.obj_of[c] == obj]
    assert len(hits) == 1, (row, clip)
    return hits[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Bundle:
    return Bundle(generate_synthetic_star(tmp_path_factory.mktemp("syn") / "tiny", TINY))


@pytest.fixture(scope="module")
def audit(tmp_path_factory) -> Bundle:
    return Bundle(generate_synthetic_star(tmp_path_factory.mktemp("syn") / "audit", AUDIT))


# ---------------------------------------------------------------------------------------
# layout and fields
# ---------------------------------------------------------------------------------------
def test_layout_and_record_fields(tiny):
    root = tiny.root
    for rel in ["txt_db/train.jsonl", "txt_db/val.jsonl", "txt_db/test.jsonl", "txt_db/events.json",
                "txt_db/action_mapping.txt", "txt_db/action_classes.txt", "vis_db/s3d.pth",
                "vis_db/strID2numID.json", "README.md", "meta.json"]:
        assert (root / rel).is_file(), rel
    ids = [r["question_id"] for r in tiny.all_rows()]
    assert len(ids) == len(set(ids)), "question ids must be unique across splits"
    assert set(tiny.events) == set(ids)
    names = set(tiny.name_to_class)
    for row in tiny.all_rows():
        assert set(row) == RECORD_KEYS
        assert re.fullmatch(r"(Interaction|Sequence|Prediction|Feasibility)_T\d+_\d+", row["question_id"])
        assert re.fullmatch(r"syn\d{5,}", row["video_id"])
        assert isinstance(row["question"], str) and row["question"].endswith("?")
        assert len(row["options"]) == 4 and len(set(row["options"])) == 4
        assert set(row["options"]) <= names, "every option is a real action name"
        assert type(row["answer"]) is int and 0 <= row["answer"] <= 3
        ev = tiny.events[row["question_id"]]
        assert row["start"] == 0.0 and row["end"] == ev["duration"]
        prev_end = 0.0
        for cls, s, e in ev["actions"]:
            assert type(cls) is int and 0 <= cls < tiny.num_classes
            assert prev_end <= s < e <= ev["duration"], "events are ordered, disjoint, in the clip"
            prev_end = e
        clip = tiny.clip(row)
        assert len(clip) == len(set(clip)), "no class twice in a clip"
        assert 3 <= len(clip) <= 6

    features = torch.load(root / "vis_db" / "s3d.pth", weights_only=True)
    assert set(features) == set(ids)
    for qid, f in features.items():
        assert f.dtype == torch.float32 and f.shape == (int(tiny.events[qid]["duration"]), TINY.feature_dim)
        assert f.shape[0] <= TINY.max_clip_frames
    num_ids = load_json(root / "vis_db" / "strID2numID.json")
    assert set(num_ids) == set(ids) and len(set(num_ids.values())) == len(ids)
    assert all(type(v) is int for v in num_ids.values())

    meta = tiny.meta
    assert meta["format_version"] == synthetic.FORMAT_VERSION
    assert meta["config"] == TINY.to_dict()
    assert meta["num_classes"] == tiny.num_classes == TINY.num_classes
    for split in SPLITS:
        assert meta["counts"][split]["questions"] == len(tiny.rows[split])
    readme = (root / "README.md").read_text()
    assert f"seed {TINY.seed}" in readme and f"train {4 * TINY.train_per_type}" in readme


def test_class_files_have_no_final_newline(tiny):
    txt = tiny.root / "txt_db"
    for name in ("action_classes.txt", "action_mapping.txt", "verb_classes.txt", "object_classes.txt"):
        text = (txt / name).read_text(encoding="utf-8")
        assert not text.endswith("\n"), name
    mapping = (txt / "action_mapping.txt").read_text().splitlines()
    assert len(mapping) == TINY.num_classes
    assert all(re.fullmatch(r"a\d{3} v\d{3} o\d{3}", line) for line in mapping)
    # A reader that drops the last line (the authors' map_action bug) would lose a class.
    assert len((txt / "action_classes.txt").read_text().split("\n")[:-1]) == TINY.num_classes - 1


def test_features_show_the_annotated_events(tiny):
    """Event frames sit near their class's centroid, background frames near none of them."""
    features = torch.load(tiny.root / "vis_db" / "s3d.pth", weights_only=True)
    by_class = collections.defaultdict(list)
    background = []
    for qid, ev in tiny.events.items():
        f = features[qid]
        covered = torch.zeros(f.shape[0], dtype=torch.bool)
        for cls, s, e in ev["actions"]:
            by_class[cls].append(f[int(s):int(e)].mean(0))
            covered[int(s):int(e)] = True
        background.append(f[~covered])
    classes = sorted(by_class)
    centroids = torch.stack([torch.stack(by_class[c]).mean(0) for c in classes])
    correct = total = 0
    for c in classes:
        for m in by_class[c]:
            correct += classes[int(torch.cdist(m[None], centroids).argmin())] == c
            total += 1
    assert correct / total > 0.95
    bg = torch.cat(background)
    assert torch.cdist(bg.mean(0, keepdim=True), centroids).min() > 0.5 * TINY.feature_dim ** 0.5


# ---------------------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------------------
def _text_files(root: Path):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
            and p.suffix != ".pth"}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, tiny):
    again = generate_synthetic_star(tmp_path / "again", TINY)
    assert _text_files(again) == _text_files(tiny.root)
    a = torch.load(again / "vis_db" / "s3d.pth", weights_only=True)
    b = torch.load(tiny.root / "vis_db" / "s3d.pth", weights_only=True)
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)

    other = generate_synthetic_star(tmp_path / "other", SyntheticStarConfig(**{**TINY.to_dict(), "seed": 4}))
    for rel in ("txt_db/train.jsonl", "txt_db/test.jsonl", "txt_db/events.json"):
        assert (other / rel).read_bytes() != (tiny.root / rel).read_bytes(), rel


# ---------------------------------------------------------------------------------------
# balance and answers
# ---------------------------------------------------------------------------------------
def test_types_and_answer_positions_are_balanced(tiny):
    for split in SPLITS:
        rows = tiny.rows[split]
        per_type = TINY.per_type(split)
        assert collections.Counter(map(qtype, rows)) == {t: per_type for t in QUESTION_TYPES}
        for t in QUESTION_TYPES:
            positions = collections.Counter(r["answer"] for r in rows if qtype(r) == t)
            assert positions == {p: per_type // 4 for p in range(4)}, (split, t, positions)


def test_answers_rederived_from_events(tiny):
    for row in tiny.all_rows():
        clip = tiny.clip(row)
        options = tiny.option_classes(row)
        assert options[row["answer"]] == derive_answer(tiny, row, clip), row
        t = qtype(row)
        present = [o in clip for o in options]
        if t == "Interaction":
            assert present.count(True) == 1
        elif t == "Sequence":
            anchor = tiny.gerund_to_class[re.search(r"(?:after|before) (.+)\?", row["question"]).group(1)]
            assert all(present) and anchor not in options, "distractors are other events of the clip"
        elif t == "Prediction":
            assert not any(present), "the next action and the distractors are all unseen"
            inverse = {v: k for k, v in tiny.routine.items()}
            sources = [inverse[o] for o in options]
            assert all(s in clip for s in sources), "each option follows some shown action"
        else:
            assert not any(present)
            assert len({tiny.verb_of[o] for o in options}) == 1
            verbs = [tiny.verb_of[c] for c in clip]
            for o in options:  # each option's object comes with an event of a unique verb
                assert any(tiny.obj_of[c] == tiny.obj_of[o] and verbs.count(tiny.verb_of[c]) == 1
                           for c in clip)


def test_unannotated_fraction_empties_some_annotations(tmp_path):
    cfg = SyntheticStarConfig(**{**TINY.to_dict(), "unannotated_fraction": 0.25})
    b = Bundle(generate_synthetic_star(tmp_path / "u", cfg))
    features = torch.load(b.root / "vis_db" / "s3d.pth", weights_only=True)
    for split in SPLITS:
        empty = [r for r in b.rows[split] if not b.events[r["question_id"]]["actions"]]
        assert len(empty) == round(0.25 * len(b.rows[split])) == b.meta["counts"][split]["unannotated"]
        assert all(features[r["question_id"]].shape[0] > 0 for r in empty)


# ---------------------------------------------------------------------------------------
# shortcut audit
# ---------------------------------------------------------------------------------------
def _accuracy(rows, pick):
    hits = collections.defaultdict(list)
    for r in rows:
        hits[qtype(r)].append(pick(r) == r["answer"])
    return {t: sum(h) / len(h) for t, h in hits.items()}


def test_shortcut_baselines_stay_at_chance(audit):
    train, test = audit.rows["train"], audit.rows["test"]
    rng = random.Random(0)

    def among(candidates):
        return rng.choice(candidates or [0, 1, 2, 3])

    # 1. the most frequent answer position per type (learnt on train)
    positions = {t: collections.Counter(r["answer"] for r in train if qtype(r) == t).most_common(1)[0][0]
                 for t in QUESTION_TYPES}
    by_position = _accuracy(test, lambda r: positions[qtype(r)])
    assert all(acc == pytest.approx(0.25) for acc in by_position.values()), by_position

    # 2. the option whose string was most often the answer for this type in train
    counts = collections.defaultdict(collections.Counter)
    for r in train:
        counts[qtype(r)][r["options"][r["answer"]]] += 1
    by_string = _accuracy(test, lambda r: max(range(4), key=lambda i: (counts[qtype(r)][r["options"][i]],
                                                                        rng.random())))
    assert all(acc < 0.35 for acc in by_string.values()), by_string

    # 3. "the option not present in the video"
    def absent(r):
        clip = audit.clip(r)
        return among([i for i, c in enumerate(audit.option_classes(r)) if c not in clip])

    by_absence = _accuracy(test, absent)
    for t in ("Sequence", "Prediction", "Feasibility"):
        assert by_absence[t] < 0.35, by_absence

    # 4. an order-blind oracle: knows the rule and the clip's events, not their order.
    def order_blind(r):
        clip = audit.clip(r)
        votes = collections.Counter(derive_answer(audit, r, list(p)) for p in itertools.permutations(clip))
        options = audit.option_classes(r)
        tally = [votes[c] for c in options]
        assert len(set(tally)) == 1, "order-blind evidence must not favour any option"
        return among([i for i, v in enumerate(tally) if v == max(tally)])

    ordered = [r for r in test if qtype(r) in ("Sequence", "Prediction")]
    by_order_blind = _accuracy(ordered, order_blind)
    assert all(acc < 0.35 for acc in by_order_blind.values()), by_order_blind


# ---------------------------------------------------------------------------------------
# reuse, mismatch, atomicity
# ---------------------------------------------------------------------------------------
def test_ensure_generates_then_reuses(tmp_path, monkeypatch):
    out = ensure_synthetic_star(tmp_path / "syn", TINY)
    assert (out / "meta.json").is_file()
    stamp = (out / "meta.json").stat().st_mtime_ns

    def must_not_run(*_a, **_k):
        raise AssertionError("a matching folder must be reused, not regenerated")

    monkeypatch.setattr(synthetic, "_build", must_not_run)
    assert ensure_synthetic_star(tmp_path / "syn", TINY) == out
    assert (out / "meta.json").stat().st_mtime_ns == stamp


def test_ensure_rejects_other_config_and_foreign_folders(tmp_path):
    out = generate_synthetic_star(tmp_path / "syn", TINY)
    other = SyntheticStarConfig(**{**TINY.to_dict(), "seed": 99})
    with pytest.raises(SyntheticBenchmarkError, match=r"seed: folder has 3, requested 99.*Delete"):
        ensure_synthetic_star(out, other)

    foreign = tmp_path / "my_star"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("real data")
    with pytest.raises(SyntheticBenchmarkError, match="not a complete synthetic benchmark"):
        ensure_synthetic_star(foreign, TINY)
    with pytest.raises(SyntheticBenchmarkError, match="refusing to overwrite"):
        generate_synthetic_star(foreign, TINY, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "real data"

    (out / "vis_db" / "s3d.pth").unlink()
    with pytest.raises(SyntheticBenchmarkError, match="missing vis_db/s3d.pth"):
        ensure_synthetic_star(out, TINY)


def test_generate_refuses_existing_unless_overwrite(tmp_path):
    out = generate_synthetic_star(tmp_path / "syn", TINY)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        generate_synthetic_star(out, TINY)
    other = SyntheticStarConfig(**{**TINY.to_dict(), "seed": 5})
    generate_synthetic_star(out, other, overwrite=True)
    assert load_json(out / "meta.json")["config"]["seed"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn"]


def test_failure_mid_generation_leaves_no_folder(tmp_path, monkeypatch):
    def broken_writer(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "_write_features", broken_writer)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_synthetic_star(tmp_path / "syn", TINY)
    assert list(tmp_path.iterdir()) == [], "no target and no partial sibling may remain"

    monkeypatch.undo()
    out = generate_synthetic_star(tmp_path / "syn", TINY)
    before = _text_files(out)
    monkeypatch.setattr(synthetic, "_write_features", broken_writer)
    with pytest.raises(RuntimeError):
        generate_synthetic_star(out, SyntheticStarConfig(**{**TINY.to_dict(), "seed": 8}), overwrite=True)
    assert _text_files(out) == before, "a failed overwrite keeps the old folder intact"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn"]


# ---------------------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value", [
    ("num_verbs", 4), ("num_objects", 3), ("max_events", 4), ("train_per_type", 0),
    ("min_event_frames", 0), ("unannotated_fraction", 1.5), ("feature_dim", 2.5), ("seed", True),
])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"SyntheticStarConfig.{field}="):
        SyntheticStarConfig(**{field: value})


def test_config_dict_round_trip_and_unknown_keys():
    assert SyntheticStarConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ValueError, match="unknown key.*num_clases"):
        SyntheticStarConfig.from_dict({"num_clases": 12})
    defaults = SyntheticStarConfig()
    assert 12 <= defaults.num_classes <= 20 and defaults.max_clip_frames <= 64


def test_a_process_finishing_second_does_not_replace_the_folder_in_use(tmp_path, monkeypatch):
    """Two torchrun ranks generate on first use; the loser must not swap its copy in while
    the winner's files are being read (seen as a vanished action_mapping.txt under torchrun)."""
    import gf.benchmarks.synthetic.generate as synthetic

    cfg = SyntheticStarConfig(train_per_type=2, val_per_type=1, test_per_type=1, feature_dim=8)
    out = tmp_path / "SYN"
    real_write = synthetic._write_tree

    def write_while_other_rank_finishes(folder, config):
        real_write(folder, config)
        if not out.exists():
            real_write_out = synthetic._write_tree
            monkeypatch.setattr(synthetic, "_write_tree", real_write)
            synthetic.generate_synthetic_star(out, config)  # the other rank wins the race
            monkeypatch.setattr(synthetic, "_write_tree", real_write_out)
            (out / "marker").write_text("in use")

    monkeypatch.setattr(synthetic, "_write_tree", write_while_other_rank_finishes)
    assert synthetic.ensure_synthetic_star(out, cfg) == out
    assert (out / "marker").read_text() == "in use"  # the winner's folder was not replaced
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".SYN.")]  # no leftovers


# ---------------------------------------------------------------------------------------
# versions: v1 unchanged, v2 recorded and checked (the shortcut audit is test_synthetic_audit.py)
# ---------------------------------------------------------------------------------------
TINY_V2 = SyntheticStarConfig(seed=3, train_per_type=8, val_per_type=4, test_per_type=4, feature_dim=32, version=2)
#: sha256 over (relative path, bytes) of every text file TINY wrote before version 2 existed,
#: less those format 2 changed: README.md and meta.json (which mention the new file) and
#: grounding.json (new). The same value is computed from the code before format 2.
TINY_V1_TEXT_SHA256 = "d90a8203e18561404405549c75f64fa55de0b5b406456f532fb1b55aa71fba2b"
FORMAT_2_FILES = ("grounding.json", "README.md", "meta.json")


@pytest.fixture(scope="module")
def tiny_v2(tmp_path_factory) -> Bundle:
    return Bundle(generate_synthetic_star(tmp_path_factory.mktemp("syn") / "tiny_v2", TINY_V2))


def test_v1_output_is_byte_identical_to_before_version_2(tiny):
    import hashlib

    h = hashlib.sha256()
    for rel, data in _text_files(tiny.root).items():
        if rel.name not in FORMAT_2_FILES:
            h.update(str(rel).encode()); h.update(b"\0"); h.update(data)
    assert h.hexdigest() == TINY_V1_TEXT_SHA256
    assert "version" not in tiny.meta["config"] and "generator version" not in (tiny.root / "README.md").read_text()


def test_v2_layout_balance_answers_and_recorded_version(tiny_v2):
    b = tiny_v2
    assert b.meta["config"] == TINY_V2.to_dict() and b.meta["config"]["version"] == 2
    assert (b.num_classes, b.meta["num_classes"]) == (48, 48)  # 8 verbs x 6 objects by default
    assert "generator version 2" in (b.root / "README.md").read_text()
    for split in SPLITS:
        rows = b.rows[split]
        assert collections.Counter(map(qtype, rows)) == {t: TINY_V2.per_type(split) for t in QUESTION_TYPES}
        for t in QUESTION_TYPES:
            positions = collections.Counter(r["answer"] for r in rows if qtype(r) == t)
            assert positions == {p: TINY_V2.per_type(split) // 4 for p in range(4)}
    for row in b.all_rows():
        clip, options = b.clip(row), b.option_classes(row)
        assert options[row["answer"]] == derive_answer(b, row, clip), row
        assert len(clip) == len(set(clip)) and len(clip) <= TINY_V2.max_events
        if qtype(row) == "Sequence":
            anchor = b.gerund_to_class[re.search(r"(?:after|before) (.+)\?", row["question"]).group(1)]
            assert len(clip) >= 6 and set(options) <= set(clip), "distractors are events of the clip"
            assert len(set(clip) - set(options) - {anchor}) >= 1, "options never cover all other events"


def test_v2_sequence_sometimes_offers_the_named_event_and_feasibility_varies(tmp_path):
    cfg = SyntheticStarConfig(seed=5, train_per_type=200, val_per_type=1, test_per_type=1, feature_dim=4, version=2)
    b = Bundle(generate_synthetic_star(tmp_path / "v2", cfg))
    seq = [r for r in b.rows["train"] if qtype(r) == "Sequence"]
    named_offered = sum(b.gerund_to_class[re.search(r"(?:after|before) (.+)\?", r["question"]).group(1)]
                        in b.option_classes(r) for r in seq)
    assert 0.3 < named_offered / len(seq) < 0.8, named_offered
    feas = [r for r in b.rows["train"] if qtype(r) == "Feasibility"]
    assert {len(b.clip(r)) for r in feas} == {4, 5, 6}
    by_verb = collections.defaultdict(set)
    for r in feas:
        options = b.option_classes(r)
        by_verb[b.verb_of[options[0]]].add(frozenset(options))
    assert len(by_verb) >= 4 and all(len(sets) >= 5 for sets in by_verb.values()), by_verb
    # v1 with its default grid: always 4 events and one option set per option verb.
    v1 = Bundle(generate_synthetic_star(tmp_path / "v1", SyntheticStarConfig(**{**cfg.to_dict(), "version": 1,
                                                                             "num_verbs": 5, "num_objects": 4})))
    feas1 = [r for r in v1.rows["train"] if qtype(r) == "Feasibility"]
    assert {len(v1.clip(r)) for r in feas1} == {4}
    assert len({frozenset(v1.option_classes(r)) for r in feas1}) == 5


def test_version_is_validated_defaults_the_grid_and_round_trips():
    assert SyntheticStarConfig().version == 1 and (SyntheticStarConfig().num_verbs, SyntheticStarConfig().num_objects) == (5, 4)
    assert "version" not in SyntheticStarConfig().to_dict()
    v2 = SyntheticStarConfig(version=2)
    assert (v2.num_verbs, v2.num_objects) == (8, 6) and v2.to_dict()["version"] == 2
    assert SyntheticStarConfig.from_dict(v2.to_dict()) == v2 == SyntheticStarConfig(version=2, num_verbs=8)
    assert v2.max_clip_frames <= 64
    for bad in (0, 3, "2", True):
        with pytest.raises(ValueError, match="SyntheticStarConfig.version="):
            SyntheticStarConfig(version=bad)
    for field, value in (("num_verbs", 5), ("num_objects", 4), ("max_events", 5)):
        with pytest.raises(ValueError, match=f"SyntheticStarConfig.{field}=.*version 2"):
            SyntheticStarConfig(version=2, **{field: value})


def test_ensure_refuses_a_folder_of_another_version(tmp_path):
    out = generate_synthetic_star(tmp_path / "syn", TINY)
    v2 = SyntheticStarConfig(**{**TINY.to_dict(), "version": 2, "num_verbs": 8, "num_objects": 6})
    with pytest.raises(SyntheticBenchmarkError, match=r"version: folder has 1, requested 2"):
        ensure_synthetic_star(out, v2)
    out2 = generate_synthetic_star(tmp_path / "syn2", v2)
    assert ensure_synthetic_star(out2, v2) == out2
    v1_same_grid = SyntheticStarConfig(**{**v2.to_dict(), "version": 1})
    with pytest.raises(SyntheticBenchmarkError, match=r"version: folder has 2, requested 1"):
        ensure_synthetic_star(out2, v1_same_grid)
