"""Streaming a training split from webdataset shards (gf.datasets.streaming), and the
features' recipe and class names travelling with a checkpoint.

A tiny synthetic STAR benchmark (24 train questions keyed by question id) is written once
into 4 shards of 12 keys each: 6 train keys and 6 val/test keys per shard, so each shard
holds exactly a quarter of the training split and every split of ranks x workers that gives
each reader whole shards sees each training question exactly once.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from gf.cli import main as gf_main
from gf.common.config import build_config
from gf.common.errors import ConfigError, DatasetError
from gf.common.safe_load import torch_load_safe
from gf.common.registry import registry
from gf.datasets.feature_stores import PthDictStore
from gf.datasets.webdataset_store import write_webdataset_shards
from gf.datasets.streaming import StreamingVideoQADataset, worker_share
from gf.datasets.videoqa import VideoQADataset, collate_videoqa
from gf.runners.hooks import HookBase

from conftest import TINY_TEXT_ENCODER

GENERATOR = dict(train_per_type=6, val_per_type=3, test_per_type=3, feature_dim=16, min_events=3, max_events=6,
                 max_event_frames=4, max_gap_frames=2)
NUM_TRAIN = 24


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """The generated benchmark, its random-access train split and the shards."""
    root = tmp_path_factory.mktemp("stream")
    builder = registry.get_builder_class("synthetic_star")(_dataset_cfg(root))
    train = builder.build_datasets(["train"])["train"]
    store = PthDictStore(root / "data" / "SYNTHETIC_STAR" / "vis_db" / "s3d.pth")
    train_keys = [train.feature_key(i) for i in range(len(train))]
    others = [k for k in store.keys() if k not in set(train_keys)]
    assert len(train_keys) == NUM_TRAIN and len(others) == NUM_TRAIN
    order = [k for s in range(4) for k in train_keys[6 * s:6 * s + 6] + others[6 * s:6 * s + 6]]
    write_webdataset_shards({k: store[k] for k in order}, root / "shards", num_shards=4)
    return {"root": root, "train": train, "shards": root / "shards", "ids": train.question_ids()}


def _dataset_cfg(root: Path, **extra):
    return {"data_root": str(root / "data"), "max_feats": 24, "max_events": 6, "generator": dict(GENERATOR), **extra}


def _streamed(bench, *, epoch_length=NUM_TRAIN, shuffle_buffer=0, shard_shuffle=False, **extra):
    cfg = _dataset_cfg(bench["root"], features=str(bench["shards"]),
                       stream={"enabled": True, "epoch_length": epoch_length, "shuffle_buffer": shuffle_buffer,
                               "shard_shuffle": shard_shuffle}, **extra)
    builder = registry.get_builder_class("synthetic_star")(cfg)
    return builder.build_datasets(["train"])["train"]


def _assert_same_sample(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if torch.is_tensor(a[key]):
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def _ids(dataset):
    return [s["question_id"] for s in dataset]


# ------------------------------------------------------------------ the same samples


def test_without_shuffling_the_stream_is_the_random_access_split_in_order(bench):
    stream = _streamed(bench)
    assert isinstance(stream, StreamingVideoQADataset) and len(stream) == NUM_TRAIN
    train = bench["train"]
    for epoch in (0, 3):  # train-time event subsampling is seeded by (seed, epoch, index) in both
        stream.set_epoch(epoch)
        train.set_epoch(epoch)
        samples = list(stream)
        assert [s["question_id"] for s in samples] == bench["ids"]
        for i, sample in enumerate(samples):
            _assert_same_sample(sample, train[i])
    # through a DataLoader (no workers): the same batches as random access in order
    stream.set_batch_size(5)
    streamed = list(DataLoader(stream, batch_size=5, collate_fn=collate_videoqa))
    direct = list(DataLoader(train, batch_size=5, collate_fn=collate_videoqa))
    assert len(streamed) == len(direct) == 5
    for a, b in zip(streamed, direct):
        assert a["question_id"] == b["question_id"] and torch.equal(a["video"], b["video"])
        assert all(torch.equal(x, y) for x, y in zip(a["spans"], b["spans"]))


def test_a_key_with_several_questions_gives_one_sample_per_question(tmp_path):
    """NExT-QA keys features by video: each of a video's questions is its own sample."""
    g = torch.Generator().manual_seed(0)
    feats = {f"v{i}": torch.randn(5 + i, 8, generator=g) for i in range(4)}
    records = [{"question_id": f"q{v}_{j}", "question": f"q {j}?", "options": ["a", "b", "c"], "answer": j % 3,
                "video_id": f"v{v}"} for v in range(4) for j in range(v % 3 + 1)]
    torch.save(feats, tmp_path / "feats.pth")
    write_webdataset_shards(feats, tmp_path / "shards", num_shards=2)
    from gf.processors.video import VideoFeatureProcessor

    class InPlace(VideoFeatureProcessor):  # a processor may modify the tensor it is given
        def __call__(self, feats):
            return super().__call__(feats.mul_(2))

    ds = VideoQADataset(records, PthDictStore(tmp_path / "feats.pth"), InPlace(6), None,
                        split="train", benchmark="toy", max_events=None, train=True, seed=0, key_field="video_id",
                        text_format="{question} {option}", frame_probe="shuffle")
    shards = sorted(str(p) for p in (tmp_path / "shards").glob("*.tar"))
    stream = StreamingVideoQADataset(ds, shards, epoch_length=len(records), shuffle_buffer=0, shard_shuffle=False)
    samples = list(stream)
    assert [s["question_id"] for s in samples] == ds.question_ids()
    for i, sample in enumerate(samples):  # the questions of one video do not share a tensor
        _assert_same_sample(sample, ds[i])


# ------------------------------------------------------------------ every sample once


@pytest.mark.parametrize("batch_size", [4, 6])
def test_two_workers_read_every_question_once_per_epoch(bench, batch_size):
    """Batches are dealt to the workers in turn; with 24 samples in batches of 4 or 6 each
    worker's share is 12, what its two shards hold."""
    stream = _streamed(bench, shuffle_buffer=8, shard_shuffle=True)
    stream.set_batch_size(batch_size)
    loader = DataLoader(stream, batch_size=batch_size, num_workers=2, collate_fn=collate_videoqa)
    orders = []
    for epoch in (0, 1):
        stream.set_epoch(epoch)
        batches = [b["question_id"] for b in loader]
        assert len(batches) == len(loader) == -(-NUM_TRAIN // batch_size)
        ids = [q for b in batches for q in b]
        assert sorted(ids) == sorted(bench["ids"])  # each exactly once
        orders.append(ids)
    assert orders[0] != orders[1]


def test_worker_shares_that_differ_from_their_shards_repeat_or_leave_out(bench):
    """Batches of 5: 5 batches dealt 0, 1, 0, 1, 0 give shares of 14 and 10, so worker 0 reads 2
    questions a second time and worker 1 leaves 2 out; the rank still yields 24 in 5 batches."""
    stream = _streamed(bench, shuffle_buffer=8, shard_shuffle=True)
    stream.set_batch_size(5)
    loader = DataLoader(stream, batch_size=5, num_workers=2, collate_fn=collate_videoqa)
    batches = [b["question_id"] for b in loader]
    assert len(loader) == 5 and [len(b) for b in batches] == [5, 5, 5, 5, 4]
    ids = [q for b in batches for q in b]
    assert len(ids) == NUM_TRAIN and len(set(ids)) == NUM_TRAIN - 2


def test_two_ranks_read_disjoint_halves_that_cover_the_split(bench, monkeypatch):
    """Ranks come from torch.distributed or, as here, RANK / WORLD_SIZE (torchrun's variables)."""
    stream = _streamed(bench, epoch_length=NUM_TRAIN // 2, shuffle_buffer=8, shard_shuffle=True)
    for epoch in (0, 1):
        stream.set_epoch(epoch)
        halves = []
        for rank in (0, 1):
            monkeypatch.setenv("RANK", str(rank))
            monkeypatch.setenv("WORLD_SIZE", "2")
            halves.append(_ids(stream))
        assert len(halves[0]) == len(halves[1]) == NUM_TRAIN // 2
        assert sorted(halves[0] + halves[1]) == sorted(bench["ids"])
        if epoch == 0:
            first = halves
    assert set(first[0]) != set(halves[0])  # the shard permutation moves shards between ranks


def test_generic_worker_env_vars_do_not_split_the_shards(bench, monkeypatch):
    """WORKER / NUM_WORKERS (webdataset's override) once made both DataLoader workers read
    worker 0's shards, and a loader without workers read a third; the DataLoader decides now."""
    monkeypatch.setenv("WORKER", "0")
    monkeypatch.setenv("NUM_WORKERS", "3")
    stream = _streamed(bench)
    assert _ids(stream) == bench["ids"]
    monkeypatch.setenv("NUM_WORKERS", "2")
    stream.set_batch_size(4)
    loader = DataLoader(stream, batch_size=4, num_workers=2, collate_fn=collate_videoqa)
    assert sorted(q for b in loader for q in b["question_id"]) == sorted(bench["ids"])


def test_an_initialised_process_group_outranks_rank_env_vars(bench, monkeypatch, tmp_path):
    """A process group of one with RANK=1 WORLD_SIZE=2 left in the environment reads the whole
    split (it read half); without a group, RANK / WORLD_SIZE no launcher sets are refused."""
    import torch.distributed as dist

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    stream = _streamed(bench)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        assert _ids(stream) == bench["ids"]
    finally:
        dist.destroy_process_group()
    monkeypatch.setenv("RANK", "two")
    with pytest.raises(ConfigError, match=r"RANK='two' WORLD_SIZE='2': streaming splits shards by them"):
        list(stream)


# ------------------------------------------------------------------ order


def test_shuffled_order_is_reproducible_per_seed_and_epoch(bench):
    stream = _streamed(bench, shuffle_buffer=8, shard_shuffle=True)
    stream.set_epoch(1)
    once, twice = _ids(stream), _ids(stream)
    assert once == twice and once != bench["ids"] and sorted(once) == sorted(bench["ids"])
    stream.set_epoch(2)
    assert _ids(stream) != once
    resumed = _streamed(bench, shuffle_buffer=8, shard_shuffle=True)  # a resumed run: a new object, set_epoch(1)
    resumed.set_epoch(1)
    assert _ids(resumed) == once
    resumed.set_seed(7)
    assert _ids(resumed) != once


def test_epoch_length_shorter_or_longer_than_the_shards(bench):
    short = _streamed(bench, epoch_length=10)
    assert _ids(short) == bench["ids"][:10]  # the rest is not seen this epoch
    long = _streamed(bench, epoch_length=30, shuffle_buffer=4, shard_shuffle=True)
    ids = _ids(long)
    assert len(ids) == 30 and set(ids) == set(bench["ids"])  # a second, reshuffled pass fills it
    # two workers, batch 4, 10 samples: batches of 4, 4, 2 dealt 0, 1, 0: shares 6 and 4
    assert [worker_share(10, 4, 2, w) for w in (0, 1)] == [6, 4]
    assert [worker_share(24, 5, 2, w) for w in (0, 1)] == [14, 10]
    short.set_batch_size(4)
    loader = DataLoader(short, batch_size=4, num_workers=2, collate_fn=collate_videoqa)
    assert len(loader) == 3 and [len(b["question_id"]) for b in loader] == [4, 4, 2]


def test_fewer_shards_than_readers_is_an_error(bench, monkeypatch):
    stream = _streamed(bench, epoch_length=6)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "5")
    with pytest.raises(DatasetError, match=r"4 webdataset shard\(s\) hold its questions, for 5 process\(es\) "
                                           r"x 1 DataLoader worker"):
        list(stream)
    with pytest.raises(DatasetError, match=r"for 2 process\(es\) x 3 DataLoader worker"):
        stream.check_readers(2, 3)
    stream.check_readers(2, 2)


def test_only_shards_holding_training_questions_are_streamed(bench, tmp_path, monkeypatch):
    """One extraction of every split, training keys first: the val/test-only shards are left
    out, so no rank or worker is handed shards with nothing to train on."""
    store = PthDictStore(bench["root"] / "data" / "SYNTHETIC_STAR" / "vis_db" / "s3d.pth")
    train = set(bench["ids"])
    order = sorted(store.keys(), key=lambda k: k not in train)  # stable: the 24 train keys, then the rest
    shards = write_webdataset_shards({k: store[k] for k in order}, tmp_path / "all", num_shards=4)
    cfg = _dataset_cfg(bench["root"], features=str(tmp_path / "all"),
                       stream={"enabled": True, "epoch_length": NUM_TRAIN // 2, "shuffle_buffer": 0})
    builder = registry.get_builder_class("synthetic_star")(cfg)
    stream = builder.build_datasets(["train"])["train"]
    assert stream.shards == shards[:2]
    halves = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        halves.append(_ids(stream))
    assert sorted(halves[0] + halves[1]) == sorted(bench["ids"])


# ------------------------------------------------------------------ config


def test_stream_options_are_checked_naming_the_key(bench, tmp_path):
    cls = registry.get_builder_class("synthetic_star")
    assert cls.DEFAULT_CONFIG["stream"] == {"enabled": False, "epoch_length": None, "shuffle_buffer": 1000,
                                            "shard_shuffle": True}
    assert all("stream" in registry.get_builder_class(n).DEFAULT_CONFIG
               for n in ("star", "agqa", "nextqa", "egotaskqa"))
    root = bench["root"]
    with pytest.raises(ConfigError, match=r"unknown key 'stream\.epoch_lenght' \(did you mean 'stream\.epoch_length'"):
        cls(_dataset_cfg(root, stream={"epoch_lenght": 3}))
    for key, value, says in [("enabled", "yes", "true or false"), ("shard_shuffle", 1, "true or false"),
                             ("shuffle_buffer", -1, "integer >= 0"), ("epoch_length", 0, "positive integer")]:
        with pytest.raises(ConfigError, match=rf"datasets\.synthetic_star\.stream\.{key} must be .*{says}"):
            cls(_dataset_cfg(root, stream={key: value}))
    # streaming reads shards: a .pth store is refused, naming the key
    with pytest.raises(ConfigError, match=r"datasets\.synthetic_star\.stream\.enabled is true but the feature "
                                          r"store .*s3d\.pth is a pth store"):
        cls(_dataset_cfg(root, stream={"enabled": True, "epoch_length": 4})).build_datasets(["train"])
    # no epoch length: refused when the training split is built, with the split's size
    with pytest.raises(ConfigError, match=r"datasets\.synthetic_star\.stream\.epoch_length is not set.*24 questions"):
        _streamed(bench, epoch_length=None)
    # val and test stay random access
    both = cls(_dataset_cfg(root, features=str(bench["shards"]), splits=["train", "val"],
                            stream={"enabled": True, "epoch_length": 24})).build_datasets()
    assert isinstance(both["train"], StreamingVideoQADataset) and isinstance(both["val"], VideoQADataset)
    # the run config layer knows the key (its schema is the builder's DEFAULT_CONFIG)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(textwrap.dedent("""
        model: {name: glance_focus, model_type: demo_sup}
        datasets: {synthetic_star: {max_events: 8, stream: {enabled: true, epoch_length: 8}}}
    """))
    assert build_config(str(cfg)).datasets.synthetic_star.stream.epoch_length == 8
    cfg.write_text(cfg.read_text().replace("epoch_length", "epoch_lenght"))
    with pytest.raises(ConfigError, match="epoch_lenght"):
        build_config(str(cfg))


# ------------------------------------------------------------------ through gf train

ORDER: dict = {}


@registry.register_hook("test_streaming_order")
class _RecordOrder(HookBase):
    """Records the question ids of every training step, per epoch."""

    def after_step(self):
        ORDER.setdefault(self.runner.current_epoch, []).extend(self.runner.batch["question_id"])


def _write_run_config(tmp_path, data_root, features, *, stream=None, epochs=2, name="cfg.yaml"):
    stream_yaml = f"stream: {json.dumps(stream)}" if stream else ""
    text = f"""
        model:
          name: glance_focus
          model_type: demo_sup
          text_encoder: {TINY_TEXT_ENCODER}
          freeze_text_encoder: true
          d_model: 32
          nhead: 4
          dim_feedforward: 64
          num_queries: 6
        datasets:
          synthetic_star:
            data_root: {data_root}
            features: {features}
            max_feats: 24
            max_events: 6
            generator: {json.dumps(GENERATOR)}
            {stream_yaml}
        run:
          output_dir: {tmp_path / 'out'}
          epochs: {epochs}
          batch_size: 4
          eval_batch_size: 12
          num_workers: 0
          lr: 0.001
          lr_sched: cosine
          best_metric: mean
          progress: false
          hooks: [test_streaming_order]
    """
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_gf_train_streams_and_records_the_recipe_and_class_names(bench, tmp_path):
    recipe = {"recipe_version": 1, "backbone": {"name": "tiny_test_backbone", "feature_dim": 16},
              "sampling": {"num_frames": 8}, "output": {"format": "webdataset", "dtype": "float16", "store": "."}}
    (bench["shards"] / "features.json").write_text(json.dumps(recipe))
    try:
        run_dir = tmp_path
        cfg = _write_run_config(run_dir, bench["root"] / "data", bench["shards"],
                                stream={"enabled": True, "epoch_length": NUM_TRAIN, "shuffle_buffer": 8})
        ORDER.clear()
        assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    finally:
        (bench["shards"] / "features.json").unlink()
    ckpt = torch_load_safe(run_dir / "out" / "checkpoint_best.pth")
    assert ckpt["extra"]["feature_recipe"] == recipe
    names = ckpt["extra"]["class_names"]
    assert len(names) == 20 and names[0] == "a000 v000 o000"  # the class list's lines
    labels = (bench["root"] / "data" / "SYNTHETIC_STAR" / "txt_db" / "action_classes.txt").read_text().splitlines()
    assert ckpt["extra"]["class_labels"] == labels  # their names, which gf predict shows
    last = torch_load_safe(run_dir / "out" / "checkpoint_last.pth")
    assert last["step"] == 2 * 6 and last["extra"]["feature_recipe"] == recipe
    # each epoch read every question once, in the order the stream gives for (run.seed, epoch)
    assert sorted(ORDER) == [0, 1] and ORDER[0] != ORDER[1]
    for epoch, ids in ORDER.items():
        assert sorted(ids) == sorted(bench["ids"])
        expected = _streamed(bench, shuffle_buffer=8, shard_shuffle=True)
        expected.set_seed(42)  # run.seed's default
        expected.set_epoch(epoch)
        assert ids == _ids(expected)
    report = json.loads((run_dir / "out" / "eval" / "test_best_report.json").read_text())
    assert report["num_questions"] == 12  # the test split by random access from the same shards


def test_a_store_without_a_recipe_records_none(bench, tmp_path):
    run_dir = tmp_path
    cfg = _write_run_config(run_dir, bench["root"] / "data", "vis_db/s3d.pth", epochs=1)
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", "run.max_steps=1"]) == 0
    ckpt = torch_load_safe(run_dir / "out" / "checkpoint_best.pth")
    assert ckpt["extra"]["feature_recipe"] is None and len(ckpt["extra"]["class_names"]) == 20


def test_a_recipe_that_describes_another_file_is_not_recorded(bench, tmp_path):
    """features.json beside s3d.pth but written for features.pth: not s3d.pth's recipe."""
    cls = registry.get_builder_class("synthetic_star")
    folder = tmp_path / "feats"
    folder.mkdir()
    (folder / "s3d.pth").symlink_to(bench["root"] / "data" / "SYNTHETIC_STAR" / "vis_db" / "s3d.pth")
    recipe = {"backbone": {"name": "x"}, "output": {"format": "pth", "store": "features.pth"}}
    (folder / "features.json").write_text(json.dumps(recipe))
    assert cls(_dataset_cfg(bench["root"], features=str(folder / "s3d.pth"))).info()["feature_recipe"] is None
    (folder / "features.pth").symlink_to(folder / "s3d.pth")
    info = cls(_dataset_cfg(bench["root"], features=str(folder / "features.pth"))).info()
    assert info["feature_recipe"] == recipe
