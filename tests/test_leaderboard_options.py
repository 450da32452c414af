"""Every number a leaderboard command takes is checked, and a refused command leaves nothing
behind (issue 21, class 5).

Manifest values (statistics, run, probe seeds, seeds, reported figures) and the options
``--jobs`` and ``--shard`` are refused when they are not finite, not integers where they
count something, or out of range: a ConfigError (exit 2) naming the manifest file and key
(or the option), the bad value and the allowed range, before anything is written: no
output folder, no manifest.json, no lock file, so the corrected command runs as if the
refused one never happened.
"""
import json
import math
from pathlib import Path

import pytest

from gf.cli import main as gf_main
from gf.common.errors import ConfigError
from gf.leaderboards.engine import run_leaderboard
from gf.leaderboards.manifest import load_manifest

from test_leaderboard_engine import model_entry, save_untrained, write_data_config, write_manifest


@pytest.fixture
def setup(tmp_path):
    """A manifest of one model entry on val, whose output folder does not exist yet."""
    cfg = write_data_config(tmp_path)
    a = save_untrained(cfg, tmp_path / "a.pth", seed=1)
    out = tmp_path / "new" / "board"
    return tmp_path, cfg, a, out, write_manifest(tmp_path, model_entry("a", a, cfg), splits="[val]", out=out)


def refused(args, capsys) -> str:
    """Run ``gf leaderboard ARGS``, expect exit code 2 (ConfigError), return its message."""
    capsys.readouterr()
    assert gf_main(["leaderboard", *map(str, args)]) == 2
    return capsys.readouterr().err


STATS = "statistics: {bootstrap_samples: 200, seed: 0}"


@pytest.mark.parametrize("old, new, key, shown, allowed", [
    (STATS, "statistics: {bootstrap_samples: 200, confidence: .nan}", "statistics.confidence", "nan",
     "[0.5, 0.999]"),
    (STATS, "statistics: {bootstrap_samples: 200, confidence: 1.0}", "statistics.confidence", "1.0", "[0.5, 0.999]"),
    (STATS, "statistics: {bootstrap_samples: 200, confidence: .inf}", "statistics.confidence", "inf", "[0.5, 0.999]"),
    (STATS, "statistics: {bootstrap_samples: 0}", "statistics.bootstrap_samples", "got 0", "[100, 100000]"),
    (STATS, "statistics: {bootstrap_samples: 250.5}", "statistics.bootstrap_samples", "250.5", "an integer"),
    (STATS, "statistics: {bootstrap_samples: 200, alpha: 0}", "statistics.alpha", "got 0", "[1e-06, 0.5]"),
    (STATS, "statistics: {bootstrap_samples: 200, alpha: -.nan}", "statistics.alpha", "nan", "[1e-06, 0.5]"),
    (STATS, "statistics: {bootstrap_samples: 200, seed: -1}", "statistics.seed", "got -1", "an integer >= 0"),
    (STATS, "statistics: {bootstrap_samples: 200, seed: 1.5}", "statistics.seed", "1.5", "an integer >= 0"),
    (STATS, "statistics: {bootstrap_samples: 200, seed: 100000000000000000000000}", "statistics.seed",
     "100000000000000000000000", "at most 2**63 - 1"),
    ("run: {device: cpu, eval_batch_size: 8}", "run: {device: cpu, eval_batch_size: 0}", "run.eval_batch_size",
     "got 0", "an integer >= 1"),
    ("run: {device: cpu, eval_batch_size: 8}", "run: {device: cpu, eval_batch_size: .inf}", "run.eval_batch_size",
     "inf", "an integer >= 1"),
    ("run: {device: cpu, eval_batch_size: 8}", "run: {device: cpu, eval_batch_size: 8, num_workers: -1}",
     "run.num_workers", "got -1", "an integer >= 0"),
    ("run: {device: cpu, eval_batch_size: 8}", "run: {device: cpu, eval_batch_size: 8, num_workers: true}",
     "run.num_workers", "True", "an integer >= 0"),
    ("splits: [val]", "splits: [val]\n    probes: [shuffle]\n    probe_seed: -3", "benchmarks.tiny.probe_seed",
     "got -3", "an integer >= 0"),
    ("splits: [val]", "splits: [val]\n    probes: [shuffle]\n    probe_seed: .nan", "benchmarks.tiny.probe_seed",
     "nan", "an integer >= 0"),
])
def test_a_bad_number_in_the_manifest_is_refused_naming_file_key_value_and_range(setup, capsys, old, new, key,
                                                                                  shown, allowed):
    tmp_path, cfg, a, out, manifest = setup
    text = manifest.read_text()
    assert old in text
    manifest.write_text(text.replace(old, new))
    message = refused(["run", "--manifest", manifest, "--no-progress"], capsys)
    assert str(manifest) in message and key in message and shown in message and allowed in message, message
    assert not out.parent.exists()  # nothing created


@pytest.mark.parametrize("extra, key, shown", [
    ("reported:\n  - {name: paper, benchmark: tiny, split: val, source: s, score: .nan}\n", "reported[0].score", "nan"),
    ("reported:\n  - {name: paper, benchmark: tiny, split: val, source: s, score: 101}\n", "reported[0].score", "101"),
    ("reported:\n  - {name: paper, benchmark: tiny, split: val, source: s, cells: {x/y: -.inf}}\n",
     "reported[0].cells.x/y", "-inf"),
])
def test_a_bad_reported_figure_is_refused(setup, capsys, extra, key, shown):
    tmp_path, cfg, a, out, manifest = setup
    manifest.write_text(manifest.read_text() + extra)
    message = refused(["run", "--manifest", manifest, "--no-progress"], capsys)
    assert str(manifest) in message and key in message and shown in message and "[0, 100]" in message
    assert not out.parent.exists()


def test_a_seed_group_with_a_bad_seed_is_refused(setup, capsys):
    tmp_path, cfg, a, out, manifest = setup
    for seeds, shown in (("[-1]", "got -1"), ("[0.5]", "0.5"), ("[.nan]", "nan")):
        path = write_manifest(tmp_path, f"- name: g\n  config: {cfg}\n  checkpoints: [{a}]\n  seeds: {seeds}\n",
                              splits="[val]", out=out)
        message = refused(["run", "--manifest", path, "--no-progress"], capsys)
        assert str(path) in message and "entries[0] (g).seeds[0]" in message and shown in message
        assert "an integer >= 0" in message and not out.parent.exists()


@pytest.mark.parametrize("option, value, allowed", [
    ("--jobs", "0", "an integer >= 1"), ("--jobs", "-2", "an integer >= 1"), ("--jobs", "nan", "an integer >= 1"),
    ("--jobs", "1.5", "an integer >= 1"), ("--jobs", "inf", "an integer >= 1"), ("--jobs", "", "an integer >= 1"),
    ("--shard", "2/2", "0 <= I < N"), ("--shard", "-1/2", "0 <= I < N"), ("--shard", "0/0", "N (the number of "
                                                                                             "shards) must be >= 1"),
    ("--shard", "nan/2", "0 <= I < N"), ("--shard", "1/2/3", "0 <= I < N"), ("--shard", "", "0 <= I < N"),
])
def test_a_bad_option_is_refused_naming_it_and_leaves_nothing(setup, capsys, option, value, allowed):
    tmp_path, cfg, a, out, manifest = setup
    message = refused(["run", "--manifest", manifest, f"{option}={value}", "--no-progress"], capsys)
    assert option in message and repr(value) in message, message
    assert allowed in message, message
    assert not out.parent.exists()


@pytest.mark.parametrize("kwargs", [dict(jobs=0), dict(jobs=2.0), dict(jobs=True), dict(jobs=math.nan),
                                    dict(shard=(2, 2)), dict(shard=(0, 0)), dict(shard=(0.0, 2)), dict(shard=(1,))])
def test_run_leaderboard_checks_its_numbers_before_it_writes(setup, kwargs):
    tmp_path, cfg, a, out, manifest = setup
    with pytest.raises(ConfigError, match="--jobs|--shard"):
        run_leaderboard(load_manifest(manifest), progress=False, **kwargs)
    assert not out.parent.exists()


def test_a_refused_command_in_a_leaderboard_folder_changes_nothing_and_the_corrected_one_runs(setup, capsys):
    tmp_path, cfg, a, out, manifest = setup
    refused(["run", "--manifest", manifest, "--jobs", "0", "--no-progress"], capsys)
    assert gf_main(["leaderboard", "run", "--manifest", str(manifest), "--no-progress"]) == 0  # corrected
    before = {p.relative_to(out): p.stat().st_mtime_ns for p in out.rglob("*")}
    assert (out / "manifest.json").is_file() and ".gf.lock" not in {p.name for p in before}
    for args in (["--shard", "3/2"], ["--jobs", "nan"]):
        refused(["run", "--manifest", manifest, *args, "--no-progress"], capsys)
        assert {p.relative_to(out): p.stat().st_mtime_ns for p in out.rglob("*")} == before
    capsys.readouterr()
    assert gf_main(["leaderboard", "run", "--manifest", str(manifest), "--no-progress"]) == 0
    assert "0 computed, 1 already done" in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text())["format"] == "gf-leaderboard-manifest"


def test_show_of_a_folder_without_a_leaderboard_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "no" / "board"
    assert gf_main(["leaderboard", "show", str(missing)]) == 2  # the command line names the wrong folder
    assert "holds no leaderboard" in capsys.readouterr().err and not missing.parent.exists()


def test_a_reported_cell_the_evaluator_does_not_have_is_refused_naming_the_manifest_entry_and_cells(setup, capsys):
    """{type/Nope: 3} was accepted and silently missing from leaderboard.md and .csv."""
    tmp_path, cfg, a, out, manifest = setup
    manifest.write_text(manifest.read_text() + "reported:\n  - {name: paper, benchmark: tiny, split: val, source: s, "
                                               "cells: {type/Interaction: 50, type/Nope: 3}}\n")
    message = refused(["run", "--manifest", manifest, "--no-progress"], capsys)
    assert (f"{manifest}: reported[0] (paper).cells: 'type/Nope' is not a cell of tiny / val (evaluator star); its "
            f"cells are type/Interaction, type/Sequence, type/Prediction, type/Feasibility") in message, message


def test_a_bad_entry_option_names_the_manifest_and_the_entry(setup, capsys):
    """gf's config says "--options: unknown key ..."; the user wrote it in the manifest's entry."""
    tmp_path, cfg, a, out, manifest = setup
    manifest.write_text(manifest.read_text().replace(f"checkpoint: {a}", f"checkpoint: {a}\n    options: "
                                                                         f"[model.nosuch=1]"))
    assert gf_main(["leaderboard", "run", "--manifest", str(manifest), "--no-progress"]) == 5
    err = capsys.readouterr().err
    assert f"{manifest}: entries[0] (a).options: unknown key 'model.nosuch'. Known keys of model:" in err, err
    assert "--options" not in err


def test_a_table_whose_every_row_failed_says_its_score_is_not_known_and_keeps_every_reported_cell(setup, capsys):
    """Every entry failed: no evaluator, so the note read "Score: Score."; the columns of the
    reported figures were the first figure's only (a second one's other cells went missing)."""
    tmp_path, cfg, a, out, manifest = setup
    manifest.write_text(manifest.read_text().replace(f"checkpoint: {a}", f"checkpoint: {tmp_path / 'nope.pth'}")
                        + "reported:\n  - {name: p1, benchmark: tiny, split: val, source: s, cells: {type/A: 50}}\n"
                          "  - {name: p2, benchmark: tiny, split: val, source: s, score: 40, cells: {type/B: 30}}\n")
    assert gf_main(["leaderboard", "run", "--manifest", str(manifest), "--no-progress"]) == 5
    md = (out / "leaderboard.md").read_text()
    assert "Score: not known yet (no result has finished)." in md and "Score: Score" not in md
    assert "| Entry | Score | A | B | Questions | Source |" in md
    assert "| p2 | 40.00 | n/a | 30.00 | n/a | reported: s |" in md


@pytest.mark.parametrize("option", ["datasets.synthetic_star.max_feats=4", "run.eval_batch_size=2"])
def test_an_entry_option_the_entry_does_not_use_is_refused_before_any_work(setup, capsys, option):
    """Only the entry's model: section and run.amp are read: its other datasets.* and run.*
    options were accepted and silently ignored (the data comes from the benchmark)."""
    tmp_path, cfg, a, out, manifest = setup
    manifest.write_text(manifest.read_text().replace(f"checkpoint: {a}", f"checkpoint: {a}\n    options: "
                                                                         f"[model.nhead=4, {option}]"))
    message = refused(["run", "--manifest", manifest, "--no-progress"], capsys)
    assert f"{manifest}: entries[0] (a).options[1]: '{option}' sets {option.split('=')[0]}, which an entry does " \
           f"not use: only model.* options, run.amp" in message, message
    assert not out.exists()


def test_an_entrys_model_checkpoint_option_is_refused_for_its_checkpoint_key(setup, capsys):
    """model.checkpoint= in an entry's options passed as a model.* option, and the entry's
    checkpoint: key, applied after it, was scored instead, without a word."""
    tmp_path, cfg, a, out, manifest = setup
    manifest.write_text(manifest.read_text().replace(f"checkpoint: {a}", f"checkpoint: {a}\n    options: "
                                                                         f"[model.checkpoint={tmp_path / 'b.pth'}]"))
    message = refused(["run", "--manifest", manifest, "--no-progress"], capsys)
    assert "entries[0] (a).options[0]" in message and "checkpoint: (or checkpoints:) key names what is scored" \
        in message, message
    assert not out.exists()


def test_the_shipped_manifests_entry_options_are_accepted():
    from omegaconf import OmegaConf

    from gf.leaderboards.manifest import _Checker, _entry_options

    paths = sorted((Path(__file__).parent.parent / "projects" / "leaderboards").glob("*.yaml"))
    assert paths
    for path in paths:
        for i, entry in enumerate(OmegaConf.to_container(OmegaConf.load(path))["entries"]):
            _entry_options(_Checker(str(path)), entry.get("options"), f"entries[{i}].options")
