"""The toy order metric: accuracy, and accuracy per word asked."""
from gf.common.registry import registry
from gf.evaluation.base import Evaluator
from gf.evaluation.core import Tally, base_report, check_complete, normalise_predictions, outcome

BENCHMARK = "toy_order"
WORDS = ("first", "last")


@registry.register_evaluator(BENCHMARK)
class ToyOrderEvaluator(Evaluator):
    macro_breakdown = "word"

    def question_categories(self, question_id, record, info):
        return {"word": [record["fields"]["word"]]}

    def evaluate(self, predictions, info, expected_ids=None):
        records = normalise_predictions(predictions, benchmark=BENCHMARK, num_classes=2, open_ended=False)
        check_complete(records, expected_ids, BENCHMARK)
        by_word = Tally(order=WORDS)
        outcomes = []
        for record in records.values():
            result = outcome(record)
            outcomes.append(result)
            by_word.add(record["fields"]["word"], result)
        report = base_report(BENCHMARK, outcomes)
        report["breakdowns"] = {"word": by_word.as_dict()}
        return report
