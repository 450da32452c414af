"""EgoTaskQA: open-ended questions on egocentric task videos, direct and indirect splits.

Official metric: accuracy per reasoning-type token, open / binary / all, as the official
``ReasongingTypeAccCalculator`` (:mod:`.evaluator`). Data: the official QA files and
answer set plus the Glance-Focus authors' hand-object-interaction event files, converted by
``gf prepare egotaskqa`` (:mod:`.converter`), and the HCRN appearance (and motion)
features. Layout: docs/data_formats.md §3.
"""
from . import builder, converter, evaluator, models  # noqa: F401  (they register)
