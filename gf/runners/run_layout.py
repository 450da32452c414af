"""The names a run and a seed sweep leave in their output folders.

Why a module of its own: the single-run path (:mod:`gf.runners.build`) and the seed sweep
(:mod:`gf.runners.seeds`) each refuse a folder that holds the other's layout, so both read
these names, and neither imports the other for them.
"""
#: What a run leaves in its output folder; their presence means "a run is here".
RUN_FILES = ("checkpoint_last.pth", "checkpoint_best.pth", "log.jsonl", "config.yaml", "eval", "tb")
#: Those of RUN_FILES that are folders; the others must be files.
RUN_FOLDERS = ("eval", "tb")
#: The seed sweep's summary, beside its ``seed<N>/`` folders.
SUMMARY_JSON = "seeds_summary.json"
SUMMARY_MD = "seeds_summary.md"
