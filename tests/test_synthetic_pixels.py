"""The synthetic benchmark rendered as videos (gf.benchmarks.synthetic.pixels), end to end.

Why real files all the way: what can go wrong lies between the steps -- a clip one frame
short, timestamps that put a frame in the wrong second, a partial file a later step
trusts, a store whose keys or rows do not line up with the benchmark's questions. So the
tests render a tiny generated benchmark with PyAV, decode it with decord, extract it with
``gf extract`` (timm's ``test_convnext3``, random init) and build a batch through the
synthetic builder.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import gf.benchmarks.synthetic.pixels as sp
from gf.benchmarks.synthetic.config import SyntheticStarConfig
from gf.benchmarks.synthetic.generate import ensure_synthetic_star
from gf.cli import main as gf_main
from gf.common.errors import ConfigError, DataFileError

GENERATOR = dict(version=2, train_per_type=2, val_per_type=1, test_per_type=1, min_event_frames=2,
                 max_event_frames=4, max_gap_frames=2, max_edge_frames=1)
STYLE = sp.PixelStyle()  # the demo's: 32 px, 4 frames per second


def questions(bench: Path):
    rows = []
    for split in ("train", "val", "test"):
        rows += [json.loads(line) for line in (bench / "txt_db" / f"{split}.jsonl").read_text().splitlines()]
    return rows


def decode(path):
    """(frames uint8 [N, H, W, 3], frame start times, duration) as gf extract's decord reader sees them."""
    import decord

    vr = decord.VideoReader(str(path))
    stamps = np.asarray(vr.get_frame_timestamp(list(range(len(vr)))), np.float64).reshape(-1, 2)
    return vr.get_batch(list(range(len(vr)))).asnumpy(), stamps[:, 0] - stamps[0, 0], stamps[-1, 1] - stamps[0, 0]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return ensure_synthetic_star(root / "SYNTHETIC_STAR", SyntheticStarConfig(**GENERATOR))


@pytest.fixture(scope="module")
def rendered(bench, tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "videos"
    summary = sp.render_benchmark(bench, out, STYLE, progress=False)
    return out, summary


def test_one_video_per_question_lasting_its_clip(bench, rendered):
    out, summary = rendered
    rows = questions(bench)
    events = json.loads((bench / "txt_db" / "events.json").read_text())
    assert summary.total == summary.rendered == len(rows) == 16 and summary.skipped == 0
    assert sorted(p.stem for p in out.glob("*.mp4")) == sorted(r["question_id"] for r in rows)
    assert summary.frames == sum(int(e["duration"]) for e in events.values()) * STYLE.fps
    for row in rows[:4]:
        seconds = int(events[row["question_id"]]["duration"])
        frames, times, duration = decode(out / f"{row['question_id']}.mp4")
        assert frames.shape == (seconds * STYLE.fps, STYLE.size, STYLE.size, 3)
        assert duration == pytest.approx(seconds, abs=1e-3)
        assert np.allclose(times, np.arange(len(times)) / STYLE.fps, atol=1e-3)
    # PyAV (gf extract's fallback decoder) counts the same frames
    import av

    row = rows[0]
    with av.open(str(out / f"{row['question_id']}.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == int(events[row["question_id"]]["duration"]) * STYLE.fps


def test_frames_show_each_event_in_its_seconds(bench, rendered):
    out, _ = rendered
    events = json.loads((bench / "txt_db" / "events.json").read_text())
    meta = json.loads((bench / "meta.json").read_text())
    key = next(iter(events))
    entry = events[key]
    frames, _, _ = decode(out / f"{key}.mp4")
    drawn = sp.render_clip_frames(entry["actions"], entry["duration"], meta["config"]["num_verbs"], STYLE, key)
    assert np.abs(frames.astype(int) - drawn.astype(int)).mean() < 8  # the encoder keeps the picture
    per_second = frames.reshape(int(entry["duration"]), STYLE.fps, *frames.shape[1:])
    busy = {int(t) for _, s, e in entry["actions"] for t in range(int(s), int(e))}
    for t, second in enumerate(per_second):
        spread = np.abs(second.astype(int) - STYLE.background).mean()
        assert (spread > 25) == (t in busy), (t, spread)


def test_rendering_is_deterministic(bench, rendered, tmp_path):
    out, _ = rendered
    again = tmp_path / "again"
    sp.render_benchmark(bench, again, STYLE, progress=False, workers=2)  # other process, other order
    for path in sorted(out.glob("*.mp4")):
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    a = sp.render_clip_frames([(3, 1.0, 3.0)], 4, 8, STYLE, "q")
    assert np.array_equal(a, sp.render_clip_frames([(3, 1.0, 3.0)], 4, 8, STYLE, "q"))
    assert not np.array_equal(a, sp.render_clip_frames([(3, 1.0, 3.0)], 4, 8, STYLE, "other question"))  # own noise


def test_each_class_has_its_own_picture_and_shares_colour_by_verb_and_shape_by_object():
    verbs, objects = 8, 6
    clean = sp.PixelStyle(noise_std=0.0, drift=0.0)  # no noise, shapes in the centre: pictures comparable
    pictures = {cls: sp.render_clip_frames([(cls, 0.0, 1.0)], 1, verbs, clean, "k")[0].astype(int)
                for cls in range(verbs * objects)}
    background = sp.render_clip_frames([], 1, verbs, clean, "k")[0].astype(int)
    assert np.all(background == clean.background)
    for a in pictures:
        for b in pictures:
            if a < b:
                assert np.abs(pictures[a] - pictures[b]).mean() > 5, (a, b)

    def drawn(picture):
        return np.abs(picture - background).max(-1) > 0

    for cls, picture in pictures.items():
        look = sp.class_pattern(cls, verbs)
        assert (look["verb"], look["object"]) == (cls % verbs, cls // verbs)
        # the verb is the colour of the fully covered pixels ...
        solid = np.all(picture == np.asarray(look["colour"]), -1)
        assert solid.sum() > 40, cls
        # ... and the object the drawn pixels' layout: the same for every verb, another for another object
        same_object = pictures[look["object"] * verbs + (look["verb"] + 1) % verbs]
        assert np.array_equal(drawn(picture), drawn(same_object)), cls
        same_verb = pictures[((look["object"] + 1) % objects) * verbs + look["verb"]]
        assert (drawn(picture) != drawn(same_verb)).mean() > 0.1, cls


def test_a_rerun_renders_nothing_new(bench, rendered):
    out, _ = rendered
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}
    summary = sp.render_benchmark(bench, out, STYLE, progress=False)
    assert (summary.rendered, summary.skipped) == (0, 16)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")} == stamps


class _Interrupting(np.ndarray):
    """Frames whose iteration stops with Ctrl-C after 3 frames: an encoder killed mid-video."""

    def __iter__(self):
        for i in range(3):
            yield np.asarray(self)[i]
        raise KeyboardInterrupt


def test_an_interrupted_render_leaves_no_trusted_partial_file(bench, tmp_path, monkeypatch):
    out = tmp_path / "videos"
    keys = [r["question_id"] for r in questions(bench)]
    victim = keys[5]
    real = sp.render_clip_frames

    def interrupted(actions, duration, num_verbs, style, key):
        frames = real(actions, duration, num_verbs, style, key)
        return frames.view(_Interrupting) if key == victim else frames

    monkeypatch.setattr(sp, "render_clip_frames", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sp.render_benchmark(bench, out, STYLE, progress=False)
    names = sorted(p.name for p in out.iterdir())
    assert f"{victim}.mp4" not in names
    assert [n for n in names if n.endswith(".tmp")] == []  # the partial file was removed
    assert sorted(n[:-4] for n in names if n.endswith(".mp4")) == sorted(keys[:5])
    # a harder stop (kill -9) leaves its temporary file behind: hidden, and removed by the next run
    (out / f".{victim}.mp4.abcd1234.tmp").write_bytes(b"\x00" * 100)
    monkeypatch.setattr(sp, "render_clip_frames", real)
    summary = sp.render_benchmark(bench, out, STYLE, progress=False)
    assert (summary.rendered, summary.skipped, summary.removed_partial) == (11, 5, 1)
    assert not list(out.glob(".*.tmp"))
    frames, _, _ = decode(out / f"{victim}.mp4")
    events = json.loads((bench / "txt_db" / "events.json").read_text())
    assert len(frames) == int(events[victim]["duration"]) * STYLE.fps


def test_another_style_or_foreign_videos_are_refused(bench, rendered, tmp_path):
    out, _ = rendered
    with pytest.raises(ConfigError, match="style.fps: folder 4, requested 2"):
        sp.render_benchmark(bench, out, sp.PixelStyle(fps=2), progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.mp4").write_bytes(b"not ours")
    with pytest.raises(ConfigError, match="no render.json"):
        sp.render_benchmark(bench, foreign, STYLE, progress=False)
    with pytest.raises(ConfigError, match="size"):
        sp.PixelStyle(size=31)


def test_unannotated_clips_cannot_be_rendered(tmp_path):
    folder = ensure_synthetic_star(tmp_path / "S", SyntheticStarConfig(**GENERATOR, unannotated_fraction=0.5))
    with pytest.raises(DataFileError, match="unannotated"):
        sp.read_clips(folder)


def test_extract_at_1_fps_gives_one_row_per_second_and_the_builder_reads_it(bench, rendered):
    import torch

    from gf.common.registry import registry
    from gf.datasets.feature_stores import open_feature_store
    from gf.datasets.videoqa import collate_videoqa
    from gf.extraction.extract import ExtractOptions, extract

    out, _ = rendered
    features = bench / "vis_db" / "test_convnext3_32px_1fps"
    summary = extract(ExtractOptions(videos=str(out), out=str(features), backbone="test_convnext3", input_size=32,
                                     fps=1.0, workers=0, progress=False))
    assert not summary.failures and summary.written == 16
    events = json.loads((bench / "txt_db" / "events.json").read_text())
    store = open_feature_store(str(features))
    assert sorted(store.keys()) == sorted(events)
    for key, entry in events.items():
        assert tuple(store[key].shape) == (int(entry["duration"]), 128)
    # each second's row shows that second: rows of one event are closer to each other than to background rows
    key = max(events, key=lambda k: len(events[k]["actions"]))
    rows = store[key]
    (cls, s, e) = events[key]["actions"][0]
    inside = rows[int(s):int(e)]
    assert torch.cdist(inside, inside).max() < torch.cdist(inside, rows[[t for t in range(len(rows))
                                                                     if not any(a[1] <= t < a[2] for a in
                                                                                events[key]["actions"])]]).min()

    builder = registry.get_builder_class("synthetic_star")({
        "data_root": str(bench.parent), "generator": GENERATOR, "features": "vis_db/test_convnext3_32px_1fps",
        "feature_format": "webdataset", "feature_dim": 128, "max_feats": 36, "max_events": 8})
    datasets = builder.build_datasets(["train", "test"])
    batch = collate_videoqa([datasets["train"][i] for i in range(4)])
    assert tuple(batch["video"].shape) == (4, 36, 128)
    assert builder.info()["feature_dim"] == 128


def test_entry_point_generates_through_the_config_and_renders(tmp_path, capsys):
    cfg = Path(__file__).resolve().parents[1] / "projects" / "glance_focus" / "demo" / "train_pixels.yaml"
    options = [f"datasets.synthetic_star.generator.{k}={v}" for k, v in
               dict(train_per_type=1, val_per_type=1, test_per_type=1).items()]
    rc = gf_main(["demo-data", "--cfg-path", str(cfg), "--data-root", str(tmp_path), "--no-progress", "--fps", "1",
                  "--options", *options])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    bench = tmp_path / "SYNTHETIC_STAR"
    assert report["benchmark"] == str(bench) and report["rendered"] == 12
    assert len(list((bench / "videos").glob("*.mp4"))) == 12
    meta = json.loads((bench / "meta.json").read_text())
    assert meta["config"]["version"] == 2 and meta["config"]["max_event_frames"] == 4  # the yaml's generator
    # the same config, other generator sizes: the builder's refusal, as a one-line error
    rc = gf_main(["demo-data", "--cfg-path", str(cfg), "--data-root", str(tmp_path), "--no-progress"])
    assert rc == 3 and "another config" in capsys.readouterr().err
    # no config and no folder: no default reached into projects/, a one-line error instead
    assert gf_main(["demo-data", "--data-root", str(tmp_path)]) == 2
    assert "give --cfg-path" in capsys.readouterr().err


@pytest.mark.parametrize("argv, match", [
    (["--seed", "-1"], r"PixelStyle.seed=-1 \(--seed\): must be >= 0"),
    (["--noise-std", "inf"], r"noise_std=inf \(--noise-std\): must be a finite number"),
    (["--splits", "valid"], r"--splits: unknown split\(s\) 'valid'; choose from train, val, test"),
])
def test_demo_data_refuses_bad_style_and_split_names_before_any_work(bench, tmp_path, capsys, argv, match):
    """A negative seed was a numpy traceback after render.json was written; an infinite noise
    std rendered pure noise; a mistyped split rendered nothing and exited 0."""
    out = tmp_path / "videos"
    rc = gf_main(["demo-data", "--dataset-dir", str(bench), "--out", str(out), "--no-progress", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(match, err) and "Traceback" not in err
    assert not out.exists()
    with pytest.raises(ConfigError, match="unknown split"):
        sp.render_benchmark(bench, out, STYLE, splits=["valid"], progress=False)


def test_demo_data_out_on_or_under_a_file_is_a_one_line_error(bench, tmp_path, capsys):
    """--out a file was FileExistsError, --out under a file NotADirectoryError."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    for out, where in ((blocker, "it is a file"), (blocker / "sub", "lies under")):
        rc = gf_main(["demo-data", "--dataset-dir", str(bench), "--out", str(out), "--no-progress"])
        err = capsys.readouterr().err
        assert rc == 2 and "cannot be an output folder" in err and where in err and "Traceback" not in err
    assert blocker.read_text() == "mine"
