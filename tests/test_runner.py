"""End to end through the runner: train, evaluate, resume after a kill, torchrun, NaN."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from gf.cli import main as gf_main
from gf.common.safe_load import torch_load_safe

from conftest import PLUGINS, TINY_TEXT_ENCODER

REPO = Path(__file__).resolve().parents[1]


def write_config(tmp_path, *, memory="sup", dropout=0.1, epochs=3, batch_size=4, extra_run="", name="cfg.yaml",
                 lr=0.001, optimizer="adam", lr_sched="cosine"):
    text = f"""
        plugins: [gf_test_plugins]
        model:
          name: glance_focus
          model_type: demo_{memory}
          text_encoder: {TINY_TEXT_ENCODER}
          freeze_text_encoder: true
          d_model: 32
          nhead: 4
          dim_feedforward: 64
          num_queries: 6
          dropout: {dropout}
          resizer_dropout: {dropout}
        datasets:
          synthetic_star:
            data_root: {tmp_path / 'data'}
            max_feats: 24
            max_events: 6
            generator:
              train_per_type: 6
              val_per_type: 3
              test_per_type: 3
              feature_dim: 16
              min_events: 3
              max_events: 6
              max_event_frames: 4
              max_gap_frames: 2
        run:
          output_dir: {tmp_path / 'out'}
          epochs: {epochs}
          batch_size: {batch_size}
          eval_batch_size: 5
          num_workers: 0
          lr: {lr}
          optimizer: {optimizer}
          lr_sched: {lr_sched}
          warmup_steps: 2
          best_metric: mean
          log_every: 1
          progress: false
          {extra_run}
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run_gf(args, env_extra=None, launcher=None, check=True, timeout=600):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PLUGINS, str(REPO), env.get("PYTHONPATH", "")])
    env.update(env_extra or {})
    cmd = (launcher or [sys.executable, "-m", "gf"]) + args
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def weights(path):
    return torch_load_safe(path)["model"]


pytestmark = pytest.mark.usefixtures("plugin_path")


def test_train_then_test_writes_everything(tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    out = tmp_path / "out"
    printed = capsys.readouterr().out
    assert "synthetic_star test (best)" in printed and "Sequence" in printed and "Feasibility" in printed
    for name in ("config.yaml", "checkpoint_last.pth", "checkpoint_best.pth", "log.jsonl",
                 "eval/val_epoch3_report.json", "eval/test_best_report.json", "eval/test_best_predictions.json"):
        assert (out / name).is_file(), name
    ckpt = torch_load_safe(out / "checkpoint_last.pth")  # weights_only: no pickled code
    assert ckpt["epoch"] == 2 and ckpt["step"] == 3 * 6  # 24 questions / batch 4 = 6 steps an epoch
    assert ckpt["config"]["run"]["lr"] == 0.001 and len(ckpt["weights_sha256"]) == 64
    # the class count travels with the weights (docs/data_formats.md, B4)
    assert ckpt["extra"]["model_config"]["event_pred_dim"] == 21
    report = json.loads((out / "eval/test_best_report.json").read_text())
    assert report["num_questions"] == 12
    assert set(report["breakdowns"]["type"]) == {"Interaction", "Sequence", "Prediction", "Feasibility"}
    preds = json.loads((out / "eval/test_best_predictions.json").read_text())["predictions"]
    assert len(preds) == 12 and all(p["answer"] is not None for p in preds.values())
    # re-scoring the predictions file without the model gives the same figures
    assert gf_main(["evaluate", "--predictions", str(out / "eval/test_best_predictions.json"),
                    "--report", str(tmp_path / "again.json")]) == 0
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["overall"] == report["overall"] and again["mean"] == report["mean"]
    # gf evaluate on the checkpoint reproduces the test table
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(out / "checkpoint_best.pth"),
                    "--splits", "test", "--tag", "reeval"]) == 0
    reeval = json.loads((out / "eval/test_reeval_report.json").read_text())
    assert reeval["overall"] == report["overall"] and reeval["breakdowns"] == report["breakdowns"]
    # published as a zoo entry (with its sha256), then evaluated by name: the same table
    monkeypatch.setenv("GF_ZOO", str(tmp_path / "zoo.json"))
    monkeypatch.setenv("GF_CACHE_DIR", str(tmp_path / "cache"))
    assert gf_main(["zoo", "publish", str(out / "checkpoint_best.pth"), "--name", "glance_focus/tiny_demo"]) == 0
    assert "sha256" in capsys.readouterr().out
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", "zoo:glance_focus/tiny_demo",
                    "--splits", "test", "--tag", "zoo"]) == 0
    from_zoo = json.loads((out / "eval/test_zoo_report.json").read_text())
    assert from_zoo["overall"] == report["overall"] and from_zoo["breakdowns"] == report["breakdowns"]


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    """Kill -9 during epoch 2, then --resume auto: the final weights equal an uninterrupted run's."""
    straight = write_config(tmp_path / "a")
    run_gf(["train", "--cfg-path", str(straight)])
    killed = write_config(tmp_path / "b", extra_run="task: videoqa_killed_at_step")
    proc = run_gf(["train", "--cfg-path", str(killed)], env_extra={"GF_TEST_KILL_AT_STEP": "9"}, check=False)
    assert proc.returncode == -9
    out = tmp_path / "b" / "out"
    assert torch_load_safe(out / "checkpoint_last.pth")["epoch"] == 0  # died inside epoch 2
    run_gf(["train", "--cfg-path", str(killed), "--resume", "auto", "--options", "run.task=videoqa"])
    a, b = weights(tmp_path / "a" / "out" / "checkpoint_last.pth"), weights(out / "checkpoint_last.pth")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch_load_safe(out / "checkpoint_last.pth")["step"] == 18


def test_nan_loss_stops_with_step_and_ids_and_keeps_last_checkpoint(tmp_path):
    cfg = write_config(tmp_path, extra_run="task: videoqa_nan_at_step")
    proc = run_gf(["train", "--cfg-path", str(cfg)], env_extra={"GF_TEST_NAN_AT_STEP": "8"}, check=False)
    assert proc.returncode != 0
    assert "non-finite loss" in proc.stderr and "step 8" in proc.stderr and "_T" in proc.stderr
    last = torch_load_safe(tmp_path / "out" / "checkpoint_last.pth")
    assert last["epoch"] == 0 and last["step"] == 6


@pytest.mark.parametrize("memory", ["uns", "sup_grounded"])
def test_torchrun_two_processes_match_one(tmp_path, memory):
    """2 processes x batch 2 == 1 process x batch 4 (dropout 0): same weights, same metrics,
    and every test question evaluated exactly once. SGD: Adam's first steps are ~lr*sign(g),
    which turns float noise on near-zero gradients into lr-sized differences. sup_grounded
    (demo_sup_grounded, pointer_loss 1): the matched-event L1 and class losses and the
    pointer loss divide by the events / event-naming questions of both ranks (3e-3 apart
    when each rank averaged its own L1 and class losses, 8e-3 its own pointer loss)."""
    kw = dict(memory=memory, dropout=0.0, epochs=1, extra_run="max_steps: 3", optimizer="sgd", lr=0.05)
    one = write_config(tmp_path / "one", batch_size=4, **kw)
    two = write_config(tmp_path / "two", batch_size=2, **kw)
    run_gf(["train", "--cfg-path", str(one)])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gf"]
    run_gf(["train", "--cfg-path", str(two)], launcher=torchrun, env_extra={"OMP_NUM_THREADS": "1"})
    a = weights(tmp_path / "one" / "out" / "checkpoint_last.pth")
    b = weights(tmp_path / "two" / "out" / "checkpoint_last.pth")
    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a), \
        max((a[k] - b[k]).abs().max().item() for k in a)
    # log.jsonl records the losses of both processes (their mean), not rank 0's alone
    log1, log2 = (_train_records(tmp_path / run / "out") for run in ("one", "two"))
    assert [r.keys() for r in log1] == [r.keys() for r in log2] and len(log1) == 4  # 3 steps, 1 epoch
    for r1, r2 in zip(log1, log2):
        assert all(r1[k] == pytest.approx(r2[k], abs=1e-5) for k in r1), (r1, r2)
    if memory == "sup_grounded":
        steps = [json.loads(line) for line in (tmp_path / "one" / "out" / "log.jsonl").read_text().splitlines()]
        assert all(s["loss_pointer"] > 0 for s in steps if s["kind"] == "train")  # the pointer loss was trained
        return  # evaluating does not depend on the memory kind: checked once
    # the same checkpoint evaluated by 1 and by 2 processes
    ckpt = str(tmp_path / "one" / "out" / "checkpoint_last.pth")
    run_gf(["evaluate", "--cfg-path", str(one), "--checkpoint", ckpt, "--splits", "test", "val", "--tag", "p1"])
    run_gf(["evaluate", "--cfg-path", str(one), "--checkpoint", ckpt, "--splits", "test", "val", "--tag", "p2"],
           launcher=torchrun, env_extra={"OMP_NUM_THREADS": "1"})
    for split in ("test", "val"):
        r1 = json.loads((tmp_path / "one" / "out" / f"eval/{split}_p1_report.json").read_text())
        r2 = json.loads((tmp_path / "one" / "out" / f"eval/{split}_p2_report.json").read_text())
        assert r1["breakdowns"] == r2["breakdowns"] and r1["overall"] == r2["overall"]
        p1 = json.loads((tmp_path / "one" / "out" / f"eval/{split}_p1_predictions.json").read_text())
        p2 = json.loads((tmp_path / "one" / "out" / f"eval/{split}_p2_predictions.json").read_text())
        assert p1["predictions"] == p2["predictions"]


def test_a_torchrun_resume_gives_each_rank_its_own_rng_state(tmp_path):
    """Killed in epoch 2 on 2 processes (dropout on), then --resume auto: the weights match an
    uninterrupted run's (0.015 apart when every rank resumed from rank 0's RNG state). An
    older gf's checkpoint, with rank 0's state only, still resumes, with a warning."""
    kw = dict(memory="uns", epochs=2, batch_size=2, dropout=0.1, optimizer="sgd", lr=0.05)  # SGD: see above
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gf"]
    env = {"OMP_NUM_THREADS": "1"}
    run_gf(["train", "--cfg-path", str(write_config(tmp_path / "a", **kw))], launcher=torchrun, env_extra=env)
    killed = write_config(tmp_path / "b", extra_run="task: videoqa_killed_at_step", **kw)
    proc = run_gf(["train", "--cfg-path", str(killed)], launcher=torchrun, check=False,
                  env_extra={**env, "GF_TEST_KILL_AT_STEP": "9"})  # 6 steps an epoch
    assert proc.returncode != 0
    last = torch_load_safe(tmp_path / "b" / "out" / "checkpoint_last.pth")
    assert last["epoch"] == 0
    older = write_config(tmp_path / "c", extra_run="task: videoqa_killed_at_step", **kw)
    shutil.copytree(tmp_path / "b" / "out", tmp_path / "c" / "out")
    del last["rng_per_rank"]  # as an older gf wrote it: rank 0's state only
    torch.save(last, tmp_path / "c" / "out" / "checkpoint_last.pth")
    for run, cfg in (("b", killed), ("c", older)):
        proc = run_gf(["train", "--cfg-path", str(cfg), "--resume", "auto", "--options", "run.task=videoqa"],
                      launcher=torchrun, env_extra=env)
        assert ("holds rank 0's RNG state only" in proc.stderr) == (run == "c"), proc.stderr
    a, b = (weights(tmp_path / run / "out" / "checkpoint_last.pth") for run in "ab")
    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a), \
        max((a[k] - b[k]).abs().max().item() for k in a)


def test_an_uneven_training_split_under_torchrun_says_which_questions_repeat(tmp_path, capsys):
    """23 questions on 2 processes: torch's DistributedSampler pads with 1 repeat so that
    both take 6 steps (without it DDP would hang). The training is not changed; a warning
    says so at the start, and the epoch record names the repeat among the answers counted."""
    cfg = write_config(tmp_path, memory="uns", dropout=0.0, epochs=1, batch_size=2)
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0  # generates the data: 24 training questions
    assert "trained (and counted in train_acc) twice" not in capsys.readouterr().err
    one = [r for r in _train_records(tmp_path / "out") if r["kind"] == "epoch"]
    assert [(r["train_count"], r["train_repeated"]) for r in one] == [(24, 0)]
    txt = tmp_path / "data" / "SYNTHETIC_STAR" / "txt_db"
    (txt / "train_odd.jsonl").write_text("".join((txt / "train.jsonl").read_text().splitlines(True)[:23]))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gf"]
    proc = run_gf(["train", "--cfg-path", str(cfg), "--options", f"run.output_dir={tmp_path / 'odd'}",
                   "datasets.synthetic_star.annotations.train=txt_db/train_odd.jsonl"],
                  launcher=torchrun, env_extra={"OMP_NUM_THREADS": "1"})
    assert "1 of the 23 training questions are trained (and counted in train_acc) twice" in proc.stderr
    two = [r for r in _train_records(tmp_path / "odd") if r["kind"] == "epoch"]
    assert [(r["step"], r["train_count"], r["train_repeated"]) for r in two] == [(6, 24, 1)]


def _train_records(out):
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in records if r["kind"] in ("train", "epoch")]


def test_missing_data_file_is_a_clear_error(tmp_path, capsys):
    cfg = tmp_path / "star.yaml"
    cfg.write_text(textwrap.dedent(f"""
        model: {{name: glance_focus, model_type: star_sup}}
        datasets: {{star: {{data_root: {tmp_path / 'nowhere'}}}}}
        run: {{output_dir: {tmp_path / 'out'}}}
    """))
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 3  # a data error (gf.common.errors)
    err = capsys.readouterr().err
    assert str(tmp_path / "nowhere") in err and "datasets.star" in err


def test_an_error_on_one_torchrun_rank_ends_the_run_with_that_error(tmp_path):
    """The failing rank leaves without waiting at the closing barrier, so torchrun stops
    the others and the error is shown, instead of every rank hanging. The rank left waiting
    on it says so in one line, not with gloo's "Connection closed by peer" traceback, which
    read as the cause."""
    cfg = write_config(tmp_path, memory="uns", epochs=3, batch_size=2,
                       extra_run="hooks: [fail_on_rank_1_after_first_epoch]")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gf"]
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([PLUGINS, str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(torchrun + ["train", "--cfg-path", str(cfg)], env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode != 0
    assert "gf train: error: rank 1 failed on purpose" in proc.stderr
    assert "[rank0]: Traceback" not in proc.stderr and "[rank0]: RuntimeError" not in proc.stderr, proc.stderr
    assert "gf train: error: rank 0: another process of this torchrun run failed" in proc.stderr, proc.stderr
