"""What gf writes stays where it belongs, and what it reports says what it checked.

Names that become paths (zoo entries, file names from URLs, splits and tags) cannot leave
their folder; an existing download destination is verified or refused, never trusted;
a report says whether question coverage was checked, refuses an empty prediction set,
records the gf version and provenance, and never overwrites what it was computed from;
download arguments that cannot work fail at once with one clear GfError.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from conftest import TINY_TEXT_ENCODER
from helpers_http import LocalHTTPServer, ServedFile

from gf.benchmarks.agqa import evaluator as agqa
from gf.benchmarks.egotaskqa import evaluator as egotaskqa
from gf.benchmarks.nextqa import evaluator as nextqa
from gf.benchmarks.star import evaluator as star
from gf.common.download import DestinationExistsError, InvalidURLError, cache_dir, download
from gf.common.errors import ConfigError, EvaluationError, GfError
from gf.evaluation import (
    COVERAGE_NOT_CHECKED,
    MissingPredictionError,
    PredictionsFileError,
    check_distinct_paths,
    evaluate_predictions,
    format_report,
    load_predictions,
    save_predictions,
    save_report,
)
from gf.evaluation import report as report_module
from gf.models import zoo
from gf.models.glance_focus import GlanceFocus
from gf.models.checkpoint import save_checkpoint

TINY = dict(d_model=32, nhead=4, dim_feedforward=64, num_queries=5, feature_dim=12, max_feats=16,
            event_pred_dim=7, dropout=0.0, resizer_dropout=0.0, text_encoder=TINY_TEXT_ENCODER)


@pytest.fixture(autouse=True)
def _isolated(isolated_cache):
    return isolated_cache


@pytest.fixture
def server():
    with LocalHTTPServer(lifetime=60) as srv:
        yield srv


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inside(root: Path, path: Path) -> bool:
    root_s, path_s = os.path.abspath(root), os.path.abspath(path)
    return os.path.commonpath([root_s, path_s]) == root_s


def _star_preds(n_labelled: int = 4, n_unlabelled: int = 0):
    preds = {}
    for i in range(n_labelled):
        preds[f"Interaction_T1_{i}"] = {"prediction": i % 4, "answer": 0, "fields": {}}
    for i in range(n_unlabelled):
        preds[f"Sequence_T1_{i}"] = {"prediction": 1, "answer": None, "fields": {}}
    return preds


def _make_checkpoint(path: Path) -> None:
    torch.manual_seed(0)
    model_config = dict(TINY, model_type="star_sup")
    model = GlanceFocus.from_config(model_config).eval()
    save_checkpoint(path, model_state=model.state_dict(),
                    config={"model": {"name": "glance_focus", **model_config},
                            "datasets": {"synthetic_star": {"text_format": "{question} {option}"}},
                            "run": {"best_metric": "mean", "valid_splits": ["val"]}},
                    epoch=2, step=30, best_metric=0.625,
                    extra={"benchmark": "star", "dataset": "synthetic_star", "model_config": model_config})


# ------------------------------------------------------------------ 1. names that become paths


@pytest.mark.parametrize("tag", ["../../escaped", "a/b", "", ".hidden", "a b"])
def test_evaluate_tags_are_plain_names(tag, capsys):
    """--tag becomes part of file names in the output folder (the run's own tags: test_run_safety)."""
    from gf.cli import build_parser, main as gf_main

    with pytest.raises(SystemExit) as e:
        gf_main(["evaluate", "--cfg-path", "unread.yaml", "--tag", tag])
    assert e.value.code == 2 and f"{tag!r} is not a plain name" in capsys.readouterr().err
    assert build_parser().parse_args(["evaluate", "--tag", "zoo-v1.2_b"]).tag == "zoo-v1.2_b"


def test_zoo_publish_refuses_names_that_escape_the_cache(tmp_path, isolated_cache):
    ckpt = tmp_path / "ckpt.pth"
    _make_checkpoint(ckpt)
    zoo_file = tmp_path / "zoo.json"
    for bad in ("..", "glance_focus/..", "../../evil", "glance_focus/../x", "/abs/x", ".hidden", "a/b/c", ""):
        with pytest.raises(zoo.ZooError) as info:
            zoo.publish_checkpoint(ckpt, bad, zoo_file=zoo_file)
        assert repr(bad) in str(info.value) and "\n" not in str(info.value)
    assert not zoo_file.exists()
    # a plain name is still published, and its cache folder is inside the cache
    entry = zoo.publish_checkpoint(ckpt, "run1", zoo_file=zoo_file)
    assert entry.name == "glance_focus/run1"
    assert _inside(isolated_cache / "models" / "glance_focus" / "run1", zoo.cache_path_of(entry))


def test_zoo_entries_refuse_names_that_escape_the_cache(tmp_path, isolated_cache):
    for name, model in (("../..", ".."), ("glance_focus/..", "glance_focus"), ("../evil", ".."),
                        ("glance_focus/.", "glance_focus")):
        with pytest.raises(zoo.ZooError, match="name must look like"):
            zoo.PretrainedEntry(name=name, model=model, url="https://example.org/w.pth")
    # a user zoo file holding such an entry is refused, naming the file and the entry
    path = isolated_cache / "zoo.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": "gf-zoo", "version": 1, "recorded_hashes": {},
                                "entries": {"glance_focus/..": {"model": "glance_focus",
                                                                "url": "https://example.org/w.pth"}}}))
    with pytest.raises(zoo.ZooError, match=r"'glance_focus/\.\.'.*zoo\.json"):
        zoo.list_pretrained()
    # a file name from the URL is its last component, whatever the separators
    path.unlink()
    entry = zoo.PretrainedEntry(name="glance_focus/ok", model="glance_focus",
                                url="https://example.org/a/..%5C..%5C..%5Cw.pth")
    cached = zoo.cache_path_of(entry)
    assert cached.name == "w.pth" and _inside(isolated_cache / "models" / "glance_focus" / "ok", cached)


def test_download_file_names_from_urls_stay_in_the_cache(tmp_path, server):
    # "%5C" is a backslash: a separator on Windows, so it must never reach the file name.
    folder = tmp_path / "src" / "a"
    folder.mkdir(parents=True)
    (folder / "..\\..\\x.bin").write_bytes(b"backslashes")
    got = download((folder.as_uri() + "/..%5C..%5Cx.bin"), progress=False)
    assert got.name == "x.bin" and got.read_bytes() == b"backslashes"
    assert _inside(cache_dir() / "downloads", got)
    # ".." in an http URL path: the cache file is named by the last component only
    server.routes["/a/../../y.bin"] = ServedFile(b"dots")
    got = download(server.url("/a/../../y.bin"), progress=False)
    assert got.name == "y.bin" and _inside(cache_dir() / "downloads", got)
    # filename= is a plain name: no separators, no NUL byte
    for bad in ("../escape.bin", "a/b.bin", "a\\b.bin", "a\x00b.bin", "..", "."):
        with pytest.raises(ConfigError, match="plain file name"):
            download(server.url("/a/../../y.bin"), filename=bad, progress=False)


def test_star_submission_refuses_split_names_that_escape_the_output_folder(tmp_path):
    preds = {"Interaction_T1_1": {"prediction": 0, "answer": None, "fields": {}}}
    out = tmp_path / "out"
    out.mkdir()
    evaluator = star.StarEvaluator()
    for split, tag in (("test/../../escape", "t"), ("test", "../../escape"), ("test", "/abs/x")):
        with pytest.raises(ConfigError, match="output file name"):
            evaluator.after_evaluation(preds, split=split, output_dir=out, tag=tag)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []
    assert evaluator.after_evaluation(preds, split="test", output_dir=out, tag="best") == [
        out / "test_best_submission.json"]


# ------------------------------------------------------------------ 2. an existing dest


def test_download_to_an_existing_dest_without_sha256_is_refused_unless_overwrite(tmp_path, server):
    data = b"served bytes" * 100
    server.routes["/w.bin"] = ServedFile(data)
    dest = tmp_path / "w.bin"
    dest.write_bytes(b"something else")
    with pytest.raises(DestinationExistsError, match="no sha256.*overwrite") as info:
        download(server.url("/w.bin"), dest=dest, progress=False)
    assert isinstance(info.value, GfError) and str(dest) in str(info.value)
    assert dest.read_bytes() == b"something else" and server.requests_to("/w.bin") == []
    # overwrite=True: downloaded over it, atomically (no .part left)
    assert download(server.url("/w.bin"), dest=dest, overwrite=True, progress=False) == dest
    assert dest.read_bytes() == data and not dest.with_name("w.bin.part").exists()
    # a folder as dest: the same rule for the file in it
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"old")
    with pytest.raises(DestinationExistsError):
        download(server.url("/w.bin"), dest=folder, progress=False)
    assert (folder / "w.bin").read_bytes() == b"old"


def test_download_to_an_existing_dest_is_verified_against_sha256(tmp_path, server):
    data = b"the real file" * 100
    server.routes["/w.bin"] = ServedFile(data)
    good = tmp_path / "good.bin"
    good.write_bytes(data)
    assert download(server.url("/w.bin"), sha256=_sha(data), dest=good, progress=False) == good
    assert server.requests_to("/w.bin") == []  # verified, no network
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"tampered")
    with pytest.raises(DestinationExistsError) as info:
        download(server.url("/w.bin"), sha256=_sha(data), dest=bad, progress=False)
    message = str(info.value)
    assert _sha(data) in message and _sha(b"tampered") in message and "overwrite" in message
    assert bad.read_bytes() == b"tampered" and server.requests_to("/w.bin") == []
    assert download(server.url("/w.bin"), sha256=_sha(data), dest=bad, overwrite=True, progress=False) == bad
    assert bad.read_bytes() == data
    # cache paths (no dest) keep healing: a bad cached copy is downloaded again
    cached = download(server.url("/w.bin"), sha256=_sha(data), progress=False)
    cached.write_bytes(b"corrupted in the cache")
    assert download(server.url("/w.bin"), sha256=_sha(data), progress=False).read_bytes() == data


def test_hf_download_to_an_existing_dest_is_verified_or_refused(tmp_path, fake_hub):
    _, calls = fake_hub
    dest = tmp_path / "mine.pth"
    dest.write_bytes(b"not the weights")
    with pytest.raises(DestinationExistsError, match="no sha256"):
        download("hf://org/repo/star/ckpt.pth", dest=dest)
    with pytest.raises(DestinationExistsError, match=_sha(b"weights")):
        download("hf://org/repo/star/ckpt.pth", sha256=_sha(b"weights"), dest=dest)
    assert dest.read_bytes() == b"not the weights" and calls == []
    assert download("hf://org/repo/star/ckpt.pth", dest=dest, overwrite=True).read_bytes() == b"weights"
    assert download("hf://org/repo/star/ckpt.pth", sha256=_sha(b"weights"), dest=dest) == dest
    assert len(calls) == 1  # the verified copy was used as it is


# ------------------------------------------------------------------ 3. coverage


def test_rescoring_without_expected_ids_says_coverage_was_not_checked(tmp_path):
    path = tmp_path / "p.json"
    save_predictions(path, "star", "val", _star_preds())
    report = evaluate_predictions(path)
    assert report["coverage_checked"] is False and COVERAGE_NOT_CHECKED in report["notes"]
    assert "coverage not checked" in format_report(report)
    checked = evaluate_predictions(path, expected_ids=list(_star_preds()))
    assert checked["coverage_checked"] is True and COVERAGE_NOT_CHECKED not in checked["notes"]
    with pytest.raises(MissingPredictionError, match="'Interaction_T1_9'"):
        evaluate_predictions(path, expected_ids=list(_star_preds()) + ["Interaction_T1_9"])
    with pytest.raises(EvaluationError, match="not in the split: 'Interaction_T1_3'"):
        evaluate_predictions(path, expected_ids=list(_star_preds())[:3])


def test_coverage_is_checked_even_when_an_evaluator_ignores_expected_ids(tmp_path, monkeypatch):
    class Careless:
        def evaluate(self, predictions, info, expected_ids=None):
            return {"benchmark": "star", "overall": 100.0, "notes": []}

    monkeypatch.setattr(report_module, "get_evaluator", lambda benchmark, where="predictions": Careless())
    path = tmp_path / "p.json"
    save_predictions(path, "star", "val", _star_preds())
    with pytest.raises(MissingPredictionError, match="'Interaction_T1_9'"):
        evaluate_predictions(path, expected_ids=list(_star_preds()) + ["Interaction_T1_9"])
    assert evaluate_predictions(path, expected_ids=list(_star_preds()))["coverage_checked"] is True


# ------------------------------------------------------------------ 4. nothing scored


def test_nothing_to_score_is_an_error_not_an_empty_success(tmp_path):
    path = tmp_path / "empty.json"
    save_predictions(path, "star", "test", {})
    with pytest.raises(EvaluationError, match="nothing to score") as info:
        evaluate_predictions(path)
    assert str(path) in str(info.value)
    for module in (star, agqa, egotaskqa, nextqa):
        with pytest.raises(EvaluationError, match="nothing to score"):
            module.evaluate({})
    csv = tmp_path / "empty.csv"
    csv.write_text("video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n")
    with pytest.raises(EvaluationError, match="nothing to score"):
        nextqa.evaluate_against_csv({}, csv)


def test_all_unlabelled_split_is_valid_and_says_so(tmp_path):
    path = tmp_path / "hidden.json"
    save_predictions(path, "star", "test", _star_preds(0, 3))
    report = evaluate_predictions(path)
    assert report["overall"] is None and report["mean"] is None and report["unlabelled"] == 3
    assert any("none of the 3 question(s) has a label" in n for n in report["notes"])
    partly = evaluate_predictions(save_predictions(tmp_path / "partly.json", "star", "val", _star_preds(4, 2)))
    assert any("2 of the 6 question(s) have no label" in n for n in partly["notes"])


# ------------------------------------------------------------------ 5. traceability


def test_reports_record_gf_version_and_provenance(tmp_path):
    from gf import __version__

    sha = "ab" * 32
    path = tmp_path / "p.json"
    written = save_predictions(path, "star", "val", _star_preds(),
                               provenance={"checkpoint": "run/checkpoint_best.pth", "checkpoint_sha256": sha})
    raw = json.loads(path.read_text())
    assert raw["provenance"] == {"gf_version": __version__, "checkpoint": "run/checkpoint_best.pth",
                                 "checkpoint_sha256": sha}
    assert load_predictions(path) == written
    report = evaluate_predictions(path, provenance={"split_fingerprint": "f00d"})
    assert report["gf_version"] == __version__
    assert report["provenance"] == {**raw["provenance"], "split_fingerprint": "f00d"}
    assert f"checkpoint sha256 {sha}" in format_report(report)
    json.dumps(report, allow_nan=False)
    # files written before provenance existed still load and score
    del raw["provenance"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(raw))
    assert load_predictions(old).provenance is None
    assert evaluate_predictions(old)["provenance"] == {}
    # provenance must be a JSON object
    for bad in (["checkpoint"], {"x": float("nan")}, {"x": object()}, {1: "a"}):
        with pytest.raises(PredictionsFileError, match="provenance"):
            save_predictions(tmp_path / "bad.json", "star", "val", _star_preds(), provenance=bad)
    raw["provenance"] = "checkpoint.pth"
    old.write_text(json.dumps(raw))
    with pytest.raises(PredictionsFileError, match="'provenance' must be an object"):
        load_predictions(old)
    with pytest.raises(ConfigError, match="provenance"):
        evaluate_predictions(path, provenance="checkpoint.pth")


# ------------------------------------------------------------------ 6. outputs never overwrite inputs


def test_report_output_cannot_overwrite_its_predictions_file(tmp_path):
    path = tmp_path / "p.json"
    save_predictions(path, "star", "val", _star_preds())
    before = path.read_bytes()
    report = evaluate_predictions(path)
    # the helper the CLI calls for `gf evaluate --predictions P --report R`
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.json"
    link.symlink_to(path)
    hard = tmp_path / "hard.json"
    os.link(path, hard)
    for same in (path, str(path), tmp_path / "sub" / ".." / "p.json", link, hard):
        with pytest.raises(ConfigError, match="--report .* is the same file as --predictions"):
            check_distinct_paths({"--predictions": path}, {"--report": same})
    with pytest.raises(ConfigError, match="same file"):
        check_distinct_paths([path], [tmp_path / "r.json", tmp_path / "sub" / ".." / "r.json"])
    check_distinct_paths({"--predictions": path}, {"--report": tmp_path / "r.json", "--other": None})
    # save_report refuses to write over the file it scored, or over any predictions file
    for target in (path, link):
        with pytest.raises(ConfigError):
            save_report(target, report)
    other = tmp_path / "other.json"
    save_predictions(other, "star", "test", _star_preds())
    with pytest.raises(ConfigError, match="is a gf predictions file"):
        save_report(other, dict(report, predictions_file=None))
    assert path.read_bytes() == before and link.read_bytes() == before
    save_report(tmp_path / "r.json", report)
    save_report(tmp_path / "r.json", report)  # a report may replace a report
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(ConfigError, match="was not written by gf evaluate"):  # nor anything but a report
        save_report(notes, report)
    assert notes.read_text() == "mine"
    assert json.loads((tmp_path / "r.json").read_text())["overall"] == report["overall"]


# ------------------------------------------------------------------ 7. download argument errors


def test_download_argument_errors_are_one_clear_gf_error(tmp_path, server):
    server.routes["/w.bin"] = ServedFile(b"abc")
    url = server.url("/w.bin")
    (tmp_path / "a_file").write_bytes(b"x")
    cases = [
        (dict(url=url, sha256=""), ConfigError, "64 hexadecimal"),
        (dict(url=url, sha256="xyz"), ConfigError, "64 hexadecimal"),
        (dict(url="ftp://example.org/x.bin"), InvalidURLError, "unsupported scheme"),
        (dict(url=str(tmp_path / "w.bin")), InvalidURLError, "file:///"),
        (dict(url=""), InvalidURLError, "give a URL"),
        (dict(url="http:///w.bin"), InvalidURLError, "no host"),
        (dict(url="http://127.0.0.1:notaport/w.bin"), InvalidURLError, "bad port"),
        (dict(url=server.url("/w .bin")), InvalidURLError, "spaces"),
        (dict(url=url, dest=str(tmp_path / "missing_dir") + os.sep), ConfigError, "no folder"),
        (dict(url=url, dest=tmp_path / "a_file" / "w.bin"), ConfigError, "is a file"),
        (dict(url=url, dest=""), ConfigError, "dest"),
        (dict(url=url, timeout=0), ConfigError, "timeout"),
        (dict(url=url, retries="3"), ConfigError, "retries"),
    ]
    for kwargs, error, match in cases:
        kwargs = dict(kwargs)
        with pytest.raises(error, match=match) as info:
            download(kwargs.pop("url"), progress=False, retries=kwargs.pop("retries", 1), **kwargs)
        assert isinstance(info.value, GfError) and "\n" not in str(info.value), kwargs
    assert not (tmp_path / "missing_dir").exists()
    assert server.requests_to("/w.bin") == []


def test_the_report_is_written_after_the_evaluators_own_files(tmp_path, monkeypatch):
    """A seed whose test reports exist counts as finished (gf.runners.seed_layout.is_finished):
    a run stopped while STAR's submission file was being written must leave no report."""
    from gf.tasks.videoqa import VideoQATask

    def stopped(self, predictions, **kw):
        raise KeyboardInterrupt  # the run is stopped here
    monkeypatch.setattr(star.StarEvaluator, "after_evaluation", stopped)
    with pytest.raises(KeyboardInterrupt):
        VideoQATask.evaluate("star", "test", _star_preds(), {}, output_dir=tmp_path, tag="final")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_final_predictions.json"]


def test_a_runs_report_path_holding_another_file_is_refused_naming_the_runs_folder(tmp_path):
    """The run's own report path is not the user's choice: the refusal says to free it or
    to give the run another run.output_dir (not 'choose another path')."""
    from gf.tasks.videoqa import VideoQATask

    (tmp_path / "test_final_report.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"test_final_report\.json exists and was not written by gf, so it is not "
                                          r"gf's to replace; delete it, or give the run another output folder "
                                          r"\(run\.output_dir\)\.$"):
        VideoQATask.evaluate("star", "test", _star_preds(), {}, output_dir=tmp_path, tag="final")
    assert (tmp_path / "test_final_report.json").read_text() == "{}"
