"""A kept leaderboard result re-checked against what it was computed from: a manifest run
from another folder, a checkpoint replaced with the same size and mtime, a predictions entry
after the split's features or annotations changed, and a plugin benchmark's board shown
without the plugin named on the command line."""
import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from gf.common.download import sha256sum
from gf.leaderboards.board import assemble_board

from test_leaderboard_engine import count_predictions  # noqa: F401  (a fixture)
from test_leaderboard_engine import model_entry, save_untrained, write_data_config, write_manifest
from test_leaderboard_freshness import lb  # noqa: F401  (a fixture)
from test_leaderboard_freshness import rows, run, val_table


def stale_reason(root: Path, entry: str) -> str:
    (item,) = [s for s in val_table(root)["stale"] if s["entry"] == entry]
    return item["reason"]


# D1 -------------------------------------------------------------------------------------
def test_a_manifest_run_from_another_folder_checks_the_files_its_relative_paths_name_there(tmp_path, monkeypatch):
    cfg = write_data_config(tmp_path)  # the data under tmp_path/data, by an absolute path
    first, second = tmp_path / "d1", tmp_path / "d2"
    first.mkdir(), second.mkdir()
    save_untrained(cfg, first / "a.pth", seed=1)
    save_untrained(cfg, first / "b.pth", seed=2)
    shutil.copy2(first / "b.pth", second / "a.pth")  # in d2, a.pth holds b's weights
    shutil.copy2(first / "b.pth", second / "b.pth")
    manifest = textwrap.dedent(f"""
        name: cw
        output_dir: {tmp_path / 'board'}
        run: {{device: cpu, eval_batch_size: 8}}
        statistics: {{bootstrap_samples: 200, seed: 0}}
        benchmarks:
          tiny: {{config: tiny.yaml, splits: [val]}}
        entries:
          - {{name: a, config: tiny.yaml, checkpoint: a.pth}}
          - {{name: b, config: tiny.yaml, checkpoint: b.pth}}
    """)
    for folder in (first, second):
        shutil.copy2(cfg, folder / "tiny.yaml")
        (folder / "m.yaml").write_text(manifest)
    root = tmp_path / "board"
    monkeypatch.chdir(first)
    assert run("run", "--manifest", "m.yaml", "--no-progress") == 0
    before = rows(root)
    assert before["a"]["score"] != before["b"]["score"]
    monkeypatch.chdir(second)
    assert run("run", "--manifest", "m.yaml", "--only", "b", "--no-progress") == 0
    for _ in ("run", "show"):  # a's figure is of d1/a.pth; the manifest, run in d2, names d2/a.pth
        now = rows(root)
        assert now["a"]["kind"] == "stale" and now["a"]["score"] is None
        assert now["b"]["kind"] == "measured" and now["b"]["score"] == before["b"]["score"]  # same bytes: current
        reason = stale_reason(root, "a")
        assert f"its checkpoint is now {second / 'a.pth'}" in reason and str(first / "a.pth") in reason, reason
        assert "config" not in reason  # d2/tiny.yaml holds the same bytes as d1/tiny.yaml
        monkeypatch.chdir(tmp_path)
        assert run("show", root) == 0
    monkeypatch.chdir(second)
    assert run("run", "--manifest", "m.yaml", "--no-progress") == 0
    assert rows(root)["a"]["score"] == before["b"]["score"] and val_table(root)["stale"] == []


# D2 -------------------------------------------------------------------------------------
def test_a_checkpoint_replaced_with_the_same_size_and_mtime_is_evaluated_again(lb, count_predictions):
    stat = lb.a.stat()
    shutil.copyfile(lb.b, lb.a)  # another model's bytes, same size (same architecture) ...
    os.utime(lb.a, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... and the old mtime (cp -p, rsync -t)
    assert run("run", "--manifest", lb.manifest, "--no-progress") == 0
    assert count_predictions == [("a", "tiny", "val")]  # the key is of the file's bytes, not of its stat
    now = rows(lb.root)
    assert now["a"]["provenance"]["checkpoint_sha256"] == sha256sum(lb.b)
    assert now["a"]["score"] == lb.before["b"]["score"] and val_table(lb.root)["stale"] == []


# D3 -------------------------------------------------------------------------------------
@pytest.fixture
def with_predictions(lb):
    """lb plus p, a predictions entry (a copy of a's predictions), all current."""
    kept = lb.root / "results/a/tiny/val/val_leaderboard_predictions.json"
    preds = lb.tmp / "p.json"
    shutil.copyfile(kept, preds)
    entries = model_entry("a", lb.a, lb.cfg) + model_entry("b", lb.b, lb.cfg) + f"""
        - name: p
          predictions: {{tiny: {{val: {preds}}}}}
    """
    lb.manifest = write_manifest(lb.tmp, entries, splits="[val]")
    assert run("run", "--manifest", lb.manifest, "--no-progress") == 0
    assert {r["kind"] for r in rows(lb.root).values()} == {"measured"}
    return lb


def test_a_features_change_leaves_a_predictions_entry_current_after_its_own_run(with_predictions):
    lb = with_predictions
    features = next((lb.tmp / "data" / "SYNTHETIC_STAR" / "vis_db").iterdir())
    os.utime(features, ns=(features.stat().st_atime_ns, features.stat().st_mtime_ns + 10**9))
    for _ in range(2):  # the refresh command the board gave before the fix did nothing, forever
        assert run("run", "--manifest", lb.manifest, "--only", "p", "--no-progress") == 0
        now = rows(lb.root)
        assert now["p"]["kind"] == "measured", stale_reason(lb.root, "p")  # scored without the features
        assert now["a"]["kind"] == now["b"]["kind"] == "stale"
        assert "features file" in stale_reason(lb.root, "a")


def test_an_annotation_change_recomputes_a_predictions_entry_and_shows_it_current(with_predictions,
                                                                                  count_predictions):
    lb = with_predictions
    annotations = lb.tmp / "data" / "SYNTHETIC_STAR" / "txt_db" / "val.jsonl"
    lines = annotations.read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[0])
    record["question"] += " (edited)"
    annotations.write_text(json.dumps(record) + "\n" + "".join(lines[1:]), encoding="utf-8")
    for _ in range(2):
        assert run("run", "--manifest", lb.manifest, "--only", "p", "--no-progress") == 0
        now = rows(lb.root)
        assert now["p"]["kind"] == "measured", stale_reason(lb.root, "p")
        assert now["a"]["kind"] == now["b"]["kind"] == "stale"  # computed on the old annotations
    split = json.loads((lb.root / "splits/tiny/val/record.json").read_text())
    assert split["fingerprint"] is None  # the full fingerprint on record was of the old annotations
    assert run("run", "--manifest", lb.manifest, "--no-progress") == 0
    assert sorted(count_predictions) == [("a", "tiny", "val"), ("b", "tiny", "val")]
    assert {r["kind"] for r in rows(lb.root).values()} == {"measured"}


# D4, D5 ---------------------------------------------------------------------------------
@pytest.fixture
def toy_board(tmp_path, plugin_path):
    """A board of a plugin benchmark whose config loads the plugin (``plugins:``), run with
    no --plugins: predictions entry p, 4 of 6 right."""
    from gf.evaluation import save_predictions
    from test_runner_parts import toy_config

    cfg = toy_config(tmp_path)
    answers = ["zero", "one", "two", "three"]
    questions = [json.loads(line) for line in (tmp_path / "TOY" / "val.jsonl").read_text().splitlines()]
    save_predictions(tmp_path / "p.json", "toy_counting", "val", {
        q["question_id"]: {"prediction": (answers.index(q["answer"]) + (i % 3 == 0)) % 4,
                           "answer": answers.index(q["answer"]), "fields": {"skill": q["skill"]}}
        for i, q in enumerate(questions)})
    manifest = tmp_path / "m.yaml"
    manifest.write_text(textwrap.dedent(f"""
        name: toy
        output_dir: {tmp_path / 'board'}
        statistics: {{bootstrap_samples: 200}}
        benchmarks:
          toy: {{config: {cfg}, splits: [val]}}
        entries:
          - {{name: p, predictions: {{toy: {{val: {tmp_path / 'p.json'}}}}}}}
    """))
    assert run("run", "--manifest", manifest, "--no-progress") == 0
    return tmp_path / "board"


def test_show_loads_the_plugins_the_benchmark_config_loaded(toy_board):
    from test_runner import run_gf

    shown = run_gf(["leaderboard", "show", str(toy_board)], check=False)  # a fresh process: no plugin imported
    assert shown.returncode == 0, shown.stderr
    assert "| p |" in shown.stdout and "66.67" in shown.stdout
    record = toy_board / "splits/toy/val/record.json"
    data = json.loads(record.read_text())
    assert data["plugins"] == ["gf_toy_counting"]
    record.write_text(json.dumps({**data, "plugins": []}))  # as an older gf recorded it
    refused = run_gf(["leaderboard", "show", str(toy_board)], check=False)
    assert refused.returncode == 5
    assert f"{toy_board}: " in refused.stderr and "'toy_counting'" in refused.stderr
    assert f"gf leaderboard show {toy_board} --plugins MODULE" in refused.stderr and "gf evaluate" not in refused.stderr


def test_show_with_a_built_in_evaluator_needs_none_of_the_benchmark_configs_plugins(lb):
    """A plugin the benchmark config loaded for a model or builder, missing where the board is
    shown, is not imported when the evaluator is built in: the board shows (it failed whole)."""
    record = lb.root / "splits/tiny/val/record.json"
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "plugins": ["gf_no_such_plugin_module"]}))
    assert run("show", lb.root) == 0
    now = rows(lb.root)
    assert {r["kind"] for r in now.values()} == {"measured"} and val_table(lb.root)["stale"] == []
    assert {e: r["score"] for e, r in now.items()} == {e: r["score"] for e, r in lb.before.items()}


def test_breakdown_cells_left_without_an_interval_get_a_note(toy_board):
    (table,) = assemble_board(toy_board)["tables"]
    (row,) = table["rows"]
    assert row["cells"] and all(cell.get("ci") is None for cell in row["cells"].values())
    assert "p: the evaluator does not say which category each question is in, so its breakdown cells have no " \
           "interval" in table["notes"]
