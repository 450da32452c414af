"""The synthetic benchmark's configuration: its knobs, its lexicon and what each generator
version fixes (the versions' story: docs/data_formats.md §5).

Why a module of its own: the config is what a generated folder is checked against
(``meta.json``), what the ``synthetic_star`` builder reads from YAML and what the
question sampler (:mod:`.questions`) follows; it must be importable without the
generator. Every choice that differs between versions 1 and 2 is a field of
:class:`VersionRules` (one entry per version in :data:`VERSION_RULES`), so the generator
has one code path and asks the rules, instead of ``if version >= 2`` branches.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from gf.common.errors import DatasetError
from gf.common.utils import check_known_keys

__all__ = ["GENERATOR_VERSIONS", "NUM_OPTIONS", "OBJECTS", "QUESTION_TYPES", "SPLITS", "VERBS", "VERSION_RULES",
           "SyntheticStarConfig", "VersionRules"]

QUESTION_TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")
SPLITS = ("train", "val", "test")
NUM_OPTIONS = 4

# Verbs that read naturally with every object below, so any (verb, object) pair is a
# plausible action and the text of an option never rules it out (Feasibility relies on it).
VERBS: Tuple[Tuple[str, str, str], ...] = (  # (base, past, gerund)
    ("take", "took", "taking"),
    ("put down", "put down", "putting down"),
    ("hold", "held", "holding"),
    ("throw", "threw", "throwing"),
    ("wash", "washed", "washing"),
    ("carry", "carried", "carrying"),
    ("look at", "looked at", "looking at"),
    ("drop", "dropped", "dropping"),
    ("clean", "cleaned", "cleaning"),
    ("move", "moved", "moving"),
)
OBJECTS: Tuple[str, ...] = (
    "cup", "book", "towel", "box", "pillow", "phone", "bag", "shoe", "blanket", "laptop",
)


@dataclass(frozen=True)
class VersionRules:
    """What one generator version fixes. ``grid``: the default ``(num_verbs, num_objects)``;
    ``min_events``: the smallest clip of each question type; ``stricter``: ``(field, least,
    why)`` minimums on top of the common checks; ``sequence_named_first``: Sequence draws
    the named event first and its neighbour is the answer (version 1), or draws the options
    first, the answer among them and the named event from the answer (version 2);
    ``sequence_options``: how README.md describes Sequence options."""

    grid: Tuple[int, int]
    min_events: Mapping[str, int]
    stricter: Tuple[Tuple[str, int, str], ...]
    sequence_named_first: bool
    sequence_options: str


# Smallest number of events a clip needs for each type (see the question builders).
_MIN_EVENTS = {"Interaction": 1, "Sequence": 5, "Prediction": 5, "Feasibility": 4}
#: The generator versions (``SyntheticStarConfig.version``) and what each fixes.
VERSION_RULES: Dict[int, VersionRules] = {
    1: VersionRules(grid=(5, 4), min_events=_MIN_EVENTS, stricter=(), sequence_named_first=True,
                    sequence_options="the clip's events"),
    # Version 2: a Sequence clip has more events than options + 1, so the options are a strict
    # subset of the events other than the named one; Feasibility's option sets vary.
    2: VersionRules(
        grid=(8, 6), min_events={**_MIN_EVENTS, "Sequence": 6}, sequence_named_first=False,
        stricter=(("max_events", 6, "a Sequence clip needs more events than the 4 options plus the named event"),
                  ("num_verbs", 6, "Feasibility's option verb must not be fixed by its 4 key verbs"),
                  ("num_objects", 5, "Feasibility's options must not always cover every object")),
        sequence_options=("a strict subset of the clip's events, drawn\n  among the possible answers; the "
                          "named event may be one of them")),
}
GENERATOR_VERSIONS = tuple(VERSION_RULES)


@dataclass(frozen=True)
class SyntheticStarConfig:
    """Every knob of the generator; the whole dict is stored in ``meta.json``. The fields,
    their defaults and meaning: docs/data_formats.md §5, "Generator settings".

    Why sizes are *questions per type*: the four types are then equally frequent by
    construction. Why the action classes are the full grid ``num_verbs x num_objects``: it
    keeps option texts free of cues. ``to_dict`` (hence ``meta.json``) leaves ``version``
    out when it is 1, so version-1 folders did not change when version 2 was added, and stay
    reusable.
    """

    seed: int = 0
    train_per_type: int = 750
    val_per_type: int = 150
    test_per_type: int = 150
    num_verbs: Optional[int] = None
    num_objects: Optional[int] = None
    feature_dim: int = 64
    min_events: int = 3
    max_events: int = 6
    min_event_frames: int = 3
    max_event_frames: int = 7
    min_gap_frames: int = 1
    max_gap_frames: int = 3
    max_edge_frames: int = 2
    noise_std: float = 0.5
    background_scale: float = 0.5
    unannotated_fraction: float = 0.0
    version: int = 1

    def __post_init__(self) -> None:
        version = self.version
        if isinstance(version, bool) or not isinstance(version, int) or version not in GENERATOR_VERSIONS:
            raise DatasetError(f"SyntheticStarConfig.version={version!r}: must be one of "
                               f"{', '.join(map(str, GENERATOR_VERSIONS))}")
        # None = the version's default grid (the dataclass is frozen, hence object.__setattr__).
        for name, default in zip(("num_verbs", "num_objects"), VERSION_RULES[version].grid):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        self.validate()

    # -- derived ---------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self.num_verbs * self.num_objects

    @property
    def max_clip_frames(self) -> int:
        return (self.max_events * self.max_event_frames
                + (self.max_events - 1) * self.max_gap_frames + 2 * self.max_edge_frames)

    def per_type(self, split: str) -> int:
        return {"train": self.train_per_type, "val": self.val_per_type,
                "test": self.test_per_type}[split]

    # -- checks ----------------------------------------------------------------------
    def validate(self) -> None:
        def fail(field: str, why: str) -> None:
            raise DatasetError(f"SyntheticStarConfig.{field}={getattr(self, field)!r}: {why}")

        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            want = float if f.type in ("float", float) else int
            if isinstance(value, bool) or not isinstance(value, (int, float) if want is float else int):
                fail(f.name, f"must be {'a number' if want is float else 'an integer'}")
        for name in ("train_per_type", "val_per_type", "test_per_type"):
            if getattr(self, name) < 1:
                fail(name, "every split needs at least one question per type")
        if not 5 <= self.num_verbs <= len(VERBS):
            fail("num_verbs", f"must be in 5..{len(VERBS)} (Feasibility needs 4 verbs for its "
                              f"key events plus one for its options; the lexicon has {len(VERBS)})")
        if not 4 <= self.num_objects <= len(OBJECTS):
            fail("num_objects", f"must be in 4..{len(OBJECTS)} (Feasibility needs 4 distinct "
                                f"objects in a clip; the lexicon has {len(OBJECTS)} objects)")
        if self.feature_dim < 2:
            fail("feature_dim", "must be at least 2")
        if self.min_events < 1:
            fail("min_events", "must be at least 1")
        if self.max_events < max(5, self.min_events):
            fail("max_events", "must be >= 5 (Sequence needs the anchor event plus 4 options, "
                               "Prediction 4 shown events plus the hidden next one) and >= min_events")
        for field, least, why in VERSION_RULES[self.version].stricter:
            if getattr(self, field) < least:
                fail(field, f"must be >= {least} with version {self.version} ({why})")
        if self.min_events > max(4, (self.num_verbs - 4) * self.num_objects):
            fail("min_events", f"Feasibility clips can hold at most "
                               f"{max(4, (self.num_verbs - 4) * self.num_objects)} events with "
                               f"{self.num_verbs} verbs x {self.num_objects} objects; lower it or add verbs")
        if self.max_events > self.num_classes - 3:
            fail("max_events", f"must leave at least 3 of the {self.num_classes} classes absent "
                               f"from a clip (Interaction distractors)")
        if not 1 <= self.min_event_frames <= self.max_event_frames:
            fail("min_event_frames", "need 1 <= min_event_frames <= max_event_frames")
        if not 0 <= self.min_gap_frames <= self.max_gap_frames:
            fail("min_gap_frames", "need 0 <= min_gap_frames <= max_gap_frames")
        if self.max_edge_frames < 0:
            fail("max_edge_frames", "must be >= 0")
        if self.noise_std < 0 or self.background_scale < 0:
            fail("noise_std" if self.noise_std < 0 else "background_scale", "must be >= 0")
        if not 0.0 <= self.unannotated_fraction <= 1.0:
            fail("unannotated_fraction", "must be in [0, 1]")

    # -- (de)serialisation -----------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Every field, resolved; ``version`` only when it is not 1 (see the class docstring)."""
        values = dataclasses.asdict(self)
        if values["version"] == 1:
            del values["version"]
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], owner: str = "SyntheticStarConfig") -> "SyntheticStarConfig":
        """``values`` as a config; an unknown key is a :class:`DatasetError` naming it, its
        closest known key and every known key (``owner`` says where the keys came from)."""
        check_known_keys(values, [f.name for f in dataclasses.fields(cls)], owner=owner, error=DatasetError)
        return cls(**dict(values))
