"""A resume continues the run its checkpoint was made in, or is refused: the same data, a run
length that goes on from an epoch's end, and nothing kept from an abandoned attempt."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from gf.cli import main as gf_main
from gf.common.safe_load import torch_load_safe

from test_run_safety import _Killed, _files, _last_line, _tensorboard_steps
from test_runner import write_config


pytestmark = pytest.mark.usefixtures("plugin_path")


def _log(out: Path) -> list:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_a_resume_on_other_training_or_validation_data_is_refused_naming_what_changed(tmp_path, capsys):
    """Another training split would rebuild the schedule over other steps and reorder the
    sampler midway, another valid split would pick "best" across different questions, and
    config.yaml would record the new data as the whole run's. A checkpoint of an older gf
    records no data: it still resumes."""
    cfg = write_config(tmp_path, epochs=1, lr_sched="constant")  # constant: a resume may train longer
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    out = tmp_path / "out"
    extra = torch_load_safe(out / "checkpoint_last.pth")["extra"]
    assert extra["steps_per_epoch"] == 6 and set(extra["split_contents"]) == {"train", "val"}
    before = _files(out)
    resume = ["train", "--cfg-path", str(cfg), "--resume", "auto", "--options", "run.epochs=2"]
    other = f"datasets.synthetic_star.data_root={tmp_path / 'data2'}"
    capsys.readouterr()
    assert gf_main([*resume, other, "datasets.synthetic_star.generator.train_per_type=12"]) == 4
    err = _last_line(capsys.readouterr().err)
    assert "steps per epoch: checkpoint 6 -> now 12" in err and "split 'train' of synthetic_star" in err
    assert "split 'val' of synthetic_star" in err and "data its checkpoint was made with" in err
    assert gf_main([*resume, f"datasets.synthetic_star.data_root={tmp_path / 'data3'}",
                    "datasets.synthetic_star.generator.val_per_type=5"]) == 4
    err = _last_line(capsys.readouterr().err)
    assert "split 'val' of synthetic_star: other questions or labels" in err and "steps per epoch" not in err
    assert _files(out) == before  # refused before anything was written
    moved = tmp_path / "moved"  # the same data in another folder (a node's scratch disk) resumes
    shutil.copytree(tmp_path / "data", moved)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert gf_main([*resume, f"datasets.synthetic_star.data_root={moved}", f"run.output_dir={copy}"]) == 0
    assert torch_load_safe(copy / "checkpoint_last.pth")["epoch"] == 1
    ckpt = torch_load_safe(out / "checkpoint_last.pth")
    for key in ("steps_per_epoch", "split_contents"):
        ckpt["extra"].pop(key)
    torch.save(ckpt, out / "checkpoint_last.pth")
    assert gf_main(resume) == 0
    assert torch_load_safe(out / "checkpoint_last.pth")["epoch"] == 1


@pytest.mark.parametrize("option", ["run.epochs=2", "run.max_steps=12"])
def test_a_resume_that_trains_no_further_epoch_drops_the_abandoned_epoch_s_records(tmp_path, monkeypatch, option):
    """Killed after epoch 3's evaluation, before its checkpoint; resumed as a run of 2 epochs
    (12 steps), so no epoch is left to train: epoch 3's log records, TensorBoard points and
    eval files (of weights no checkpoint holds) are gone all the same."""
    from gf.runners.runner_base import Runner

    cfg = write_config(tmp_path, epochs=3, lr_sched="constant")
    save = Runner.save_checkpoint

    def killed_at_epoch_3(self, name):
        if self.epoch == 2:
            raise _Killed
        save(self, name)

    monkeypatch.setattr(Runner, "save_checkpoint", killed_at_epoch_3)
    with pytest.raises(_Killed):
        gf_main(["train", "--cfg-path", str(cfg)])
    out = tmp_path / "out"
    assert (out / "eval" / "val_epoch3_report.json").is_file() and max(r["step"] for r in _log(out)) == 18
    monkeypatch.setattr(Runner, "save_checkpoint", save)
    assert gf_main(["train", "--cfg-path", str(cfg), "--resume", "auto", "--options", option]) == 0
    log = _log(out)
    assert max(r["step"] for r in log) == 12
    assert [r["epoch"] for r in log if r["kind"] == "epoch"] == [0, 1]
    assert [r["epoch"] for r in log if r["kind"] == "val_val"] == [0, 1]
    assert not list((out / "eval").glob("*_epoch3_*"))
    assert (out / "eval" / "val_epoch2_report.json").is_file() and (out / "eval" / "test_best_report.json").is_file()
    assert _tensorboard_steps(out / "tb", "epoch/train_loss") == [6, 12]
    assert _tensorboard_steps(out / "tb", "val_val/mean") == [6, 12]


def test_a_resume_removes_only_the_run_s_own_epoch_files_not_a_user_s_tag_ending_in_epoch_n(tmp_path, monkeypatch):
    """Killed before its first save; files named like an epoch's but of a `gf evaluate --tag
    o2_epoch3` (or another split) are the user's: only <valid split>_epoch<N>_<kind> go."""
    from gf.runners.runner_base import Runner

    cfg = write_config(tmp_path, epochs=1, lr_sched="constant")
    save = Runner.save_checkpoint

    def killed(self, name):
        raise _Killed

    monkeypatch.setattr(Runner, "save_checkpoint", killed)
    with pytest.raises(_Killed):
        gf_main(["train", "--cfg-path", str(cfg)])
    eval_dir = tmp_path / "out" / "eval"
    users = [eval_dir / f"test_o2_epoch3_{kind}" for kind in ("report.json", "predictions.json")]
    users.append(eval_dir / "val_x_epoch2_report.json")
    abandoned = eval_dir / "val_epoch2_report.json"  # an attempt of more epochs
    for path in (*users, abandoned):
        path.write_text("{}")
    monkeypatch.setattr(Runner, "save_checkpoint", save)
    assert gf_main(["train", "--cfg-path", str(cfg), "--resume", "auto"]) == 0
    assert all(path.read_text() == "{}" for path in users) and not abandoned.exists()


def test_a_resume_whose_length_does_not_continue_the_checkpoint_is_refused(tmp_path, capsys):
    """run.max_steps 4 cut epoch 1 (of 6 steps) short. A resume goes on with the next epoch,
    so a longer run would skip steps 5-6 and its weights would not be those of the run its
    config.yaml describes; a shorter one would describe less training than the weights had.
    Both are refused before anything is written; the same length still resumes."""
    cfg = write_config(tmp_path, epochs=3, lr_sched="constant", extra_run="max_steps: 4")
    assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    out = tmp_path / "out"
    before = _files(out)
    resume = ["train", "--cfg-path", str(cfg), "--resume", "auto", "--options"]
    capsys.readouterr()
    for option in ("run.max_steps=10", "run.max_steps=null"):
        assert gf_main([*resume, option]) == 2
        err = _last_line(capsys.readouterr().err)
        assert "run.max_steps 4 cut epoch 1 short at step 4, 2 steps before its end" in err
        assert "Resume with run.max_steps=4" in err
    assert gf_main([*resume, "run.max_steps=3"]) == 2
    err = _last_line(capsys.readouterr().err)
    assert "has trained 4 steps (1 epochs), but run.epochs 3, run.max_steps 3 end the run at step 3" in err
    assert _files(out) == before
    shutil.rmtree(out / "eval")
    assert gf_main([*resume, "run.epochs=5"]) == 0  # same length: nothing to train, the test splits again
    assert torch_load_safe(out / "checkpoint_last.pth")["step"] == 4


def test_each_rank_resumes_its_own_rng_state_and_a_single_state_serves_every_rank(tmp_path):
    """Under torchrun the ranks' RNG states differ; a 1-process checkpoint (and an older
    gf's) keeps its one state, in the format it always had."""
    from gf.models.checkpoint import capture_rng_state, rank_rng_state, save_checkpoint

    states = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        states.append(capture_rng_state())
    one = torch_load_safe(save_checkpoint(tmp_path / "one.pth", model_state={}, config={}))
    assert "rng_per_rank" not in one and rank_rng_state(one, 0) is one["rng"]
    two = torch_load_safe(save_checkpoint(tmp_path / "two.pth", model_state={}, config={}, rng_per_rank=states))
    for rank in (0, 1):
        assert torch.equal(rank_rng_state(two, rank)["torch"], states[rank]["torch"])
