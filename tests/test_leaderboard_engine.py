"""gf leaderboard run / show: caching, resume, failures, shards, jobs, shared work.

The entries are tiny Glance-Focus models saved untrained with different seeds (so their
predictions differ), evaluated on a tiny generated synthetic benchmark.
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from gf.cli import main as gf_main
from gf.common.errors import ConfigError
from gf.leaderboards import engine
from gf.leaderboards.board import assemble_board
from gf.leaderboards.engine import Evaluation, WorkItem, run_leaderboard
from gf.leaderboards.manifest import load_manifest

from conftest import TINY_TEXT_ENCODER

REPO = Path(__file__).resolve().parents[1]


def write_data_config(tmp_path: Path) -> Path:
    text = f"""
        model:
          name: glance_focus
          model_type: demo_sup
          text_encoder: {TINY_TEXT_ENCODER}
          freeze_text_encoder: true
          d_model: 32
          nhead: 4
          dim_feedforward: 64
          num_queries: 6
        datasets:
          synthetic_star:
            data_root: {tmp_path / 'data'}
            max_feats: 24
            max_events: 6
            generator:
              train_per_type: 3
              val_per_type: 5
              test_per_type: 5
              feature_dim: 16
              min_events: 3
              max_events: 6
              max_event_frames: 4
              max_gap_frames: 2
        run:
          eval_batch_size: 8
          num_workers: 0
          progress: false
    """
    path = tmp_path / "tiny.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def save_untrained(cfg_path: Path, out: Path, seed: int, options=()) -> Path:
    """A gf checkpoint of an untrained model (seeded), as `gf train` would record it."""
    from gf.common.config import build_config, to_dict
    from gf.common.registry import registry
    from gf.runners.build import build_datasets, model_config_for
    from gf.runners.checkpointer import save_checkpoint

    cfg = build_config(str(cfg_path), list(options))
    ds = build_datasets(cfg, {"synthetic_star": ["val"]})["synthetic_star"]
    model_config = model_config_for(to_dict(cfg.model), ds)
    torch.manual_seed(seed)
    model = registry.get_model_class("glance_focus").from_config(dict(model_config))
    return save_checkpoint(out, model_state=model.state_dict(), config=to_dict(cfg),
                           extra={"model_config": model_config})


def write_manifest(tmp_path: Path, entries: str, *, name="tiny", reported: str = "", out=None) -> Path:
    cfg = tmp_path / "tiny.yaml"
    text = f"""
        name: {name}
        output_dir: {out or tmp_path / 'board'}
        run: {{device: cpu, eval_batch_size: 8}}
        statistics: {{bootstrap_samples: 200, seed: 0}}
        benchmarks:
          tiny:
            config: {cfg}
            splits: [val, test]
        entries:
    """
    body = textwrap.dedent(text) + textwrap.indent(textwrap.dedent(entries).strip("\n"), "  ") + "\n"
    if reported:
        body += textwrap.dedent(reported)
    path = tmp_path / f"manifest_{name}.yaml"
    path.write_text(body)
    return path


def model_entry(name: str, ckpt: Path, cfg: Path) -> str:
    return f"""
        - name: {name}
          config: {cfg}
          checkpoint: {ckpt}
    """


@pytest.fixture
def board_setup(tmp_path):
    cfg = write_data_config(tmp_path)
    a = save_untrained(cfg, tmp_path / "a.pth", seed=1)
    b = save_untrained(cfg, tmp_path / "b.pth", seed=2)
    entries = model_entry("a", a, cfg) + model_entry("b", b, cfg)
    return tmp_path, cfg, a, b, write_manifest(tmp_path, entries)


@pytest.fixture
def count_predictions(monkeypatch):
    """How many (entry, split) predictions were actually computed in this process."""
    calls = []
    original = Evaluation._predict

    def counting(self, item, *args):
        calls.append((item.entry, item.benchmark, item.split))
        return original(self, item, *args)

    monkeypatch.setattr(Evaluation, "_predict", counting)
    return calls


def figures(board):
    """Every measured figure of a board, by (table, entry)."""
    out = {}
    for table in board["tables"]:
        for row in table["rows"]:
            out[(table["id"], row["entry"])] = (row["score"], row["ci"],
                                                {k: (c["value"], c["ci"]) for k, c in row["cells"].items()})
    return out


def test_the_cache_skips_finished_work_and_a_changed_checkpoint_is_evaluated_again(board_setup, count_predictions):
    tmp_path, cfg, a, b, manifest_path = board_setup
    manifest = load_manifest(manifest_path)
    first = run_leaderboard(manifest, progress=False)
    assert len(first.computed) == 4 and not first.failed and len(count_predictions) == 4
    board = assemble_board(manifest.output_dir)
    assert {r["entry"] for t in board["tables"] for r in t["rows"]} == {"a", "b"}

    again = run_leaderboard(load_manifest(manifest_path), progress=False)
    assert len(again.cached) == 4 and not again.computed and len(count_predictions) == 4  # nothing recomputed
    assert figures(assemble_board(manifest.output_dir)) == figures(board)

    save_untrained(cfg, b, seed=3)  # b's checkpoint changes: only b is evaluated again
    changed = run_leaderboard(load_manifest(manifest_path), progress=False)
    assert sorted((i.entry, i.split) for i in changed.computed) == [("b", "test"), ("b", "val")]
    assert len(changed.cached) == 2 and len(count_predictions) == 6
    record = json.loads((Path(manifest.output_dir) / "results/b/tiny/val/result.json").read_text())
    from gf.common.download import sha256sum

    assert record["provenance"]["checkpoint_sha256"] == sha256sum(b)


def test_an_interrupted_run_resumes_with_only_the_unfinished_results(board_setup, count_predictions, monkeypatch):
    tmp_path, cfg, a, b, manifest_path = board_setup
    manifest = load_manifest(manifest_path)
    original = Evaluation.run
    started = []

    def interrupt_on_third(self, item):
        started.append(item)
        if len(started) == 3:
            raise KeyboardInterrupt  # as Ctrl-C would, between two results
        return original(self, item)

    monkeypatch.setattr(Evaluation, "run", interrupt_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_leaderboard(manifest, progress=False)
    monkeypatch.setattr(Evaluation, "run", original)
    done_before = {p.parent.relative_to(Path(manifest.output_dir)): json.loads(p.read_text())["run_id"]
                   for p in Path(manifest.output_dir).glob("results/*/*/*/result.json")}
    assert len(done_before) == 2
    resumed = run_leaderboard(load_manifest(manifest_path), progress=False)
    assert len(resumed.cached) == 2 and len(resumed.computed) == 2 and len(count_predictions) == 4
    for folder, run_id in done_before.items():  # the finished results were not redone
        assert json.loads((Path(manifest.output_dir) / folder / "result.json").read_text())["run_id"] == run_id


def test_a_killed_run_leaves_no_trusted_partial_result_and_resumes(board_setup):
    """A real SIGKILL of `gf leaderboard run` while it works; the next run finishes the rest."""
    tmp_path, cfg, a, b, manifest_path = board_setup
    out = Path(load_manifest(manifest_path).output_dir)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "gf", "leaderboard", "run", "--manifest", str(manifest_path), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob("results/*/*/*/result.json")):
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    finished = {p: json.loads(p.read_text())["run_id"] for p in out.glob("results/*/*/*/result.json")}
    assert 1 <= len(finished) < 4, "the run was to be killed while it worked"
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"{4 - len(finished)} computed, {len(finished)} already done" in second.stderr
    for path, run_id in finished.items():
        assert json.loads(path.read_text())["run_id"] == run_id
    assert not list(out.rglob("*.tmp"))  # nothing half-written survives


def test_a_failing_entry_is_reported_with_its_error_and_the_others_finish(board_setup, capsys):
    tmp_path, cfg, a, b, _ = board_setup
    other = save_untrained(cfg, tmp_path / "wide.pth", seed=4, options=["model.d_model=64"])
    entries = (model_entry("a", a, cfg) + model_entry("missing", tmp_path / "nope.pth", cfg)
               + model_entry("other_config", other, cfg))
    manifest_path = write_manifest(tmp_path, entries, name="failing")
    code = gf_main(["leaderboard", "run", "--manifest", str(manifest_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 5
    assert "4 result(s) failed" in err and "missing / tiny / val" in err and "other_config / tiny / test" in err
    assert "nope.pth" in err and "does not fit the model" in err  # each with its own reason
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    for table in board["tables"]:
        assert [r["entry"] for r in table["rows"]] == ["a"] and table["rows"][0]["score"] is not None
        assert sorted(f["entry"] for f in table["failures"]) == ["missing", "other_config"]
    failed = json.loads((tmp_path / "board/results/missing/tiny/val/failed.json").read_text())
    assert failed["error_type"] == "CheckpointNotFoundError"


def test_two_shards_in_separate_processes_give_the_board_of_one_run(board_setup):
    tmp_path, cfg, a, b, manifest_path = board_setup
    c = save_untrained(cfg, tmp_path / "c.pth", seed=5)
    entries = model_entry("a", a, cfg) + model_entry("b", b, cfg) + model_entry("c", c, cfg)
    sharded = write_manifest(tmp_path, entries, name="sharded", out=tmp_path / "sharded")
    single = write_manifest(tmp_path, entries, name="single", out=tmp_path / "single")
    # the README's SLURM array script, with the variables SLURM sets for tasks 0 and 1 of 2
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", SLURM_ARRAY_TASK_COUNT="2",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    script = str(REPO / "run_scripts/leaderboard/slurm_array.sh")
    procs = [subprocess.Popen(["bash", script, str(sharded)], env=dict(env, SLURM_ARRAY_TASK_ID=str(i)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outputs]
    computed = [int(o[1].split(" computed,")[0].rsplit("[gf] ", 1)[1]) for o in outputs]
    assert sorted(computed) == [3, 3]  # 6 results, each computed by exactly one shard
    run_ids = {json.loads(p.read_text())["run_id"] for p in (tmp_path / "sharded").glob("results/*/*/*/result.json")}
    assert len(run_ids) == 2
    assert gf_main(["leaderboard", "show", str(tmp_path / "sharded")]) == 0
    assert gf_main(["leaderboard", "run", "--manifest", str(single), "--no-progress"]) == 0
    merged = json.loads((tmp_path / "sharded" / "leaderboard.json").read_text())
    one = json.loads((tmp_path / "single" / "leaderboard.json").read_text())
    assert figures(merged) == figures(one)
    assert [t["pairs"] for t in merged["tables"]] == [t["pairs"] for t in one["tables"]]


def test_jobs_spread_entries_over_processes_with_the_same_figures(board_setup):
    tmp_path, cfg, a, b, manifest_path = board_setup
    one = run_leaderboard(load_manifest(manifest_path), progress=False)
    parallel_manifest = load_manifest(write_manifest(tmp_path, model_entry("a", a, cfg) + model_entry("b", b, cfg),
                                                     name="parallel", out=tmp_path / "parallel"))
    two = run_leaderboard(parallel_manifest, jobs=2, progress=False)
    assert len(two.computed) == 4 and not two.failed and len(one.computed) == 4
    assert figures(assemble_board(tmp_path / "parallel")) == figures(assemble_board(tmp_path / "board"))


def test_entries_on_one_split_share_the_dataset_and_the_frozen_text_encoder(board_setup):
    tmp_path, cfg, a, b, manifest_path = board_setup
    manifest = load_manifest(manifest_path)
    evaluation = Evaluation(manifest, Path(manifest.output_dir), "run")
    for entry in ("a", "b"):
        assert evaluation.run(WorkItem(entry, "tiny", "val")) == "computed"
    assert evaluation.builds == 1  # one built split (one feature store) for both entries
    assert evaluation.text_pool.shared == 1  # b reuses a's encoder and its cache of encoded texts
    encoder = evaluation._model[0].text_encoder
    assert len(encoder._cache) > 0


def test_a_predictions_entry_is_scored_like_the_model_it_came_from_and_reported_rows_stay_apart(board_setup):
    tmp_path, cfg, a, b, manifest_path = board_setup
    run_leaderboard(load_manifest(manifest_path), progress=False)
    files = {s: tmp_path / "board" / f"results/a/tiny/{s}/{s}_leaderboard_predictions.json" for s in ("val", "test")}
    entries = model_entry("b", b, cfg) + f"""
        - name: a_files
          predictions: {{tiny: {{val: {files['val']}, test: {files['test']}}}}}
    """
    reported = """
        reported:
          - name: Some paper
            benchmark: tiny
            split: test
            source: A. Author, Table 2
            score: 99.5
            cells: {type/Interaction: 98.0}
    """
    second = write_manifest(tmp_path, entries, name="second", reported=reported, out=tmp_path / "second")
    run_leaderboard(load_manifest(second), progress=False)
    board = assemble_board(tmp_path / "second")
    first = figures(assemble_board(tmp_path / "board"))
    now = figures(board)
    for split in ("val", "test"):
        assert now[(f"tiny/{split}", "a_files")][0] == first[(f"tiny/{split}", "a")][0]
    test = next(t for t in board["tables"] if t["id"] == "tiny/test")
    assert test["rows"][-1]["kind"] == "reported" and test["rows"][-1]["source"] == "A. Author, Table 2"
    assert all("Some paper" not in (p["a"], p["b"]) for p in test["pairs"])
    assert len(test["pairs"]) == 1


def test_a_predictions_file_missing_questions_fails_naming_them(board_setup):
    tmp_path, cfg, a, b, manifest_path = board_setup
    run_leaderboard(load_manifest(manifest_path), progress=False)
    source = tmp_path / "board/results/a/tiny/val/val_leaderboard_predictions.json"
    data = json.loads(source.read_text())
    dropped = sorted(data["predictions"])[0]
    del data["predictions"][dropped]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(data))
    manifest = load_manifest(write_manifest(tmp_path, f"""
        - name: partial
          predictions: {{tiny: {{val: {partial}}}}}
    """, name="partial", out=tmp_path / "partial_board"))
    summary = run_leaderboard(manifest, progress=False)
    (error,) = summary.failed.values()
    assert dropped in error and "no prediction" in error


def test_show_renders_again_without_the_data(board_setup):
    import shutil

    tmp_path, cfg, a, b, manifest_path = board_setup
    run_leaderboard(load_manifest(manifest_path), progress=False)
    before = json.loads((tmp_path / "board" / "leaderboard.json").read_text()) if (tmp_path / "board" / "leaderboard.json").exists() else None
    shutil.rmtree(tmp_path / "data")
    assert gf_main(["leaderboard", "show", str(tmp_path / "board")]) == 0
    after = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert figures(after) == figures(assemble_board(tmp_path / "board"))
    if before is not None:
        assert figures(after) == figures(before)


@pytest.mark.parametrize("edit, expected", [
    (lambda m: m.replace("splits: [val, test]", "splits: []"), "benchmarks.tiny.splits"),
    (lambda m: m.replace("bootstrap_samples: 200", "bootstrap_samples: 10"), "statistics.bootstrap_samples"),
    (lambda m: m.replace("- name: a", "- name: a/../x"), "entries[0].name"),
    (lambda m: m.replace("checkpoint:", "chekpoint:"), "did you mean 'checkpoint'"),
    (lambda m: m + "reported:\n  - {name: x, benchmark: tiny, split: test, score: 50}\n", "reported[0].source"),
    (lambda m: m + "reported:\n  - {name: x, benchmark: nope, split: test, source: s, score: 5}\n", "reported[0].benchmark"),
])
def test_manifest_errors_name_the_file_and_key(board_setup, edit, expected):
    tmp_path, cfg, a, b, manifest_path = board_setup
    manifest_path.write_text(edit(manifest_path.read_text()))
    with pytest.raises(ConfigError) as info:
        load_manifest(manifest_path)
    assert expected in str(info.value) and str(manifest_path) in str(info.value)


def test_shard_and_only_select_disjoint_covering_parts(board_setup):
    tmp_path, cfg, a, b, manifest_path = board_setup
    manifest = load_manifest(manifest_path)
    items = engine.plan(manifest)
    parts = [engine.select_shard(items, (i, 3)) for i in range(3)]
    assert sorted(map(str, sum(parts, []))) == sorted(map(str, items))
    assert sum(len(p) for p in parts) == len(items)
    assert {i.entry for i in engine.plan(manifest, only=["b"])} == {"b"}
    with pytest.raises(ConfigError, match="Did you mean: 'b'"):
        engine.plan(manifest, only=["bb"])
    for bad in ("2/2", "x/3", "1"):
        with pytest.raises(ConfigError, match="--shard"):
            engine.parse_shard(bad)


def test_nextqa_official_result_files_score_like_gf_predictions_with_video_resampling(tmp_path):
    """An entry given as NExT-QA's official result file (no categories) is scored with the
    split's own categories, exactly as the same predictions in gf's format."""
    import random

    from gf.datasets.converters.nextqa import convert
    from gf.evaluation import save_predictions
    from gf.evaluation.nextqa import write_official_results

    from test_nextqa import ROWS, write_features, write_nextqa_raw

    root = tmp_path / "data" / "NExT-QA"
    convert(write_nextqa_raw(tmp_path / "raw"), root)
    write_features(root / "vis_db" / "features.pth", [v for rs in ROWS.values() for v, *_ in rs])
    cfg = tmp_path / "nextqa.yaml"
    cfg.write_text(textwrap.dedent(f"""
        model: {{name: glance_focus, model_type: nextqa_uns, text_encoder: {TINY_TEXT_ENCODER}}}
        datasets:
          nextqa: {{data_root: {tmp_path / 'data'}}}
    """))
    from gf.common.config import build_config
    from gf.runners.build import build_datasets

    split = build_datasets(build_config(str(cfg)), {"nextqa": ["val"]})["nextqa"].splits["val"]
    rng = random.Random(0)
    records = {r["question_id"]: {"prediction": rng.randrange(5), "answer": r["answer"], "fields": r["fields"]}
               for r in split.records}
    save_predictions(tmp_path / "gf_format.json", "nextqa", "val", records)
    write_official_results(tmp_path / "official.json", records)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(textwrap.dedent(f"""
        name: nextqa
        output_dir: {tmp_path / 'board'}
        statistics: {{bootstrap_samples: 200}}
        benchmarks:
          nextqa: {{config: {cfg}, splits: [val]}}
        entries:
          - {{name: gf_format, predictions: {{nextqa: {{val: {tmp_path / 'gf_format.json'}}}}}}}
          - {{name: official, predictions: {{nextqa: {{val: {tmp_path / 'official.json'}}}}}}}
    """))
    summary = run_leaderboard(load_manifest(manifest), progress=False)
    assert len(summary.computed) == 2 and not summary.failed
    (table,) = assemble_board(tmp_path / "board")["tables"]
    by_entry = {row["entry"]: row for row in table["rows"]}
    assert by_entry["official"]["score"] == by_entry["gf_format"]["score"]
    assert by_entry["official"]["cells"] == by_entry["gf_format"]["cells"]
    assert table["score_label"] == "Acc" and [c["label"] for c in table["columns"]][:3] == ["Why", "How", "Bef&Aft"]
    assert table["resampling_unit"] == "video"  # 6 questions about 2 videos
    (pair,) = table["pairs"]
    assert pair["difference"] == 0 and not pair["significant"] and pair["test"] == "mcnemar"


def test_a_changed_split_is_evaluated_again_and_its_old_results_are_not_shown(board_setup, count_predictions):
    tmp_path, cfg, a, b, manifest_path = board_setup
    manifest = load_manifest(manifest_path)
    run_leaderboard(manifest, progress=False)
    val = tmp_path / "data" / "SYNTHETIC_STAR" / "txt_db" / "val.jsonl"
    lines = val.read_text().splitlines()
    first = json.loads(lines[0])
    first["question"] = first["question"] + " (reworded)"
    val.write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n")  # the annotations change
    only_a = run_leaderboard(load_manifest(manifest_path), only=["a"], progress=False)
    assert sorted((i.entry, i.split) for i in only_a.computed) == [("a", "val")]
    val_table = next(t for t in assemble_board(manifest.output_dir)["tables"] if t["split"] == "val")
    assert [r["entry"] for r in val_table["rows"]] == ["a"] and val_table["pending"] == ["b"]  # b's is stale
    assert any("another version of the split" in n for n in val_table["notes"])
    again = run_leaderboard(load_manifest(manifest_path), progress=False)
    assert sorted((i.entry, i.split) for i in again.computed) == [("b", "val")]
    assert len(again.cached) == 3 and len(count_predictions) == 6
    record = json.loads((Path(manifest.output_dir) / "splits/tiny/val/record.json").read_text())
    done = json.loads((Path(manifest.output_dir) / "results/a/tiny/val/result.json").read_text())
    assert done["provenance"]["split_fingerprint"] == record["fingerprint"]


def test_a_failed_recomputation_shows_the_failure_not_the_old_figures(board_setup):
    tmp_path, cfg, a, b, manifest_path = board_setup
    manifest = load_manifest(manifest_path)
    run_leaderboard(manifest, progress=False)
    wide = save_untrained(cfg, tmp_path / "wide.pth", seed=4, options=["model.d_model=64"])
    b.write_bytes(wide.read_bytes())  # b's checkpoint is replaced by one that does not fit its config
    summary = run_leaderboard(load_manifest(manifest_path), progress=False)
    assert sorted((i.entry, i.split) for i in summary.failed) == [("b", "test"), ("b", "val")]
    folder = Path(manifest.output_dir) / "results/b/tiny/val"
    assert not (folder / "result.json").exists()
    assert json.loads((folder / "failed.json").read_text())["key"] is not None
    for table in assemble_board(manifest.output_dir)["tables"]:
        assert [r["entry"] for r in table["rows"]] == ["a"] and [f["entry"] for f in table["failures"]] == ["b"]


def test_a_predictions_file_is_scored_against_the_splits_labels(board_setup):
    tmp_path, cfg, a, b, manifest_path = board_setup
    run_leaderboard(load_manifest(manifest_path), progress=False)
    data = json.loads((tmp_path / "board/results/a/tiny/val/val_leaderboard_predictions.json").read_text())
    qid = sorted(data["predictions"])[0]
    record = data["predictions"][qid]
    record["answer"] = (record["answer"] + 1) % 4  # relabelled so that it would score itself
    edited = tmp_path / "relabelled.json"
    edited.write_text(json.dumps(data))
    manifest = load_manifest(write_manifest(tmp_path, f"""
        - name: relabelled
          predictions: {{tiny: {{val: {edited}}}}}
    """, name="relabelled", out=tmp_path / "relabelled_board"))
    (error,) = run_leaderboard(manifest, progress=False).failed.values()
    assert qid in error and "the split's annotation says" in error


def test_mixed_precision_is_part_of_the_key(board_setup, count_predictions):
    tmp_path, cfg, a, b, manifest_path = board_setup
    run_leaderboard(load_manifest(manifest_path), progress=False)
    text = manifest_path.read_text().replace(f"checkpoint: {b}", f"checkpoint: {b}\n    options: [run.amp=bf16]")
    manifest_path.write_text(text)
    again = run_leaderboard(load_manifest(manifest_path), progress=False)
    assert sorted((i.entry, i.split) for i in again.computed) == [("b", "test"), ("b", "val")]


# ---------------------------------------------------------------------------------------
# seed groups
# ---------------------------------------------------------------------------------------
def save_seeds(cfg: Path, folder: Path, seeds) -> None:
    """Checkpoints laid out as `SEEDS="..." train_sup.sh` writes them: <folder>/seed<N>/."""
    for seed in seeds:
        (folder / f"seed{seed}").mkdir(parents=True, exist_ok=True)
        save_untrained(cfg, folder / f"seed{seed}" / "checkpoint_best.pth", seed=10 + seed,
                       options=[f"run.seed={seed}"])


def group_entry(name: str, checkpoints: str, cfg: Path, extra: str = "") -> str:
    return f"""
        - name: {name}
          config: {cfg}
          checkpoints: {checkpoints}
    """ + extra


@pytest.fixture
def group_setup(tmp_path):
    cfg = write_data_config(tmp_path)
    a = save_untrained(cfg, tmp_path / "a.pth", seed=1)
    save_seeds(cfg, tmp_path / "g", (0, 1, 2))
    entries = model_entry("a", a, cfg) + group_entry("g", f"'{tmp_path / 'g'}/seed*/checkpoint_best.pth'", cfg)
    return tmp_path, cfg, write_manifest(tmp_path, entries, name="groups")


def test_a_seed_group_row_is_the_mean_and_sd_of_its_seeds_and_a_new_seed_computes_only_itself(
        group_setup, count_predictions):
    import statistics

    tmp_path, cfg, manifest_path = group_setup
    manifest = load_manifest(manifest_path)
    assert manifest.entry("g").seeds == (0, 1, 2)
    first = run_leaderboard(manifest, progress=False)
    assert len(first.computed) == 2 + 3 * 2 and not first.failed
    root = Path(manifest.output_dir)
    board = assemble_board(root)
    for table in board["tables"]:
        split = table["split"]
        reports = [json.loads((root / f"results/g/seed{s}/tiny/{split}/{split}_leaderboard_report.json")
                              .read_text()) for s in (0, 1, 2)]
        scores = [r[table["score_key"]] for r in reports]
        row = next(r for r in table["rows"] if r["entry"] == "g")
        assert row["score"] == pytest.approx(statistics.mean(scores))
        assert row["sd"] == pytest.approx(statistics.stdev(scores))
        for key, cell in row["cells"].items():
            b, c = key.split("/", 1)
            values = [r["breakdowns"][b][c]["accuracy"] for r in reports]
            assert (cell["value"], cell["sd"]) == pytest.approx((statistics.mean(values), statistics.stdev(values)))
        assert row["group"]["n"] == 3 and row["group"]["seeds"] == [0, 1, 2]
        assert row["group"]["worst"]["score"] == min(scores)
        assert row["ci"][0] <= row["score"] <= row["ci"][1]
        assert [m["provenance"]["checkpoint"] for m in row["members"]] == [
            str(tmp_path / f"g/seed{s}/checkpoint_best.pth") for s in (0, 1, 2)]
        (pair,) = table["pairs"]  # the single checkpoint against the group: the two-level test
        assert pair["test"] == "two_level_bootstrap" and pair["mcnemar"] is None
        assert "seed groups" in table["resampling_unit"]
    from gf.leaderboards.render import render_markdown

    md = render_markdown(board)
    assert "| Seeds |" in md and f"3 (worst {row['group']['worst']['score']:.2f}, seed" in md

    save_seeds(cfg, tmp_path / "g", (3,))  # a fourth seed: only its results are computed
    again = run_leaderboard(load_manifest(manifest_path), progress=False)
    assert sorted((i.entry, i.seed, i.split) for i in again.computed) == [("g", 3, "test"), ("g", 3, "val")]
    assert len(again.cached) == 8 and len(count_predictions) == 10
    assert [r["group"]["n"] for t in assemble_board(root)["tables"] for r in t["rows"] if r["entry"] == "g"] == [4, 4]


def test_a_seed_group_partly_finished_shows_its_finished_seeds_and_lists_the_others(group_setup):
    tmp_path, cfg, manifest_path = group_setup
    summary = run_leaderboard(load_manifest(manifest_path), only=["g"], shard=(0, 2), progress=False)
    assert {(i.seed, i.split) for i in summary.computed} == {(0, "val"), (1, "test"), (2, "val")}
    val = next(t for t in assemble_board(tmp_path / "board")["tables"] if t["split"] == "val")
    (row,) = val["rows"]
    assert row["group"]["seeds"] == [0, 2] and sorted(val["pending"]) == ["a", "g (seed 1)"]
    assert any("2 of its 3 seeds" in note for note in val["notes"])


def test_seeds_come_from_the_folders_the_stored_config_or_the_list(tmp_path):
    from gf.leaderboards.manifest import seed_from_path

    assert seed_from_path("out/demo/seed12/checkpoint_best.pth") == 12
    assert seed_from_path("out/seed1/run/seed3/c.pth") == 3 and seed_from_path("out/seed/c.pth") is None
    assert seed_from_path("seed4.pth") is None
    cfg = write_data_config(tmp_path)
    x = save_untrained(cfg, tmp_path / "x.pth", seed=1, options=["run.seed=7"])
    y = save_untrained(cfg, tmp_path / "y.pth", seed=2, options=["run.seed=5"])
    manifest = load_manifest(write_manifest(tmp_path, group_entry("g", f"[{x}, {y}]", cfg)))
    entry = manifest.entry("g")
    assert entry.seeds == (5, 7) and entry.checkpoints == (str(y), str(x))  # ordered by seed
    listed = load_manifest(write_manifest(tmp_path, group_entry("g", f"[{x}, {y}]", cfg, "      seeds: [1, 0]\n")))
    assert listed.entry("g").seeds == (0, 1) and listed.entry("g").checkpoint_for(0) == str(y)
    z = tmp_path / "z.pth"
    z.write_bytes(b"not a checkpoint")  # no stored seed for one of them: the positions
    positions = load_manifest(write_manifest(tmp_path, group_entry("g", f"[{x}, {z}]", cfg)))
    assert positions.entry("g").seeds == (0, 1)


@pytest.mark.parametrize("group, expected", [
    ("checkpoints: '{tmp}/nothing/seed*/checkpoint_best.pth'", "checkpoints: the pattern '{tmp}/nothing/seed*"),
    ("checkpoints: '{tmp}/g/seed*/checkpoint_best.pth'\n    seeds: [0, 1]", "(g).seeds: lists 2 seeds but the "
                                                                              "pattern"),
    ("checkpoints: ['{tmp}/g/seed0/checkpoint_best.pth', '{tmp}/g/seed1/checkpoint_best.pth']\n    seeds: [4, 4]",
     "(g).seeds: seed 4 is given to several checkpoints"),
    ("checkpoints: ['{tmp}/g/seed0/checkpoint_best.pth']\n    checkpoint: '{tmp}/a.pth'", "(g).checkpoints: and "
                                                                                          "checkpoint: are both"),
    ("checkpoints: []", "(g).checkpoints: is empty"),
    ("checkpoint: '{tmp}/a.pth'\n    seeds: [0]", "(g).seeds: is only for a seed group"),
])
def test_seed_group_manifest_errors_name_the_file_and_key(tmp_path, group, expected):
    cfg = write_data_config(tmp_path)
    save_seeds(cfg, tmp_path / "g", (0, 1, 2))
    entry = f"- name: g\n  config: {cfg}\n  " + group.format(tmp=tmp_path).replace("\n    ", "\n  ")
    manifest_path = write_manifest(tmp_path, entry)
    with pytest.raises(ConfigError) as info:
        load_manifest(manifest_path)
    assert expected.format(tmp=tmp_path) in str(info.value) and str(manifest_path) in str(info.value)


def test_the_demo_manifest_ranks_the_seed_groups_that_demo_sh_trains(tmp_path, monkeypatch):
    import re

    script = (REPO / "run_scripts/leaderboard/demo.sh").read_text().replace("\\\n", " ")
    options = dict(re.findall(r'^train "\$runs/([^"]+)" (.*)$', script, re.M))
    trained = list(options)
    assert len(trained) == 5 and 'SEEDS="${SEEDS:-0 1 2}"' in script
    for name in trained:  # the layout of `SEEDS="0 1 2" train_sup.sh`: <variant>/seed<N>/
        for seed in (0, 1, 2):
            path = tmp_path / "glance_focus/demo/seeds" / name / f"seed{seed}" / "checkpoint_best.pth"
            path.parent.mkdir(parents=True)
            path.write_bytes(b"")
    monkeypatch.setenv("OUTPUT_ROOT", str(tmp_path))
    manifest = load_manifest(REPO / "projects/leaderboards/demo.yaml")
    assert [e.name for e in manifest.entries] == trained
    for entry in manifest.entries:
        assert entry.seeds == (0, 1, 2) and entry.checkpoint is None
        assert list(entry.options) == options[entry.name].split()  # evaluated as it was trained
        assert entry.checkpoint_for(1) == str(tmp_path / "glance_focus/demo/seeds" / entry.name / "seed1" /
                                              "checkpoint_best.pth")
