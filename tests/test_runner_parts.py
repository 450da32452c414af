"""The runner assembled from registered parts: hooks from a plugin, several datasets,
``model.checkpoint`` (fine-tuning the authors' released weights), a plugin benchmark with
its own evaluator, and one error line per failure at the command line."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from gf.cli import main as gf_main
from gf.common.safe_load import torch_load_safe

from conftest import REFERENCE
from test_runner import PLUGINS, REPO, write_config


pytestmark = pytest.mark.usefixtures("plugin_path")


# -- hooks ----------------------------------------------------------------------------------
def test_a_plugin_hook_is_called_at_each_point_of_the_loop(tmp_path):
    from gf_test_plugins import CountCallsHook

    CountCallsHook.counts, CountCallsHook.evaluated = {}, []
    cfg = write_config(tmp_path, epochs=2, extra_run="hooks: [count_calls]")
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    steps = 2 * 6  # 24 training questions, batch 4, 2 epochs
    assert CountCallsHook.counts == {"before_train": 1, "before_epoch": 2, "before_step": steps,
                                     "after_forward": steps, "after_step": steps, "after_epoch": 2,
                                     "after_train": 1, "after_eval": 3}
    assert CountCallsHook.evaluated == [("synthetic_star", "val", "epoch1"), ("synthetic_star", "val", "epoch2"),
                                        ("synthetic_star", "test", "best")]


def test_a_hook_keeps_its_own_state_across_a_resume_and_the_best_metric_rides_with_the_evaluation_hook(tmp_path):
    from gf_test_plugins import CountStepsWithStateHook

    CountStepsWithStateHook.seen = []
    cfg = write_config(tmp_path, epochs=1, extra_run="hooks: [count_steps_with_state]",
                       lr_sched="constant")  # constant: a resumed run may train longer
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    first = torch_load_safe(tmp_path / "out" / "checkpoint_last.pth")
    assert first["hooks"]["count_steps_with_state"] == {"steps": 6}  # 24 questions, batch 4; by registered name
    assert first["hooks"]["evaluation"] == {"best": first["best_metric"]} and first["best_metric"] is not None
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", "run.epochs=2", "run.resume=auto"]) == 0
    assert CountStepsWithStateHook.seen == [6, 12]  # went on from its checkpointed count
    second = torch_load_safe(tmp_path / "out" / "checkpoint_last.pth")
    assert second["hooks"]["evaluation"]["best"] == second["best_metric"] >= first["best_metric"]


def test_hooks_whose_classes_share_a_name_keep_their_own_states_across_a_resume(tmp_path):
    """States are keyed by registered name: two plugins' classes named alike (both ``Counter``)
    no longer overwrite each other's state in the checkpoint, nor both load one on resume."""
    from gf_test_plugins import NAMED_COUNTER_TOTALS

    cfg = write_config(tmp_path, epochs=1, lr_sched="constant",
                       extra_run="hooks: [count_steps_named_counter, count_epochs_named_counter]")
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    hooks = torch_load_safe(tmp_path / "out" / "checkpoint_last.pth")["hooks"]
    assert hooks["count_steps_named_counter"] == {"n": 6} and hooks["count_epochs_named_counter"] == {"n": 1}
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", "run.epochs=2", "run.resume=auto"]) == 0
    assert NAMED_COUNTER_TOTALS == {"steps": 12, "epochs": 2}


def test_a_checkpoint_that_keyed_hook_states_by_class_name_still_resumes(tmp_path):
    """Checkpoints written before states were keyed by registered name hold them by class
    name (EvalHook, CheckpointHook, a plugin's): each hook still gets its own back."""
    from gf_test_plugins import CountStepsWithStateHook

    CountStepsWithStateHook.seen = []
    cfg = write_config(tmp_path, epochs=1, extra_run="hooks: [count_steps_with_state]", lr_sched="constant")
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    path = tmp_path / "out" / "checkpoint_last.pth"
    old = torch_load_safe(path)
    old["hooks"] = {"EvalHook": {"best": -1.0}, "CheckpointHook": {"best_epoch": None},
                    "CountStepsWithStateHook": {"steps": 100}}
    torch.save(old, path)
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", "run.epochs=2", "run.resume=auto"]) == 0
    assert CountStepsWithStateHook.seen == [6, 106]
    resumed = torch_load_safe(path)
    assert resumed["best_metric"] >= 0 and resumed["hooks"]["checkpointer"] == {"best_epoch": 1}  # -1 was beaten


def test_hook_states_are_keyed_per_hook_so_a_plugin_hook_named_as_its_class_keeps_the_old_best():
    """An old checkpoint (keyed by class name) with a plugin hook registered as "EMA", its
    class's name: that key made the whole checkpoint look keyed by registered name, and
    EvalHook's best came back None (a tie then counted as improved)."""
    from gf.runners.hooks import CheckpointHook, EvalHook, HookBase
    from gf.runners.runner_base import Runner

    class EMA(HookBase):
        def __init__(self):
            self.state = None

        def state_dict(self):
            return {"x": self.state}

        def load_state_dict(self, state):
            self.state = state["x"]

    class Holder:
        hooks = [EvalHook(), CheckpointHook(), EMA(), EMA()]

    for hook, name in zip(Holder.hooks, ("evaluation", "checkpointer", "EMA", "ema2")):
        hook.hook_name = name
    Runner.load_hook_states(Holder, {"EvalHook": {"best": 8.33}, "CheckpointHook": {"best_epoch": 0}, "EMA": {"x": 1}})
    assert [Holder.hooks[0].best, Holder.hooks[1].best_epoch, Holder.hooks[2].state] == [8.33, 0, 1]
    Holder.hooks[3].state = None  # new keying: "ema2" has no state, and is not given "EMA"'s
    Runner.load_hook_states(Holder, {"evaluation": {"best": 9.0}, "checkpointer": {"best_epoch": 1}, "EMA": {"x": 2}})
    assert [Holder.hooks[0].best, Holder.hooks[2].state, Holder.hooks[3].state] == [9.0, 2, None]


def test_a_hook_state_that_a_weights_only_load_refuses_fails_the_first_save(tmp_path, capsys):
    """A numpy float in a hook's state would make every checkpoint unreadable by gf (found
    only at the final test): refused at the first save, naming the hook, the key and the type."""
    cfg = write_config(tmp_path, epochs=2, extra_run="hooks: [numpy_state]")
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "hook 'numpy_state' (NumpyStateHook): its state_dict()['last'] is a numpy.float64" in err
    assert "torch.load(weights_only=True)" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "checkpoint_last.pth").exists()
    epochs = [r for r in (tmp_path / "out" / "log.jsonl").read_text().splitlines() if '"kind": "epoch"' in r]
    assert len(epochs) == 1  # stopped at the first epoch's save, not after the whole run


def test_what_a_hook_state_may_hold_is_what_a_weights_only_load_reads(tmp_path):
    import collections
    import numpy as np

    from gf.models.checkpoint import unloadable_value

    plain = {"a": [1, 2.5, True, None, "s", b"b", (torch.zeros(2), torch.Size([2]))],
             "b": collections.OrderedDict(x={"y": torch.float16, "z": torch.device("cpu")})}
    assert unloadable_value(plain) is None
    torch.save(plain, tmp_path / "plain.pt")
    torch.load(tmp_path / "plain.pt", weights_only=True)  # reads back
    assert unloadable_value({"a": [1, {"b": np.int64(3)}]}) == ("['a'][1]['b']", "numpy.int64")
    where, kind = unloadable_value({"p": Path("x")})
    assert where == "['p']" and kind.startswith("pathlib.") and kind.endswith("Path")
    assert unloadable_value({"s": {1, 2}}) == ("['s']", "set")
    assert unloadable_value({np.str_("k"): 1}) == (" key np.str_('k')", "numpy.str_")


def test_a_checkpoint_is_saved_after_every_hook_s_after_epoch(tmp_path):
    """A plugin hook's after_epoch runs before the checkpointer saves: the checkpoint holds
    the state it reached in that epoch (saved before it, a kill in between lost the update)."""
    cfg = write_config(tmp_path, epochs=1, extra_run="hooks: [count_epochs_with_state]")
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    saved = torch_load_safe(tmp_path / "out" / "checkpoint_last.pth")
    assert saved["hooks"]["count_epochs_with_state"] == {"epochs": 1}


def test_a_best_metric_the_reports_lack_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """A typo in run.best_metric would let no epoch count as best, and the test splits be
    scored with the last checkpoint: refused by gf validate, and by gf train before the
    data is made; with an evaluator that declares no metrics, at the first evaluation."""
    from gf.benchmarks.star.evaluator import StarEvaluator

    cfg = write_config(tmp_path, epochs=1)
    for command in ("validate", "train"):
        assert gf_main([command, "--cfg-path", str(cfg), "--options", "run.best_metric=accuracy"]) == 2
        err = capsys.readouterr().err
        assert "run.best_metric is 'accuracy', which star's reports do not have; they have overall, mean." in err
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()
    monkeypatch.setattr(StarEvaluator, "metrics", None)  # undeclared, as a plugin's may be
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", "run.best_metric=accuracy"]) == 2
    assert ("run.best_metric 'accuracy' is not a metric of the synthetic_star val report; it has overall, mean "
            "(its primary metric is 'mean')") in capsys.readouterr().err


def test_an_unknown_hook_is_refused_before_any_work(tmp_path, capsys):
    cfg = write_config(tmp_path, extra_run="hooks: [count_call]")
    assert gf_main(["validate", "--cfg-path", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "unknown hook 'count_call'" in err and "'count_calls'" in err
    assert not (tmp_path / "data").exists()


# -- several datasets -----------------------------------------------------------------------
def _two_datasets(tmp_path, train_dataset="synthetic_star"):
    """The tiny demo config plus ``star`` reading the folder ``synthetic_star`` generates
    (the synthetic benchmark is written in STAR's layout)."""
    cfg = write_config(tmp_path, epochs=1, extra_run=f"train_dataset: {train_dataset}" if train_dataset else "")
    data = OmegaConf.to_container(OmegaConf.load(cfg))
    data["datasets"]["star"] = {"data_root": str(tmp_path / "data"), "dataset_dir": "SYNTHETIC_STAR", "max_feats": 24}
    OmegaConf.save(OmegaConf.create(data), cfg)
    return cfg


def test_a_config_with_two_datasets_trains_on_one_and_evaluates_both(tmp_path, capsys):
    cfg = _two_datasets(tmp_path)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    out = tmp_path / "out" / "eval"
    for name in ("val_epoch1_report.json", "test_best_report.json", "star/val_epoch1_report.json",
                 "star/test_best_predictions.json", "star/test_best_submission.json"):
        assert (out / name).is_file(), name
    trained = json.loads((out / "val_epoch1_report.json").read_text())
    other = json.loads((out / "star/val_epoch1_report.json").read_text())
    # the same questions, read through two builders, scored by the same model: the same figures
    assert other["num_questions"] == trained["num_questions"] == 12
    assert other["overall"] == trained["overall"]
    # STAR's test split is unlabelled: predictions and the submission file, no accuracy
    star_test = json.loads((out / "star/test_best_report.json").read_text())
    assert star_test["num_questions"] == 0 and star_test["unlabelled"] == 12
    printed = capsys.readouterr().out
    assert "[gf] star val (epoch1)" in printed and "[gf] synthetic_star test (best)" in printed


def test_two_datasets_without_train_dataset_are_refused(tmp_path, capsys):
    cfg = _two_datasets(tmp_path, train_dataset=None)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "several datasets (synthetic_star, star)" in err and "run.train_dataset" in err


# -- model.checkpoint ---------------------------------------------------------------------------
def _star_bundle_from_oracle(root: Path, expected, num_classes: int = 12) -> None:
    """The reference oracle's three questions as a STAR bundle (txt_db/, vis_db/); its class
    file has ``num_classes`` lines and no final newline, as STAR ships it."""
    types = ["Interaction", "Sequence", "Prediction"]
    qids = [f"{t}_T1_{i}" for i, t in enumerate(types)]
    (root / "txt_db").mkdir(parents=True)
    (root / "vis_db").mkdir()
    rows, events = [], {}
    for i, qid in enumerate(qids):
        rows.append({"question_id": qid, "video_id": f"V{i}", "question": expected["questions"][i],
                     "options": list(expected["options"][i]), "answer": int(expected["labels"][i])})
        spans = expected["target_spans_cxw"][i].double()
        actions = [[int(c), float(cx - w / 2), float(cx + w / 2)]
                   for c, (cx, w) in zip(expected["target_classes"][i].tolist(), spans.tolist())]
        events[qid] = {"duration": 1.0, "actions": actions}
    for split in ("train", "val", "test"):
        (root / "txt_db" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "txt_db" / "events.json").write_text(json.dumps(events))
    (root / "txt_db" / "action_mapping.txt").write_text("\n".join(f"a{i:03d} action {i}" for i in range(num_classes)))
    torch.save({qid: expected["frames"][i].clone() for i, qid in enumerate(qids)}, root / "vis_db" / "s3d.pth")


def test_train_from_the_authors_checkpoint_starts_from_exactly_its_weights(tmp_path):
    from gf_test_plugins import LossOfTheFirstBatch

    case = REFERENCE / "star_mc"
    meta = json.loads((case / "meta.json").read_text())
    expected = torch.load(case / "expected.pt", weights_only=True)
    assert [f"{q} {o}" for q, opts in zip(expected["questions"], expected["options"]) for o in opts] == \
        expected["texts"]  # the bundle's "{question} {option}" gives the oracle's texts
    _star_bundle_from_oracle(tmp_path / "STAR", expected)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(textwrap.dedent(f"""
        plugins: [gf_test_plugins]
        model:
          name: glance_focus
          model_type: star_reference
          checkpoint: {case / 'model_3.tar'}
          text_encoder: {case / 'text_encoder'}
          d_model: {meta['d_model']}
          nhead: {meta['nhead']}
          num_encoder_layers: {meta['num_encoder_layers']}
          num_decoder_layers: {meta['num_decoder_layers']}
          dim_feedforward: {meta['dim_feedforward']}
          num_queries: {meta['num_queries']}
        datasets:
          star: {{data_root: {tmp_path}, max_feats: {meta['frames']}, unlabelled_splits: []}}
        run:
          output_dir: {tmp_path / 'out'}
          epochs: 1
          max_steps: 1
          batch_size: 3
          num_workers: 0
          progress: false
          valid_splits: []
          test_splits: []
          hooks: [loss_of_the_first_batch]
    """))
    LossOfTheFirstBatch.losses = {}
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    reference = {k: float(v) for k, v in expected["loss_sup"].items()}
    assert set(LossOfTheFirstBatch.losses) == set(reference)
    for name, value in reference.items():
        assert LossOfTheFirstBatch.losses[name] == pytest.approx(value, abs=1e-5), name
    # and the step that followed moved the weights away from the authors' ones
    from gf.models.glance_focus.reference_checkpoint import map_reference_keys, reference_state_dict

    authors = map_reference_keys(reference_state_dict(torch_load_safe(case / "model_3.tar"), case))
    trained = torch_load_safe(tmp_path / "out" / "checkpoint_last.pth")["model"]
    assert set(trained) == set(authors)
    assert any(not torch.equal(trained[k], authors[k]) for k in authors)


def test_star_reference_evaluates_the_authors_checkpoint_on_star_s_class_file(tmp_path):
    """STAR's class file as shipped: the builder counts every class (13 + background), the
    authors' reader one fewer (R6), and their checkpoint has that head. arch: reference keeps
    an event_pred_dim one below the dataset's (star_reference sets 111 for STAR's 112; here
    13 for 14), so their checkpoint loads and gives their answers; before, the dataset's
    size replaced it and nothing loaded."""
    case = REFERENCE / "star_mc"
    meta = json.loads((case / "meta.json").read_text())
    expected = torch.load(case / "expected.pt", weights_only=True)
    _star_bundle_from_oracle(tmp_path / "STAR", expected, num_classes=13)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(textwrap.dedent(f"""
        model:
          name: glance_focus
          model_type: star_reference
          event_pred_dim: 13
          checkpoint: {case / 'model_3.tar'}
          text_encoder: {case / 'text_encoder'}
          d_model: {meta['d_model']}
          nhead: {meta['nhead']}
          dim_feedforward: {meta['dim_feedforward']}
        datasets:
          star: {{data_root: {tmp_path}, max_feats: {meta['frames']}, unlabelled_splits: []}}
        run: {{output_dir: {tmp_path / 'out'}, batch_size: 3, num_workers: 0, progress: false, test_splits: []}}
    """))
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--splits", "val"]) == 0
    files = list((tmp_path / "out").rglob("*predictions*.json"))
    assert len(files) == 1, files
    preds = json.loads(files[0].read_text())["predictions"]
    qids = [f"{t}_T1_{i}" for i, t in enumerate(["Interaction", "Sequence", "Prediction"])]
    assert [preds[q]["prediction"] for q in qids] == expected["pred_answer"].argmax(-1).tolist()

    # trained by gf (no authors' weights), the same config has the dataset's head, and its
    # checkpoint evaluates with its own config.yaml (a gf-trained star_reference once got 112)
    text = cfg.read_text().replace(f"checkpoint: {case / 'model_3.tar'}", "dropout: 0.0")
    cfg.write_text(text.replace(f"output_dir: {tmp_path / 'out'}", f"output_dir: {tmp_path / 'own'}, epochs: 1, "
                                                                     f"max_steps: 1"))
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    own = tmp_path / "own"
    assert torch.load(own / "checkpoint_last.pth", weights_only=True)["model"]["event_class_head.bias"].shape == (14,)
    assert gf_main(["evaluate", "--cfg-path", str(own / "config.yaml"), "--checkpoint",
                    str(own / "checkpoint_last.pth"), "--splits", "val", "--tag", "again"]) == 0


def test_model_checkpoint_that_does_not_fit_is_refused_whole(tmp_path, capsys):
    cfg = write_config(tmp_path, extra_run="")
    assert gf_main(["train", "--cfg-path", str(cfg), "--options",
                    f"model.checkpoint={REFERENCE / 'star_mc' / 'model_3.tar'}"]) == 4
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("gf ")]
    assert len(err) == 1 and err[0].startswith("gf train: error: ") and "nothing was loaded" in err[0]
    assert "missing keys" in err[0] or "shape mismatches" in err[0]
    assert not (tmp_path / "out" / "checkpoint_last.pth").exists()


# -- a benchmark from a plugin ----------------------------------------------------------------
def _toy_benchmark(root: Path) -> None:
    g = torch.Generator().manual_seed(0)
    answers = ["zero", "one", "two", "three"]
    root.mkdir(parents=True)
    (root / "answers.json").write_text(json.dumps(answers))
    feats = {}
    for split, n in (("train", 16), ("val", 6), ("test", 6)):
        rows = []
        for i in range(n):
            vid = f"{split}{i}"
            count = i % 4
            feats[vid] = torch.randn(6, 8, generator=g) + count
            rows.append({"question_id": f"{split}_{i}", "video_id": vid, "question": "how many times?",
                         "answer": answers[count], "skill": "count" if i % 2 else "compare"})
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    torch.save(feats, root / "features.pth")


def toy_config(tmp_path, *, batch_size: int = 8, num_workers: int = 0):
    """The plugin benchmark's files under ``tmp_path/TOY`` and a tiny config that trains on them."""
    _toy_benchmark(tmp_path / "TOY")
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(textwrap.dedent(f"""
        plugins: [gf_toy_counting]
        model:
          name: glance_focus
          model_type: demo_uns
          text_encoder: {REFERENCE / 'star_mc' / 'text_encoder'}
          freeze_text_encoder: true
          d_model: 32
          nhead: 4
          dim_feedforward: 64
          num_queries: 4
        datasets:
          toy_counting: {{data_root: {tmp_path}}}
        run: {{output_dir: {tmp_path / 'out'}, epochs: 1, batch_size: {batch_size}, num_workers: {num_workers},
               progress: false, lr: 0.001}}
    """))
    return cfg


def test_a_plugin_benchmark_trains_and_evaluates_through_the_cli(tmp_path):
    from test_runner import run_gf

    cfg = toy_config(tmp_path)
    run_gf(["train", "--cfg-path", str(cfg)])
    report = json.loads((tmp_path / "out/eval/test_best_report.json").read_text())
    assert report["benchmark"] == "toy_counting" and report["num_questions"] == 6
    assert set(report["breakdowns"]["skill"]) == {"count", "compare"}
    ckpt = torch_load_safe(tmp_path / "out/checkpoint_last.pth")
    assert ckpt["extra"]["model_config"]["num_answers"] == 4  # the vocabulary file sized the head
    # re-scored without the model: the plugin evaluator gets the vocabulary size from the file
    rescore = ["evaluate", "--predictions", str(tmp_path / "out/eval/test_best_predictions.json"),
               "--report", str(tmp_path / "again.json")]
    refused = run_gf(rescore, check=False)
    assert refused.returncode == 5 and "--plugins" in refused.stderr
    proc = run_gf(rescore + ["--plugins", "gf_toy_counting"])
    assert "toy_counting" in proc.stdout
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["breakdowns"] == report["breakdowns"]
    proc = run_gf(["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(tmp_path / "out/checkpoint_last.pth"),
                   "--splits", "val", "--tag", "again"])
    assert (tmp_path / "out/eval/val_again_report.json").is_file()


# -- gf list ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, names", [
    ("evaluators", ["agqa", "egotaskqa", "nextqa", "star"]),
    ("converters", ["agqa", "egotaskqa", "nextqa", "star"]),
    ("feature_stores", ["hdf5", "npy", "pth", "webdataset"]),
    ("pretrained", ["glance_focus/star_reference_authors"]),
    ("data", ["data:star"]),
    ("hooks", ["checkpointer", "evaluation", "lr_scheduler", "metric_logger", "nonfinite_loss", "progress"]),
    ("optimizers", ["adam", "adamw", "sgd"]),
])
def test_gf_list_shows_every_kind(kind, names, capsys, isolated_cache):
    assert gf_main(["list", kind]) == 0
    listed = capsys.readouterr().out.split()
    assert set(names) <= set(listed)


def test_gf_list_without_a_kind_shows_them_all(capsys, isolated_cache):
    assert gf_main(["list"]) == 0
    out = capsys.readouterr().out
    for header in ("models:", "builders:", "processors:", "tasks:", "runners:", "hooks:", "optimizers:",
                   "lr_schedulers:", "evaluators:", "converters:", "feature_stores:", "pretrained:", "data:"):
        assert header in out


# -- one error line per failure ---------------------------------------------------------------
def _cli(args, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([PLUGINS, str(REPO)]), "GF_CACHE_DIR": str(tmp_path / "c"), "GF_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "gf", *args], capture_output=True, text=True, cwd=tmp_path, env=env)


def _bad_predictions(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"format": "gf-predictions", "version": 1, "benchmark": "star", "split": "val",
                                "predictions": {"Interaction_T1_1": {"prediction": 9, "answer": 0, "fields": {}}}}))
    return path


CASES = {
    "list": (lambda t: ["list", "gizmos"], 2, "unknown kind 'gizmos'"),
    "validate": (lambda t: ["validate", "--cfg-path", str(t / "missing.yaml")], 2, "config file not found"),
    "train": (lambda t: ["train", "--cfg-path", str(write_config(t)), "--options", "run.optimizer=adamm"], 2,
              "unknown optimizer 'adamm'"),
    "evaluate": (lambda t: ["evaluate", "--predictions", str(_bad_predictions(t))], 5, "Interaction_T1_1"),
    "prepare": (lambda t: ["prepare", "starr", "--raw", str(t), "--out", str(t / "o")], 2,
                "unknown converter 'starr'"),
    "download": (lambda t: ["download", "https://example.invalid/x.bin"], 6, "offline"),
    "zoo": (lambda t: ["zoo", "publish", str(REFERENCE / "star_mc" / "model_3.tar"), "--name", "glance_focus/x"], 4,
            "not a gf checkpoint"),
}


def test_ctrl_c_stops_training_with_one_line_and_the_run_resumes(tmp_path):
    """SIGINT during gf train: exit 130, one line saying how to continue (no traceback),
    and --resume auto goes on from the last epoch's checkpoint."""
    import signal
    import time

    cfg = write_config(tmp_path, epochs=200, lr_sched="constant")  # constant: a resumed run may change its length
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([PLUGINS, str(REPO)]), "GF_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gf", "train", "--cfg-path", str(cfg)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = tmp_path / "out" / "checkpoint_last.pth"
    deadline = time.monotonic() + 120
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "gf train: interrupted; files are written whole or not at all, so nothing half-written is left. Continue "
        "with --resume auto (from checkpoint_last.pth, written after each epoch)")
    done = torch_load_safe(last)["epoch"] + 1  # "epoch" is the finished epoch's index
    assert gf_main(["train", "--cfg-path", str(cfg), "--resume", "auto", "--options", f"run.epochs={done + 1}"]) == 0
    log = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log if r["kind"] == "epoch"] == list(range(done + 1))  # one more, none twice


@pytest.mark.parametrize("command", sorted(CASES))
def test_each_command_prints_a_gf_error_as_one_line(command, tmp_path):
    make_args, code, fragment = CASES[command]
    proc = _cli(make_args(tmp_path), tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1 and lines[0].startswith(f"gf {command}: error: "), proc.stderr
    assert fragment.lower() in lines[0].lower()


def test_debug_shows_the_traceback(tmp_path):
    proc = _cli(["--debug", "prepare", "starr", "--raw", str(tmp_path), "--out", str(tmp_path / "o")], tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "RegistryError" in proc.stderr


def test_every_gf_error_derives_from_the_root():
    import gf.common.download as download
    import gf.datasets.feature_stores as stores
    import gf.evaluation as evaluation
    import gf.models.state_dict as checkpoint
    import gf.models.zoo as zoo
    from gf.common import errors
    from gf.benchmarks.synthetic.generate import SyntheticBenchmarkError

    classes = [download.ChecksumError, download.OfflineError, download.InvalidURLError, download.ArchiveError,
               stores.FeatureKeyError, evaluation.MissingPredictionError, evaluation.PredictionsFileError,
               checkpoint.CheckpointMismatchError, zoo.ZooError, zoo.UnknownPretrainedError, SyntheticBenchmarkError,
               *(getattr(errors, n) for n in errors.__all__)]
    for cls in classes:
        assert issubclass(cls, errors.GfError), cls
        assert isinstance(cls.exit_code, int) and cls.exit_code > 0


def test_a_model_size_the_user_gave_and_the_data_replaces_is_a_warning(tmp_path, caplog):
    """Sizes the data dictates replace the config's; one the user set (not the model type's
    default) was replaced with an info line only, unseen at the default log level."""
    import logging

    from gf.common.config import build_config, to_dict
    from gf.runners.build import build_datasets, model_config_for

    path = write_config(tmp_path)
    ds = build_datasets(build_config(str(path)), {"synthetic_star": ["val"]})["synthetic_star"]
    with caplog.at_level(logging.INFO, logger="gf.runner"):
        assert model_config_for(to_dict(build_config(str(path)).model), ds)["feature_dim"] == 16
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert "model.feature_dim set to 16 by dataset synthetic_star (config had 64)" in caplog.text  # the default
        caplog.clear()
        given = build_config(str(path), ["model.feature_dim=99"])
        assert model_config_for(to_dict(given.model), ds)["feature_dim"] == 16
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == ["model.feature_dim set to 16 by dataset synthetic_star (config had 99): a size that does not "
                      "fit the data cannot train"]


@pytest.mark.parametrize("train_dataset, datasets, message", [
    ("sta", ["star", "agqa"], r"run.train_dataset is 'sta', which is not under datasets: \(star, agqa\)"),
    (None, ["star", "agqa"], r"lists several datasets \(star, agqa\); set run.train_dataset"),
])
def test_train_dataset_name_refuses_a_config_built_by_hand_that_names_no_listed_dataset(train_dataset, datasets,
                                                                                         message):
    """``gf.runners.build_runner(cfg)`` is documented for configs built in Python, which never
    pass the config check: the training set is chosen by name or refused, never guessed."""
    from omegaconf import OmegaConf

    from gf.common.errors import ConfigError
    from gf.common.config import train_dataset_name

    cfg = OmegaConf.create({"datasets": {name: {} for name in datasets}, "run": {"train_dataset": train_dataset}})
    with pytest.raises(ConfigError, match=message):
        train_dataset_name(cfg)
    assert train_dataset_name(OmegaConf.create({"datasets": {"star": {}}, "run": {}})) == "star"
