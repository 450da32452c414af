"""Runs never destroy what exists, refuse what does not match, and fail loudly when they
would do nothing: output folders, locks, interrupted saves, checkpoint configs, run
settings, fp16 loss scaling, and a log that tells the truth after a resume."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from gf.cli import main as gf_main
from gf.common.config import build_config
from gf.common.safe_load import torch_load_safe

from test_runner import PLUGINS, REPO, run_gf, write_config


pytestmark = pytest.mark.usefixtures("plugin_path")


def _last_line(stderr: str) -> str:
    return [line for line in stderr.splitlines() if line.startswith("gf ")][-1]


# -- never destroy what exists ---------------------------------------------------------------
def test_train_refuses_existing_run_without_resume_or_overwrite(tmp_path, capsys):
    cfg = write_config(tmp_path, epochs=1)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    out = tmp_path / "out"
    before = (out / "checkpoint_last.pth").read_bytes()
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 2
    err = _last_line(capsys.readouterr().err)
    assert str(out) in err and "run.resume=auto" in err and "run.overwrite=true" in err
    assert (out / "checkpoint_last.pth").read_bytes() == before  # untouched
    # run.overwrite=true starts again: the old run's log is gone, not appended to
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", "run.overwrite=true"]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log if r["kind"] == "epoch"] == [0]


def test_default_output_folder_names_the_model_type(monkeypatch):
    project = REPO / "projects/glance_focus/demo/train_sup.yaml"
    monkeypatch.delenv("OUTPUT_DIR", raising=False)
    default = build_config(str(project)).run.output_dir
    other = build_config(str(project), ["model.model_type=demo_sup"]).run.output_dir
    assert default.endswith("demo/train_sup/demo_sup_grounded") and other.endswith("demo/train_sup/demo_sup")
    # the run script's default folder too: its default_out line, evaluated by bash
    script = (REPO / "run_scripts/glance_focus/demo/train_sup.sh").read_text()
    line = next(li for li in script.splitlines() if li.startswith("default_out="))
    shown = subprocess.run(["bash", "-c", f'ROOT=/r\n{line}\necho "${{OUTPUT_DIR:-$default_out}}"'],
                           capture_output=True, text=True, env={"PATH": os.environ["PATH"]}).stdout.strip()
    assert shown == "/r/output/glance_focus/demo/train_sup/${model.model_type}"


def test_a_second_train_into_the_same_folder_is_refused_and_the_first_finishes(tmp_path):
    cfg = write_config(tmp_path, epochs=1, extra_run="hooks: [sleep_before_train]")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PLUGINS, str(REPO)]), GF_TEST_SLEEP="6")
    first = subprocess.Popen([sys.executable, "-m", "gf", "train", "--cfg-path", str(cfg)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "out" / ".gf.lock"
    deadline = time.time() + 60
    while not (lock.is_file() and lock.read_text().strip()) and time.time() < deadline:
        time.sleep(0.2)
    second = run_gf(["train", "--cfg-path", str(cfg)], env_extra={"GF_TEST_SLEEP": "0"}, check=False)
    out, err = first.communicate(timeout=300)
    assert second.returncode == 2, second.stderr
    message = _last_line(second.stderr)
    assert str(first.pid) in message and "gf train" in message
    assert first.returncode == 0, err[-3000:]
    assert torch_load_safe(tmp_path / "out" / "checkpoint_last.pth")["epoch"] == 0


def test_a_killed_checkpoint_save_leaves_no_temporary_file_after_the_next_start(tmp_path):
    cfg = write_config(tmp_path, epochs=2)
    killed = run_gf(["train", "--cfg-path", str(cfg)], env_extra={"GF_TEST_KILL_ON_REPLACE": "checkpoint_last.pth"},
                    check=False)
    assert killed.returncode == -9
    out = tmp_path / "out"
    leftovers = list(out.glob(".checkpoint_last.pth.*.tmp"))
    assert leftovers and leftovers[0].stat().st_size > 10_000  # a checkpoint-sized temporary file
    assert not (out / "checkpoint_last.pth").exists()
    run_gf(["train", "--cfg-path", str(cfg), "--resume", "auto"])
    assert not list(out.rglob("*.tmp"))
    assert torch_load_safe(out / "checkpoint_last.pth")["epoch"] == 1


# -- refuse what does not match ----------------------------------------------------------------
def test_resume_refuses_a_different_model_config(tmp_path, capsys):
    cfg = write_config(tmp_path, epochs=2, extra_run="max_steps: 6")
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg), "--resume", "auto",
                    "--options", "run.max_steps=12", "model.dim_feedforward=32"]) == 4
    err = _last_line(capsys.readouterr().err)
    assert "model.dim_feedforward: checkpoint 64, config 32" in err


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished tiny run (1 epoch, cosine schedule): its config and folder. Tests copy
    the folder before resuming in it."""
    root = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(PLUGINS)
        cfg = write_config(root, epochs=1)
        assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    return cfg, root / "out"


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_refused_resume_leaves_the_run_folder_as_it_was(finished, tmp_path):
    """The checks that refuse a resume come before anything is written: config.yaml still
    records what the checkpoint was trained with (it was rewritten before them)."""
    cfg, run = finished
    out = tmp_path / "copy"
    shutil.copytree(run, out)
    before = _files(out)
    for option in ("model.d_model=64", "run.lr=0.01"):
        assert gf_main(["train", "--cfg-path", str(cfg), "--resume", "auto", "--options", f"run.output_dir={out}",
                        option]) == 4
        assert _files(out) == before


def test_a_resume_from_a_missing_checkpoint_or_a_folder_is_refused_and_leaves_no_folder(finished, tmp_path, capsys):
    """Exit 4 (a checkpoint is missing), and the new output folder is not left behind: a
    fresh run there later is not refused as "already holds a run"."""
    cfg, run = finished
    new = tmp_path / "new"
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg), "--resume", str(tmp_path / "nonexistent.pth"),
                    "--options", f"run.output_dir={new}"]) == 4
    assert f"checkpoint not found: {tmp_path / 'nonexistent.pth'}" in _last_line(capsys.readouterr().err)
    assert gf_main(["train", "--cfg-path", str(cfg), "--resume", str(run), "--options", f"run.output_dir={new}"]) == 4
    assert (f"{run} is a folder, not a checkpoint; give its checkpoint, {run / 'checkpoint_last.pth'}"
            in _last_line(capsys.readouterr().err))
    assert not new.exists()


def test_a_resume_refuses_run_settings_its_restored_state_overrides(finished, tmp_path, capsys):
    """The restored optimizer and schedule keep the checkpoint's lr (base_lrs), the RNG
    its seed, and a cosine schedule spans the run's length: a new value would be ignored
    or change the run midway while config.yaml recorded it. Settings the restored state
    does not decide may change."""
    cfg, run = finished
    ckpt, new = run / "checkpoint_last.pth", tmp_path / "new"
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", f"run.output_dir={new}", f"run.resume={ckpt}",
                    "run.lr=0.01", "run.seed=7", "run.epochs=3"]) == 4
    err = _last_line(capsys.readouterr().err)
    for part in ("run.lr: checkpoint 0.001 -> config 0.01", "run.seed: checkpoint 42 -> config 7",
                 "run.epochs: checkpoint 1 -> config 3", "cosine schedule spans the whole run (6 steps then, 18 now)",
                 f"model.checkpoint={ckpt}"):
        assert part in err
    assert not new.exists()
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", f"run.output_dir={new}", f"run.resume={ckpt}",
                    "run.log_every=5", "run.eval_batch_size=3"]) == 0
    saved = OmegaConf.load(new / "config.yaml").run
    assert saved.log_every == 5 and saved.lr == 0.001


def test_a_resume_with_another_number_of_processes_is_refused(finished, tmp_path, capsys):
    """The restored schedule was built over the steps per epoch of the checkpoint's world
    size, and the effective batch and sampler order follow it too: resuming a 2-process
    checkpoint on 1 process (or the reverse) is refused, naming both. A checkpoint without
    the record (an older gf) is not compared."""
    cfg, run = finished
    assert torch_load_safe(run / "checkpoint_last.pth")["extra"]["world_size"] == 1
    for world, code in ((2, 4), (None, 0)):
        out = tmp_path / f"copy{world}"
        shutil.copytree(run, out)
        ckpt = torch_load_safe(out / "checkpoint_last.pth")
        ckpt["extra"].pop("world_size")
        if world is not None:
            ckpt["extra"]["world_size"] = world
        torch.save(ckpt, out / "checkpoint_last.pth")
        capsys.readouterr()
        assert gf_main(["train", "--cfg-path", str(cfg), "--resume", "auto",
                        "--options", f"run.output_dir={out}"]) == code
        if world is not None:
            err = _last_line(capsys.readouterr().err)
            assert "number of processes (world size): checkpoint 2 -> now 1" in err
            assert "torchrun --nproc_per_node=2" in err


class _Killed(BaseException):
    """Stands for a SIGKILL at one write: nothing after it runs."""


@pytest.mark.parametrize("cut, best_epoch", [("checkpoint_last.pth", 0), ("checkpoint_best.pth", 1)])
def test_a_run_killed_between_its_two_checkpoint_writes_tests_with_its_recorded_best_epoch(
        tmp_path, monkeypatch, cut, best_epoch):
    """Epoch 1 (of 0..2) improves and the run is killed while writing ``cut``. The resumed
    attempt scores epoch 1 lower than the killed one did (as a GPU rerun may) and epoch 2
    lower still, so the best recorded epoch is 0 when epoch 1's improvement was lost with its
    checkpoint_last, else 1. checkpoint_best was written first and kept the abandoned
    attempt's epoch 1 (tested with, the summary calling it the best), or it was never
    completed (the test used epoch 0's weights)."""
    import gf.runners.hooks as hooks

    cfg = write_config(tmp_path, epochs=3)
    scores = iter([0.5, 0.7, 0.4, 0.3] if cut == "checkpoint_last.pth" else [0.5, 0.7, 0.3])
    monkeypatch.setattr(hooks, "_metric", lambda report, key, where: next(scores))
    replace, writes = os.replace, []

    def killed_at_epoch_1(src, dst):  # epochs 0 and 1 both improve: the second write of ``cut`` is epoch 1's
        writes.append(Path(dst).name)
        if writes.count(cut) == 2:
            raise _Killed
        replace(src, dst)

    monkeypatch.setattr(os, "replace", killed_at_epoch_1)
    with pytest.raises(_Killed):
        gf_main(["train", "--cfg-path", str(cfg)])
    monkeypatch.setattr(os, "replace", replace)
    assert gf_main(["train", "--cfg-path", str(cfg), "--resume", "auto"]) == 0
    assert next(scores, None) is None
    out = tmp_path / "out"
    assert torch_load_safe(out / "checkpoint_best.pth")["epoch"] == best_epoch
    assert torch_load_safe(out / "checkpoint_last.pth")["epoch"] == 2


def test_evaluate_refuses_a_checkpoint_trained_with_another_model_config(tmp_path, capsys):
    cfg = write_config(tmp_path, epochs=1)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    ckpt = str(tmp_path / "out" / "checkpoint_last.pth")
    capsys.readouterr()
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", ckpt, "--splits", "val",
                    "--options", "model.focus_residual=false", f"run.output_dir={tmp_path / 'ev'}"]) == 4
    assert "model.focus_residual: checkpoint True, config False" in _last_line(capsys.readouterr().err)
    assert not (tmp_path / "ev").exists()  # a refused evaluation leaves no empty output folder
    # one that changes the weights' shapes is named as a config difference too, not as a shape mismatch
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", ckpt, "--splits", "val",
                    "--options", "model.dim_feedforward=32", f"run.output_dir={tmp_path / 'ev'}"]) == 4
    err = _last_line(capsys.readouterr().err)
    assert "model.dim_feedforward: checkpoint 64, config 32" in err and "shape" not in err
    # compared before the model is built: a text encoder that would be a download is not reached
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", ckpt, "--splits", "val", "--options",
                    "model.dim_feedforward=32", "model.text_encoder=gf-tests/no-such-encoder",
                    f"run.output_dir={tmp_path / 'ev'}"]) == 4
    assert "model.dim_feedforward: checkpoint 64, config 32" in _last_line(capsys.readouterr().err)
    # settings that only matter in training may differ
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", ckpt, "--splits", "val",
                    "--options", "model.dropout=0.3", f"run.output_dir={tmp_path / 'ev'}"]) == 0


def test_evaluate_never_replaces_a_report_the_run_wrote_under_its_own_tag(finished, tmp_path, capsys):
    """best, last and epoch<N> tag the run's reports (the seeds summary reads them): gf
    evaluate may recreate a missing one, never replace one."""
    cfg, run = finished
    out = tmp_path / "copy"
    shutil.copytree(run, out)
    report = out / "eval" / "test_best_report.json"
    before = report.read_bytes()
    evaluate = ["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(out / "checkpoint_last.pth"), "--splits",
                "test", "--options", f"run.output_dir={out}", "--tag"]
    capsys.readouterr()
    assert gf_main([*evaluate, "best"]) == 2
    assert f"--tag best would replace {report}" in _last_line(capsys.readouterr().err)
    assert report.read_bytes() == before
    report.unlink()
    assert gf_main([*evaluate, "best"]) == 0 and report.is_file()


def test_evaluate_writes_no_last_report_into_a_run_that_tests_with_checkpoint_best(finished, tmp_path, capsys):
    """Such a run's test report is tagged best; a 'last' report beside it would be read as the
    run's figures (it scored other weights), so --tag last is refused there."""
    cfg, run = finished
    out = tmp_path / "copy"
    shutil.copytree(run, out)
    assert (out / "checkpoint_best.pth").is_file()
    capsys.readouterr()
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(out / "checkpoint_last.pth"), "--splits",
                    "test", "--tag", "last", "--options", f"run.output_dir={out}"]) == 2
    err = _last_line(capsys.readouterr().err)
    assert f"--tag last: {out} has checkpoint_best.pth" in err and "--tag best" in err
    assert not (out / "eval" / "test_last_report.json").exists()


def test_evaluate_runs_each_hook_once_for_an_old_run_whose_config_lists_one_twice(finished, tmp_path, capsys,
                                                                                  caplog):
    """A run's config.yaml written before training refused run.hooks=[lr_scheduler] was
    refused by gf evaluate too, though evaluation need not: it now evaluates, each hook once."""
    import yaml

    from gf.common.config import build_config
    from gf.runners.build import build_hooks

    cfg, run = finished
    old = yaml.safe_load((run / "config.yaml").read_text())
    old["run"]["hooks"] = ["lr_scheduler", "evaluation"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    capsys.readouterr()
    assert gf_main(["evaluate", "--cfg-path", str(tmp_path / "config.yaml"), "--checkpoint",
                    str(run / "checkpoint_best.pth"), "--splits", "val", "--options",
                    f"run.output_dir={tmp_path / 'ev'}"]) == 0
    assert "evaluation runs each hook once" in caplog.text
    assert len(list((tmp_path / "ev" / "eval").glob("val_eval_report.json"))) == 1
    hooks = build_hooks(build_config(str(tmp_path / "config.yaml")), evaluating=True)
    assert [type(h).__name__ for h in hooks] == [type(h).__name__ for h in build_hooks(build_config(str(cfg)))]
    assert gf_main(["train", "--cfg-path", str(tmp_path / "config.yaml"), "--options",
                    f"run.output_dir={tmp_path / 'tr'}"]) == 2  # training still refuses it


def test_a_run_folder_given_as_the_config_is_named_with_its_config_yaml(finished, capsys):
    cfg, run = finished
    capsys.readouterr()
    assert gf_main(["evaluate", "--cfg-path", str(run), "--checkpoint", str(run / "checkpoint_best.pth")]) == 2
    err = _last_line(capsys.readouterr().err)
    assert err.endswith(f"config file {run} is a folder, not a config file: give its config, {run / 'config.yaml'}")


def test_an_output_folder_that_is_a_file_or_lies_under_one_is_refused_naming_it(tmp_path, capsys):
    cfg = write_config(tmp_path, epochs=1)
    afile = tmp_path / "afile"
    afile.write_text("")
    for out, says in ((afile, "it is a file"), (afile / "sub", f"it lies under {afile}, which is a file")):
        for command in (["train"], ["evaluate", "--checkpoint", str(tmp_path / "none.pth")]):
            assert gf_main([*command, "--cfg-path", str(cfg), "--options", f"run.output_dir={out}"]) == 2
            assert f"{out} cannot be an output folder: {says}" in _last_line(capsys.readouterr().err)


def test_a_folder_named_like_a_run_file_is_refused_before_training(tmp_path, capsys):
    """Not a raw IsADirectoryError at the first checkpoint save, an epoch of training later."""
    cfg = write_config(tmp_path, epochs=1)
    (tmp_path / "out" / "checkpoint_best.pth").mkdir(parents=True)
    assert gf_main(["train", "--cfg-path", str(cfg), "--resume", "auto"]) == 2
    assert "checkpoint_best.pth is not a file" in _last_line(capsys.readouterr().err)
    assert not (tmp_path / "data").exists()  # refused before the benchmark was generated


@pytest.mark.parametrize("option, fragment", [
    ("run.lr=-0.001", "run.lr must be a finite number >= 0"),
    ("run.lr=.nan", "run.lr must be a finite number >= 0"),
    ("run.max_steps=0", "run.max_steps must be >= 1"),
    ("run.max_steps=-5", "run.max_steps must be >= 1"),
    ("model.arch=reference", "grounded_answer needs arch 'paper'"),
])
def test_validate_rejects_what_train_would_reject_before_loading_data(tmp_path, capsys, option, fragment):
    cfg = write_config(tmp_path)
    text = cfg.read_text().replace("model_type: demo_sup", "model_type: demo_sup_grounded")
    cfg.write_text(text)
    assert gf_main(["validate", "--cfg-path", str(cfg), "--options", option]) == 2
    assert fragment in _last_line(capsys.readouterr().err)
    assert not (tmp_path / "data").exists()  # refused before the benchmark was generated


# -- fp16 that cannot silently underflow ----------------------------------------------------------
def test_fp16_scales_the_loss_and_the_scaler_state_travels_with_checkpoints(tmp_path, monkeypatch):
    """The wiring, on CPU: autocast fp16 with a GradScaler; its state saved and restored."""
    from gf.runners.runner_base import Runner

    monkeypatch.setattr(Runner, "_amp_dtype", lambda self: torch.float16 if self.cfg.run.amp == "fp16" else None)
    scales = []
    real_step = torch.amp.GradScaler.update

    def spy(self, *a, **k):
        real_step(self, *a, **k)
        scales.append(self.get_scale())

    monkeypatch.setattr(torch.amp.GradScaler, "update", spy)
    cfg = write_config(tmp_path, epochs=1, extra_run="amp: fp16\n          grad_clip: 1.0",
                       lr_sched="constant")  # constant: a resumed run may train longer
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    assert len(scales) == 6 and all(s > 1 for s in scales)
    saved = torch_load_safe(tmp_path / "out" / "checkpoint_last.pth")["scaler"]
    assert saved["scale"] == scales[-1]
    restored = {}
    real_load = torch.amp.GradScaler.load_state_dict
    monkeypatch.setattr(torch.amp.GradScaler, "load_state_dict",
                        lambda self, state: (restored.update(state), real_load(self, state)))
    assert gf_main(["train", "--cfg-path", str(cfg), "--resume", "auto", "--options", "run.epochs=2"]) == 0
    assert restored["scale"] == saved["scale"]


# -- traceability ------------------------------------------------------------------------------
def _tensorboard_steps(folder: Path, tag: str) -> list:
    """The steps TensorBoard shows for ``tag`` (it reads every event file, purges included)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    return [event.step for event in EventAccumulator(str(folder)).Reload().Scalars(tag)]


def test_the_log_and_tensorboard_do_not_repeat_the_epoch_re_run_after_a_resume(tmp_path):
    cfg = write_config(tmp_path, epochs=3, extra_run="task: videoqa_killed_at_step")
    killed = run_gf(["train", "--cfg-path", str(cfg)], env_extra={"GF_TEST_KILL_AT_STEP": "9"}, check=False)
    assert killed.returncode == -9
    run_gf(["train", "--cfg-path", str(cfg), "--resume", "auto", "--options", "run.task=videoqa"])
    log = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in log if r["kind"] == "train"]
    assert train_steps == list(range(1, 19))  # every step once, none of the killed epoch's twice
    assert [r["epoch"] for r in log if r["kind"] == "epoch"] == [0, 1, 2]
    tb = tmp_path / "out" / "tb"
    assert len(list(tb.glob("events.out.tfevents.*"))) == 2  # the killed attempt's file and the resumed one's
    assert _tensorboard_steps(tb, "train/loss") == list(range(1, 19))
    assert _tensorboard_steps(tb, "epoch/train_loss") == [6, 12, 18]


def test_rescoring_with_the_config_checks_every_question_of_the_split(tmp_path, capsys):
    cfg = write_config(tmp_path, epochs=1)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    preds_path = tmp_path / "out" / "eval" / "test_best_predictions.json"
    data = json.loads(preds_path.read_text())
    dropped = sorted(data["predictions"])[0]
    del data["predictions"][dropped]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(data))
    capsys.readouterr()
    # without the data the report says the coverage was not checked ...
    assert gf_main(["evaluate", "--predictions", str(partial), "--report", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["coverage_checked"] is False
    # ... with the config, the missing question is named and nothing is reported
    assert gf_main(["evaluate", "--predictions", str(partial), "--cfg-path", str(cfg)]) == 5
    assert repr(dropped) in _last_line(capsys.readouterr().err)
    assert gf_main(["evaluate", "--predictions", str(preds_path), "--cfg-path", str(cfg),
                    "--report", str(tmp_path / "full.json")]) == 0
    full = json.loads((tmp_path / "full.json").read_text())
    assert full["coverage_checked"] is True and full["provenance"]["split_fingerprint"]


def test_a_report_never_overwrites_the_predictions_it_scores(tmp_path, capsys):
    cfg = write_config(tmp_path, epochs=1)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    preds = tmp_path / "out" / "eval" / "test_best_predictions.json"
    before = preds.read_bytes()
    capsys.readouterr()
    assert gf_main(["evaluate", "--predictions", str(preds), "--report", str(preds)]) == 2
    assert "--report" in _last_line(capsys.readouterr().err)
    assert preds.read_bytes() == before


def test_rescoring_with_the_config_refuses_labels_other_than_the_splits(tmp_path, capsys):
    cfg = write_config(tmp_path, epochs=1)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    data = json.loads((tmp_path / "out" / "eval" / "test_best_predictions.json").read_text())
    qid = sorted(data["predictions"])[0]
    record = data["predictions"][qid]
    label, record["answer"] = record["answer"], record["prediction"] ^ 1 if record["answer"] == record["prediction"] \
        else record["prediction"]  # relabelled: the file now scores another answer right or wrong
    relabelled = tmp_path / "relabelled.json"
    relabelled.write_text(json.dumps(data))
    capsys.readouterr()
    assert gf_main(["evaluate", "--predictions", str(relabelled), "--cfg-path", str(cfg),
                    "--report", str(tmp_path / "r.json")]) == 5
    error = _last_line(capsys.readouterr().err)
    assert f"question {qid!r} has answer {record['answer']} but the split's annotation says {label}" in error
    assert not (tmp_path / "r.json").exists()


def test_a_rescoring_report_replaces_only_a_gf_report(tmp_path, capsys):
    cfg = write_config(tmp_path, epochs=1)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    preds = str(tmp_path / "out" / "eval" / "test_best_predictions.json")
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    kept = {path: path.read_bytes() for path in (cfg, tmp_path / "out" / "checkpoint_best.pth", notes)}
    for target, with_cfg, says in ((cfg, True, "not gf evaluate's"), (notes, False, "not gf evaluate's"),
                                   (tmp_path / "out" / "checkpoint_best.pth", True, "not gf evaluate's"),
                                   (tmp_path / "out", False, "is a folder")):
        capsys.readouterr()
        assert gf_main(["evaluate", "--predictions", preds, "--report", str(target)]
                       + (["--cfg-path", str(cfg)] if with_cfg else [])) == 2
        assert says in _last_line(capsys.readouterr().err)
    assert {path: path.read_bytes() for path in kept} == kept
    for _ in range(2):  # a report replaces a report
        assert gf_main(["evaluate", "--predictions", preds, "--report", str(tmp_path / "r.json")]) == 0


def test_reports_of_a_run_record_what_they_were_computed_from(tmp_path):
    cfg = write_config(tmp_path, epochs=1)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    out = tmp_path / "out"
    report = json.loads((out / "eval" / "test_best_report.json").read_text())
    prov = report["provenance"]
    from gf.common.download import sha256sum

    assert prov["checkpoint"] == str(out / "checkpoint_best.pth")
    assert prov["checkpoint_sha256"] == sha256sum(out / "checkpoint_best.pth")
    assert len(prov["split_fingerprint"]) == 64 and report["gf_version"]
    val = json.loads((out / "eval" / "val_epoch1_report.json").read_text())["provenance"]
    assert "checkpoint" not in val and len(val["weights_sha256"]) == 64  # weights in training, no file yet


# -- non-finite values ---------------------------------------------------------------------------
def test_a_nan_matching_cost_stops_the_run_with_the_step_and_questions(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GF_TEST_POISON_AT_STEP", "3")
    cfg = write_config(tmp_path, epochs=1, extra_run="hooks: [poison_spans_at_step]")
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 1
    err = _last_line(capsys.readouterr().err)
    assert "matching cost is not finite" in err and "step 3" in err and "questions '" in err
    assert not (tmp_path / "out" / "checkpoint_last.pth").exists()


def test_nan_answer_scores_in_evaluation_are_an_error_not_option_0(tmp_path, capsys):
    cfg = write_config(tmp_path, epochs=1)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    ckpt = torch_load_safe(tmp_path / "out" / "checkpoint_last.pth")
    for key in ckpt["model"]:
        if key.startswith("answer_head."):
            ckpt["model"][key] = torch.full_like(ckpt["model"][key], float("nan"))
    ckpt.pop("weights_sha256")
    broken = tmp_path / "broken.pth"
    torch.save(ckpt, broken)
    capsys.readouterr()
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(broken), "--splits", "val",
                    "--options", f"run.output_dir={tmp_path / 'ev'}"]) == 1
    assert "answer scores are NaN/Inf" in _last_line(capsys.readouterr().err)
    assert not list((tmp_path / "ev").rglob("*report.json"))
