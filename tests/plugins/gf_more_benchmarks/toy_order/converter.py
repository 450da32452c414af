"""``gf prepare toy_order``: the toy release (one JSON list, each question with its split) ->
one ``<split>.jsonl`` per split, the layout the builder reads."""
import json
from pathlib import Path

from gf.common.io import atomic_write_jsonl
from gf.common.registry import registry

from .evaluator import BENCHMARK


@registry.register_converter(BENCHMARK)
def convert(raw_dir, out_dir, release=None):
    """``release``: the release file, if not ``raw_dir/toy_order_release.json`` (a path
    option, read from the current folder when relative, as gf's converters read theirs)."""
    rows = json.loads(Path(release or Path(raw_dir) / "toy_order_release.json").read_text())
    counts = {}
    for split in sorted({r["split"] for r in rows}):
        kept = [{k: v for k, v in r.items() if k != "split"} for r in rows if r["split"] == split]
        atomic_write_jsonl(Path(out_dir) / f"{split}.jsonl", kept)
        counts[split] = len(kept)
    return {"questions": counts}
