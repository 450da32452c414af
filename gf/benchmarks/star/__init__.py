"""STAR (Situated Reasoning in Real-World Videos): multiple choice, 4 options, four question
types (Interaction, Sequence, Prediction, Feasibility) on Charades videos.

Official metric: the *unweighted* mean of the four per-type accuracies ("Mean" on the
leaderboard; :mod:`.evaluator`, which also writes the EvalAI submission). Data: the
Glance-Focus authors' bundle (``gf download data:star``: ``txt_db/`` and S3D features), or
STAR's own release plus the Charades annotations through ``gf prepare star``
(:mod:`.converter`). Layout and B codes: docs/data_formats.md §1.
"""
from . import builder, converter, evaluator, models  # noqa: F401  (they register)
