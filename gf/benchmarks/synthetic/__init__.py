"""The synthetic demo benchmark: multi-event VideoQA in STAR's layout, generated offline.

Four STAR question types built so that only the events and their order answer them
(:mod:`.generate`, versions 1 and 2: :mod:`.config` holds what each fixes, :mod:`.questions`
the question sampler); the ``synthetic_star`` builder (:mod:`.builder`)
generates it into ``<data_root>/SYNTHETIC_STAR`` on first use and reads it through the
``star`` builder. Official metric: STAR's (the ``star`` evaluator; the test split carries
answers, so the demo ends with a scored per-type table). :mod:`.pixels` renders the clips
as small videos (``gf demo-data``) so the demo can start from pixels; :mod:`.models`
holds the demo's model types. Layout: docs/data_formats.md §5.
"""
from . import builder, models  # noqa: F401  (they register)
