"""gf predict: from a video file to an answer, with the checkpoint's own extraction recipe.

Videos are written by PyAV, extracted by `gf extract` (a tiny random-init timm CNN), a tiny
model is trained on them in STAR's layout, and `gf predict` on a video must give the answer
`gf evaluate` gives on the same clip.
"""
import json
import os
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gf.cli import main as gf_main
from gf.models.loading import model_from_checkpoint

from conftest import TINY_TEXT_ENCODER
from video_fixtures import write_video

TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")
OPTIONS = ["the red box", "the green cup", "a blue door", "nothing at all"]


#: gf extract's flags of the frame-level recipe the module's model is trained on
FRAME_RECIPE = ("--backbone", "test_efficientnet", "--input-size", "64", "--num-frames", "6")


def train_on_extracted(root, recipe_flags, max_feats: int = 6):
    """Videos named by STAR question ids, extracted with ``recipe_flags`` into STAR's layout,
    and a tiny model trained on them: ``(root, cfg, videos, ids)``."""
    videos = root / "videos"
    ids = [f"{TYPES[i % 4]}_T1_{i}" for i in range(8)]
    for i, qid in enumerate(ids):
        write_video(videos / f"{qid}.mp4", seconds=2.0 + 0.25 * (i % 3), hue=31 * i)
    star = root / "data" / "STAR"
    feats = star / "vis_db" / "extracted"
    assert gf_main(["extract", "--videos", str(videos), "--out", str(feats), *recipe_flags, "--workers", "0",
                    "--no-progress"]) == 0
    txt = star / "txt_db"
    txt.mkdir(parents=True)
    lines = [json.dumps({"question_id": qid, "video_id": f"vid{i}", "question": f"What did the person do {i}?",
                         "options": OPTIONS, "answer": i % 4}) for i, qid in enumerate(ids)]
    for split in ("train", "val", "test"):
        (txt / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    (txt / "action_mapping.txt").write_text("open box\nlift cup\nclose door")
    cfg = root / "cfg.yaml"
    cfg.write_text(textwrap.dedent(f"""
        model:
          name: glance_focus
          model_type: demo_uns
          text_encoder: {TINY_TEXT_ENCODER}
          d_model: 32
          nhead: 4
          dim_feedforward: 64
          num_queries: 4
        datasets:
          star:
            data_root: {root / 'data'}
            features: vis_db/extracted
            events: null
            max_feats: {max_feats}
            max_events: 4
            unlabelled_splits: []
        run:
          output_dir: {root / 'out'}
          epochs: 2
          batch_size: 4
          eval_batch_size: 4
          num_workers: 0
          lr: 0.001
          best_metric: mean
          progress: false
    """))
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    return root, cfg, videos, ids


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_on_extracted(tmp_path_factory.mktemp("predict"), FRAME_RECIPE)


def evaluation_scores(cfg, ckpt, qids):
    """The answer scores `gf evaluate` computes for these test questions: the split's own
    samples (features from the store), collated and given to the model."""
    import torch

    from gf.common.config import build_config
    from gf.datasets.videoqa import collate_videoqa
    from gf.runners.build import build_datasets

    split = build_datasets(build_config(str(cfg)), {"star": ["test"]})["star"].splits["test"]
    model = model_from_checkpoint(ckpt, format="gf")
    index = {q: i for i, q in enumerate(split.question_ids())}
    with torch.no_grad():
        return {q: torch.softmax(model.predict(collate_videoqa([split[index[q]]]))["scores"][0], -1).tolist()
                for q in qids}


def predict_matches_evaluate(trained, count: int = 8, **kw):
    """``answer_video`` on each of the first ``count`` videos gives `gf evaluate`'s prediction
    and, to the last bit of the features, its probabilities; returns the checkpoint and the
    predictions."""
    from gf.inference.predict import answer_video

    root, cfg, videos, ids = trained
    ckpt = root / "out" / "checkpoint_best.pth"
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(ckpt), "--splits", "test",
                    "--tag", "same"]) == 0
    expected = json.loads((root / "out/eval/test_same_predictions.json").read_text())["predictions"]
    ids = ids[:count]
    reference = evaluation_scores(cfg, ckpt, ids)
    for i, qid in enumerate(ids):
        got = answer_video(ckpt, videos / f"{qid}.mp4", f"What did the person do {i}?", OPTIONS, **kw)
        assert got.prediction == expected[qid]["prediction"]
        # the same features to the last bit: the probabilities agree, not only their argmax
        assert got.probabilities == pytest.approx(reference[qid], abs=1e-6)
    assert len({tuple(round(p, 4) for p in reference[q]) for q in ids}) == len(ids)  # the clips differ
    return ckpt, expected


def test_predict_gives_the_answer_evaluate_gives_on_the_same_clip(trained, capsys, caplog):
    root, cfg, videos, ids = trained
    ckpt, expected = predict_matches_evaluate(trained)
    capsys.readouterr()
    caplog.clear()
    plot = root / "timeline.png"
    assert gf_main(["predict", "--checkpoint", str(ckpt), "--video", str(videos / f"{ids[1]}.mp4"), "--question",
                    "What did the person do 1?", "--options", *OPTIONS, "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    chosen = expected[ids[1]]["prediction"]
    assert f"answer: {OPTIONS[chosen]}  (option {chosen})" in out and "events the glance stage predicts" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5000
    # the recipe's backbone is random-init: gf extract's advice to give weights does not apply here
    assert not [r for r in caplog.records if "random weights" in r.getMessage()]


def test_predict_refuses_another_backbone_and_a_checkpoint_without_recipe(trained, tmp_path, capsys):
    root, cfg, videos, ids = trained
    ckpt = root / "out" / "checkpoint_best.pth"
    video = str(videos / f"{ids[0]}.mp4")
    assert gf_main(["predict", "--checkpoint", str(ckpt), "--video", video, "--question", "q", "--options",
                    *OPTIONS, "--backbone", "resnet18"]) == 2
    assert "differs from the checkpoint's recipe (test_efficientnet)" in capsys.readouterr().err
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"not the recorded weights")
    assert gf_main(["predict", "--checkpoint", str(ckpt), "--video", video, "--question", "q", "--options",
                    *OPTIONS, "--weights", str(weights)]) == 2
    assert "randomly initialised backbone (seed 0); --weights does not apply" in capsys.readouterr().err

    from gf.common.safe_load import torch_load_safe
    from gf.models.checkpoint import save_checkpoint

    data = torch_load_safe(ckpt)
    extra = dict(data["extra"], feature_recipe=None)
    bare = save_checkpoint(tmp_path / "bare.pth", model_state=data["model"], config=data["config"], extra=extra)
    assert gf_main(["predict", "--checkpoint", str(bare), "--video", video, "--question", "q", "--options",
                    *OPTIONS]) == 4
    assert "records no feature recipe" in capsys.readouterr().err


@pytest.mark.parametrize("question,options,match", [
    (" ", OPTIONS, "the question is empty"),
    ("what happened?", [OPTIONS[0], " ", *OPTIONS[2:]], "option 1 is empty"),
    ("what happened?", [OPTIONS[0], OPTIONS[0], *OPTIONS[2:]], "options 0 and 1 are the same"),
])
def test_predict_refuses_an_empty_question_or_option_before_extracting(trained, question, options, match, capsys,
                                                                        monkeypatch):
    from gf.inference import predict as predict_module

    root, cfg, videos, ids = trained
    monkeypatch.setattr(predict_module, "_extract", lambda *a, **k: pytest.fail("extracted before checking"))
    assert gf_main(["predict", "--checkpoint", str(root / "out" / "checkpoint_best.pth"), "--video",
                    str(videos / f"{ids[0]}.mp4"), "--question", question, "--options", *options]) == 3
    assert match in capsys.readouterr().err


def test_predict_refuses_a_question_so_long_that_the_options_would_be_cut(trained, capsys, monkeypatch):
    """"{question} {option}" is cut at text_max_length (100 tokens): with a long question no
    option reaches the model, all options tie and option 0 would be printed as the answer."""
    from gf.inference import predict as predict_module

    root, cfg, videos, ids = trained
    monkeypatch.setattr(predict_module, "_extract", lambda *a, **k: pytest.fail("extracted before checking"))
    assert gf_main(["predict", "--checkpoint", str(root / "out" / "checkpoint_best.pth"), "--video",
                    str(videos / f"{ids[0]}.mp4"), "--question", "what did the person do " * 24, "--options",
                    *OPTIONS]) == 3
    assert re.search(r"--question: the question \+ its longest option \(option [0-3]\) is 1\d\d tokens, but the "
                     r"model reads at most 100 \(its text_max_length\).*shorten the question",
                     capsys.readouterr().err)


@pytest.mark.parametrize("flag, value, named", [
    ("--question", "What \udcff?", r"--question 'What \\xff\?' \(byte 0xff\) is not UTF-8 text; give the text"),
    ("--options", "a\udcfe", r"--options \(option 1\) 'a\\xfe' \(byte 0xfe\) is not UTF-8 text"),
    ("--video", "v\udcff.mp4", r"--video 'v\\xff\.mp4' \(byte 0xff\) is not UTF-8 text; rename the file"),
])
def test_predict_names_an_argument_that_is_not_utf8(trained, flag, value, named, capsys):
    """Bytes that are not UTF-8 reach Python's argv as lone surrogates; the tokenizer and the
    video listing cannot take them (a TypeError, a UnicodeEncodeError): the argument is named."""
    root, cfg, videos, ids = trained
    given = {"--question": "what happened?", "--video": str(videos / f"{ids[0]}.mp4")}
    options = list(OPTIONS)
    if flag == "--options":
        options[1] = value
    else:
        given[flag] = value
    assert gf_main(["predict", "--checkpoint", str(root / "out" / "checkpoint_best.pth"), "--video", given["--video"],
                    "--question", given["--question"], "--options", *options]) == 2
    assert re.search(named, capsys.readouterr().err)


def test_plot_never_replaces_an_input_or_a_file_gf_predict_did_not_write(trained, tmp_path, capsys):
    import hashlib

    root, cfg, videos, ids = trained
    ckpt = root / "out" / "checkpoint_best.pth"
    video = videos / f"{ids[0]}.mp4"
    other = tmp_path / "notes.png"
    other.write_text("my notes, not a picture")
    link = tmp_path / "video_link.mp4"
    link.symlink_to(video)
    args = ["predict", "--checkpoint", str(ckpt), "--video", str(video), "--question", "q", "--options", *OPTIONS]
    for target, why in ((video, "an input of this command"), (ckpt, "an input of this command"),
                        (link, "an input of this command"), (other, "was not written by gf predict"),
                        (tmp_path, "is a folder")):
        before = hashlib.sha256(Path(target).read_bytes()).hexdigest() if Path(target).is_file() else None
        assert gf_main([*args, "--plot", str(target)]) == 2, target
        assert why in capsys.readouterr().err
        if before is not None:
            assert hashlib.sha256(Path(target).read_bytes()).hexdigest() == before
    mine = tmp_path / "timeline.png"
    assert gf_main([*args, "--plot", str(mine)]) == 0
    first = mine.stat().st_mtime_ns
    assert gf_main([*args, "--plot", str(mine)]) == 0  # its own picture is replaced
    assert mine.stat().st_mtime_ns >= first and mine.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recorded_weights_must_be_the_file_given():
    """A recipe made with a weights file needs that very file (its sha256), or nothing runs."""
    import hashlib

    from gf.common.errors import CheckpointError, ConfigError
    from gf.inference.predict import extraction_options

    recipe = {"backbone": {"name": "resnet18", "data_config": {"input_size": [3, 224, 224]},
                           "weights": {"kind": "file", "file": "r18.safetensors", "sha256": "0" * 64}},
              "sampling": {"num_frames": 8}}
    with pytest.raises(ConfigError, match="give it with --weights"):
        extraction_options(recipe, "v.mp4", "out")
    other = Path(__file__)
    with pytest.raises(CheckpointError, match="has sha256"):
        extraction_options(recipe, "v.mp4", "out", weights=str(other))
    recipe["backbone"]["weights"]["sha256"] = hashlib.sha256(other.read_bytes()).hexdigest()
    options = extraction_options(recipe, "v.mp4", "out", weights=str(other))
    assert options.weights == str(other) and options.num_frames == 8 and options.input_size == 224


def test_a_window_outside_the_video_or_an_undecodable_video_says_why_naming_the_users_inputs(trained, tmp_path,
                                                                                            capsys):
    """The reason itself, about the video and the options given: gf extract's failures list
    is in a temporary folder that is gone by the time the error is shown."""
    root, cfg, videos, ids = trained
    ckpt = root / "out" / "checkpoint_best.pth"
    video = videos / f"{ids[0]}.mp4"  # 2.0 s
    args = ["predict", "--checkpoint", str(ckpt), "--question", "q", "--options", *OPTIONS]
    assert gf_main([*args, "--video", str(video), "--start", "10", "--end", "20"]) == 2
    err = capsys.readouterr().err
    assert (f"--start 10 --end 20: window 10-20 s is outside the 2.0 s video: it starts at or after the video's end "
            f"({video}); choose a window inside the video") in err
    assert "failures.jsonl" not in err and "gf-predict-" not in err
    assert gf_main([*args, "--video", str(video), "--start", "1", "--end", "3"]) == 2  # 1 s past the end
    assert "it ends 1.000 s after the video's end (more than the tolerance of 0.5 s)" in capsys.readouterr().err

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(np.random.default_rng(0).bytes(3000))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path, reason in ((broken, "cannot decode: decord:"), (empty, "empty file (0 bytes)")):
        assert gf_main([*args, "--video", str(path)]) == 3
        err = capsys.readouterr().err
        line = [x for x in err.splitlines() if x.startswith("gf predict: error:")]
        assert len(line) == 1 and line[0].startswith(f"gf predict: error: video {path}: {reason}"), err
        assert "failures.jsonl" not in err and "gf-predict-" not in err


@pytest.mark.parametrize("flags, match", [
    (["--start", "nan", "--end", "1"], r"--start must be a finite number >= 0 \(seconds from the video's first "
                                       r"frame\), got nan"),
    (["--start", "-1", "--end", "1"], r"--start must be a finite number >= 0 .*got -1\.0"),
    (["--start", "0", "--end", "inf"], r"--end must be a finite number > 0 \(after --start 0\), got inf"),
    (["--start", "1.5", "--end", "1.5"], r"--end must be a finite number > 1\.5 \(after --start 1\.5\), got 1\.5"),
    (["--start", "2", "--end", "1"], r"--end must be a finite number > 2 .*got 1\.0"),
    (["--start", "1"], r"give both --start and --end \(seconds\), or neither"),
    (["--device", "gpu0"], r"--device 'gpu0' is not a torch device"),
])
def test_predict_checks_window_and_device_before_loading_anything(trained, flags, match, capsys, monkeypatch):
    from gf.models import zoo

    root, cfg, videos, ids = trained
    monkeypatch.setattr(zoo, "resolve_checkpoint", lambda *a, **k: pytest.fail("loaded the checkpoint first"))
    assert gf_main(["predict", "--checkpoint", str(root / "out" / "checkpoint_best.pth"), "--video",
                    str(videos / f"{ids[0]}.mp4"), "--question", "q", "--options", *OPTIONS, *flags]) == 2
    assert re.search(match, capsys.readouterr().err)


def test_plot_never_replaces_the_weights_nor_sits_over_an_input(tmp_path):
    from gf.common.errors import ConfigError
    from gf.inference.predict import check_plot_path

    video, ckpt, weights = (tmp_path / n for n in ("v.mp4", "c.pth", "w.safetensors"))
    for path in (video, ckpt, weights):
        path.write_bytes(b"mine")
    with pytest.raises(ConfigError, match=r"--plot .*w\.safetensors is the same file as --weights"):
        check_plot_path(weights, [video, ckpt, weights])
    hard = tmp_path / "hard.png"
    os.link(ckpt, hard)  # another name for the checkpoint
    with pytest.raises(ConfigError, match=r"--plot .*hard\.png is the same file as --checkpoint"):
        check_plot_path(hard, [video, ckpt, None])
    check_plot_path(tmp_path / "new.png", [video, ckpt, None])  # a new file: fine
    assert [p.read_bytes() for p in (video, ckpt, weights)] == [b"mine"] * 3


def test_a_video_name_with_outer_spaces_or_a_newline_is_that_very_file(trained, tmp_path, monkeypatch):
    """gf extract's list file strips its lines: "clip.mp4 " passed through it answered about
    clip.mp4 (exit 0), and "a\\nb.mp4" was "file not found"."""
    import shutil

    from gf.inference.predict import answer_video

    root, cfg, videos, ids = trained
    ckpt = root / "out" / "checkpoint_best.pth"
    shutil.copy(videos / f"{ids[0]}.mp4", tmp_path / "clip.mp4")  # 2.0 s
    for name in ("clip.mp4 ", " clip.mp4", "a\nb.mp4"):
        shutil.copy(videos / f"{ids[2]}.mp4", tmp_path / name)  # 2.5 s
        got = answer_video(ckpt, tmp_path / name, "q", OPTIONS)
        assert got.window == (0.0, 2.5), repr(name)
    want = answer_video(ckpt, videos / f"{ids[2]}.mp4", "q", OPTIONS)
    assert got.probabilities == want.probabilities

    def no_links(self, target):  # a temporary folder on a file system without symbolic links
        raise PermissionError(1, "Operation not permitted", str(self))
    monkeypatch.setattr(Path, "symlink_to", no_links)
    assert answer_video(ckpt, tmp_path / "clip.mp4 ", "q", OPTIONS).probabilities == want.probabilities


def test_predict_names_a_weights_file_that_is_missing_or_a_folder(tmp_path):
    from gf.common.errors import ConfigError
    from gf.inference.predict import extraction_options

    recipe = {"backbone": {"name": "resnet18", "data_config": {"input_size": [3, 224, 224]},
                           "weights": {"kind": "file", "file": "r18.pth", "sha256": "0" * 64}},
              "motion_backbone": {"name": "resnet18", "data_config": {"input_size": [3, 224, 224]},
                                  "weights": {"kind": "file", "file": "m.pth", "sha256": "1" * 64}},
              "sampling": {"num_frames": 8}}
    for option, given, why in (("--weights", tmp_path / "nothere.pth", "does not exist"),
                               ("--weights", tmp_path, "is a folder")):
        with pytest.raises(ConfigError, match=rf"^{option} {re.escape(str(given))} {why}; give the weights file "
                                              r"r18\.pth \(sha256 0{64}\)"):
            extraction_options(recipe, "v.mp4", "out", weights=str(given))
    recipe["backbone"]["weights"]["sha256"] = __import__("hashlib").sha256(Path(__file__).read_bytes()).hexdigest()
    with pytest.raises(ConfigError, match=r"^--motion-weights .* is a folder; give the weights file m\.pth"):
        extraction_options(recipe, "v.mp4", "out", weights=__file__, motion_weights=str(tmp_path))


def test_predict_names_options_before_extracting_and_an_open_ended_answer_is_its_text(trained, tmp_path, capsys,
                                                                                      monkeypatch):
    """Multiple choice without --options, or with another count, names --options before any
    extraction; an open-ended checkpoint answers with its recorded vocabulary's text, refuses
    --options (not "the model answers with 4 options"), and one without a vocabulary (older
    checkpoints) still answers, with the index said to be one."""
    from gf.common.safe_load import torch_load_safe
    from gf.inference import predict as predict_module
    from gf.models.checkpoint import save_checkpoint
    from gf.models.glance_focus.model import GlanceFocus

    root, cfg, videos, ids = trained
    ckpt = root / "out" / "checkpoint_best.pth"
    args = ["predict", "--video", str(videos / f"{ids[0]}.mp4"), "--question", "q"]
    extract = predict_module._extract
    monkeypatch.setattr(predict_module, "_extract", lambda *a, **k: pytest.fail("extracted before checking"))
    for options, got in (([], "none"), (OPTIONS[:2], "2")):
        assert gf_main([*args, "--checkpoint", str(ckpt), *(["--options", *options] if options else [])]) == 2
        assert (f"--options: the checkpoint's model is multiple-choice with 4 options per question; got {got}. "
                f"Give the 4 answer options after --options") in capsys.readouterr().err

    data = torch_load_safe(ckpt)
    config = dict(data["extra"]["model_config"], answer_mode="oe", num_answers=3, num_options=None)
    model = GlanceFocus.from_config(config)
    vocab = ["no", "yes", "a blanket"]
    extra = dict(data["extra"], model_config=config, answer_vocab=vocab)
    oe = save_checkpoint(tmp_path / "oe.pth", model_state=model.state_dict(), config=data["config"], extra=extra)
    assert gf_main([*args, "--checkpoint", str(oe), "--options", "yes", "no"]) == 2
    assert ("--options: the checkpoint's model is open-ended: it answers from its vocabulary of 3 answers, not from "
            "options; drop --options") in capsys.readouterr().err
    monkeypatch.setattr(predict_module, "_extract", extract)
    assert gf_main([*args, "--checkpoint", str(oe)]) == 0
    assert re.search(r"^answer: (no|yes|a blanket)  \(index [0-2]\)$", capsys.readouterr().out, re.M)
    old = save_checkpoint(tmp_path / "old.pth", model_state=model.state_dict(), config=data["config"],
                          extra={k: v for k, v in extra.items() if k != "answer_vocab"})
    assert gf_main([*args, "--checkpoint", str(old)]) == 0
    assert re.search(r"^answer: index [0-2] of the training split's answer vocabulary \(this checkpoint, older "
                     r"than checkpoints that record it, does not say its text", capsys.readouterr().out, re.M)


def test_plot_under_a_file_is_refused_before_any_work(trained, tmp_path, capsys, monkeypatch):
    from gf.models import zoo

    root, cfg, videos, ids = trained
    video = videos / f"{ids[0]}.mp4"
    monkeypatch.setattr(zoo, "resolve_checkpoint", lambda *a, **k: pytest.fail("loaded the checkpoint first"))
    assert gf_main(["predict", "--checkpoint", str(root / "out" / "checkpoint_best.pth"), "--video", str(video),
                    "--question", "q", "--options", *OPTIONS, "--plot", str(video / "sub" / "x.png")]) == 2
    assert (f"--plot {video / 'sub' / 'x.png'} lies under {video}, which is a file, so no picture can be written "
            f"there; choose another --plot path") in capsys.readouterr().err


@pytest.mark.parametrize("name, fmt, codec", [("clip.avi", "avi", "libx264"), ("clip.mpg", "mpeg", "mpeg2video")])
def test_predict_knows_the_real_length_of_an_avi_and_an_mpeg_ps(trained, tmp_path, capsys, name, fmt, codec):
    """decord gave these 4.0 s videos a length of 0.0 s (AVI with B-frames: a traceback, and
    any window "outside the 0.0 s video") or 1e14 s (MPEG-PS: any window accepted)."""
    root, cfg, videos, ids = trained
    video = write_video(tmp_path / name, seconds=4.0, container_format=fmt, codec=codec)
    args = ["predict", "--checkpoint", str(root / "out" / "checkpoint_best.pth"), "--video", str(video),
            "--question", "q", "--options", *OPTIONS]
    assert gf_main(args) == 0
    assert "events the glance stage predicts in [0.00, 4.00] s:" in capsys.readouterr().out
    assert gf_main([*args, "--start", "1", "--end", "3"]) == 0
    assert "events the glance stage predicts in [1.00, 3.00] s:" in capsys.readouterr().out
    assert gf_main([*args, "--start", "1000", "--end", "2000"]) == 2
    assert "window 1000-2000 s is outside the 4.0 s video" in capsys.readouterr().err


def test_a_whole_video_failure_is_said_about_the_video_not_a_window(tmp_path):
    """A failure of kind window without --start/--end formatted None (a TypeError traceback)."""
    from gf.common.errors import DataFileError
    from gf.inference.predict import _failure_error

    error = _failure_error({"kind": "window", "reason": "no frames"}, tmp_path / "v.avi", None, None, tmp_path / "l")
    assert isinstance(error, DataFileError) and str(error) == f"video {tmp_path / 'v.avi'}: no frames"


def test_plot_reads_its_thumbnails_as_extraction_does(trained, tmp_path, capsys, monkeypatch):
    """A video decord opens but cannot read: the answer printed, then decord's traceback and
    no picture (the plot had no PyAV fallback). Now the thumbnails are read as gf extract
    reads the video (upright, too); a video that gives none is gf's one-line error."""
    from gf.common.errors import DataFileError
    from gf.extraction import decode

    root, cfg, videos, ids = trained

    def cannot_read(self, indices, deadline):
        raise RuntimeError("DECORDError: Check failed: from_size == to_size (12288 vs. 9216)")

    monkeypatch.setattr(decode._DecordReader, "read", cannot_read)
    plot = tmp_path / "timeline.png"
    assert gf_main(["predict", "--checkpoint", str(root / "out" / "checkpoint_best.pth"), "--video",
                    str(videos / f"{ids[0]}.mp4"), "--question", "q", "--options", *OPTIONS, "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from gf.inference.predict import _thumbnails

    portrait = write_video(tmp_path / "portrait.mp4", seconds=2.0, rotation=-90)
    assert [f.shape for f in _thumbnails(portrait, [0.5, 1.5])] == [(64, 48, 3)] * 2  # 64 tall, as shown
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(DataFileError, match=rf"^--plot: video {re.escape(str(broken))}: cannot decode: decord: "):
        _thumbnails(broken, [0.5])


def test_plot_that_is_not_named_png_is_refused_before_any_work(trained, tmp_path, capsys, monkeypatch):
    from gf.models import zoo

    root, cfg, videos, ids = trained
    monkeypatch.setattr(zoo, "resolve_checkpoint", lambda *a, **k: pytest.fail("loaded the checkpoint first"))
    plot = tmp_path / "out.jpg"
    assert gf_main(["predict", "--checkpoint", str(root / "out" / "checkpoint_best.pth"), "--video",
                    str(videos / f"{ids[0]}.mp4"), "--question", "q", "--options", *OPTIONS, "--plot", str(plot)]) == 2
    assert (f"--plot {plot}: the picture is a PNG, so its name must end in .png (not .jpg); choose a .png path"
            in capsys.readouterr().err) and not plot.exists()


def test_predict_names_a_video_folder_and_takes_a_moved_text_encoder(trained, tmp_path, capsys):
    """A folder given as --video is said to be a folder, not "not found"; a checkpoint whose
    recorded text-encoder folder moved is answered with --text-encoder, and its error names
    that flag (model.text_encoder cannot be set in gf predict)."""
    from gf.common.safe_load import torch_load_safe
    from gf.models.checkpoint import save_checkpoint

    root, cfg, videos, ids = trained
    ckpt = root / "out" / "checkpoint_best.pth"
    ask = ["predict", "--question", "q", "--options", *OPTIONS]
    assert gf_main([*ask, "--checkpoint", str(ckpt), "--video", str(videos)]) == 3
    assert f"--video {videos} is a folder; name one video file inside it" in capsys.readouterr().err

    data = torch_load_safe(ckpt)
    gone = tmp_path / "te_before_the_move"
    extra = dict(data["extra"], model_config=dict(data["extra"]["model_config"], text_encoder=str(gone)))
    moved = save_checkpoint(tmp_path / "moved.pth", model_state=data["model"], config=data["config"], extra=extra)
    video = str(videos / f"{ids[0]}.mp4")
    assert gf_main([*ask, "--checkpoint", str(moved), "--video", video]) == 4
    err = capsys.readouterr().err
    assert str(gone) in err and "pass gf predict --text-encoder FOLDER" in err and len(err.strip().splitlines()) == 1
    assert gf_main([*ask, "--checkpoint", str(moved), "--video", video, "--text-encoder", str(tmp_path / "no")]) == 4
    assert "--text-encoder " in capsys.readouterr().err
    assert gf_main([*ask, "--checkpoint", str(moved), "--video", video, "--text-encoder", TINY_TEXT_ENCODER]) == 0
    want = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("answer:")]
    assert gf_main([*ask, "--checkpoint", str(ckpt), "--video", video]) == 0
    assert want == [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("answer:")]


def test_evaluate_refuses_features_of_another_recipe_or_another_text_format(trained, capsys):
    """gf evaluate scored a checkpoint on features of another recipe (same backbone and
    size) or texts in another format without a word, so its answers differed from gf
    predict's (which keeps the recorded recipe and format); both are refused now."""
    root, cfg, videos, ids = trained
    ckpt = root / "out" / "checkpoint_best.pth"
    other = root / "data" / "STAR" / "vis_db" / "other"
    if not other.exists():
        assert gf_main(["extract", "--videos", str(videos), "--out", str(other), "--backbone", "test_efficientnet",
                        "--input-size", "32", "--num-frames", "3", "--workers", "0", "--no-progress"]) == 0
    evaluate = ["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(ckpt), "--splits", "test"]
    capsys.readouterr()
    assert gf_main([*evaluate, "--tag", "other", "--options", "datasets.star.features=vis_db/other"]) == 4
    err = capsys.readouterr().err
    assert "datasets.star.features (vis_db/other) were made with another recipe" in err
    assert "sampling.num_frames: 6 -> 3" in err and "backbone.data_config.input_size" in err
    swapped = 'datasets.star.text_format="{option} [SEP] {question}"'
    assert gf_main([*evaluate, "--tag", "fmt", "--options", swapped]) == 4
    assert "datasets.star.text_format '{option} [SEP] {question}' differs from '{question} {option}'" in \
        capsys.readouterr().err
    assert not list((root / "out" / "eval").glob("test_other*")) and not list((root / "out" / "eval").glob("test_fmt*"))
