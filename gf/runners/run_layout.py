"""The names a run and a seed sweep leave in their output folders.

Why a module of its own: the single-run path (:mod:`gf.runners.build`) and the seed sweep
(:mod:`gf.runners.seeds`) each refuse a folder that holds the other's layout, so both read
these names, and neither imports the other for them.
"""
import re
from typing import Optional

#: What a run leaves in its output folder; their presence means "a run is here".
RUN_FILES = ("checkpoint_last.pth", "checkpoint_best.pth", "log.jsonl", "config.yaml", "eval", "tb")
#: Those of RUN_FILES that are folders; the others must be files.
RUN_FOLDERS = ("eval", "tb")
#: The seed sweep's summary, beside its ``seed<N>/`` folders.
SUMMARY_JSON = "seeds_summary.json"
SUMMARY_MD = "seeds_summary.md"
#: A seed's folder in a sweep: ``seed<N>`` (gf writes N without leading zeros).
SEED_FOLDER = re.compile(r"seed\d+")
#: The tags a training run gives its own reports: ``epoch<N>`` (each evaluation during
#: training), ``best`` and ``last`` (the test splits, with checkpoint_best / checkpoint_last).
RUN_TAGS = re.compile(r"epoch\d+|best|last")


def seed_of_folder(name: str) -> Optional[int]:
    """N of a folder named ``seed<N>`` as gf writes it; None for any other name, ``seed01``
    included (it is no seed's folder: read as 1 it would stand beside, or for, ``seed1``)."""
    if not SEED_FOLDER.fullmatch(name) or name != f"seed{int(name[4:])}":
        return None
    return int(name[4:])
