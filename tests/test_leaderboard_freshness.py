"""A leaderboard board never shows a figure that is not current (issue 21, class 2).

Every command that writes the board (``run --only``, ``run --shard``, ``show``) checks each
kept result against its inputs: a replaced checkpoint, an edited config, a damaged
predictions file or result record, a seed removed or added. Such a row is shown as stale
(no figures, not ranked, not compared) in the Markdown, CSV, JSON and HTML, with what
changed and the command that refreshes it; a run that evaluates it computes it again. A
file touched without a change is confirmed by its hash and stays current.

The entries are tiny untrained models on the val split of a tiny generated benchmark.
"""
import csv
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from gf.cli import main as gf_main
from gf.common.download import sha256sum
from gf.leaderboards.board import assemble_board
from gf.leaderboards.render import format_figure

from test_leaderboard_engine import count_predictions  # noqa: F401  (a fixture)
from test_leaderboard_engine import group_entry, model_entry, save_seeds, save_untrained, write_data_config, \
    write_manifest
from test_leaderboard_render import NODE, NODE_DOM, parse_html


def run(*args) -> int:
    return gf_main(["leaderboard", *map(str, args)])


def board_json(root: Path):
    return json.loads((root / "leaderboard.json").read_text(encoding="utf-8"))


def val_table(root: Path):
    (table,) = board_json(root)["tables"]
    return table


def rows(root: Path):
    return {r["entry"]: r for r in val_table(root)["rows"]}


@pytest.fixture
def lb(tmp_path):
    """Two model entries, a and b, evaluated on val; the board written by `gf leaderboard run`."""
    cfg = write_data_config(tmp_path)
    a = save_untrained(cfg, tmp_path / "a.pth", seed=1)
    b = save_untrained(cfg, tmp_path / "b.pth", seed=2)
    manifest = write_manifest(tmp_path, model_entry("a", a, cfg) + model_entry("b", b, cfg), splits="[val]")
    assert run("run", "--manifest", manifest, "--no-progress") == 0
    root = tmp_path / "board"
    before = rows(root)
    assert {r["kind"] for r in before.values()} == {"measured"} and val_table(root)["stale"] == []
    return SimpleNamespace(tmp=tmp_path, cfg=cfg, a=a, b=b, manifest=manifest, root=root, before=before)


def assert_stale_everywhere(root: Path, entry: str, old_score: float, *words: str) -> None:
    """``entry`` is a stale row in every format: no figure (never its old one), not in a pair,
    listed with what changed (``words``) and the command that refreshes it."""
    board = board_json(root)
    (table,) = board["tables"]
    row = {r["entry"]: r for r in table["rows"]}[entry]
    assert row["kind"] == "stale" and row["stale"] is True and row["score"] is None and row["cells"] == {}
    assert all(r["kind"] == "measured" for r in table["rows"][:table["rows"].index(row)])  # after the measured rows
    (item,) = [s for s in table["stale"] if s["entry"] == entry]
    for word in words:
        assert word in item["reason"], item["reason"]
    assert "gf leaderboard run --manifest" in item["refresh"] and item["refresh"].endswith(f"--only {entry}")
    assert all(entry not in (p["a"], p["b"]) for p in table["pairs"])
    # Markdown: n/a, marked stale, and the list saying why
    md = (root / "leaderboard.md").read_text(encoding="utf-8")
    line = next(line for line in md.splitlines() if line.startswith(f"| {entry} |"))
    assert "n/a" in line and "stale (see below)" in line and format_figure(old_score) not in line
    assert "Stale (an input changed" in md and f"- {entry}: {item['reason'][:20]}" in md.replace("\\", "")
    # CSV: a stale flag and the reason, no figure
    with open(root / "leaderboard.csv", newline="", encoding="utf-8") as fh:
        csv_rows = {r["entry"]: r for r in csv.DictReader(fh)}
    assert csv_rows[entry]["kind"] == "stale" and csv_rows[entry]["stale"] == "true"
    assert csv_rows[entry]["score"] == "" and words[0] in csv_rows[entry]["stale_reason"]
    assert {r["stale"] for e, r in csv_rows.items() if e != entry} <= {"false"}
    # HTML: the embedded board, and the page its script builds
    page = (root / "leaderboard.html").read_text(encoding="utf-8")
    assert json.loads(parse_html(page).scripts["gf-board"]) == board
    if NODE is not None:
        script = root.parent / "dom.js"
        script.write_text(NODE_DOM)
        built = json.loads(subprocess.run([NODE, str(script), str(root / "leaderboard.html")], capture_output=True,
                                          text=True, timeout=60, check=True).stdout)
        (shown,) = [r for r in built["rows"] if r["entry"] == entry]
        assert shown["cells"]["score"] == "n/a" and shown["cells"]["source"] == "stale (see below)"
        (listed,) = [items for cls, items in built["lists"] if cls == "stale"]
        assert any(text.startswith(f"{entry}: ") and "Refresh: gf leaderboard run" in text for text in listed)


def assert_current(root: Path, before) -> None:
    now = rows(root)
    assert {e: r["kind"] for e, r in now.items()} == {e: "measured" for e in before}
    assert {e: r["score"] for e, r in now.items()} == {e: r["score"] for e, r in before.items()}
    assert val_table(root)["stale"] == [] and "stale" not in (root / "leaderboard.csv").read_text().split("\n")[0]


# ---------------------------------------------------------------------------------------
# a replaced checkpoint: --only, --shard, show
# ---------------------------------------------------------------------------------------
def test_a_checkpoint_replaced_and_a_run_of_other_entries_marks_it_stale_never_its_old_figure(lb, count_predictions):
    save_untrained(lb.cfg, lb.b, seed=3)  # b's checkpoint is replaced by another model
    assert run("run", "--manifest", lb.manifest, "--only", "a", "--no-progress") == 0
    assert count_predictions == []  # a was cached, b not evaluated
    assert_stale_everywhere(lb.root, "b", lb.before["b"]["score"], "its checkpoint", str(lb.b), "changed")
    assert rows(lb.root)["a"]["score"] == lb.before["a"]["score"]
    # run without --only: b is evaluated again, and its row is current
    assert run("run", "--manifest", lb.manifest, "--no-progress") == 0
    assert count_predictions == [("b", "tiny", "val")]
    now = rows(lb.root)
    assert now["b"]["kind"] == "measured" and val_table(lb.root)["stale"] == []
    assert now["b"]["provenance"]["checkpoint_sha256"] == sha256sum(lb.b)


def test_a_shard_that_evaluates_other_items_marks_the_replaced_checkpoint_stale(lb, count_predictions):
    save_untrained(lb.cfg, lb.b, seed=3)
    assert run("run", "--manifest", lb.manifest, "--shard", "0/2", "--no-progress") == 0  # a/val only
    assert count_predictions == []
    assert_stale_everywhere(lb.root, "b", lb.before["b"]["score"], "its checkpoint", "changed")
    assert run("run", "--manifest", lb.manifest, "--shard", "1/2", "--no-progress") == 0  # b/val
    assert count_predictions == [("b", "tiny", "val")] and rows(lb.root)["b"]["kind"] == "measured"


def test_show_marks_a_replaced_checkpoint_stale(lb, capsys):
    save_untrained(lb.cfg, lb.b, seed=3)
    capsys.readouterr()
    assert run("show", lb.root) == 0
    assert "stale (see below)" in capsys.readouterr().out  # the Markdown printed
    assert_stale_everywhere(lb.root, "b", lb.before["b"]["score"], "its checkpoint", "changed")


def test_a_touched_but_unchanged_checkpoint_stays_current_and_a_run_records_it(lb, monkeypatch, count_predictions):
    import gf.common.io

    hashed = []
    original = gf.common.io.sha256sum
    monkeypatch.setattr(gf.common.io, "sha256sum", lambda path, *a, **k: hashed.append(Path(path)) or
                        original(path, *a, **k))
    stat = lb.b.stat()
    os.utime(lb.b, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # a new mtime, the same bytes
    assert run("show", lb.root) == 0
    assert_current(lb.root, lb.before)
    assert hashed == [lb.b]  # only the file whose mtime moved was hashed, to confirm it
    hashed.clear()
    assert run("run", "--manifest", lb.manifest, "--no-progress") == 0
    assert count_predictions == []  # cached: the key is the same
    record = json.loads((lb.root / "results/b/tiny/val/result.json").read_text())
    assert record["inputs"]["checkpoint"]["mtime_ns"] == lb.b.stat().st_mtime_ns  # the record was refreshed
    hashed.clear()
    assert run("show", lb.root) == 0
    assert_current(lb.root, lb.before) and hashed == []  # stat calls only


# ---------------------------------------------------------------------------------------
# damaged files: predictions, result record; results kept by an older gf
# ---------------------------------------------------------------------------------------
def test_a_damaged_predictions_file_is_shown_stale_and_computed_again(lb, count_predictions):
    predictions = lb.root / "results/b/tiny/val/val_leaderboard_predictions.json"
    data = predictions.read_bytes()
    predictions.write_bytes(data[: len(data) // 2])  # truncated
    assert run("show", lb.root) == 0  # not a crash
    assert_stale_everywhere(lb.root, "b", lb.before["b"]["score"], "its predictions file", "damaged or edited")
    assert run("run", "--manifest", lb.manifest, "--no-progress") == 0  # it no longer counts as done
    assert count_predictions == [("b", "tiny", "val")]
    assert_current(lb.root, lb.before)  # the same model again: the same figures


def test_a_damaged_result_record_is_shown_stale_and_computed_again(lb, count_predictions):
    record = lb.root / "results/b/tiny/val/result.json"
    record.write_text(record.read_text()[:40])
    assert run("show", lb.root) == 0
    assert_stale_everywhere(lb.root, "b", lb.before["b"]["score"], "its result.json is damaged")
    assert run("run", "--manifest", lb.manifest, "--no-progress") == 0
    assert count_predictions == [("b", "tiny", "val")] and "inputs" in json.loads(record.read_text())
    assert_current(lb.root, lb.before)


def _as_older_gf(record: Path) -> None:
    """``result.json`` as gf wrote it before it recorded the inputs."""
    data = json.loads(record.read_text())
    for key in ("inputs", "files", "spec"):
        del data[key]
    record.write_text(json.dumps(data))


def test_results_kept_by_an_older_gf_are_checked_by_hash_and_a_wrong_question_set_is_found(lb, count_predictions):
    for entry in ("a", "b"):
        _as_older_gf(lb.root / f"results/{entry}/tiny/val/result.json")
    predictions = lb.root / "results/b/tiny/val/val_leaderboard_predictions.json"
    data = json.loads(predictions.read_text())
    dropped = sorted(data["predictions"])[0]
    del data["predictions"][dropped]
    predictions.write_text(json.dumps(data))  # valid JSON, one question short
    assert run("show", lb.root) == 0
    assert rows(lb.root)["a"]["kind"] == "measured"  # its checkpoint still has the recorded sha256
    assert_stale_everywhere(lb.root, "b", lb.before["b"]["score"], "misses 1 of the split's questions", dropped)
    assert run("run", "--manifest", lb.manifest, "--no-progress") == 0
    assert count_predictions == [("b", "tiny", "val")]  # a was cached, and its record completed
    assert "inputs" in json.loads((lb.root / "results/a/tiny/val/result.json").read_text())
    assert_current(lb.root, lb.before)
    # an older result whose checkpoint changed since is stale too
    _as_older_gf(lb.root / "results/a/tiny/val/result.json")
    save_untrained(lb.cfg, lb.a, seed=5)
    assert run("show", lb.root) == 0
    assert_stale_everywhere(lb.root, "a", lb.before["a"]["score"], "its checkpoint", "changed")


# ---------------------------------------------------------------------------------------
# configs and the manifest
# ---------------------------------------------------------------------------------------
def test_an_edited_config_makes_rows_stale_until_a_run_confirms_them(lb, count_predictions):
    with open(lb.cfg, "a") as fh:
        fh.write("# a comment: the config's bytes change, its meaning does not\n")
    assert run("show", lb.root) == 0
    assert {r["kind"] for r in rows(lb.root).values()} == {"stale"}
    assert all("config" in s["reason"] and str(lb.cfg) in s["reason"] for s in val_table(lb.root)["stale"])
    assert run("run", "--manifest", lb.manifest, "--no-progress") == 0
    assert count_predictions == []  # the same key: confirmed, not recomputed
    assert_current(lb.root, lb.before)


def test_an_entry_described_differently_in_the_manifest_is_stale_after_a_run_of_the_others(lb):
    text = lb.manifest.read_text().replace(f"checkpoint: {lb.b}", f"checkpoint: {lb.b}\n    options: [run.amp=bf16]")
    lb.manifest.write_text(text)
    assert run("run", "--manifest", lb.manifest, "--only", "a", "--no-progress") == 0
    assert_stale_everywhere(lb.root, "b", lb.before["b"]["score"], "the manifest describes it differently")


# ---------------------------------------------------------------------------------------
# seed groups
# ---------------------------------------------------------------------------------------
def test_a_seed_replaced_removed_or_added_is_detected(tmp_path, count_predictions):
    cfg = write_data_config(tmp_path)
    a = save_untrained(cfg, tmp_path / "a.pth", seed=1)
    save_seeds(cfg, tmp_path / "g", (0, 1, 2))
    manifest = write_manifest(tmp_path, model_entry("a", a, cfg)
                              + group_entry("g", f"'{tmp_path / 'g'}/seed*/checkpoint_best.pth'", cfg), splits="[val]")
    root = tmp_path / "board"
    assert run("run", "--manifest", manifest, "--no-progress") == 0 and len(count_predictions) == 4

    save_untrained(cfg, tmp_path / "g/seed1/checkpoint_best.pth", seed=99, options=["run.seed=1"])  # retrained
    assert run("run", "--manifest", manifest, "--only", "a", "--no-progress") == 0
    table = val_table(root)
    g = {r["entry"]: r for r in table["rows"]}["g"]
    assert g["kind"] == "measured" and g["group"]["seeds"] == [0, 2]  # over its current seeds only
    assert [s["entry"] for s in table["stale"]] == ["g (seed 1)"] and "changed" in table["stale"][0]["reason"]
    assert any("2 of its 3 seeds are finished and current" in n for n in table["notes"])
    assert "g (seed 1): its checkpoint" in (root / "leaderboard.md").read_text().replace("\\", "")

    shutil.rmtree(tmp_path / "g/seed2")  # a seed removed
    save_seeds(cfg, tmp_path / "g", (3,))  # and one added
    assert run("show", root) == 0
    table = val_table(root)
    assert {s["entry"]: s["reason"] for s in table["stale"]}["g (seed 2)"].endswith("is not there any more")
    new = str(tmp_path / "g/seed3/checkpoint_best.pth")
    assert table["pending"] == [f"g (new checkpoint {new})"] and any(new in n for n in table["notes"])
    g = {r["entry"]: r for r in table["rows"]}["g"]
    assert g["group"]["seeds"] == [0]

    assert run("run", "--manifest", manifest, "--only", "a", "--no-progress") == 0  # the glob is read again
    table = val_table(root)
    assert table["pending"] == ["g (seed 3)"] and [s["entry"] for s in table["stale"]] == ["g (seed 1)"]
    assert run("run", "--manifest", manifest, "--no-progress") == 0
    assert sorted(count_predictions[4:]) == [("g", "tiny", "val")] * 2  # seeds 1 and 3
    table = val_table(root)
    assert table["stale"] == [] and table["pending"] == []
    assert {r["entry"]: r for r in table["rows"]}["g"]["group"]["seeds"] == [0, 1, 3]
    assert assemble_board(root)["tables"][0]["stale"] == []


def test_a_probe_result_of_a_replaced_checkpoint_is_listed_stale_in_the_sensitivity_section(tmp_path):
    cfg = write_data_config(tmp_path)
    a = save_untrained(cfg, tmp_path / "a.pth", seed=1)
    manifest = write_manifest(tmp_path, model_entry("a", a, cfg), splits="[val]", benchmark_extra="probes: [shuffle]")
    root = tmp_path / "board"
    assert run("run", "--manifest", manifest, "--no-progress") == 0
    assert [r["entry"] for r in val_table(root)["probes"]["rows"]] == ["a"]
    save_untrained(cfg, a, seed=7)
    assert run("show", root) == 0
    table = val_table(root)
    assert [s["entry"] for s in table["stale"]] == ["a"] and table["probes"]["rows"] == []
    (item,) = table["probes"]["stale"]
    assert item["entry"] == "a under shuffle" and "its checkpoint" in item["reason"] and "--only a" in item["refresh"]
    md = (root / "leaderboard.md").read_text(encoding="utf-8")
    assert "Probe results stale" in md and "- a under shuffle: its checkpoint" in md


# ---------------------------------------------------------------------------------------
# the split's own files changed: show builds no split, yet shows no figure on the old one
# ---------------------------------------------------------------------------------------
def assert_all_stale(root: Path, entries, *words: str) -> None:
    """Every entry a stale row (no figure), listed with what changed, in JSON, Markdown and CSV."""
    table = val_table(root)
    assert {r["entry"]: r["kind"] for r in table["rows"]} == {e: "stale" for e in entries}
    assert table["pairs"] == [] and all(r["score"] is None for r in table["rows"])
    for item in table["stale"]:
        for word in words:
            assert word in item["reason"], item["reason"]
    md = (root / "leaderboard.md").read_text(encoding="utf-8")
    assert all("stale (see below)" in next(line for line in md.splitlines() if line.startswith(f"| {e} |"))
               for e in entries)
    with open(root / "leaderboard.csv", newline="", encoding="utf-8") as fh:
        assert {r["entry"]: (r["stale"], r["score"]) for r in csv.DictReader(fh)} == {e: ("true", "") for e in entries}


def test_show_marks_every_row_stale_when_the_splits_annotations_or_features_changed(lb):
    data = lb.tmp / "data" / "SYNTHETIC_STAR"
    annotations = data / "txt_db" / "val.jsonl"
    before = annotations.read_bytes()
    annotations.write_bytes(before)  # touched, same bytes: confirmed by the hash, still current
    assert run("show", lb.root) == 0
    assert_current(lb.root, lb.before)
    lines = before.decode("utf-8").splitlines(keepends=True)
    record = json.loads(lines[0])
    record["question"] += " (edited)"
    annotations.write_text(json.dumps(record) + "\n" + "".join(lines[1:]), encoding="utf-8")
    assert run("show", lb.root) == 0
    assert_all_stale(lb.root, ("a", "b"), "the split's annotations file", str(annotations), "changed")
    annotations.write_bytes(before)  # back as it was: current again, without a run
    assert run("show", lb.root) == 0
    assert_current(lb.root, lb.before)
    features = next((data / "vis_db").iterdir())
    os.utime(features, ns=(features.stat().st_atime_ns, features.stat().st_mtime_ns + 10**9))
    assert run("show", lb.root) == 0  # a feature file is known by its size and mtime, as in the fingerprint
    assert_all_stale(lb.root, ("a", "b"), "the split's features file", "changed")
    assert run("run", "--manifest", lb.manifest, "--no-progress") == 0  # a run computes them again
    assert {r["kind"] for r in rows(lb.root).values()} == {"measured"} and val_table(lb.root)["stale"] == []


@pytest.mark.parametrize("damage", ["garbage\n", "[]", "videos null"])
def test_a_damaged_split_record_is_shown_stale_and_a_run_writes_it_again_keeping_the_results(
        lb, count_predictions, damage):
    """A damaged or wrong-shaped split record is treated as a damaged result.json: show lists
    the split's results stale (no crash), and a run computes one result again, which writes
    the record again; the other kept results stay and are current (they were deleted, and
    every later run failed again)."""
    record = lb.root / "splits/tiny/val/record.json"
    good = json.loads(record.read_text())
    record.write_text(json.dumps({**good, "videos": None}) if damage == "videos null" else damage)
    assert run("show", lb.root) == 0
    assert_all_stale(lb.root, ("a", "b"), "split record")
    assert run("run", "--manifest", lb.manifest, "--no-progress") == 0
    assert count_predictions == [("a", "tiny", "val")]  # the first one rewrites the record; b is kept
    assert json.loads(record.read_text())["videos"] == good["videos"]
    assert_current(lb.root, lb.before)


def test_a_failure_before_the_result_is_found_out_of_date_keeps_it(lb, monkeypatch):
    """A run that fails on something not the result's own (here the split's fingerprint
    cannot be taken) records the failure and keeps the kept result.json: it was deleted."""
    from gf.common.errors import DataFileError
    from gf.leaderboards.work import Evaluation

    def broken(self, *args, **kwargs):
        raise DataFileError("data.json: cannot be read")

    monkeypatch.setattr(Evaluation, "fingerprint", broken)
    assert run("run", "--manifest", lb.manifest, "--no-progress") != 0
    folder = lb.root / "results/b/tiny/val"
    assert (folder / "result.json").is_file()
    assert "cannot be read" in json.loads((folder / "failed.json").read_text())["error"]
    monkeypatch.undo()
    assert run("show", lb.root) == 0
    assert_current(lb.root, lb.before)
