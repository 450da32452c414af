"""The synthetic demo benchmark: multi-event VideoQA in STAR's layout, generated offline.

Four STAR question types built so that only the events and their order answer them; the
``synthetic_star`` builder (:mod:`.builder`) generates it on first use and reads it
through the ``star`` builder, and STAR's evaluator scores it. The benchmark:
docs/data_formats.md §5; what each module here holds: README.md, "How gf is built".
"""
from . import builder, models  # noqa: F401  (they register)
