"""A skip file takes questions out of a split: every report scored on it says so (how many,
the file, a subset not comparable to the official figures), and STAR's EvalAI submission of
such a test split is flagged as incomplete rather than written as if whole."""
import json
import logging
import textwrap

from gf.cli import main as gf_main

from conftest import TINY_TEXT_ENCODER
from test_star_builder import write_star_bundle


def _star_config(tmp_path, skip):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(textwrap.dedent(f"""
        model: {{name: glance_focus, model_type: star_sup, text_encoder: {TINY_TEXT_ENCODER},
                 freeze_text_encoder: true, d_model: 32, nhead: 4, dim_feedforward: 64, num_queries: 4}}
        datasets:
          star: {{data_root: {tmp_path}, max_feats: 6, max_events: 4, skip_file: {skip}}}
        run: {{output_dir: {tmp_path / 'run'}, epochs: 1, batch_size: 3, eval_batch_size: 4, num_workers: 0,
              lr: 0.001, best_metric: mean, valid_splits: [val], test_splits: [test], progress: false}}
        """))
    return cfg


def test_skipped_questions_are_in_every_report_and_the_star_submission_is_flagged(tmp_path, capsys, caplog):
    write_star_bundle(tmp_path)  # val: Interaction_T1_8 .. Feasibility_T1_11; test: *_T1_12 .. 14
    skip = tmp_path / "skip.txt"
    skip.write_text("Sequence_T1_9\nSequence_T1_13\n")
    cfg = _star_config(tmp_path, skip)
    with caplog.at_level(logging.WARNING):
        assert gf_main(["train", "--cfg-path", str(cfg)]) == 0
    out = tmp_path / "run" / "eval"
    for name in ("val_epoch1_report.json", "test_best_report.json"):
        report = json.loads((out / name).read_text())
        assert report["skipped"] == {"questions": 1, "skip_file": str(skip)}, name
        assert any("1 question(s) of the split were left out" in n and "not comparable to the official" in n
                   for n in report["notes"]), name
    submission = json.loads((out / "test_best_submission.json").read_text())
    assert sum(map(len, submission.values())) == 2  # the server sees 2 of the 3 questions...
    flag = "no answer for the 1 question(s) left out by the skip file"
    assert any(flag in n and "counts those 1 as missing" in n  # ...and the report and the console say so
               for n in json.loads((out / "test_best_report.json").read_text())["notes"])
    assert any(flag in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert flag in capsys.readouterr().out
    # gf evaluate of the predictions against the same config says so too
    assert gf_main(["evaluate", "--predictions", str(out / "test_best_predictions.json"), "--cfg-path", str(cfg),
                    "--report", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["skipped"] == {"questions": 1, "skip_file": str(skip)}



def test_the_skip_file_advice_names_the_builders_own_config_key(tmp_path):
    """The advice said datasets.<benchmark>.skip_file: datasets.star.skip_file for the
    synthetic_star dataset, a key that adds a second dataset to the run instead."""
    import pytest
    import torch

    from gf.common.errors import DataFileError
    from gf.common.registry import registry

    from test_synthetic import TINY

    def build():
        return registry.get_builder_class("synthetic_star")({"data_root": str(tmp_path), "max_feats": 12,
                                                              "generator": TINY.to_dict()}).build_datasets(["val"])

    val = build()["val"]
    store = tmp_path / "SYNTHETIC_STAR" / "vis_db" / "s3d.pth"
    feats = torch.load(store, weights_only=True)
    feats[val.records[0][val.key_field]][0, 0] = float("nan")
    torch.save(feats, store)
    with pytest.raises(DataFileError, match=r"list the question in datasets\.synthetic_star\.skip_file\.$"):
        build()["val"][0]
    del feats[val.records[0][val.key_field]]
    torch.save(feats, store)
    with pytest.raises(DataFileError, match=r"set datasets\.synthetic_star\.skip_file to it"):
        build()


def test_a_prediction_for_a_question_the_skip_file_left_out_is_named_as_such(tmp_path, capsys):
    """gf evaluate said such a question was "not in the split" and advised passing expected_ids
    (an API argument); now it names the skip file and what to do, and the API wording stays
    out of what commands print."""
    from gf.benchmarks.nextqa.converter import convert
    from gf.evaluation import save_predictions

    from test_nextqa import ROWS, write_nextqa_raw

    convert(write_nextqa_raw(tmp_path / "raw"), tmp_path / "data" / "NExT-QA")
    skip = tmp_path / "skip.txt"
    skip.write_text("4882821564_9\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"model: {{name: glance_focus, model_type: nextqa_uns}}\n"
                   f"datasets:\n  nextqa: {{data_root: {tmp_path / 'data'}, skip_file: {skip}}}\n")
    records = {f"{v}_{q}": {"prediction": 0, "answer": a, "fields": {"type": t}} for v, q, t, a in ROWS["val"]}
    records["1_1"] = {"prediction": 0, "answer": 0, "fields": {"type": "CW"}}  # truly not in the split
    save_predictions(tmp_path / "p.json", "nextqa", "val", records)
    assert gf_main(["evaluate", "--predictions", str(tmp_path / "p.json"), "--cfg-path", str(cfg)]) == 5
    err = capsys.readouterr().err
    assert (f"1 prediction(s) are for questions not in the split: '1_1'; 1 prediction(s) are for questions the "
            f"skip file {skip} leaves out of the split: '4882821564_9'; drop skip_file from the config to score "
            f"them, or score a file predicted with that skip file. Predict every question of the split exactly "
            f"once.") in err
    assert "expected_ids" not in err
