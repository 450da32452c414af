"""Which p decides a paired comparison, and what a bootstrap that cannot vary reports.

Review round ten: (1) a paired bootstrap whose resamples cannot vary (one video, or every
resample the same difference) counted no extreme resample and called the pair significant
at p = 1/(B + 1) with a zero-width interval; (2) micro-accuracy pairs were decided by a
question-level McNemar test even where several questions share a video.
"""
import numpy as np
import pytest

from gf.common.errors import EvaluationError
from gf.evaluation import stats
from gf.leaderboards import seed_stats
from gf.leaderboards.board import _pairs
from gf.leaderboards.probe_table import _test
from gf.leaderboards.rows import Measured
from gf.probes import probe_test
from gf.probes.evaluate import format_probe_table

from test_leaderboard_stats import outcomes, with_correct

STATISTICS = {"bootstrap_samples": 300, "seed": 0, "confidence": 0.95, "alpha": 0.05}
TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")


def star_four(correct):
    """Four questions, one per video and one per STAR type, scored on the macro mean."""
    cells = {f"type/{t}": np.array([u == t for u in TYPES]) for t in TYPES}
    return outcomes(correct, cells=cells, macro_over=tuple(cells))


def one_video():
    """Ten questions about one video: A right on 6, B on 4 (two discordant questions)."""
    t = np.array([0, 1] * 5)
    cells = {"type/X": t == 0, "type/Y": t == 1}
    a = outcomes([1] * 6 + [0] * 4, clusters=np.zeros(10), cells=cells, macro_over=tuple(cells))
    return a, with_correct(a, [1] * 4 + [0] * 6)


def clustered_micro():
    """20 videos x 10 questions; A and B agree except on two whole videos (A right, B wrong)."""
    base = np.random.default_rng(0).random(200) < 0.5
    a_right, b_right = base.copy(), base.copy()
    a_right[:20], b_right[:20] = True, False
    a = outcomes(a_right, clusters=np.repeat(np.arange(20), 10))
    return a, with_correct(a, b_right)


def test_a_bootstrap_that_cannot_vary_gives_no_p_and_no_interval_never_the_smallest_p():
    a, b = star_four([True] * 4), star_four([False] * 4)  # every resample: a difference of 100
    [pair] = stats.compare_all({"a": a, "b": b}, samples=500)
    assert pair["difference"] == 100.0 and pair["test"] == "paired_bootstrap"
    assert (pair["ci"], pair["p"], pair["p_holm"], pair["significant"]) == (None, None, None, False)
    assert "same difference" in pair["note"] and pair["mcnemar"]["p"] == pytest.approx(0.125)
    group = seed_stats.group_comparison([a, a], [b, b], samples=500)
    assert (group["ci"], group["p_bootstrap"]) == (None, None) and "same difference" in group["note"]

    a, b = one_video()
    [pair] = stats.compare_all({"a": a, "b": b}, samples=500)
    assert pair["difference"] == pytest.approx(20.0)
    assert (pair["ci"], pair["p"], pair["significant"]) == (None, None, False) and "one video" in pair["note"]
    assert stats.bootstrap_intervals(a) == {"score": None, "cells": {"type/X": None, "type/Y": None}}
    assert seed_stats.group_intervals([a, b])["score"] is None  # the seeds alone would vary, not the questions
    pairs = seed_stats.compare_groups({"g": [a, b], "s": b, "t": a}, samples=200)
    assert all(r["p"] is None and r["p_holm"] is None and not r["significant"] for r in pairs)
    same = stats.paired_comparison(a, with_correct(a, a.correct))  # identical sides keep p = 1
    assert same["difference"] == 0.0 and same["p_bootstrap"] == 1.0 and same["ci"] is None


def test_a_bootstrap_over_few_videos_is_never_more_sure_than_an_exact_sign_flip_test():
    """Two videos, both favouring A (by 3 and 1 of 4 questions): every resample differs but
    none crosses 0, so the bootstrap gave p = 1/(B + 1) and called the pair significant."""
    clusters = np.repeat([0, 1], 4)
    a = outcomes([1, 1, 1, 1, 1, 1, 1, 1], clusters=clusters)
    b = with_correct(a, [0, 0, 0, 1, 0, 1, 1, 1])
    [pair] = stats.compare_all({"a": a, "b": b}, samples=500)
    assert pair["difference"] == 50.0 and pair["test"] == "paired_bootstrap" and pair["ci"] is not None
    assert pair["p"] == 0.5 and not pair["significant"]
    assert pair["note"].startswith("2 videos: the bootstrap p (0.002) is raised to 0.5")
    # 8 videos, one question each. A right on 6 that B misses: hardly a resample reaches 0,
    # so p (1/1001) is raised to 2^-7; A right on 4: p (4/501) is above 2^-7 and stays
    many = outcomes([1] * 8, clusters=np.arange(8))
    pair = stats.paired_comparison(many, with_correct(many, [0, 0, 0, 0, 0, 0, 1, 1]), samples=1000)
    assert pair["p_bootstrap"] == 2 ** -7 and pair["note"].startswith("8 videos: the bootstrap p (0.001)")
    pair = stats.paired_comparison(many, with_correct(many, [0, 0, 0, 1, 0, 1, 1, 1]), samples=500)
    assert pair["p_bootstrap"] == 4 / 501 and pair["note"] is None


def test_micro_pairs_use_mcnemar_only_when_every_video_holds_one_question():
    a, b = clustered_micro()
    [pair] = stats.compare_all({"a": a, "b": b}, samples=2000)
    assert pair["difference"] == pytest.approx(10.0) and pair["ci"][0] <= 0.0
    assert pair["test"] == "paired_bootstrap" and pair["p"] == pair["p_bootstrap"] > 0.05
    assert pair["mcnemar"]["p"] < 1e-5 and not pair["significant"]  # McNemar's counts still reported
    singles = outcomes(a.correct)  # the same answers, each question its own video
    [pair] = stats.compare_all({"a": singles, "b": with_correct(singles, b.correct)}, samples=200)
    assert pair["test"] == "mcnemar" and pair["p"] == pair["mcnemar"]["p"] and pair["significant"]


def test_the_board_and_the_probe_table_show_n_a_and_never_count_such_a_pair():
    a, b = one_video()
    table = {"notes": []}
    rows = [{"entry": "a", "significantly_below_best": False}, {"entry": "b", "significantly_below_best": False}]
    _pairs(table, rows, {"a": a, "b": b}, STATISTICS)
    [pair] = table["pairs"]
    assert (pair["ci"], pair["p"], pair["significant"]) == (None, None, False)
    assert not rows[1]["significantly_below_best"]
    assert any(n.startswith("a vs b: the questions are all about one video") for n in table["notes"])

    out, cell = {"notes": []}, {}
    _test(cell, "m under shuffle", Measured("m", False, []), [], (a, b), STATISTICS, out)
    assert cell["drop"] == pytest.approx(20.0) and (cell["drop_ci"], cell["p"]) == (None, None)
    assert any(n.startswith("m under shuffle: the questions are all about one video") for n in out["notes"])
    a, b = clustered_micro()
    out, cell = {"notes": []}, {}
    _test(cell, "m under shuffle", Measured("m", False, []), [], (a, b), STATISTICS, out)
    assert cell["test"] == "paired_bootstrap" and cell["p"] > 0.05 and cell["mcnemar"]["p"] < 1e-5


def records(right):
    return {f"q{i}": {"prediction": 0 if r else 1, "answer": 0} for i, r in enumerate(right)}


def test_probe_test_resamples_videos_when_it_knows_them():
    a, b = clustered_micro()
    plain, probed = records(a.correct), records(b.correct)
    videos = {f"q{i}": f"v{i // 10}" for i in range(200)}
    alone = probe_test(plain, probed)  # no videos: McNemar, questions taken as independent
    assert alone["test"] == "mcnemar" and alone["p"] == alone["p_mcnemar"] < 1e-5
    by_video = probe_test(plain, probed, videos=videos)
    assert by_video["test"] == "paired_bootstrap" and by_video["p"] > 0.05 and by_video["p_mcnemar"] < 1e-5
    own = probe_test(plain, probed, videos={q: q for q in plain})  # one question per video
    assert own["test"] == "mcnemar" and own["p"] == own["p_mcnemar"]
    one = probe_test(plain, probed, videos=dict.fromkeys(plain, "v"))
    assert one["p"] is None and one["p_mcnemar"] < 1e-5
    printed = format_probe_table("val", {"shuffle": {**one, "coverage": None}, "reverse": {**by_video}})
    assert " n/a bootstrap" in printed and "bootstrap" in printed.splitlines()[0]
    with pytest.raises(EvaluationError, match=r"video of 1 question\(s\) is not known: 'q199'"):
        probe_test(plain, probed, videos={q: v for q, v in videos.items() if q != "q199"})
