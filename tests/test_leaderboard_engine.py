"""gf leaderboard run / show: caching, resume, failures, shards, jobs, shared work.

The entries are tiny Glance-Focus models saved untrained with different seeds (so their
predictions differ), evaluated on a tiny generated synthetic benchmark.
"""
import json
import os
import shutil
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
from gf.common.sharding import parse_shard
from gf.leaderboards import engine
from gf.leaderboards.board import assemble_board
from gf.leaderboards.engine import WorkItem, run_leaderboard
from gf.leaderboards.manifest import load_manifest
from gf.leaderboards.work import Evaluation

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
    from gf.models.checkpoint import save_checkpoint

    cfg = build_config(str(cfg_path), list(options))
    ds = build_datasets(cfg, {"synthetic_star": ["val"]})["synthetic_star"]
    model_config = model_config_for(to_dict(cfg.model), ds)
    torch.manual_seed(seed)
    model = registry.get_model_class("glance_focus").from_config(dict(model_config))
    return save_checkpoint(out, model_state=model.state_dict(), config=to_dict(cfg),
                           extra={"model_config": model_config, "dataset": ds.name, "benchmark": ds.benchmark})


def write_manifest(tmp_path: Path, entries: str, *, name="tiny", reported: str = "", out=None,
                   splits: str = "[val, test]", benchmark_extra: str = "") -> Path:
    """``benchmark_extra``: more keys of the benchmark, one per line (e.g. ``probes: [shuffle]``)."""
    cfg = tmp_path / "tiny.yaml"
    extra = "".join(f"\n            {line}" for line in textwrap.dedent(benchmark_extra).strip().splitlines())
    text = f"""
        name: {name}
        output_dir: {out or tmp_path / 'board'}
        run: {{device: cpu, eval_batch_size: 8}}
        statistics: {{bootstrap_samples: 200, seed: 0}}
        benchmarks:
          tiny:
            config: {cfg}
            splits: {splits}{extra}
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
    # trained on texts joined in another format: its scores here would not be gf predict's
    texts = save_untrained(cfg, tmp_path / "texts.pth", seed=5,
                           options=['datasets.synthetic_star.text_format="{option} [SEP] {question}"'])
    entries = (model_entry("a", a, cfg) + model_entry("missing", tmp_path / "nope.pth", cfg)
               + model_entry("other_config", other, cfg) + model_entry("other_texts", texts, cfg))
    manifest_path = write_manifest(tmp_path, entries, name="failing")
    code = gf_main(["leaderboard", "run", "--manifest", str(manifest_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 5
    assert "6 result(s) failed" in err and "missing / tiny / val" in err and "other_config / tiny / test" in err
    assert "differs from '{option} [SEP] {question}', the format" in err and "other_texts / tiny / val" in err
    # each with its own reason: a checkpoint trained with another d_model is named as such (before its weights load)
    assert "nope.pth" in err and "was trained with another model config (model.d_model: checkpoint 64, config 32)" in err
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    for table in board["tables"]:
        assert [r["entry"] for r in table["rows"]] == ["a"] and table["rows"][0]["score"] is not None
        assert sorted(f["entry"] for f in table["failures"]) == ["missing", "other_config", "other_texts"]
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


def test_each_annotation_file_is_hashed_once_for_the_split_fingerprints_and_record(board_setup, monkeypatch):
    """The split's two fingerprints and its record's file states read each text file once
    (through the run's hash cache), not once each."""
    import collections

    import gf.common.io as gio
    import gf.datasets.split_provenance as provenance

    tmp_path, cfg, a, b, manifest_path = board_setup
    counts, real = collections.Counter(), gio.sha256sum

    def counting(path, *args, **kw):
        counts[str(path)] += 1
        return real(path, *args, **kw)

    monkeypatch.setattr(gio, "sha256sum", counting)
    monkeypatch.setattr(provenance, "sha256sum", counting)
    manifest = load_manifest(manifest_path)
    evaluation = Evaluation(manifest, Path(manifest.output_dir), "run")
    assert evaluation.run(WorkItem("a", "tiny", "val")) == "computed"
    text_files = {p: n for p, n in counts.items() if p.endswith((".jsonl", ".json", ".txt")) and "/data/" in p}
    assert text_files and set(text_files.values()) == {1}, text_files


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
            parse_shard(bad)


def test_nextqa_official_result_files_score_like_gf_predictions_with_video_resampling(tmp_path):
    """An entry given as NExT-QA's official result file (no categories) is scored with the
    split's own categories, exactly as the same predictions in gf's format."""
    import random

    from gf.benchmarks.nextqa.converter import convert
    from gf.evaluation import save_predictions
    from gf.benchmarks.nextqa.evaluator import write_official_results

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
    # several questions per video: the video bootstrap decides, not McNemar
    assert pair["difference"] == 0 and not pair["significant"] and pair["test"] == "paired_bootstrap"


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
    assert [(r["entry"], r["kind"]) for r in val_table["rows"]] == [("a", "measured"), ("b", "stale")]
    assert val_table["rows"][1]["score"] is None and val_table["pairs"] == []  # b's old figure is not shown
    (stale,) = val_table["stale"]
    assert stale["entry"] == "b" and "another version of the split" in stale["reason"]
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
    assert seed_from_path("out/seed01/c.pth") is None  # not a name gf writes: never read as seed 1
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
    assert len(trained) == 7 and 'SEEDS="${SEEDS:-0 1 2}"' in script
    assert options["blind"] == "model.model_type=demo_sup_grounded model.video_input=none"
    assert options["atemporal"] == "model.model_type=demo_sup_grounded model.video_input=mean"
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
    assert manifest.benchmarks["synthetic"].probes == ("shuffle", "reverse", "static", "zeros")
    assert manifest.benchmarks["synthetic"].probe_seed == 0


# ---------------------------------------------------------------------------------------
# temporal probes
# ---------------------------------------------------------------------------------------
PROBES = ("shuffle", "reverse", "static", "zeros")


def sha256_files(folder: Path):
    """The sha256 of each file directly in ``folder`` (a result's own files, not its probes')."""
    from gf.common.download import sha256sum

    return {p.name: sha256sum(p) for p in sorted(folder.iterdir()) if p.is_file()}


def read_result(root: Path, entry: str, seed=None, probe=None, probe_seed=0, split="val"):
    """(predictions, report) of one kept result, read from its files."""
    folder = root / "results" / entry / (f"seed{seed}" if seed is not None else "") / "tiny" / split
    if probe is not None:
        folder = folder / f"probe-{probe}-s{probe_seed}"
    predictions = json.loads((folder / f"{split}_leaderboard_predictions.json").read_text())["predictions"]
    return predictions, json.loads((folder / f"{split}_leaderboard_report.json").read_text())


def test_probe_results_are_cached_by_probe_and_probe_seed_and_never_touch_the_unperturbed_result(
        board_setup, count_predictions):
    tmp_path, cfg, a, b, _ = board_setup
    entries = model_entry("a", a, cfg)
    plain = load_manifest(write_manifest(tmp_path, entries, name="probed", splits="[val]"))
    assert len(run_leaderboard(plain, progress=False).computed) == 1
    root = Path(plain.output_dir)
    folder = root / "results/a/tiny/val"
    before = sha256_files(folder)
    assert "val_leaderboard_predictions.json" in before and "result.json" in before

    probed = write_manifest(tmp_path, entries, name="probed", splits="[val]", benchmark_extra="probes: [shuffle, zeros]")
    first = run_leaderboard(load_manifest(probed), progress=False)
    assert [(i.probe, i.probe_seed) for i in first.computed] == [("shuffle", 0), ("zeros", 0)]
    assert [(i.entry, i.probe) for i in first.cached] == [("a", None)] and len(count_predictions) == 3
    assert sha256_files(folder) == before  # the probes wrote into their own folders only
    plain_key = json.loads((folder / "result.json").read_text())["key"]
    for probe in ("shuffle", "zeros"):
        record = json.loads((folder / f"probe-{probe}-s0" / "result.json").read_text())
        assert (record["probe"], record["probe_seed"]) == (probe, 0) and record["key"] != plain_key
        assert (record["provenance"]["probe"], record["provenance"]["probe_seed"]) == (probe, 0)
    kept = {probe: sha256_files(folder / f"probe-{probe}-s0") for probe in ("shuffle", "zeros")}

    again = run_leaderboard(load_manifest(probed), progress=False)
    assert not again.computed and len(again.cached) == 3 and len(count_predictions) == 3  # nothing recomputed

    reseeded = write_manifest(tmp_path, entries, name="probed", splits="[val]",
                              benchmark_extra="probes: [shuffle, zeros]\nprobe_seed: 1")
    other_seed = run_leaderboard(load_manifest(reseeded), progress=False)
    assert [(i.probe, i.probe_seed) for i in other_seed.computed] == [("shuffle", 1), ("zeros", 1)]
    assert len(count_predictions) == 5 and sha256_files(folder) == before
    assert {probe: sha256_files(folder / f"probe-{probe}-s0") for probe in kept} == kept  # seed 0's are kept
    for probe in ("shuffle", "zeros"):  # the probe seed is part of the key, not only of the folder
        keys = {json.loads((folder / f"probe-{probe}-s{s}" / "result.json").read_text())["key"] for s in (0, 1)}
        assert len(keys) == 2
    (table,) = assemble_board(root)["tables"]
    assert table["probes"]["probe_seed"] == 1 and table["probes"]["probes"] == ["shuffle", "zeros"]
    # the unperturbed result's writer cleans its own folder only: the probe folders have their own locks
    writing = folder / "probe-shuffle-s1" / ".val_leaderboard_report.json.abcd1234.tmp"
    writing.write_text("another process is writing this")
    evaluation = Evaluation(load_manifest(reseeded), root, "run")
    assert evaluation.run(WorkItem("a", "tiny", "val")) == "cached" and writing.exists()


@pytest.fixture(scope="module")
def probed_board(tmp_path_factory):
    """One run: a single checkpoint, a 2-seed group, a blind (text-only) model and a
    predictions entry, under four probes on the val split; the board assembled from it."""
    tmp_path = tmp_path_factory.mktemp("probed")
    cfg = write_data_config(tmp_path)
    a = save_untrained(cfg, tmp_path / "a.pth", seed=1)
    blind = save_untrained(cfg, tmp_path / "blind.pth", seed=3, options=["model.video_input=none"])
    save_seeds(cfg, tmp_path / "g", (0, 1))
    files = tmp_path / "board/results/a/tiny/val/val_leaderboard_predictions.json"  # a's, written first
    entries = (model_entry("a", a, cfg) + group_entry("g", f"'{tmp_path / 'g'}/seed*/checkpoint_best.pth'", cfg)
               + f"""
        - name: blind
          config: {cfg}
          options: [model.video_input=none]
          checkpoint: {blind}
        - name: a_files
          predictions: {{tiny: {{val: {files}}}}}
    """)
    manifest = load_manifest(write_manifest(tmp_path, entries, splits="[val]",
                                            benchmark_extra=f"probes: [{', '.join(PROBES)}]"))
    summary = run_leaderboard(manifest, progress=False)
    assert not summary.failed and len(summary.computed) == 3 * 5 + 5 + 1
    root = Path(manifest.output_dir)
    return root, assemble_board(root)


def test_the_sensitivity_table_equals_the_saved_probe_predictions_and_reports(probed_board):
    import statistics

    from gf.evaluation.stats import holm
    from gf.probes import flip_rate, probe_test

    root, board = probed_board
    (table,) = board["tables"]
    section = table["probes"]
    assert section["probes"] == list(PROBES) and section["probe_seed"] == 0
    measured = [r for r in table["rows"] if r["kind"] == "measured"]
    assert [r["entry"] for r in section["rows"]] == [r["entry"] for r in measured if r["entry"] != "a_files"]
    assert any("a_files" in note and "not probed" in note for note in section["notes"])
    score_key = table["score_key"]
    for row in section["rows"]:
        main = next(r for r in measured if r["entry"] == row["entry"])
        assert row["unperturbed"]["score"] == main["score"] and row["unperturbed"]["cells"] == main["cells"]
        seeds = [0, 1] if row["entry"] == "g" else [None]
        for probe in PROBES:
            cell = row["probes"][probe]
            plain = [read_result(root, row["entry"], s) for s in seeds]
            probed = [read_result(root, row["entry"], s, probe) for s in seeds]
            flips = [100 * flip_rate(p, q) for (p, _), (q, _) in zip(plain, probed)]
            assert cell["flip_rate"] == pytest.approx(statistics.mean(flips)), (row["entry"], probe)
            scores = [report[score_key] for _, report in probed]
            assert cell["score"] == pytest.approx(statistics.mean(scores))
            assert cell["drop"] == pytest.approx(statistics.mean(r[score_key] for _, r in plain) - cell["score"])
            for key, figure in cell["cells"].items():
                breakdown, category = key.split("/", 1)
                values = [report["breakdowns"][breakdown][category]["accuracy"] for _, report in probed]
                assert figure["value"] == pytest.approx(statistics.mean(values))
            assert cell["ci"][0] <= cell["score"] <= cell["ci"][1]
            if row["entry"] == "g":
                assert cell["test"] == "seed_paired_two_level_bootstrap" and cell["seeds"] == [0, 1]
                assert cell["flip_rates"] == pytest.approx(flips)
            else:  # STAR's Mean is a macro score: the paired bootstrap decides; McNemar's counts are kept
                assert cell["test"] == "paired_bootstrap"
                assert cell["mcnemar"]["p"] == pytest.approx(probe_test(plain[0][0], probed[0][0])["p"])
    cells = [row["probes"][p] for row in section["rows"] for p in PROBES]
    raw = [c["p"] for c in cells]
    assert [c["p_holm"] for c in cells] == pytest.approx(holm(raw))  # Holm across the table's probe tests
    assert any(c["p_holm"] > p for c, p in zip(cells, raw) if p < 1), "Holm must change some p-value here"
    assert all(c["significant"] == (c["p_holm"] < 0.05) for c in cells)


def test_a_text_only_model_flips_nothing_under_any_probe(probed_board):
    root, board = probed_board
    (table,) = board["tables"]
    (row,) = [r for r in table["probes"]["rows"] if r["entry"] == "blind"]
    for probe in PROBES:
        cell = row["probes"][probe]
        assert cell["flip_rate"] == 0 and cell["drop"] == 0, probe
        assert cell["p"] == 1 and cell["p_holm"] == 1 and cell["significant"] is False
        assert cell["score"] == row["unperturbed"]["score"]
    other = [r for r in table["probes"]["rows"] if r["entry"] != "blind"]  # the video-reading ones do flip
    assert any(r["probes"][p]["flip_rate"] > 0 for r in other for p in PROBES)


def test_the_written_board_shows_the_sensitivity_table_of_the_results(probed_board):
    import csv

    from gf.leaderboards.render import format_figure, render_all

    root, board = probed_board
    paths = render_all(board, root)
    (table,) = board["tables"]
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "### Temporal sensitivity: tiny / val" in md and "#### Temporal sensitivity per category" in md
    with open(paths["probes_csv"], newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(table["probes"]["rows"]) * len(PROBES)
    for record in rows:
        cell = next(r for r in table["probes"]["rows"] if r["entry"] == record["entry"])["probes"][record["probe"]]
        assert record["flip_rate"] == format_figure(cell["flip_rate"]) and record["score"] == format_figure(cell["score"])
    assert (root / "plots/tiny_val_probes.png").read_bytes().startswith(b"\x89PNG")


def test_a_probe_missing_a_seed_is_compared_with_the_unperturbed_figures_of_its_own_seeds(probed_board, tmp_path):
    """g's seed 1 is pending under shuffle: the shuffle cell, its CSV row and (once every probe
    is over seed 0 alone) the summary compare seed 0 probed with seed 0 unperturbed, never
    with the mean over seeds 0 and 1."""
    import csv
    import shutil

    from gf.leaderboards.render import format_figure, render_all

    root = tmp_path / "board"
    shutil.copytree(probed_board[0], root)
    (root / "results/g/seed1/tiny/val/probe-shuffle-s0/result.json").unlink()
    board = assemble_board(root)
    (table,) = board["tables"]
    (row,) = [r for r in table["probes"]["rows"] if r["entry"] == "g"]
    (main,) = [r for r in table["rows"] if r["entry"] == "g"]
    _, seed0 = read_result(root, "g", 0)
    plain = seed0[table["score_key"]]
    assert plain != pytest.approx(main["score"])  # else the test could not tell the two apart
    shuffle = row["probes"]["shuffle"]
    assert shuffle["seeds"] == [0] and shuffle["unperturbed"]["score"] == pytest.approx(plain)
    assert shuffle["unperturbed"]["score"] - shuffle["score"] == pytest.approx(shuffle["drop"])
    for key, figure in shuffle["unperturbed"]["cells"].items():
        breakdown, category = key.split("/", 1)
        assert figure["value"] == pytest.approx(seed0["breakdowns"][breakdown][category]["accuracy"])
    assert row["probes"]["zeros"]["unperturbed"]["score"] == main["score"]  # zeros is over both seeds
    assert row["unperturbed"]["score"] == main["score"]
    assert any(n.startswith("g: its probes are over different seeds") for n in table["probes"]["notes"])
    with open(render_all(board, root)["probes_csv"], newline="", encoding="utf-8") as fh:
        (record,) = [r for r in csv.DictReader(fh) if (r["entry"], r["probe"]) == ("g", "shuffle")]
    assert (record["seeds"], record["unperturbed"], record["unperturbed_sd"]) == ("0", format_figure(plain), "")

    for probe in PROBES[1:]:  # now every probe is over seed 0 alone: so is the summary's unperturbed column
        (root / f"results/g/seed1/tiny/val/probe-{probe}-s0/result.json").unlink()
    (table,) = assemble_board(root)["tables"]
    (row,) = [r for r in table["probes"]["rows"] if r["entry"] == "g"]
    assert row["unperturbed"]["score"] == pytest.approx(plain) and row["unperturbed"]["sd"] is None


def test_a_board_without_probes_removes_the_probe_csv_and_plots_an_earlier_render_wrote(probed_board, tmp_path):
    """The probe CSV and probes plot of an earlier render would show figures the board no
    longer has: a render without probes removes them, and a table gone takes its plots
    along; a file gf did not write stays."""
    from gf.leaderboards.render import render_all

    _, board = probed_board
    render_all(board, tmp_path)
    plots = tmp_path / "plots"
    assert (tmp_path / "leaderboard_probes.csv").is_file() and (plots / "tiny_val_probes.png").is_file()
    (plots / "mine.png").write_bytes(b"not gf's")
    (table,) = board["tables"]
    render_all({**board, "tables": [{k: v for k, v in table.items() if k != "probes"}]}, tmp_path)
    assert not (tmp_path / "leaderboard_probes.csv").exists() and not (plots / "tiny_val_probes.png").exists()
    assert (plots / "tiny_val_score.png").is_file() and (plots / "mine.png").read_bytes() == b"not gf's"
    render_all({**board, "tables": []}, tmp_path)
    assert sorted(p.name for p in plots.iterdir()) == ["mine.png"]


def test_a_probe_that_changed_no_clip_is_counted_and_warned_about_on_the_board(board_setup, capsys, monkeypatch):
    """On one-frame clips shuffle changes nothing: its drop 0 and flips 0 would read as "the
    model ignores the order". The board records how many questions' clips it changed (and why
    not), counted once for all entries (the same data), and warns once in the notes of the
    Markdown; the probe CSV has the counts."""
    from gf.probes import ProbedDataset

    tmp_path, cfg, *_ = board_setup
    one_frame = "datasets.synthetic_star.max_feats=1"
    entries = ""
    for i, name in enumerate("ab"):
        ckpt = save_untrained(cfg, tmp_path / f"one_frame_{name}.pth", seed=1 + i, options=[one_frame])
        entries += model_entry(name, ckpt, cfg)
    manifest_path = write_manifest(tmp_path, entries, name="one_frame", splits="[val]",
                                   benchmark_extra=f"options: [{one_frame}]\nprobes: [shuffle]")
    passes = []
    coverage = ProbedDataset.coverage
    monkeypatch.setattr(ProbedDataset, "coverage", lambda self: passes.append(1) or coverage(self))
    assert gf_main(["leaderboard", "run", "--manifest", str(manifest_path), "--no-progress"]) == 0
    assert len(passes) == 1
    board = json.loads((tmp_path / "board/leaderboard.json").read_text())
    (table,) = board["tables"]
    row = table["probes"]["rows"][0]
    questions = row["probes"]["shuffle"]["num_questions"]
    assert row["probes"]["shuffle"]["coverage"] == {"questions": questions, "changed": 0, "unchanged": questions,
                                                   "reasons": {"the clip has one real frame": questions}}
    warning = (f"WARNING: shuffle changed no question's clip (all {questions} unchanged: the clip has one real frame "
               f"({questions})); its drop, flip rate and p say nothing about the model")
    assert table["probes"]["notes"].count(warning) == 1
    md = (tmp_path / "board/leaderboard.md").read_text()
    assert "shuffle: questions changed" in md and f"| 0/{questions} |" in md and warning in md
    csv_text = (tmp_path / "board/leaderboard_probes.csv").read_text()
    assert f",0,{questions},the clip has one real frame: {questions}," in csv_text


def test_swap_events_on_a_split_without_events_fails_that_result_only(board_setup, capsys):
    tmp_path, cfg, a, b, _ = board_setup
    manifest_path = write_manifest(tmp_path, model_entry("a", a, cfg), name="bare", splits="[val]",
                                   benchmark_extra="options: [datasets.synthetic_star.events=null, "
                                                   "datasets.synthetic_star.grounding=null]\n"
                                                   "probes: [swap_events, reverse]")
    code = gf_main(["leaderboard", "run", "--manifest", str(manifest_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 5 and "2 computed, 0 already done" in err
    assert "a / tiny / val / probe swap_events (seed 0)" in err and "needs annotated events" in err
    folder = tmp_path / "board/results/a/tiny/val"
    failed = json.loads((folder / "probe-swap_events-s0/failed.json").read_text())
    assert failed["error_type"] == "ConfigError" and failed["probe"] == "swap_events"
    assert not (folder / "probe-swap_events-s0/val_leaderboard_predictions.json").exists()
    assert (folder / "result.json").exists() and (folder / "probe-reverse-s0/result.json").exists()
    board = json.loads((tmp_path / "board/leaderboard.json").read_text())
    (table,) = board["tables"]
    (failure,) = table["probes"]["failures"]
    assert failure["entry"] == "a under swap_events" and "needs annotated events" in failure["error"]
    (row,) = table["probes"]["rows"]
    assert row["probes"]["swap_events"] is None and row["probes"]["reverse"]["flip_rate"] is not None
    assert "Probe results failed" in (tmp_path / "board/leaderboard.md").read_text()


def test_an_unknown_probe_is_a_manifest_error_naming_the_file_key_and_known_probes(board_setup):
    from gf.probes import probe_names

    tmp_path, cfg, a, b, _ = board_setup
    for extra, key in (("probes: [shuffle, shufle]", "benchmarks.tiny.probes[1]"),
                       ("probes: [zeros]\nprobe_seed: -1", "benchmarks.tiny.probe_seed"),
                       ("probes: [zeros, zeros]", "benchmarks.tiny.probes"),
                       ("probe_seed: 3", "benchmarks.tiny.probe_seed")):
        path = write_manifest(tmp_path, model_entry("a", a, cfg), benchmark_extra=extra)
        with pytest.raises(ConfigError) as info:
            load_manifest(path)
        message = str(info.value)
        assert str(path) in message and key in message, message
    path = write_manifest(tmp_path, model_entry("a", a, cfg), benchmark_extra="probes: [shuffle, shufle]")
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    assert "unknown probe 'shufle'" in str(info.value) and "Did you mean: 'shuffle'" in str(info.value)
    assert f"Known probes: {', '.join(probe_names())}" in str(info.value)


@pytest.mark.parametrize("content", ['{"my": "own data"}', "not json at all", ""])
def test_a_manifest_json_the_leaderboard_did_not_write_is_never_replaced(board_setup, content, capsys):
    tmp_path, cfg, a, b, manifest = board_setup
    board = tmp_path / "board"
    board.mkdir()
    mine = board / "manifest.json"
    mine.write_text(content)
    assert gf_main(["leaderboard", "run", "--manifest", str(manifest), "--no-progress"]) == 2
    assert "was not written by gf leaderboard" in capsys.readouterr().err
    assert mine.read_text() == content and sorted(p.name for p in board.iterdir()) == ["manifest.json"]


def test_the_leaderboards_own_manifest_record_is_replaced_and_a_refused_run_creates_nothing(board_setup, capsys):
    tmp_path, cfg, a, b, manifest = board_setup
    assert gf_main(["leaderboard", "run", "--manifest", str(manifest), "--only", "a", "--no-progress"]) == 0
    record = json.loads((tmp_path / "board" / "manifest.json").read_text())
    assert record["format"] == "gf-leaderboard-manifest"
    assert gf_main(["leaderboard", "run", "--manifest", str(manifest), "--only", "a", "--no-progress"]) == 0
    # a manifest whose output_dir would put manifest.json over the manifest itself
    own = tmp_path / "self" / "manifest.json"
    own.parent.mkdir()
    own.write_text(manifest.read_text().replace(str(tmp_path / "board"), str(own.parent)))
    before = own.read_text()
    assert gf_main(["leaderboard", "run", "--manifest", str(own), "--no-progress"]) == 2
    assert "over this manifest itself" in capsys.readouterr().err and own.read_text() == before
    # a folder that does not exist is not created by a refused run
    elsewhere = tmp_path / "new" / "board"
    bad = tmp_path / "bad.yaml"
    bad.write_text(manifest.read_text().replace(str(tmp_path / "board"), str(elsewhere)))
    assert gf_main(["leaderboard", "run", "--manifest", str(bad), "--only", "nobody", "--no-progress"]) == 2
    assert not elsewhere.exists()


def test_a_predictions_entry_is_ranked_where_the_features_are_absent(board_setup, capsys):
    """Scoring reads the annotations only: with the feature file gone, a predictions entry is
    scored (its fingerprint covers the annotations and says so), a model entry fails."""
    tmp_path, cfg, a, b, manifest_path = board_setup
    run_leaderboard(load_manifest(manifest_path), progress=False, only=["a"])
    files = {s: tmp_path / "board" / f"results/a/tiny/{s}/{s}_leaderboard_predictions.json" for s in ("val", "test")}
    expected = figures(assemble_board(tmp_path / "board"))
    features = tmp_path / "data" / "SYNTHETIC_STAR" / "vis_db" / "s3d.pth"
    features.rename(features.with_suffix(".moved"))
    # the same files read as a STAR release (the synthetic builder would regenerate a folder missing them)
    star = tmp_path / "star"
    star.mkdir()
    from omegaconf import OmegaConf

    loaded = OmegaConf.to_container(OmegaConf.load(cfg))
    dataset = loaded["datasets"].pop("synthetic_star")
    dataset.pop("generator")
    loaded["datasets"]["star"] = {**dataset, "dataset_dir": "SYNTHETIC_STAR", "unlabelled_splits": []}
    star_cfg = star / "tiny.yaml"
    star_cfg.write_text(OmegaConf.to_yaml(OmegaConf.create(loaded)))
    entries = model_entry("b", b, star_cfg) + f"""
        - name: a_files
          predictions: {{tiny: {{val: {files['val']}, test: {files['test']}}}}}
    """
    second = write_manifest(star, entries, name="nofeatures", out=tmp_path / "nofeatures")
    summary = run_leaderboard(load_manifest(second), progress=False)
    assert sorted({item.entry for item in summary.failed}) == ["b"]
    board = assemble_board(tmp_path / "nofeatures")
    now = figures(board)
    for split in ("val", "test"):
        assert now[(f"tiny/{split}", "a_files")] == expected[(f"tiny/{split}", "a")]
        done = json.loads((tmp_path / f"nofeatures/results/a_files/tiny/{split}/result.json").read_text())
        assert done["provenance"]["split_fingerprint_scope"] == "annotations"
    # cached on a rerun, still without the features
    again = run_leaderboard(load_manifest(second), progress=False, only=["a_files"])
    assert again.computed == [] and len(again.cached) == 2
    # gf evaluate --predictions --cfg-path: the same, without the features
    report = tmp_path / "rescored.json"
    assert gf_main(["evaluate", "--predictions", str(files["val"]), "--cfg-path", str(star_cfg),
                    "--report", str(report)]) == 0
    rescored = json.loads(report.read_text())
    assert rescored["coverage_checked"] is True and rescored["provenance"]["split_fingerprint_scope"] == "annotations"
    assert rescored["mean"] == pytest.approx(expected[("tiny/val", "a")][0])
    # and a model entry cannot be scored without its features: it failed, naming the file
    failed = json.loads((tmp_path / "nofeatures/results/b/tiny/val/failed.json").read_text())
    assert "s3d.pth" in failed["error"]


def _ended(pid: int) -> bool:
    """Gone, or a zombie (ended; a container's init may be slow to reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc (Linux)")
def test_jobs_workers_end_when_the_leaderboard_process_is_killed(board_setup):
    """kill -9 of `gf leaderboard run --jobs 2` runs no cleanup: each worker watches its
    parent and ends with it (they went on evaluating for a board nobody would write)."""
    tmp_path, cfg, a, b, manifest_path = board_setup
    marks = tmp_path / "workers"
    marks.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests" / "plugins")]),
               OMP_NUM_THREADS="1", GF_TEST_SLOW_LEADERBOARD_WORKER=str(marks))
    cmd = [sys.executable, "-m", "gf", "leaderboard", "run", "--manifest", str(manifest_path), "--no-progress",
           "--jobs", "2", "--plugins", "gf_test_plugins"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(list(marks.iterdir())) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [int(p.name) for p in marks.iterdir()]
    assert len(workers) == 2, "both workers were to be evaluating"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while not all(_ended(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [pid for pid in workers if not _ended(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "workers outlived the killed leaderboard process"


def test_an_official_result_file_is_refused_on_a_split_whose_labels_are_hidden(tmp_path):
    """NExT-QA's official result file carries its own labels: on a split whose labels are
    hidden (answer None), it was scored with them (100.00 on the board); now it is refused,
    naming the file and the question, as gf's format is. On a labelled split, the scored
    record takes the split's answer and categories."""
    from types import SimpleNamespace

    from gf.benchmarks.nextqa.evaluator import write_official_results
    from gf.common.errors import EvaluationError
    from gf.leaderboards.prediction_files import read_predictions

    path = tmp_path / "official.json"
    write_official_results(path, {"7_0": {"prediction": 1, "answer": 1, "fields": {}},
                                  "7_1": {"prediction": 2, "answer": 0, "fields": {}}})

    def split(answers):
        records = [{"question_id": q, "answer": a, "fields": {"type": "CW"}} for q, a in answers.items()]
        return SimpleNamespace(benchmark="nextqa", splits={"val": SimpleNamespace(records=records)})

    got = read_predictions(path, split({"7_0": 1, "7_1": 0}), "nextqa", "val")
    assert got["7_1"] == {"prediction": 2, "answer": 0, "fields": {"type": "CW"}}
    with pytest.raises(EvaluationError, match=r"official\.json: question '7_0' has answer 1 but the split hides "
                                              r"its labels"):
        read_predictions(path, split({"7_0": None, "7_1": None}), "nextqa", "val")
    with pytest.raises(EvaluationError, match=r"question '7_1' has answer 0 but the split's annotation says 3"):
        read_predictions(path, split({"7_0": 1, "7_1": 3}), "nextqa", "val")


def test_checkpoint_paths_holding_a_hash_or_a_dollar_brace_are_read_as_typed(board_setup):
    """The board passed an entry's checkpoint as option text, so ' #2' was read as a YAML
    comment and '${x}' as an interpolation: both entries failed, where gf evaluate
    --checkpoint reads them. They score as the file they copy."""
    tmp_path, cfg, a, _, _ = board_setup
    for folder in ("ck #1", "ck${x}"):
        (tmp_path / folder).mkdir()
        shutil.copyfile(a, tmp_path / folder / "a.pth")
    entries = model_entry("a", a, cfg) + f"""
        - name: hash
          config: {cfg}
          checkpoint: "{tmp_path}/ck #1/a.pth"
        - name: dollar
          config: {cfg}
          checkpoint: '{tmp_path}/ck\\${{x}}/a.pth'
    """
    manifest = write_manifest(tmp_path, entries, name="typed")
    assert gf_main(["leaderboard", "run", "--manifest", str(manifest), "--no-progress"]) == 0
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    for table in board["tables"]:
        scores = {row["entry"]: row["score"] for row in table["rows"]}
        assert scores["hash"] == scores["dollar"] == scores["a"] is not None
