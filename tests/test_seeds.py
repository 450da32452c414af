"""Seeds as part of training: ``gf train --seeds`` (one ordinary run per seed, a summary
equal to their reports), resuming seed by seed, ``run.seeds`` validation, the SLURM array
script and ``SEEDS=`` in the run scripts, and bit-identical reruns of a seed."""
import hashlib
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gf.cli import build_parser, main as gf_main
from gf.common.config import build_config
from gf.common.errors import ConfigError, TrainingError
from gf.runners.hooks import CheckpointHook
from gf.runners.seeds import format_summary, is_finished, summarize

from test_runner import PLUGINS, REPO, run_gf, write_config

TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")


pytestmark = pytest.mark.usefixtures("plugin_path")


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    """Seeds 0 and 1 of a tiny config (2 epochs), trained once by ``gf train --seeds 0 1``;
    tests that change a seed folder work on a copy."""
    root = tmp_path_factory.mktemp("seeds")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(PLUGINS)
        cfg = write_config(root, epochs=2)
        assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "0", "1"]) == 0
    return cfg, root / "out"


def _copy(two_seeds, tmp_path, seeds=(0, 1)):
    """A config like the fixture's (same data) writing into ``tmp_path/out``, which holds a
    copy of the fixture's seed folders ``seeds``."""
    cfg, out = two_seeds
    new_out = tmp_path / "out"
    new_out.mkdir()
    for seed in seeds:
        shutil.copytree(out / f"seed{seed}", new_out / f"seed{seed}")
    new_cfg = tmp_path / "cfg.yaml"
    new_cfg.write_text(cfg.read_text().replace(f"output_dir: {out}", f"output_dir: {new_out}"))
    return new_cfg, new_out


def _model(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def _tree_state(folder: Path):
    """Every file under ``folder`` with its mtime and sha256: what "untouched" means."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _figures(report):
    return {"mean": report["mean"], "overall": report["overall"],
            **{f"type/{t}": report["breakdowns"]["type"][t]["accuracy"] for t in TYPES}}


def _sample_sd(values):
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_seeds_train_one_ordinary_run_each_and_a_summary_equal_to_their_reports(two_seeds, capsys):
    cfg, out = two_seeds
    assert sorted(p.name for p in out.iterdir()) == ["seed0", "seed1", "seeds_summary.json", "seeds_summary.md"]
    reports = {}
    for seed in (0, 1):
        folder = out / f"seed{seed}"
        saved = build_config(str(folder / "config.yaml"))  # an ordinary single run's config
        assert saved.run.seed == seed and saved.run.output_dir == str(folder) and saved.run.seeds is None
        best_epoch = torch.load(folder / "checkpoint_best.pth", weights_only=True)["epoch"] + 1  # tags count from 1
        reports[seed] = {"val": json.loads((folder / f"eval/val_epoch{best_epoch}_report.json").read_text()),
                         "test": json.loads((folder / "eval/test_best_report.json").read_text())}
    summary = json.loads((out / "seeds_summary.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["unfinished"] == []
    for kind, split in (("valid", "val"), ("test", "test")):
        entry = summary[kind][split]
        assert entry["primary_metric"] == "mean"
        assert set(entry["metrics"]) == {"mean", "overall", *(f"type/{t}" for t in TYPES)}
        for metric, stats in entry["metrics"].items():
            values = [_figures(reports[s][split])[metric] for s in (0, 1)]
            assert stats["values"] == {"0": values[0], "1": values[1]}  # exactly the reports' figures
            assert stats["n"] == 2 and stats["min"] == min(values)
            assert stats["worst_seed"] == (0 if values[0] <= values[1] else 1)
            assert stats["mean"] == pytest.approx(statistics.mean(values), rel=1e-12, abs=1e-12)
            assert stats["sd"] == pytest.approx(_sample_sd(values), rel=1e-12, abs=1e-12)
    markdown = (out / "seeds_summary.md").read_text()
    mean = summary["test"]["test"]["metrics"]["mean"]
    row = f"| mean (primary) | {mean['values']['0']:.2f} | {mean['values']['1']:.2f} | {mean['mean']:.2f} |"
    assert row in markdown
    # gf summarize-seeds writes the same summary again from the folders alone
    (out / "seeds_summary.json").unlink()
    capsys.readouterr()
    assert gf_main(["summarize-seeds", str(out)]) == 0
    assert json.loads((out / "seeds_summary.json").read_text()) == summary
    assert markdown in capsys.readouterr().out
    one = summarize(out, [1])  # a single seed has no spread: sd is null
    assert one["test"]["test"]["metrics"]["mean"]["sd"] is None and "null for a single seed" in format_summary(one)


def test_a_resume_trains_only_the_missing_seeds(two_seeds, tmp_path, capsys):
    cfg, out = _copy(two_seeds, tmp_path, seeds=(0,))
    before = _tree_state(out / "seed0")
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "0", "1"]) == 0
    printed = capsys.readouterr().out
    assert "seed 0 (1/2): " in printed and "reused (finished)" in printed and f"{out / 'seed1'}: new" in printed
    assert _tree_state(out / "seed0") == before  # the finished seed is untouched
    trained = _model(out / "seed1" / "checkpoint_last.pth")  # the missing one trained, as it did the first time
    reference = _model(two_seeds[1] / "seed1" / "checkpoint_last.pth")
    assert all(torch.equal(trained[k], reference[k]) for k in reference)
    assert json.loads((out / "seeds_summary.json").read_text())["seeds"] == [0, 1]
    # a seed folder made under another config is neither reused nor continued
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "0", "1", "--options", "run.lr=0.01"]) == 2
    err = capsys.readouterr().err
    assert "run.lr" in err and str(out / "seed0") in err and "run.overwrite=true" in err
    assert _tree_state(out / "seed0") == before


def test_an_interrupted_seed_continues_from_its_checkpoint(two_seeds, tmp_path, monkeypatch, capsys):
    cfg, out = _copy(two_seeds, tmp_path, seeds=(0,))
    save_and_go_on = CheckpointHook.save_epoch

    def save_and_stop_seed1(hook):
        save_and_go_on(hook)
        if hook.runner.output_dir.name == "seed1" and hook.runner.epoch == 0:
            raise TrainingError("stopped after the first epoch (test)")

    monkeypatch.setattr(CheckpointHook, "save_epoch", save_and_stop_seed1)
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "0", "1"]) == 1
    seed1 = out / "seed1"
    assert torch.load(seed1 / "checkpoint_last.pth", weights_only=True)["epoch"] == 0
    assert not (seed1 / "eval/test_best_report.json").exists()
    first_epoch = (seed1 / "log.jsonl").read_text().splitlines()
    monkeypatch.setattr(CheckpointHook, "save_epoch", save_and_go_on)
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "0", "1"]) == 0
    printed = capsys.readouterr().out
    assert f"{seed1}: continues the run there" in printed
    assert f"resumed from {seed1 / 'checkpoint_last.pth'}: epoch 1 done" in printed
    log = (seed1 / "log.jsonl").read_text().splitlines()
    assert log[:len(first_epoch)] == first_epoch  # epoch 1 was kept, not trained again
    assert [json.loads(r)["epoch"] for r in log if json.loads(r)["kind"] == "epoch"] == [0, 1]
    assert torch.load(seed1 / "checkpoint_last.pth", weights_only=True)["step"] == 12  # 2 epochs of 6 steps
    assert json.loads((out / "seeds_summary.json").read_text())["seeds"] == [0, 1]
    # (not compared with the uninterrupted seed 1 bit for bit: the frozen text encoder's cache
    # encodes texts in padded batches, so a resumed run's cached states differ in the last bits)


def test_a_seed_stopped_before_its_last_epoch_was_saved_is_continued_not_reused(tmp_path, monkeypatch, capsys):
    """Without test splits, training is done when checkpoint_last.pth holds the last epoch:
    log.jsonl records the epoch before its evaluation and save, so a seed stopped in between
    is continued, and the summary does not count it."""
    from gf.runners.hooks import EvalHook

    cfg = write_config(tmp_path, epochs=2, extra_run="test_splits: []")
    evaluate = EvalHook.after_epoch

    def stop_in_the_last_evaluation(hook):
        if hook.runner.epoch == 1:
            raise TrainingError("stopped in the last epoch's evaluation (test)")
        evaluate(hook)

    monkeypatch.setattr(EvalHook, "after_epoch", stop_in_the_last_evaluation)
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "1"]) == 1
    seed1 = tmp_path / "out" / "seed1"
    assert '"kind": "epoch", "epoch": 1' in (seed1 / "log.jsonl").read_text()
    assert torch.load(seed1 / "checkpoint_last.pth", weights_only=True)["epoch"] == 0
    assert not is_finished(seed1)
    monkeypatch.setattr(EvalHook, "after_epoch", evaluate)
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "1"]) == 0
    assert f"{seed1}: continues the run there" in capsys.readouterr().out
    assert torch.load(seed1 / "checkpoint_last.pth", weights_only=True)["epoch"] == 1 and is_finished(seed1)


def test_a_last_test_report_does_not_stand_for_the_best_one_the_run_writes(two_seeds, tmp_path):
    """A seed with checkpoint_best.pth tests with it: a test report tagged last (gf evaluate
    from checkpoint_last) neither finishes it nor gives its figures."""
    _, out = _copy(two_seeds, tmp_path, seeds=(0,))
    eval_dir = out / "seed0" / "eval"
    assert (out / "seed0" / "checkpoint_best.pth").is_file()
    (eval_dir / "test_best_report.json").rename(eval_dir / "test_last_report.json")
    assert not is_finished(out / "seed0")


def test_a_seed_cut_short_is_not_finished_by_a_test_report_and_gf_evaluate_does_not_write_one(two_seeds, tmp_path,
                                                                                              capsys):
    """A seed killed before its last epoch's save has checkpoint_best.pth but no final
    checkpoint_last.pth: a test report (gf evaluate --tag best) would make the sweep reuse
    it and the summary count it. gf evaluate refuses the run's tags there, and a test report
    alone does not finish it."""
    _, out = _copy(two_seeds, tmp_path, seeds=(0,))
    seed0 = out / "seed0"
    (seed0 / "checkpoint_last.pth").unlink()
    _cut_log_after_epoch(seed0, 0)  # without this cut, a finished run whose checkpoint_last was deleted
    report = seed0 / "eval" / "test_best_report.json"
    kept = report.read_bytes()
    report.unlink()
    capsys.readouterr()
    assert gf_main(["evaluate", "--cfg-path", str(seed0 / "config.yaml"), "--checkpoint",
                    str(seed0 / "checkpoint_best.pth"), "--splits", "test", "--tag", "best",
                    "--options", f"run.output_dir={seed0}"]) == 2
    err = capsys.readouterr().err
    assert f"--tag best: the run in {seed0} has not finished training" in err and "--resume auto" in err
    assert not report.exists()
    report.write_bytes(kept)  # written by an older gf
    assert not is_finished(seed0)


def _cut_log_after_epoch(folder, epoch):
    """log.jsonl as a kill in the epoch after ``epoch`` leaves it."""
    log = folder / "log.jsonl"
    log.write_text("".join(line + "\n" for line in log.read_text().splitlines()
                           if json.loads(line).get("epoch", 0) <= epoch))


def test_a_finished_seed_whose_checkpoint_last_was_deleted_is_reused_and_counted(two_seeds, tmp_path, capsys):
    """Deleting checkpoint_last.pth of a finished seed is a normal thing to do (the summary
    reads checkpoint_best and the reports): its log.jsonl says training ended, so the sweep
    reuses it untouched and the summary counts it, as it did before gf read checkpoint_last."""
    cfg, out = _copy(two_seeds, tmp_path)
    seed1 = out / "seed1"
    (seed1 / "checkpoint_last.pth").unlink()
    before = _tree_state(seed1)
    assert is_finished(seed1)
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "0", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("reused (finished)") == 2 and "continues the run there" not in printed
    assert _tree_state(seed1) == before
    assert json.loads((out / "seeds_summary.json").read_text())["seeds"] == [0, 1]


def test_resume_auto_without_checkpoint_last_beside_a_run_s_files_is_refused_not_started_afresh(two_seeds, tmp_path,
                                                                                                 capsys):
    """A seed cut short whose checkpoint_last.pth was deleted still has checkpoint_best.pth and
    reports: continuing it "from scratch" would overwrite them without a word. Refused,
    saying what to do; nothing in the folder changes."""
    cfg, out = _copy(two_seeds, tmp_path, seeds=(0,))
    seed0 = out / "seed0"
    (seed0 / "checkpoint_last.pth").unlink()
    _cut_log_after_epoch(seed0, 0)
    before = _tree_state(seed0)
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "0"]) == 4
    err = capsys.readouterr().err
    assert f"run.resume auto: {seed0 / 'checkpoint_last.pth'} is missing, but {seed0} holds a run's files" in err
    assert "checkpoint_best.pth" in err and "run.overwrite=true" in err and "Traceback" not in err
    assert _tree_state(seed0) == before


def test_a_sweep_that_trains_a_seed_removes_the_earlier_summary_first(two_seeds, tmp_path, monkeypatch, capsys):
    """The summary of an earlier sweep would outlive a sweep that trains seeds again and is
    stopped: it is removed before the first seed trains (and written again at the end)."""
    cfg, out = _copy(two_seeds, tmp_path, seeds=(0,))
    for name in ("seeds_summary.json", "seeds_summary.md"):
        shutil.copy(two_seeds[1] / name, out / name)
    start = CheckpointHook.before_train

    def stop_seed1(hook):
        if hook.runner.output_dir.name == "seed1":
            raise TrainingError("stopped before seed 1 trains (test)")
        start(hook)

    monkeypatch.setattr(CheckpointHook, "before_train", stop_seed1)
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "0", "1"]) == 1
    assert "removed seeds_summary.md and seeds_summary.json" in capsys.readouterr().out
    assert not (out / "seeds_summary.json").exists() and not (out / "seeds_summary.md").exists()


def test_a_seed_whose_folder_cannot_be_used_is_refused_without_calling_it_failed(tmp_path, capsys):
    cfg = write_config(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "seed1").write_text("")
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "1"]) == 2
    captured = capsys.readouterr()
    assert "cannot be an output folder: it is a file" in captured.err
    assert "failed" not in captured.out + captured.err


def test_a_seed_another_command_is_training_is_refused_without_calling_it_failed(two_seeds, tmp_path, capsys):
    """A second gf train --seeds while the first trains seed 1: the lock error alone, not
    'seed 1 failed ... the same command continues it' (it has not failed; the other runs it)."""
    from gf.common.io import output_lock

    cfg, out = _copy(two_seeds, tmp_path, seeds=(0,))
    capsys.readouterr()
    with output_lock(out / "seed1", "gf train"):
        assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "0", "1"]) == 2
    captured = capsys.readouterr()
    assert "in use by process" in captured.err and "(gf train)" in captured.err
    assert "failed" not in captured.out + captured.err


@pytest.mark.parametrize("value, says", [("[0,0]", "more than once"), ("[]", "empty"), ("[a]", "run.seeds"),
                                         ("[1.5]", "run.seeds"), ("3", "run.seeds"), ("[-1]", "2**32")])
def test_bad_run_seeds_are_config_errors_naming_the_key(tmp_path, value, says):
    cfg = write_config(tmp_path)
    with pytest.raises(ConfigError, match="run.seeds") as e:
        build_config(str(cfg), [f"run.seeds={value}"])
    assert says in str(e.value)


def test_seeds_options_and_folders_that_are_refused(tmp_path, capsys):
    cfg = write_config(tmp_path)
    with pytest.raises(ConfigError, match="run.seeds"):
        build_config(str(cfg), ["run.seeds=[0,1]", "run.resume=/some/checkpoint_last.pth"])
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", "run.seeds=[1,1]"]) == 2
    assert "run.seeds" in capsys.readouterr().err
    # --seeds wins over run.seeds
    from gf.runners.run_config import config_from_args as _config

    args = build_parser().parse_args(["train", "--cfg-path", str(cfg), "--options", "run.seeds=[5]", "--seeds", "3"])
    assert list(_config(args).run.seeds) == [3]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--cfg-path", str(cfg), "--seeds", "one"])
    # a folder that holds one run cannot hold seed folders as well
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "log.jsonl").write_text("")
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "0"]) == 2
    assert "holds a single run" in capsys.readouterr().err and not (tmp_path / "out" / "seed0").exists()
    assert gf_main(["summarize-seeds", str(tmp_path / "out")]) == 2


def test_a_single_run_into_a_seed_sweep_folder_is_refused(tmp_path, capsys):
    """The reverse of "holds a single run": a run beside seed<N>/ would lock the sweep out."""
    cfg = write_config(tmp_path)
    out = tmp_path / "out"
    (out / "seed0").mkdir(parents=True)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 2
    assert f"{out} holds a seed sweep (seed0)" in capsys.readouterr().err
    (out / "seed0").rmdir()
    (out / "seeds_summary.json").write_text("{}")
    assert gf_main(["train", "--cfg-path", str(cfg), "--resume", "auto"]) == 2
    assert "holds a seed sweep (seeds_summary.json)" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["seeds_summary.json"] and not (tmp_path / "data").exists()


def test_the_same_seed_gives_bit_identical_weights_and_another_seed_does_not(two_seeds, tmp_path):
    cfg, out = two_seeds
    # the same config and seed as an ordinary run in another folder
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", "run.seed=0",
                    f"run.output_dir={tmp_path / 'again'}"]) == 0
    again = _model(tmp_path / "again" / "checkpoint_last.pth")
    seed0, seed1 = (_model(out / f"seed{s}" / "checkpoint_last.pth") for s in (0, 1))
    assert again.keys() == seed0.keys() == seed1.keys()
    assert all(torch.equal(again[k], seed0[k]) for k in seed0)
    assert not all(torch.equal(seed1[k], seed0[k]) for k in seed0)


def _fake_python(tmp_path):
    """A ``python`` first on PATH that records its arguments (one call a line, NUL-separated)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    script = bin_dir / "python"
    script.write_text(f'#!/usr/bin/env bash\nprintf "%s\\0" "$@" >> {calls}\necho >> {calls}\n')
    script.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path)}

    def recorded():
        return [line.strip("\0").split("\0") for line in calls.read_text().splitlines() if line]

    return env, recorded


def test_slurm_array_task_trains_its_seed_then_summarises(tmp_path):
    env, recorded = _fake_python(tmp_path)
    script = str(REPO / "run_scripts/train/slurm_seeds.sh")
    args = ["bash", script, "c.yaml", "/o", "3", "5", "7", "run.lr=0.1"]
    proc = subprocess.run(args, env={**env, "SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1"},
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    train, summary = recorded()
    assert train == ["-m", "gf", "train", "--cfg-path", "c.yaml", "--seeds", "5", "--options", "run.output_dir=/o",
                     "run.lr=0.1"]
    assert summary == ["-m", "gf", "summarize-seeds", "/o", "--seeds", "3", "5", "7"]
    for call in (train, summary):  # both are commands gf accepts
        build_parser().parse_args(call[2:])
    for task in ("3", None):  # past the list, or not an array task: no run
        extra = {"SLURM_ARRAY_TASK_ID": task} if task else {}
        proc = subprocess.run(args, env={**env, **extra}, capture_output=True, text=True)
        assert proc.returncode != 0 and len(recorded()) == 2


def test_seeds_env_reaches_gf_train_through_the_run_scripts(tmp_path):
    env, recorded = _fake_python(tmp_path)
    script = str(REPO / "run_scripts/glance_focus/demo/train_sup.sh")
    env.update(DATA_ROOT="/d", OUTPUT_DIR="/o")
    subprocess.run(["bash", script, "run.epochs=1"], env={**env, "SEEDS": "0 1 2"}, check=True)
    subprocess.run(["bash", script], env=env, check=True)
    with_seeds, without = recorded()
    assert with_seeds[with_seeds.index("--seeds"):with_seeds.index("--options")] == ["--seeds", "0", "1", "2"]
    assert with_seeds[-1] == "run.epochs=1" and "run.output_dir=/o" in with_seeds
    args = build_parser().parse_args(with_seeds[2:])
    assert args.seeds == [0, 1, 2]
    assert "--seeds" not in without


def test_a_seeds_sweep_under_torchrun_trains_every_seed_in_one_launch(tmp_path):
    """One process group for the whole command: each seed's run used to leave it, and the
    next seed's new one then hung or failed with each rank blaming the other."""
    cfg = write_config(tmp_path, memory="uns", epochs=1, batch_size=2, extra_run="max_steps: 2")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gf"]
    proc = run_gf(["train", "--cfg-path", str(cfg), "--seeds", "0", "1"], launcher=torchrun,
                  env_extra={"OMP_NUM_THREADS": "1"}, timeout=300)
    assert "another process" not in proc.stderr, proc.stderr
    out = tmp_path / "out"
    assert all(is_finished(out / f"seed{seed}") for seed in (0, 1))
    assert (out / "seeds_summary.md").is_file() and "Finished seeds: 0, 1" in proc.stdout
