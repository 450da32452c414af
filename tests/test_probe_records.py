"""What a probed evaluation leaves on disk: a comparison record that names the files it
compared and never outlives them, no probe result under an unperturbed tag (or the reverse),
no test-server submission of perturbed answers, and probed predictions never read as a
model's own score."""
import json
import os

import pytest

from gf.cli import main as gf_main
from gf.common.io import sha256sum

from test_leaderboard_engine import save_untrained
from test_runner import PLUGINS, write_config


pytestmark = pytest.mark.usefixtures("plugin_path")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny synthetic STAR config and two untrained checkpoints (their answers differ)."""
    root = tmp_path_factory.mktemp("probe_records")
    cfg = write_config(root, dropout=0.0)
    with pytest.MonkeyPatch.context() as mp:  # a module fixture: the test plugins importable here only
        mp.syspath_prepend(PLUGINS)
        return cfg, save_untrained(cfg, root / "u1.pth", 1), save_untrained(cfg, root / "u2.pth", 2), root / "out" / "eval"


def _evaluate(cfg, checkpoint, *extra):
    return gf_main(["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(checkpoint), "--splits", "test", *extra])


def test_the_probes_record_names_both_files_and_goes_when_the_predictions_are_rewritten(setup, monkeypatch, capsys):
    cfg, u1, u2, out = setup
    assert _evaluate(cfg, u1, "--probe", "zeros") == 0
    record = out / "test_eval_probes.json"
    row = json.loads(record.read_text())["probes"]["zeros"]
    plain, probed = out / "test_eval_predictions.json", out / "test_eval_probe-zeros-s0_predictions.json"
    for side, path in (("unperturbed", plain), ("probed", probed)):
        assert row[side]["file"] == path.name and row[side]["sha256"] == sha256sum(path)
        provenance = row[side]["provenance"]
        assert provenance["checkpoint_sha256"] == sha256sum(u1) and provenance["weights_sha256"]
    assert row["probed"]["provenance"]["probe"] == "zeros" and "probe" not in row["unperturbed"]["provenance"]

    assert _evaluate(cfg, u2) == 0  # another checkpoint, same tag: the record compared u1's files
    assert not record.exists() and f"removed {record}" in capsys.readouterr().out

    assert _evaluate(cfg, u1, "--probe", "zeros") == 0
    replace = os.replace

    def killed(src, dst, *args, **kwargs):  # a run killed while it writes its probed predictions
        if str(dst).endswith("_probe-zeros-s0_predictions.json"):
            raise KeyboardInterrupt
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", killed)
    assert _evaluate(cfg, u2, "--probe", "zeros") != 0
    assert not record.exists()  # u2's unperturbed predictions beside u1's comparison: gone
    assert json.loads(plain.read_text())["provenance"]["checkpoint_sha256"] == sha256sum(u2)


def test_a_plain_evaluation_cannot_take_a_probe_file_tag(setup, capsys):
    cfg, u1, _, _ = setup
    with pytest.raises(SystemExit) as e:
        _evaluate(cfg, u1, "--tag", "eval_probe-zeros-s0")
    assert e.value.code == 2
    assert "eval_probe-zeros-s0 is the file tag of probe zeros (seed 0) under tag eval; choose another tag" in \
        capsys.readouterr().err


@pytest.mark.parametrize("option", [["--probe", "shuffle"], ["--probe-seed", "3"]])
def test_probe_options_with_a_predictions_file_are_refused(tmp_path, option, capsys):
    assert gf_main(["evaluate", "--predictions", str(tmp_path / "unread.json"), *option]) == 2
    assert (f"{option[0]} needs a model to run (--cfg-path with --checkpoint); a predictions file cannot be probed"
            in capsys.readouterr().err)


def test_a_probed_test_evaluation_writes_no_submission_and_its_rescore_names_the_probe(setup, capsys):
    cfg, u1, _, out = setup
    assert _evaluate(cfg, u1, "--probe", "zeros") == 0
    assert (out / "test_eval_submission.json").is_file()
    assert not (out / "test_eval_probe-zeros-s0_submission.json").exists()
    printed = capsys.readouterr().out
    assert "[gf] probe zeros: no test-server file (e.g. STAR's submission) is written for the probed test" in printed
    assert printed.count("under probe zeros (seed 0)") == 1  # the probed report, not the unperturbed one
    assert gf_main(["evaluate", "--predictions", str(out / "test_eval_probe-zeros-s0_predictions.json")]) == 0
    assert "under probe zeros (seed 0)" in capsys.readouterr().out


def test_a_leaderboard_refuses_probed_predictions_as_an_entry(setup):
    from gf.common.config import build_config
    from gf.common.errors import EvaluationError
    from gf.leaderboards.prediction_files import read_predictions
    from gf.runners.build import build_datasets

    cfg, u1, _, out = setup
    assert _evaluate(cfg, u1, "--probe", "zeros") == 0
    ds = build_datasets(build_config(str(cfg), []), {"synthetic_star": ["test"]}, features=False)["synthetic_star"]
    assert len(read_predictions(out / "test_eval_predictions.json", ds, "tiny", "test")) == 12
    with pytest.raises(EvaluationError, match="holds predictions under probe zeros \\(seed 0\\), not the model's own "
                                              "answers; give the unperturbed predictions file"):
        read_predictions(out / "test_eval_probe-zeros-s0_predictions.json", ds, "tiny", "test")
