"""What a benchmark's evaluator is: scoring, plus what the benchmark wants written after.

An evaluator is registered under the benchmark's name (``@registry.register_evaluator``),
the name a builder declares as its ``benchmark`` and a predictions file carries, so a
plugin benchmark brings its own scoring and every command uses it.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from gf.common.errors import ConfigError, EvaluationError

__all__ = ["PLAIN_NAME", "PROBE_TAG", "Evaluator", "answer_vocab_size", "output_file"]

#: A split or tag that may be part of an output file name: no separator, no leading '.'.
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*")

#: The file tag of a probed evaluation, ``<tag>_probe-<name>-s<seed>``
#: (:func:`gf.probes.evaluate.probe_tag`). Here, not in gf.probes (which imports torch), so
#: that ``gf evaluate --tag`` can refuse it when parsing: no other evaluation may write
#: under a probe's file names.
PROBE_TAG = re.compile(r"(?P<tag>.+)_probe-(?P<probe>.+)-s(?P<seed>[0-9]+)")


def output_file(output_dir: Any, split: str, tag: str, kind: str) -> Path:
    """``<output_dir>/<split>_<tag>_<kind>``, refusing a split or tag that is not a plain
    name (a ``/``, ``..`` or an absolute path would put the file outside ``output_dir``)."""
    for key, value in (("split", split), ("tag", tag)):
        if not isinstance(value, str) or not PLAIN_NAME.fullmatch(value):
            raise ConfigError(f"{key} {value!r} cannot be part of an output file name: use letters, digits and "
                              f"'_', '.', '-', '+', '=' (starting with a letter, digit or '_'), so that the "
                              f"file stays in {output_dir}.")
    return Path(output_dir) / f"{split}_{tag}_{kind}"


def answer_vocab_size(info: Mapping[str, Any]) -> Optional[int]:
    """The number of answers an open-ended prediction may index, when ``info`` knows it."""
    if info.get("answer_vocab_size") is not None:
        return int(info["answer_vocab_size"])
    vocab = info.get("answer_vocab")
    return len(vocab) if vocab is not None else None


class Evaluator:
    """Scores one benchmark's predictions.

    ``predictions`` maps question ids to ``{"prediction", "answer", "fields"}`` records;
    ``info`` is what the dataset's builder says about it (``answer_vocab``,
    ``all_reasoning_types``, ...), or what a predictions file carries; ``expected_ids``,
    when given, are the split's question ids, every one of which must be predicted.

    The leaderboard's intervals and paired tests need the breakdown cells each question
    counts in (:meth:`question_categories`). Without it, only the official score gets an
    interval, and only when that score is plain accuracy.
    """

    #: What the official score is called in tables ("Mean" on STAR's leaderboard).
    score_label: str = "Overall"
    #: The breakdown whose cells' unweighted mean is the official score (STAR: "type", and
    #: the report's ``mean_over`` says which cells); ``None``: the official score is the
    #: micro accuracy over questions (``overall``).
    macro_breakdown: Optional[str] = None
    #: The report's accuracies a run may pick ``checkpoint_best`` by (``run.best_metric``),
    #: checked against the config before training starts; ``None`` (undeclared): checked
    #: against the first report instead. Every report has ``overall``.
    metrics: Optional[Tuple[str, ...]] = None

    def question_categories(self, question_id: str, record: Mapping[str, Any],
                            info: Mapping[str, Any]) -> Mapping[str, Sequence[str]]:
        """The cells of each breakdown that this (validated) record counts in, in the
        report's terms: ``{"type": ["Interaction"]}``. Must agree with :meth:`evaluate`;
        ``tests/test_evaluator_categories.py`` checks that for every registered evaluator."""
        raise NotImplementedError

    def column_label(self, breakdown: str, category: str) -> str:
        """A breakdown cell's column title in tables (the benchmark's own name for it)."""
        return category

    def evaluate(self, predictions: Mapping[str, Mapping[str, Any]], info: Mapping[str, Any],
                 expected_ids: Optional[Iterable[Any]] = None) -> Dict[str, Any]:
        raise NotImplementedError

    def read_results_file(self, path: Path) -> Dict[str, Dict[str, Any]]:
        """Predictions in the benchmark's own results format (not gf's), as ``{question id:
        {"prediction", "answer"}}``; categories then come from the split. Reading that
        format is the evaluator's job, since the format is the benchmark's; a benchmark
        without one refuses any file that is not gf's."""
        raise EvaluationError(f"{path} is not a gf predictions file (format gf-predictions), and {type(self).__name__} "
                              f"reads no results format of its own")

    def after_evaluation(self, predictions: Mapping[str, Mapping[str, Any]], *, split: str, output_dir: Path,
                         tag: str) -> List[Path]:
        """Files the benchmark wants beside the report (e.g. a test-server submission)."""
        return []
