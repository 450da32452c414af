"""A benchmark added as one folder (builder, converter, evaluator, model type, default config)
in a plugin package, laid out like gf's own ``gf/benchmarks/<name>/``: it is prepared, trained,
evaluated and ranked in a leaderboard through the CLI with nothing in gf changed
(tests/plugins/gf_more_benchmarks/toy_order/)."""
import json
import textwrap
from pathlib import Path

import torch

from gf.common.safe_load import torch_load_safe
from test_runner import PLUGINS, run_gf

from conftest import TINY_TEXT_ENCODER

GF = Path(__file__).resolve().parents[1] / "gf"
NAMES = ["cup", "book", "towel", "box"]


def _toy_release(raw: Path, features: Path) -> None:
    """Two events per clip (4 rows each, one class vector + noise); which came first / last?"""
    g = torch.Generator().manual_seed(0)
    prototypes = torch.randn(len(NAMES), 8, generator=g) * 2
    raw.mkdir(parents=True)
    feats, rows = {}, []
    for split, n in (("train", 16), ("val", 6), ("test", 6)):
        for i in range(n):
            a, b = torch.randperm(len(NAMES), generator=g)[:2].tolist()
            vid = f"{split}{i}"
            feats[vid] = torch.cat([prototypes[a].expand(4, 8), prototypes[b].expand(4, 8)]) \
                + 0.1 * torch.randn(8, 8, generator=g)
            word = "first" if i % 2 else "last"
            options = [NAMES[a], NAMES[b]] if i % 4 < 2 else [NAMES[b], NAMES[a]]
            answer = options.index(NAMES[a] if word == "first" else NAMES[b])
            rows.append({"split": split, "question_id": f"{split}_{i}", "video_id": vid, "answer": answer,
                         "question": f"What happened {word}?", "options": options, "word": word})
    (raw / "toy_order_release.json").write_text(json.dumps(rows))
    features.parent.mkdir(parents=True)
    torch.save(feats, features)


def test_a_benchmark_folder_in_a_plugin_package_is_prepared_trained_and_evaluated(tmp_path):
    # nothing in gf knows the benchmark: it is only in the plugin folder
    assert not [p for p in GF.rglob("*.py") if "toy_order" in p.read_text(encoding="utf-8")]
    assert (Path(PLUGINS) / "gf_more_benchmarks" / "toy_order" / "__init__.py").is_file()
    plugin = "gf_more_benchmarks.toy_order"

    listed = run_gf(["list", "--plugins", plugin]).stdout
    for kind in ("builders", "converters", "evaluators"):
        assert "  toy_order\n" in listed.split(f"{kind}:\n", 1)[1].split(":\n", 1)[0], kind
    assert "toy_order_tiny" in listed  # the model type

    # the builder's DEFAULT_CONFIG names the folder (TOY_ORDER) and its files
    _toy_release(tmp_path / "raw", tmp_path / "TOY_ORDER" / "features.pth")
    run_gf(["prepare", "toy_order", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "TOY_ORDER"),
            "--plugins", plugin])
    cfg = tmp_path / "toy_order.yaml"
    cfg.write_text(textwrap.dedent(f"""
        plugins: [{plugin}]
        model: {{name: glance_focus, model_type: toy_order_tiny, text_encoder: {TINY_TEXT_ENCODER}}}
        datasets:
          toy_order: {{data_root: {tmp_path}}}
        run: {{output_dir: {tmp_path / 'out'}, epochs: 1, batch_size: 8, num_workers: 0, progress: false}}
    """))
    run_gf(["train", "--cfg-path", str(cfg)])  # trains, then scores the test split
    report = json.loads((tmp_path / "out/eval/test_best_report.json").read_text())
    assert report["benchmark"] == "toy_order" and report["num_questions"] == 6
    assert set(report["breakdowns"]["word"]) == {"first", "last"}
    ckpt = torch_load_safe(tmp_path / "out/checkpoint_last.pth")
    assert ckpt["extra"]["model_config"]["num_options"] == 2  # the plugin's model type

    # evaluated again from the checkpoint, and re-scored from the predictions file alone
    run_gf(["evaluate", "--cfg-path", str(cfg), "--checkpoint", str(tmp_path / "out/checkpoint_last.pth"),
            "--splits", "val", "--tag", "again"])
    assert json.loads((tmp_path / "out/eval/val_again_report.json").read_text())["num_questions"] == 6
    run_gf(["evaluate", "--predictions", str(tmp_path / "out/eval/test_best_predictions.json"),
            "--plugins", plugin, "--report", str(tmp_path / "rescored.json")])
    assert json.loads((tmp_path / "rescored.json").read_text())["breakdowns"] == report["breakdowns"]

    # ranked in a leaderboard beside a second checkpoint, by the plugin's evaluator
    manifest = tmp_path / "board.yaml"
    manifest.write_text(textwrap.dedent(f"""
        name: toy
        output_dir: {tmp_path / 'board'}
        statistics: {{bootstrap_samples: 200}}
        benchmarks:
          toy_order: {{config: {cfg}, splits: [test]}}
        entries:
          - {{name: last, config: {cfg}, checkpoint: {tmp_path / 'out/checkpoint_last.pth'}}}
          - {{name: best, config: {cfg}, checkpoint: {tmp_path / 'out/checkpoint_best.pth'}}}
    """))
    run_gf(["leaderboard", "run", "--manifest", str(manifest), "--plugins", plugin, "--no-progress"])
    table, = json.loads((tmp_path / "board/leaderboard.json").read_text())["tables"]
    assert (table["id"], table["evaluator"]) == ("toy_order/test", "toy_order")
    assert [c["label"] for c in table["columns"]] == ["first", "last"]  # the plugin evaluator's breakdown
    rows = {row["entry"]: row for row in table["rows"]}
    assert set(rows) == {"last", "best"} and {row["kind"] for row in rows.values()} == {"measured"}
    assert rows["best"]["num_questions"] == 6
    assert rows["best"]["score"] == report["overall"]  # the same checkpoint and split as gf train's test report
