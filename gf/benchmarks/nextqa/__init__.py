"""NExT-QA: multiple choice, 5 options, causal / temporal / descriptive questions.

Official metric: accuracy with the CW/CH/TN/TC/DC/DL/DO groups and the C/T/D super-groups,
figure for figure as the official ``eval_mc.py`` (:mod:`.evaluator`). Data: the official
CSVs, converted by ``gf prepare nextqa`` (:mod:`.converter`); features are the user's.
No event annotations, so unsupervised memories only. Layout: docs/data_formats.md §4.
"""
from . import builder, converter, evaluator, models  # noqa: F401  (they register)
