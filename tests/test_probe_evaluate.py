"""``gf evaluate --probe``: probed answers in their own files, compared with the unperturbed ones."""
import json

import pytest

from gf.cli import main as gf_main
from gf.common.io import sha256sum
from gf.probes import flip_rate
from gf.evaluation import load_predictions

from test_runner import PLUGINS, write_config


pytestmark = pytest.mark.usefixtures("plugin_path")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe_eval")
    runs = {}
    with pytest.MonkeyPatch.context() as mp:  # a module fixture: the test plugins importable here only
        mp.syspath_prepend(PLUGINS)
        for video_input in ("frames", "none"):
            cfg = write_config(root / video_input, epochs=6, dropout=0.0, lr=0.003)
            options = ["model.grounded_answer=true", f"model.video_input={video_input}"]
            assert gf_main(["train", "--cfg-path", str(cfg), "--options", *options]) == 0
            runs[video_input] = (cfg, root / video_input / "out", options)
    return runs


def _evaluate(run, *extra):
    cfg, out, options = run
    return gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(out / "checkpoint_best.pth"),
                    "--splits", "test", *extra, "--options", *options])


def test_each_probe_writes_its_own_files_and_the_comparison(trained, capsys, monkeypatch):
    from gf.models.glance_focus import GlanceFocus

    _, out, _ = trained["frames"]
    assert _evaluate(trained["frames"]) == 0
    plain = out / "eval" / "test_eval_predictions.json"
    before = load_predictions(plain).predictions
    seen = []  # what the model is given, pass after pass: the probe must reach it
    forward = GlanceFocus.forward
    monkeypatch.setattr(GlanceFocus, "forward", lambda self, batch: (seen.append(batch["video"].clone()),
                                                                     forward(self, batch))[1])
    assert _evaluate(trained["frames"], "--probe", "shuffle", "zeros", "--probe-seed", "3") == 0
    import torch

    passes = [torch.cat(seen[i:i + 3]) for i in range(0, len(seen), 3)]  # 12 questions, batches of 5
    assert len(passes) == 3
    plain_video, shuffled, zeros = passes
    assert plain_video.abs().sum() > 0 and not zeros.any()
    assert not torch.equal(shuffled, plain_video)
    torch.testing.assert_close(shuffled.sum(1), plain_video.sum(1))  # the same frames, in another order
    assert load_predictions(plain).predictions == before  # the unperturbed answers are the same answers
    printed = capsys.readouterr().out
    assert "probes on test" in printed and "shuffle" in printed and "zeros" in printed
    comparison = json.loads((out / "eval" / "test_eval_probes.json").read_text())
    assert comparison["probe_seed"] == 3 and set(comparison["probes"]) == {"shuffle", "zeros"}
    for probe in ("shuffle", "zeros"):
        probed = out / "eval" / f"test_eval_probe-{probe}-s3_predictions.json"
        report = json.loads((out / "eval" / f"test_eval_probe-{probe}-s3_report.json").read_text())
        assert report["provenance"]["probe"] == probe and report["provenance"]["probe_seed"] == 3
        row = comparison["probes"][probe]
        assert row["flip_rate"] == pytest.approx(flip_rate(load_predictions(plain), load_predictions(probed)))
        assert row["accuracy_probe"] == pytest.approx(report["overall"])
        cells = row["categories"]
        assert set(cells) == {f"type/{t}" for t in ("Interaction", "Sequence", "Prediction", "Feasibility")}
        assert sum(c["questions"] for c in cells.values()) == row["questions"] == 12


def test_another_probe_seed_gives_other_files(trained):
    _, out, _ = trained["frames"]
    assert _evaluate(trained["frames"], "--probe", "shuffle", "--probe-seed", "0") == 0
    first = sha256sum(out / "eval" / "test_eval_probe-shuffle-s0_predictions.json")
    assert _evaluate(trained["frames"], "--probe", "shuffle", "--probe-seed", "1") == 0
    assert (out / "eval" / "test_eval_probe-shuffle-s1_predictions.json").is_file()
    assert sha256sum(out / "eval" / "test_eval_probe-shuffle-s0_predictions.json") == first


def test_a_blind_model_is_unchanged_by_every_probe(trained):
    _, out, _ = trained["none"]
    probes = ["shuffle", "reverse", "static", "zeros", "noise", "swap_events"]
    assert _evaluate(trained["none"], "--probe", *probes) == 0
    comparison = json.loads((out / "eval" / "test_eval_probes.json").read_text())
    for probe in probes:
        row = comparison["probes"][probe]
        assert row["flip_rate"] == 0.0 and row["drop"] == 0.0 and row["p"] == 1.0, probe


def test_an_unknown_probe_is_refused_before_anything_runs(trained, capsys):
    cfg, out, options = trained["frames"]
    assert _evaluate(trained["frames"], "--probe", "shufle") != 0
    err = capsys.readouterr().err
    assert "shufle" in err and "shuffle" in err
    assert not (out / "eval" / "test_eval_probe-shufle-s0_predictions.json").exists()


def test_a_probe_that_cannot_apply_is_refused_before_any_split_is_evaluated(trained, capsys):
    """swap_events on a split without events: refused before the unperturbed evaluation
    (on a full split that is minutes of work thrown away)."""
    cfg, out, options = trained["frames"]
    eval_dir = out / "eval_no_events"
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(out / "checkpoint_best.pth"), "--splits",
                    "test", "--probe", "shuffle", "swap_events", "--options", *options,
                    "datasets.synthetic_star.events=null", "datasets.synthetic_star.grounding=null",
                    f"run.output_dir={eval_dir}"]) == 2
    assert "probe 'swap_events' needs annotated events" in capsys.readouterr().err
    assert not eval_dir.exists()  # nor an empty output folder


def test_probes_that_change_no_clip_say_so_and_the_comparison_records_the_coverage(tmp_path, capsys):
    """On one-frame clips no probe changes anything: "drop 0.00, 0.00% flipped, p 1" would
    read as "the model ignores the order". The table says how many clips each probe changed
    and warns; the probes file records the coverage (changed, unchanged, why)."""
    cfg = write_config(tmp_path, epochs=1)
    options = ["datasets.synthetic_star.max_feats=1"]
    assert gf_main(["train", "--cfg-path", str(cfg), "--options", *options]) == 0
    capsys.readouterr()
    assert gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(tmp_path / "out" / "checkpoint_best.pth"),
                    "--splits", "test", "--probe", "shuffle", "static", "--options", *options]) == 0
    printed = capsys.readouterr().out
    assert "questions whose clip changed" in printed and printed.count(" 0/12 ") == 2
    for probe in ("shuffle", "static"):
        assert (f"WARNING: {probe} changed no question's clip (all 12 unchanged: the clip has one real frame "
                f"(12)); its drop, flip rate and p say nothing about the model") in printed
    coverage = json.loads((tmp_path / "out" / "eval" / "test_eval_probes.json").read_text())["probes"]["shuffle"][
        "coverage"]
    assert coverage["questions"] == 12 and coverage["changed"] == 0 and coverage["unchanged"] == 12
    assert coverage["reasons"] == {"the clip has one real frame": 12} and len(coverage["unchanged_ids"]) == 12


def test_a_probe_that_changed_few_clips_is_warned_about_and_one_that_changed_most_is_not():
    from gf.probes.evaluate import format_probe_table

    row = {"accuracy": 50.0, "accuracy_probe": 50.0, "drop": 0.0, "flip_rate": 0.0, "p": 1.0}
    few = {"probe": "swap_events", "questions": 10, "changed": 3, "unchanged": 7,
           "reasons": {"fewer than two events": 7}}
    most = {**few, "probe": "shuffle", "changed": 9, "unchanged": 1, "reasons": {"the clip has one real frame": 1}}
    table = format_probe_table("test", {"swap_events": {**row, "coverage": few}, "shuffle": {**row, "coverage": most}})
    assert "3/10" in table and "9/10" in table
    assert ("WARNING: swap_events changed the clips of only 3 of 10 questions (30%; unchanged: fewer than two events "
            "(7)); its drop and flip rate are over all 10, so they understate the effect on the changed clips") in table
    assert "WARNING: shuffle" not in table
