"""AGQA 2.0 balanced: open-ended questions (171 answers) on Charades videos.

Official metric: accuracy, with the AGQA paper's reasoning / semantic / structural /
answer-type breakdowns (:mod:`.evaluator`). Data: the official ``*_balanced.txt`` files,
converted by ``gf prepare agqa`` (:mod:`.converter`: answer vocabulary from train, a val
split carved from train, events from the Charades action annotations), and the authors'
512-d features. Layout: docs/data_formats.md §2.
"""
from . import builder, converter, evaluator, models  # noqa: F401  (they register)
