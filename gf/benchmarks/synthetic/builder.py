"""The offline demo benchmark, served through the real STAR code path.

On first use the synthetic benchmark (:mod:`.generate`) is generated into
``<data_root>/<dataset_dir>`` in the authors' STAR layout; from then on this is the
``star`` builder reading those files. Its test split carries answers (it is ours), so the
demo ends with a scored per-type table.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Optional, Sequence

from gf.benchmarks.star.builder import StarBuilder
from gf.benchmarks.synthetic.config import SyntheticStarConfig
from gf.benchmarks.synthetic.generate import ensure_synthetic_star
from gf.common.registry import registry


@registry.register_builder("synthetic_star")
class SyntheticStarBuilder(StarBuilder):
    """``star`` plus ``generator`` (the :class:`SyntheticStarConfig` fields) and ``frame_probe``:
    docs/data_formats.md §5. ``num_verbs``/``num_objects`` default to ``None``, the version's
    grid, so ``generator.version=2`` alone gives a sound version-2 benchmark."""

    DEFAULT_CONFIG: Dict[str, Any] = {
        **StarBuilder.DEFAULT_CONFIG,
        "dataset_dir": "SYNTHETIC_STAR",
        "grounding": "txt_db/grounding.json",  # written by the generator (format 2)
        "unlabelled_splits": [],
        "frame_probe": None,  # null | shuffle | zeros: the demo's probes (gf.datasets.videoqa.FRAME_PROBES)
        "max_feats": 64,
        "generator": {f.name: f.default for f in dataclasses.fields(SyntheticStarConfig)},
    }

    def __init__(self, cfg: Optional[Mapping[str, Any]] = None):
        super().__init__(cfg)
        # from_dict, not the constructor: a typo'd generator key (merged in unchecked, since
        # dict-valued defaults accept new keys) is then an error naming it and listing the
        # known keys, not a bare TypeError about an unexpected keyword argument.
        self.generator_config = SyntheticStarConfig.from_dict(self.config["generator"],
                                                              owner=f"{self.config_prefix}.generator")
        self._generated = False

    def _ensure(self) -> None:
        """Generate (or check) the folder once per builder, before anything reads it."""
        if not self._generated:
            ensure_synthetic_star(self.dataset_dir, self.generator_config)
            self._generated = True

    def build_datasets(self, splits: Optional[Sequence[str]] = None, **kwargs):
        self._ensure()
        return super().build_datasets(splits, **kwargs)

    def split_fingerprint(self, split: str, **kwargs) -> str:
        self._ensure()
        return super().split_fingerprint(split, **kwargs)

    def info(self, **kwargs) -> Dict[str, Any]:
        self._ensure()
        return super().info(**kwargs)
