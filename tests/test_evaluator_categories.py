"""Every registered evaluator says per question which breakdown cells it counts in, and that
agrees with its report: the leaderboard's intervals and paired tests rest on it."""
import random

import numpy as np
import pytest

from gf.benchmarks.agqa.evaluator import ANSWER_TYPES, REASONING_TYPES, SEMANTIC_TYPES, STRUCTURAL_TYPES
from gf.benchmarks.nextqa.evaluator import MERGED_TYPES, GROUPS
from gf.benchmarks.star.evaluator import STAR_TYPES
from gf.common.registry import registry
from gf.evaluation import get_evaluator
from gf.evaluation.core import outcome


def star_records(rng):
    return {f"{rng.choice(STAR_TYPES)}_T1_{i}": {"prediction": rng.randrange(4), "answer": rng.randrange(4),
                                                 "fields": {}} for i in range(200)}


def nextqa_records(rng):
    types = list(GROUPS) + list(MERGED_TYPES)
    return {f"{1000 + i // 3}_{i % 3}": {"prediction": rng.randrange(5), "answer": rng.randrange(5),
                                         "fields": {"type": rng.choice(types)}} for i in range(200)}


def agqa_records(rng):
    out = {}
    for i in range(200):
        reasoning = rng.sample(REASONING_TYPES, rng.randint(1, 3))
        answer = rng.choice([-1, *range(6)])
        out[f"q{i}"] = {"prediction": rng.randrange(6), "answer": answer,
                        "fields": {"global": reasoning, "semantic": rng.choice(SEMANTIC_TYPES),
                                   "structural": rng.choice(STRUCTURAL_TYPES), "ans_type": rng.choice(ANSWER_TYPES)}}
    return out


def egotaskqa_records(rng):
    out = {}
    for i in range(200):
        tokens = rng.sample(["world", "intent", "multi-agent", "descriptive", "predictive", "counterfactual"], 2)
        tokens.append(rng.choice(["query", "verify", "other"]))
        out[f"q{i}"] = {"prediction": rng.randrange(6), "answer": rng.randrange(6),
                        "fields": {"reasoning_type": "$".join(tokens)}}
    return out


SAMPLES = {"star": star_records, "nextqa": nextqa_records, "agqa": agqa_records, "egotaskqa": egotaskqa_records}
INFO = {"agqa": {"answer_vocab_size": 6}, "egotaskqa": {"answer_vocab_size": 6}}


def test_every_built_in_evaluator_has_samples_here():
    built_in = [n for n in registry.list("evaluator") if get_evaluator(n).__module__.startswith("gf.")]
    assert sorted(built_in) == sorted(SAMPLES)


@pytest.mark.parametrize("benchmark", sorted(SAMPLES))
def test_question_categories_reproduce_every_cell_of_the_report(benchmark):
    rng = random.Random(0)
    records = SAMPLES[benchmark](rng)
    evaluator = get_evaluator(benchmark)
    info = INFO.get(benchmark, {})
    report = evaluator.evaluate(records, info)
    tally = {}
    for qid, record in records.items():
        result = outcome(record)
        for breakdown, categories in evaluator.question_categories(qid, record, info).items():
            for category in categories:
                cell = tally.setdefault((breakdown, category), [0, 0])
                if result is not None:
                    cell[0] += int(result)
                    cell[1] += 1
    expected = {(b, c): [cell["correct"], cell["total"]] for b, cells in report["breakdowns"].items()
                for c, cell in cells.items() if cell["total"] or cell["unlabelled"]}
    assert tally == expected
    assert evaluator.metrics and all(isinstance(report[m], float) for m in evaluator.metrics)  # run.best_metric's
    assert report["primary_metric"] in evaluator.metrics
    if evaluator.macro_breakdown:
        cells = report["breakdowns"][evaluator.macro_breakdown]
        mean = np.mean([cells[c]["correct"] * 100.0 / cells[c]["total"] for c in report["mean_over"]])
        assert report[report["primary_metric"]] == pytest.approx(mean)


def test_nextqa_columns_carry_the_official_names():
    evaluator = get_evaluator("nextqa")
    assert [evaluator.column_label("type", g) for g in ("CW", "TN")] == ["Why", "Bef&Aft"]
    assert evaluator.score_label == "Acc" and get_evaluator("star").score_label == "Mean"
