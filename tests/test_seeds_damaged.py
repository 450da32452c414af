"""Seed folders that are incomplete or damaged: the valid figures come from the epoch the
run itself records for checkpoint_best (never from whichever reports happen to be there),
and a damaged config.yaml, report or log is a one-line gf error naming the file and key,
in ``gf train --seeds`` (before any seed trains) and in ``gf summarize-seeds``."""
import json
import shlex
import shutil

import pytest
import torch
import yaml

from gf.cli import main as gf_main

from test_seeds import _copy, two_seeds  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("plugin_path")


def _best_tag(folder):
    """``epoch<N>`` of the valid reports of checkpoint_best (its "epoch" counts from 0, tags from 1)."""
    return f"epoch{torch.load(folder / 'checkpoint_best.pth', weights_only=True)['epoch'] + 1}"


def _other_tag(tag):
    return "epoch2" if tag == "epoch1" else "epoch1"  # the fixture trains 2 epochs


def _summarize(out, capsys):
    capsys.readouterr()
    code = gf_main(["summarize-seeds", str(out)])
    return code, capsys.readouterr().err


def _edit_json(path, change):
    report = json.loads(path.read_text())
    change(report)
    path.write_text(json.dumps(report))


def test_a_missing_valid_report_of_the_best_epoch_is_an_error_not_another_epoch(two_seeds, tmp_path, capsys):
    cfg, out = _copy(two_seeds, tmp_path)
    seed1 = out / "seed1"
    tag = _best_tag(seed1)
    missing = seed1 / "eval" / f"val_{tag}_report.json"
    kept = missing.read_text()
    missing.unlink()
    code, err = _summarize(out, capsys)
    assert code == 3, err  # a DataFileError, not a summary of the other epoch
    assert f"{missing} is missing" in err and "checkpoint_best" in err and len(err.strip().splitlines()) == 1
    assert not (out / "seeds_summary.json").exists()
    # the command the message gives writes the same report again, and the summary then works
    command = shlex.split(err.split("`")[1])
    assert command[0] == "gf" and f"--tag {tag}" in err
    capsys.readouterr()
    assert gf_main(command[1:]) == 0
    assert json.loads(missing.read_text())["mean"] == json.loads(kept)["mean"]
    code, err = _summarize(out, capsys)
    assert code == 0, err
    assert json.loads((out / "seeds_summary.json").read_text())["valid"]["val"]["files"]["1"] == \
        f"seed1/eval/val_{tag}_report.json"


def test_the_recreate_command_keeps_a_folder_holding_hash_and_dollar_brace(two_seeds, tmp_path, capsys):
    """The advised --options run.output_dir=<folder> was option text: ' #' cut the folder and
    '${x}' was read as an interpolation. The value is now quoted and escaped."""
    out = tmp_path / "runs #1 ${x}"
    for seed in (0, 1):
        shutil.copytree(two_seeds[1] / f"seed{seed}", out / f"seed{seed}")
    tag = _best_tag(out / "seed1")
    missing = out / "seed1" / "eval" / f"val_{tag}_report.json"
    missing.unlink()
    code, err = _summarize(out, capsys)
    assert code == 3, err
    command = shlex.split(err.split("`")[1])
    capsys.readouterr()
    assert gf_main(command[1:]) == 0, capsys.readouterr().err
    assert missing.is_file() and _summarize(out, capsys)[0] == 0


def test_the_valid_epoch_is_the_runs_record_not_recomputed_from_the_reports(two_seeds, tmp_path, capsys):
    cfg, out = _copy(two_seeds, tmp_path)
    expected = {}
    for seed in (0, 1):  # make the other epoch's report look best: the summary must not follow it
        folder = out / f"seed{seed}"
        expected[str(seed)] = f"seed{seed}/eval/val_{_best_tag(folder)}_report.json"
        _edit_json(folder / "eval" / f"val_{_other_tag(_best_tag(folder))}_report.json",
                   lambda r: r.update(mean=100.0))
    assert _summarize(out, capsys)[0] == 0
    assert json.loads((out / "seeds_summary.json").read_text())["valid"]["val"]["files"] == expected
    # without checkpoint_best.pth, log.jsonl's record of the valid figures gives the same epoch
    for seed in (0, 1):
        (out / f"seed{seed}" / "checkpoint_best.pth").unlink()
    assert _summarize(out, capsys)[0] == 0
    assert json.loads((out / "seeds_summary.json").read_text())["valid"]["val"]["files"] == expected


def _with_valid_splits_a_string(text):
    cfg = yaml.safe_load(text)
    cfg["run"]["valid_splits"] = "val"
    return yaml.safe_dump(cfg)


@pytest.mark.parametrize("damage, says", [
    (lambda text: "", "the file is empty"),
    (lambda text: "run: {}\n", "datasets is missing"),
    (lambda text: "- 1\n- 2\n", "the file holds a list"),
    (lambda text: text.replace("datasets:\n", "datasets: []\nunused:\n", 1), "datasets is []"),
    (_with_valid_splits_a_string, "run.valid_splits is 'val'"),
])
def test_a_damaged_seed_config_is_a_config_error_before_any_seed_trains(two_seeds, tmp_path, capsys, damage, says):
    cfg, out = _copy(two_seeds, tmp_path, seeds=(1,))
    config = out / "seed1" / "config.yaml"
    config.write_text(damage(config.read_text()))
    capsys.readouterr()
    assert gf_main(["train", "--cfg-path", str(cfg), "--seeds", "0", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{config}: {says}" in err and "train" in err and len(err.strip().splitlines()) == 1
    assert not (out / "seed0").exists()  # refused before seed 0 trained
    code, err = _summarize(out, capsys)
    assert code == 2 and f"{config}: {says}" in err


@pytest.mark.parametrize("report, change, says", [
    ("test_best", lambda r: r.update(overall="n/a"), "overall is 'n/a', not a number or null"),
    ("test_best", lambda r: r["breakdowns"]["type"].update(Sequence=3),
     "breakdowns.type.Sequence is 3, not an object with an accuracy"),
    ("test_best", lambda r: r["breakdowns"]["type"]["Sequence"].update(accuracy=[1]),
     "breakdowns.type.Sequence.accuracy is [1]"),
    ("test_best", lambda r: r.update(breakdowns=[1]), "breakdowns is [1]"),
    ("best_valid", lambda r: r.update(mean=float("nan")), "mean is nan"),
])
def test_a_damaged_report_is_a_data_file_error_naming_the_key(two_seeds, tmp_path, capsys, report, change, says):
    cfg, out = _copy(two_seeds, tmp_path)
    seed1 = out / "seed1"
    name = f"val_{_best_tag(seed1)}" if report == "best_valid" else report
    path = seed1 / "eval" / f"{name}_report.json"
    _edit_json(path, change)
    code, err = _summarize(out, capsys)
    assert code == 3 and f"{path}: {says}" in err and "gf evaluate" in err, err
    assert len(err.strip().splitlines()) == 1


def _edit_config(folder, **run):
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    cfg["run"].update(run)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))


@pytest.mark.parametrize("run, says", [({"seed": 42}, "run.seed is 42, not 1"),
                                       ({"lr": 0.01}, "run.lr: 0.01 there, 0.001 in seed0")])
def test_a_seed_folder_of_another_seed_or_config_is_refused_not_averaged(two_seeds, tmp_path, capsys, run, says):
    cfg, out = _copy(two_seeds, tmp_path)
    # what gf train --seeds may set per seed is no difference
    _edit_config(out / "seed1", resume="auto", num_workers=1, output_dir="/elsewhere/seed1")
    assert _summarize(out, capsys)[0] == 0
    (out / "seeds_summary.json").unlink()
    _edit_config(out / "seed1", **run)  # e.g. a single run trained with run.seed=42 copied in as seed1
    code, err = _summarize(out, capsys)
    assert code == 2 and says in err and str(out / "seed1") in err and len(err.strip().splitlines()) == 1, err
    assert not (out / "seeds_summary.json").exists()


def test_seed_folders_and_seeds_that_are_not_canonical_are_refused(two_seeds, tmp_path, capsys):
    cfg, out = _copy(two_seeds, tmp_path)
    assert _summarize(out, capsys)[0] == 0
    summary = (out / "seeds_summary.json").read_text()
    capsys.readouterr()
    assert gf_main(["summarize-seeds", str(out), "--seeds", "0", "0"]) == 2  # was columns "seed 0 | seed 0"
    assert "more than once" in capsys.readouterr().err
    shutil.copytree(out / "seed1", out / "seed01")  # was read as seed 1: "Finished seeds: 0, 1, 1"
    code, err = _summarize(out, capsys)
    assert code == 2 and f"{out / 'seed01'}: not a seed folder name" in err, err
    assert (out / "seeds_summary.json").read_text() == summary  # untouched by either


@pytest.mark.parametrize("report", ["test_best", "best_valid"])
def test_a_report_of_other_weights_is_refused(two_seeds, tmp_path, capsys, report):
    cfg, out = _copy(two_seeds, tmp_path)
    seed0, seed1 = out / "seed0", out / "seed1"
    name = (lambda folder: f"val_{_best_tag(folder)}") if report == "best_valid" else (lambda folder: report)
    path = seed0 / "eval" / f"{name(seed0)}_report.json"
    _edit_json(path, lambda r: r.pop("provenance"))  # unverifiable (e.g. scored from a predictions file)
    code, err = _summarize(out, capsys)
    assert code == 3 and f"{path}: provenance.weights_sha256 is missing" in err and "gf evaluate" in err, err
    # what gf evaluate --tag best with seed 1's checkpoint writes into seed 0's folder
    shutil.copy(seed1 / "eval" / f"{name(seed1)}_report.json", path)
    code, err = _summarize(out, capsys)
    assert code == 3 and f"is not that of {seed0 / 'checkpoint_best.pth'}" in err, err
    assert not (out / "seeds_summary.json").exists()
    if report == "test_best":  # checkpoint_best deleted: the checkpoint the report names is another folder's
        (seed0 / "checkpoint_best.pth").unlink()
        code, err = _summarize(out, capsys)
        assert code == 3 and "provenance.checkpoint" in err and "seed1/checkpoint_best.pth" in err, err
