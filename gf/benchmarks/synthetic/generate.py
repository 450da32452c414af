"""A synthetic multi-event VideoQA benchmark in the authors' STAR layout, for the offline demo.

Why it exists: the demo must show, on CPU and offline, whether a model reasons about
*multiple events and their order* -- and expose a model that does not. So the benchmark is
written exactly like the authors' STAR bundle (``txt_db/*.jsonl``, ``events.json``, class
files, ``vis_db/s3d.pth``) and goes through the real STAR builder, and its questions are
built so that no cheap cue gives the answer away:

* the four STAR question types are equally frequent in every split and, within a split
  and type, the correct option sits at each of the 4 positions equally often;
* every option is a real action name, answers are spread uniformly over the classes;
* Sequence options are all events of the clip (only temporal order separates them);
  Prediction options are all *absent* from the clip (the next action follows a fixed
  "routine" table from the last shown action, and each distractor is the routine
  follow-up of another shown action), so "the only absent option" is never a cue and a
  model that sees the frames shuffled is at chance on both;
* Feasibility options apply one verb to four objects that each appear in the clip through
  an event with a verb unique in the clip; all options are absent from the clip, so only
  the question's verb (which event?) and that event's object decide.

Versions (``SyntheticStarConfig.version``; 1 is the default and writes exactly what it
always wrote). An audit (``tests/test_synthetic_audit.py``) found two shortcuts in version 1:

* Sequence by elimination: the options are the clip's events other than the named one
  and the answer, so in a 5-event clip the named event is the one event missing from the
  options, and "the option next to the missing event" answers without the question.
* Feasibility is degenerate with 5 verbs x 4 objects: every clip holds exactly its 4 key
  events and, for a given option verb, the options are always the same 4 classes.

Version 2 changes only these: Sequence clips hold at least 6 events; the 4 options are
drawn uniformly from the events that could be an answer for the direction asked (all but
the first for "after", all but the last for "before"), the answer uniformly among them,
and the named event is the answer's neighbour -- so the named event is among the
distractors whenever it is a possible answer that was drawn, and which option is right is
independent of anything but the question. The class grid defaults to 8 verbs x 6 objects,
so Feasibility clips get 0-2 extra events and varied option sets (version 2 requires at
least 6 verbs and 5 objects).

Time frame: one feature row per second (like S3D), so event ``[class, s, e]`` covers rows
``s .. e-1`` of the clip and ``duration == T``. Each question has its own clip (keyed by
``question_id``, as in STAR); ``video_id`` is ``syn<number>``.

Generation is deterministic for a config and writes into a temporary sibling folder that
is renamed into place at the end, so an interrupted run never leaves a folder that
:func:`ensure_synthetic_star` would later trust.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from gf.common.errors import DataFileError, DatasetError
from gf.common.io import atomic_write_jsonl, current_umask, load_json
from gf.common.utils import PathLike, check_known_keys

__all__ = [
    "FORMAT_VERSION",
    "QUESTION_TYPES",
    "SPLITS",
    "GENERATOR_VERSIONS",
    "SyntheticStarConfig",
    "SyntheticBenchmarkError",
    "ActionVocabulary",
    "generate_synthetic_star",
    "ensure_synthetic_star",
]

#: Bumped whenever the same config would produce different files. 2: ``txt_db/grounding.json``
#: added (every other file as in format 1).
FORMAT_VERSION = 2
#: Generator versions (``SyntheticStarConfig.version``) and each one's class grid default.
GENERATOR_VERSIONS = (1, 2)
_GRID_DEFAULTS = {1: (5, 4), 2: (8, 6)}  # (num_verbs, num_objects)
#: Written into ``meta.json`` and README.md (this module's former path, kept so folders stay byte-identical).
GENERATOR_NAME = "gf.datasets.synthetic"
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

# Smallest number of events a clip needs for each type (see the question builders).
_MIN_EVENTS = {"Interaction": 1, "Sequence": 5, "Prediction": 5, "Feasibility": 4}
# Version 2: a Sequence clip has more events than options + 1, so the options are a strict
# subset of the events other than the named one.
_MIN_EVENTS_V2 = {**_MIN_EVENTS, "Sequence": 6}
_MAX_ATTEMPTS = 2000


class SyntheticBenchmarkError(DataFileError):
    """An existing synthetic benchmark folder cannot be reused; the message says what to do."""


# ---------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyntheticStarConfig:
    """Every knob of the generator; the whole dict is stored in ``meta.json``.

    Sizes are *questions per type* so the four types are equally frequent by construction.
    The action classes are the full grid ``num_verbs x num_objects`` (default 5 x 4 = 20
    classes in version 1, 8 x 6 = 48 in version 2): a full grid keeps option texts free of
    cues (every verb is possible with every object), and Feasibility needs at least 5 verbs
    and 4 objects (version 2: 6 and 5, so that its option sets vary).

    Fields:
      seed                  everything (prototypes, routine table, clips, questions) follows from it
      train/val/test_per_type  questions of each type in each split (4 types per split)
      num_verbs, num_objects   the class grid; verbs/objects come from a fixed readable lexicon
      feature_dim           width of a feature row (the demo model reads 64)
      min_events, max_events   events per clip (each type also needs a minimum: Sequence 5,
                            Prediction 4 shown + 1 hidden, Feasibility 4)
      min/max_event_frames  length of an event, in rows (= seconds)
      min/max_gap_frames    background rows between two events
      max_edge_frames       background rows before the first and after the last event (0..max)
      noise_std             std of the Gaussian noise added to every row; prototypes have unit
                            RMS per dimension and are orthogonal when ``num_classes + 1 <= feature_dim``
      background_scale      background rows are this times a separate background prototype
      unannotated_fraction  share of each split whose ``events.json`` entry has no actions (the
                            frames still show the events), to exercise the no-event path
      version               the generator version (see the module docstring): 1 (default, the
                            benchmark the demo figures were measured on) or 2 (no Sequence
                            elimination shortcut, varied Feasibility). ``num_verbs`` and
                            ``num_objects`` left at ``None`` take the version's grid default.
                            ``to_dict`` (hence ``meta.json``) leaves ``version`` out when it is 1,
                            so version-1 folders are byte-identical to those written before
                            version 2 existed, and stay reusable.

    Defaults: 3000 / 600 / 600 questions, clips of at most ``max_clip_frames`` = 61 rows
    (under the demo model's ``max_feats`` of 64, so sampling drops no frame).
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
        for name, default in zip(("num_verbs", "num_objects"), _GRID_DEFAULTS[version]):
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
        if self.version >= 2:
            if self.max_events < 6:
                fail("max_events", "must be >= 6 with version 2 (a Sequence clip needs more events "
                                   "than the 4 options plus the named event)")
            if self.num_verbs < 6:
                fail("num_verbs", "must be >= 6 with version 2 (Feasibility's option verb must not "
                                  "be fixed by its 4 key verbs)")
            if self.num_objects < 5:
                fail("num_objects", "must be >= 5 with version 2 (Feasibility's options must not "
                                    "always cover every object)")
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


# ---------------------------------------------------------------------------------------
# the action vocabulary
# ---------------------------------------------------------------------------------------
class ActionVocabulary:
    """Class ``k`` is verb ``k % V`` applied to object ``k // V`` (full grid)."""

    def __init__(self, num_verbs: int, num_objects: int):
        self.num_verbs = num_verbs
        self.num_objects = num_objects
        self.size = num_verbs * num_objects

    def verb(self, cls: int) -> int:
        return int(cls) % self.num_verbs

    def obj(self, cls: int) -> int:
        return int(cls) // self.num_verbs

    def cls(self, verb: int, obj: int) -> int:
        return int(obj) * self.num_verbs + int(verb)

    def name(self, cls: int) -> str:
        return f"{VERBS[self.verb(cls)][0]} the {OBJECTS[self.obj(cls)]}"

    def gerund(self, cls: int) -> str:
        return f"{VERBS[self.verb(cls)][2]} the {OBJECTS[self.obj(cls)]}"


def _class_files(vocab: ActionVocabulary) -> Dict[str, str]:
    """STAR's class files: ``<id> <rest>`` per line and, like the real files, no final newline."""
    return {
        "action_classes.txt": "\n".join(f"a{k:03d} {vocab.name(k)}" for k in range(vocab.size)),
        "action_mapping.txt": "\n".join(f"a{k:03d} v{vocab.verb(k):03d} o{vocab.obj(k):03d}"
                                        for k in range(vocab.size)),
        "verb_classes.txt": "\n".join(f"v{v:03d} {VERBS[v][0]}" for v in range(vocab.num_verbs)),
        "object_classes.txt": "\n".join(f"o{o:03d} {OBJECTS[o]}" for o in range(vocab.num_objects)),
    }


# ---------------------------------------------------------------------------------------
# questions
# ---------------------------------------------------------------------------------------
@dataclass
class _Draft:
    """One question before its options are placed: the clip's events in order, the answer."""

    template: int
    question: str
    events: List[int]          # classes shown in the clip, in temporal order
    answer: int                # class of the correct option
    distractors: List[int]     # classes of the 3 wrong options
    # Grounding (``txt_db/grounding.json``): positions in ``events`` of the event the
    # question names, and of the event that is the answer, where there is one. Derived from
    # what was drawn, never drawn itself, so the benchmark's content does not depend on it.
    named_event: Optional[int] = None
    answer_event: Optional[int] = None


class _QuestionMaker:
    """Samples clips and questions of each type; every draw comes from the given rng."""

    def __init__(self, cfg: SyntheticStarConfig, vocab: ActionVocabulary, routine: np.ndarray):
        self.cfg = cfg
        self.vocab = vocab
        self.routine = routine  # routine[c] = the action that always follows c (Prediction)

    def _num_events(self, rng: np.random.Generator, qtype: str) -> int:
        minimum = (_MIN_EVENTS_V2 if self.cfg.version >= 2 else _MIN_EVENTS)[qtype]
        low = max(self.cfg.min_events, minimum)
        return int(rng.integers(low, self.cfg.max_events + 1))

    def _clip(self, rng: np.random.Generator, n: int) -> List[int]:
        return [int(c) for c in rng.choice(self.vocab.size, size=n, replace=False)]

    def make(self, rng: np.random.Generator, qtype: str, template: int) -> _Draft:
        build = getattr(self, f"_{qtype.lower()}")
        if self.cfg.version >= 2 and hasattr(self, f"_{qtype.lower()}_v2"):
            build = getattr(self, f"_{qtype.lower()}_v2")
        for _ in range(_MAX_ATTEMPTS):
            draft = build(rng, template)
            if draft is not None:
                return draft
        raise DatasetError(f"synthetic generator: could not sample a valid {qtype} question in "
                           f"{_MAX_ATTEMPTS} tries; the config leaves too few classes "
                           f"(raise num_verbs/num_objects or lower max_events)")

    # Interaction: presence. T1 "which action", T2 "what ... with the <object>".
    def _interaction(self, rng, template) -> Optional[_Draft]:
        events = self._clip(rng, self._num_events(rng, "Interaction"))
        if template == 1:
            answer = events[int(rng.integers(len(events)))]
            absent = [c for c in range(self.vocab.size) if c not in events]
            distractors = [int(c) for c in rng.choice(absent, size=3, replace=False)]
            return _Draft(1, "Which action did the person perform?", events, answer, distractors,
                          answer_event=events.index(answer))
        objects = [self.vocab.obj(c) for c in events]
        # The object must name exactly one event, so the question has one answer; the
        # distractors are the same object with other verbs, hence absent from the clip.
        candidates = [c for c in events if objects.count(self.vocab.obj(c)) == 1]
        if not candidates:
            return None
        answer = candidates[int(rng.integers(len(candidates)))]
        obj = self.vocab.obj(answer)
        others = [self.vocab.cls(v, obj) for v in range(self.vocab.num_verbs) if v != self.vocab.verb(answer)]
        distractors = [int(c) for c in rng.choice(others, size=3, replace=False)]
        return _Draft(2, f"What did the person do with the {OBJECTS[obj]}?", events, answer, distractors,
                      named_event=events.index(answer), answer_event=events.index(answer))

    # Sequence: T1 right after / T2 right before the anchor; options are the clip's other events.
    def _sequence(self, rng, template) -> Optional[_Draft]:
        events = self._clip(rng, self._num_events(rng, "Sequence"))
        n = len(events)
        if template == 1:
            i = int(rng.integers(0, n - 1))
            answer, word = events[i + 1], "after"
        else:
            i = int(rng.integers(1, n))
            answer, word = events[i - 1], "before"
        anchor = events[i]
        others = [c for c in events if c not in (anchor, answer)]
        distractors = [int(c) for c in rng.choice(others, size=3, replace=False)]
        question = f"What did the person do right {word} {self.vocab.gerund(anchor)}?"
        return _Draft(template, question, events, answer, distractors,
                      named_event=i, answer_event=events.index(answer))

    # Sequence, version 2: options first, then the answer among them, then the named event.
    def _sequence_v2(self, rng, template) -> Optional[_Draft]:
        """The named event is *derived from* the answer, not the options from the named event.

        With ``after`` the possible answers are the events at positions 1..n-1 (``before``:
        0..n-2). The 4 options are drawn uniformly among them, the answer uniformly among the
        options, and the named event is the answer's predecessor (successor). So, given the
        clip, its order, the direction and the options, every option is equally likely to be
        the answer: only the named event decides. The named event is a distractor whenever it
        is itself among the drawn options (not an answer, since it cannot follow itself), and
        with n >= 6 events the options never cover all events but the named one.
        """
        events = self._clip(rng, self._num_events(rng, "Sequence"))
        n = len(events)
        after = template == 1
        valid = list(range(1, n)) if after else list(range(0, n - 1))
        chosen = [int(i) for i in rng.choice(valid, size=NUM_OPTIONS, replace=False)]
        j = chosen[int(rng.integers(NUM_OPTIONS))]
        anchor = events[j - 1] if after else events[j + 1]
        distractors = [events[i] for i in chosen if i != j]
        word = "after" if after else "before"
        question = f"What did the person do right {word} {self.vocab.gerund(anchor)}?"
        return _Draft(template, question, events, events[j], distractors,
                      named_event=j - 1 if after else j + 1, answer_event=j)

    # Prediction: the clip stops before the next action, which is routine[last shown action].
    def _prediction(self, rng, template) -> Optional[_Draft]:
        events = self._clip(rng, self._num_events(rng, "Prediction") - 1)  # the last one is hidden
        earlier = [int(k) for k in rng.choice(len(events) - 1, size=3, replace=False)]
        sources = [events[-1]] + [events[k] for k in earlier]
        options = [int(self.routine[c]) for c in sources]
        # Every option must be absent from the clip: otherwise "the absent option" or
        # "a shown option" would be a cue that needs no order.
        if any(o in events for o in options):
            return None
        return _Draft(1, "What will the person do next?", events, options[0], options[1:])

    # Feasibility: what else could be done with the object of the event with a given verb.
    def _feasibility(self, rng, template) -> Optional[_Draft]:
        """Built directly, not by rejection, so that every option looks alike without the question.

        Four "key" events with four distinct objects and four distinct verbs; the question
        names one key verb. All four options apply one further verb ``w`` to the four key
        objects, so: every option's object is in the clip, through an event whose verb is
        unique in the clip; every option is absent from the clip; the options' verbs say
        nothing about which key verb was asked. Only matching the question's verb to an
        event, and that event's object to an option, finds the answer.
        """
        vocab = self.vocab
        objects = [int(o) for o in rng.choice(vocab.num_objects, size=4, replace=False)]
        key_verbs = [int(v) for v in rng.choice(vocab.num_verbs, size=4, replace=False)]
        free = [v for v in range(vocab.num_verbs) if v not in key_verbs]
        w = int(free[int(rng.integers(len(free)))])
        keys = [vocab.cls(v, o) for v, o in zip(key_verbs, objects)]
        # Extra events must keep the key verbs unique and the options absent.
        pool = [c for c in range(vocab.size)
                if vocab.verb(c) not in key_verbs and not (vocab.verb(c) == w and vocab.obj(c) in objects)]
        n_extra = min(self._num_events(rng, "Feasibility") - 4, len(pool))
        extras = [int(c) for c in rng.choice(pool, size=n_extra, replace=False)] if n_extra else []
        events = [int(c) for c in rng.permutation(keys + extras)]
        k = int(rng.integers(4))
        options = [vocab.cls(w, o) for o in objects]
        question = f"Which other action could the person do with the object they {VERBS[key_verbs[k]][1]}?"
        return _Draft(1, question, events, options[k], options[:k] + options[k + 1:],
                      named_event=events.index(keys[k]))


# ---------------------------------------------------------------------------------------
# clips: layout in time and features
# ---------------------------------------------------------------------------------------
def _layout(rng: np.random.Generator, cfg: SyntheticStarConfig, n_events: int) -> Tuple[int, List[Tuple[int, int]]]:
    """Frame spans ``[start, end)`` of ``n_events`` events separated by background gaps."""
    t = int(rng.integers(0, cfg.max_edge_frames + 1))
    spans = []
    for k in range(n_events):
        if k:
            t += int(rng.integers(cfg.min_gap_frames, cfg.max_gap_frames + 1))
        length = int(rng.integers(cfg.min_event_frames, cfg.max_event_frames + 1))
        spans.append((t, t + length))
        t += length
    t += int(rng.integers(0, cfg.max_edge_frames + 1))
    return t, spans


def _prototypes(rng: np.random.Generator, cfg: SyntheticStarConfig) -> np.ndarray:
    """``[num_classes + 1, D]`` rows with unit RMS per dimension; the last row is background.

    Orthogonal rows (when they fit) keep classes equally far apart, so the benchmark's
    difficulty lies in the reasoning, not in telling similar classes apart.
    """
    k, d = cfg.num_classes + 1, cfg.feature_dim
    raw = rng.standard_normal((d, k))
    if k <= d:
        q, _ = np.linalg.qr(raw)
        rows = q.T
    else:
        rows = raw.T
    rows = rows / np.linalg.norm(rows, axis=1, keepdims=True) * np.sqrt(d)
    return rows.astype(np.float32)


def _render(rng: np.random.Generator, cfg: SyntheticStarConfig, table: np.ndarray,
            events: Sequence[int], num_frames: int, spans: Sequence[Tuple[int, int]]) -> np.ndarray:
    background = table.shape[0] - 1
    index = np.full(num_frames, background, dtype=np.int64)
    for cls, (s, e) in zip(events, spans):
        index[s:e] = cls
    frames = table[index].copy()
    frames[index == background] *= cfg.background_scale
    frames += cfg.noise_std * rng.standard_normal(frames.shape).astype(np.float32)
    return frames.astype(np.float32)


def _balanced(rng: np.random.Generator, values: Sequence[int], n: int) -> List[int]:
    """``n`` values cycling through ``values`` in a random order: counts differ by at most 1."""
    reps = -(-n // len(values))
    out = np.tile(np.asarray(values), reps)[:n]
    rng.shuffle(out)
    return [int(v) for v in out]


_TEMPLATES = {"Interaction": (1, 2), "Sequence": (1, 2), "Prediction": (1,), "Feasibility": (1,)}


def _routine_table(rng: np.random.Generator, num_classes: int) -> np.ndarray:
    """A random permutation without fixed points: the action that always follows each action."""
    while True:
        perm = rng.permutation(num_classes)
        if not np.any(perm == np.arange(num_classes)):
            return perm


@dataclass
class _Built:
    records: Dict[str, List[Dict[str, Any]]]
    events: Dict[str, Dict[str, Any]]
    features: Dict[str, np.ndarray]
    counts: Dict[str, Any]
    grounding: Dict[str, Dict[str, Optional[int]]] = dataclasses.field(default_factory=dict)


def _build(cfg: SyntheticStarConfig) -> Tuple[_Built, ActionVocabulary, np.ndarray]:
    root = np.random.SeedSequence(cfg.seed)
    world_seed, *split_seeds = root.spawn(1 + len(SPLITS))
    world = np.random.default_rng(world_seed)
    vocab = ActionVocabulary(cfg.num_verbs, cfg.num_objects)
    table = _prototypes(world, cfg)
    routine = _routine_table(world, vocab.size)
    maker = _QuestionMaker(cfg, vocab, routine)

    built = _Built({}, {}, {}, {})
    number = 0
    for split, split_seed in zip(SPLITS, split_seeds):
        # One stream per (split, type): a split's content does not depend on the sizes of
        # the other splits, and adding a type later would not reshuffle the others.
        type_seeds = split_seed.spawn(len(QUESTION_TYPES) + 1)
        drafts: List[Tuple[str, _Draft, int, np.ndarray, List[Tuple[int, int]]]] = []
        for qtype, type_seed in zip(QUESTION_TYPES, type_seeds):
            rng = np.random.default_rng(type_seed)
            n = cfg.per_type(split)
            positions = _balanced(rng, range(NUM_OPTIONS), n)
            templates = _balanced(rng, _TEMPLATES[qtype], n)
            for position, template in zip(positions, templates):
                draft = maker.make(rng, qtype, template)
                num_frames, spans = _layout(rng, cfg, len(draft.events))
                frames = _render(rng, cfg, table, draft.events, num_frames, spans)
                drafts.append((qtype, draft, position, frames, spans))
        order_rng = np.random.default_rng(type_seeds[-1])
        order = order_rng.permutation(len(drafts))
        n_unannotated = int(round(cfg.unannotated_fraction * len(drafts)))
        unannotated = set(int(i) for i in order_rng.choice(len(drafts), size=n_unannotated, replace=False))

        rows = []
        counts = {t: 0 for t in QUESTION_TYPES}
        for k in order:
            qtype, draft, position, frames, spans = drafts[int(k)]
            qid = f"{qtype}_T{draft.template}_{number}"
            options = list(draft.distractors)
            options.insert(position, draft.answer)
            duration = float(frames.shape[0])
            rows.append({
                "question_id": qid, "video_id": f"syn{number:05d}", "question": draft.question,
                "options": [vocab.name(c) for c in options], "answer": position,
                "start": 0.0, "end": duration,
            })
            actions = [] if int(k) in unannotated else [
                [int(c), float(s), float(e)] for c, (s, e) in zip(draft.events, spans)]
            built.events[qid] = {"duration": duration, "actions": actions}
            built.grounding[qid] = ({"named_event": draft.named_event, "answer_event": draft.answer_event}
                                    if actions else {"named_event": None, "answer_event": None})
            built.features[qid] = frames
            counts[qtype] += 1
            number += 1
        built.records[split] = rows
        built.counts[split] = {"questions": len(rows), "by_type": counts,
                               "unannotated": n_unannotated}
    return built, vocab, routine


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------
def _write_features(path: Path, features: Mapping[str, np.ndarray]) -> None:
    """``torch.save`` of ``{question_id: FloatTensor[T, D]}``, the authors' ``s3d.pth`` format."""
    import torch

    torch.save({k: torch.from_numpy(v) for k, v in features.items()}, str(path))


def _meta(cfg: SyntheticStarConfig, built: _Built, vocab: ActionVocabulary,
          routine: np.ndarray) -> Dict[str, Any]:
    return {
        "generator": GENERATOR_NAME,
        "format_version": FORMAT_VERSION,
        "config": cfg.to_dict(),
        "num_classes": vocab.size,
        "event_pred_dim": vocab.size + 1,
        "max_clip_frames": cfg.max_clip_frames,
        "frames_per_second": 1,
        "counts": built.counts,
        "prediction_routine": {f"a{c:03d}": f"a{int(routine[c]):03d}" for c in range(vocab.size)},
    }


def _readme(cfg: SyntheticStarConfig, built: _Built, vocab: ActionVocabulary) -> str:
    sizes = ", ".join(f"{s} {built.counts[s]['questions']}" for s in SPLITS)
    generator = f"generator version {cfg.version}, " if cfg.version != 1 else ""
    sequence = ("a strict subset of the clip's events, drawn\n  among the possible answers; the "
                "named event may be one of them" if cfg.version >= 2 else "the clip's events")
    return f"""# Synthetic multi-event VideoQA benchmark (STAR layout)

Generated by `{GENERATOR_NAME}` ({generator}format version {FORMAT_VERSION}) with seed {cfg.seed}.
It is not real data: each clip is a sequence of {cfg.min_events}-{cfg.max_events} events drawn
without replacement from {vocab.size} actions ({cfg.num_verbs} verbs x {cfg.num_objects} objects),
one {cfg.feature_dim}-d feature row per second (class prototype + noise {cfg.noise_std}),
with background frames between events.

Questions: {sizes} (each split: the four STAR types equally often, answer position
balanced). The test split carries answers so the demo can be scored.

- Interaction: which action was performed (distractors are absent from the clip).
- Sequence: what the person did right after/before an event (options are {sequence}).
- Prediction: what the person will do next; the clip stops before it, and the next action
  is `prediction_routine[last shown action]` from meta.json (options are absent from the clip).
- Feasibility: which other action could be done with the object of the event with a given
  verb (the options share one verb, are absent from the clip, and their objects all appear in it).

Layout: txt_db/{{train,val,test}}.jsonl, txt_db/events.json (keyed by question_id, spans in
seconds of the clip), txt_db/grounding.json ({{question_id: {{"named_event", "answer_event"}}}}:
the positions, in the clip's events.json actions, of the event the question names and of the
answer event; null where there is none), txt_db/action_mapping.txt and action_classes.txt (no final newline,
like STAR), vis_db/s3d.pth ({{question_id: FloatTensor[T, {cfg.feature_dim}]}}),
vis_db/strID2numID.json. All parameters are in meta.json. Delete this folder to regenerate.
"""


def _is_synthetic(path: Path) -> bool:
    try:
        meta = load_json(path / "meta.json")
    except (OSError, ValueError):  # DataFileError (missing, not JSON) is a ValueError
        return False
    return isinstance(meta, dict) and meta.get("generator") == GENERATOR_NAME


def _write_tree(folder: Path, cfg: SyntheticStarConfig) -> None:
    built, vocab, routine = _build(cfg)
    txt, vis = folder / "txt_db", folder / "vis_db"
    txt.mkdir()
    vis.mkdir()
    for split in SPLITS:
        atomic_write_jsonl(txt / f"{split}.jsonl", built.records[split])
    (txt / "events.json").write_text(json.dumps(built.events), encoding="utf-8")
    (txt / "grounding.json").write_text(json.dumps(built.grounding), encoding="utf-8")
    for name, text in _class_files(vocab).items():
        (txt / name).write_text(text, encoding="utf-8")
    ids = {qid: i for i, qid in enumerate(built.features)}
    (vis / "strID2numID.json").write_text(json.dumps(ids), encoding="utf-8")
    _write_features(vis / "s3d.pth", built.features)
    (folder / "README.md").write_text(_readme(cfg, built, vocab), encoding="utf-8")
    # meta.json last: its presence marks a complete tree even inside the temporary folder.
    (folder / "meta.json").write_text(json.dumps(_meta(cfg, built, vocab, routine), indent=2) + "\n",
                                      encoding="utf-8")


def _swap_in(new: Path, out: Path) -> None:
    """Replace the folder ``out`` by ``new``; if that fails, the old ``out`` is put back."""
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=str(out.parent)))
    old = trash / out.name
    try:
        os.replace(out, old)
    except BaseException:
        trash.rmdir()
        raise
    try:
        os.replace(new, out)
    except BaseException:
        os.replace(old, out)
        trash.rmdir()
        raise
    shutil.rmtree(trash, ignore_errors=True)


def generate_synthetic_star(out_dir: PathLike, config: Optional[SyntheticStarConfig] = None,
                            overwrite: bool = False) -> Path:
    """Generate the benchmark into ``out_dir`` and return it.

    Everything is written into a temporary sibling folder that is renamed onto
    ``out_dir`` only when complete. ``overwrite=True`` replaces an existing folder only if
    it is a synthetic benchmark (has this generator's ``meta.json``); any other folder is
    refused, so a mistyped path never deletes real data.
    """
    cfg = config if config is not None else SyntheticStarConfig()
    if not isinstance(cfg, SyntheticStarConfig):
        raise TypeError(f"config must be a SyntheticStarConfig, got {type(cfg).__name__}")
    out = Path(out_dir)
    if out.exists():
        if not overwrite:
            raise FileExistsError(f"{out} already exists; pass overwrite=True to regenerate it, "
                                  f"or use ensure_synthetic_star() to reuse it")
        if not _is_synthetic(out):
            raise SyntheticBenchmarkError(f"{out} exists and is not a synthetic benchmark (no "
                                          f"meta.json from {GENERATOR_NAME}); refusing to overwrite "
                                          f"it. Choose another folder.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=str(out.parent)))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it 0700; give it the usual mode
        _write_tree(tmp, cfg)
        if overwrite and out.exists():
            _swap_in(tmp, out)
        else:
            # Fails if another process (a torchrun rank) placed the folder meanwhile: its
            # copy stays, since it may already be being read; ensure_synthetic_star reuses it.
            os.rename(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return out


_EXPECTED_FILES = tuple(f"txt_db/{s}.jsonl" for s in SPLITS) + (
    "txt_db/events.json", "txt_db/grounding.json", "txt_db/action_mapping.txt", "txt_db/action_classes.txt",
    "vis_db/s3d.pth", "vis_db/strID2numID.json", "README.md")


def _check_reusable(out: Path, cfg: SyntheticStarConfig) -> None:
    advice = (f"Delete {out} to regenerate it with this config, or choose another data root "
              f"for the synthetic benchmark.")
    try:
        meta = load_json(out / "meta.json", what="synthetic benchmark meta.json")
    except DataFileError as e:
        raise SyntheticBenchmarkError(f"{out} exists but is not a complete synthetic benchmark "
                                      f"({e}). {advice}") from e
    if not isinstance(meta, dict) or meta.get("generator") != GENERATOR_NAME:
        raise SyntheticBenchmarkError(f"{out}/meta.json was not written by {GENERATOR_NAME}. {advice}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise SyntheticBenchmarkError(
            f"{out} was generated by format version {meta.get('format_version')!r}; this gf "
            f"writes version {FORMAT_VERSION}. {advice}")
    # A folder written before version 2 existed (or by version 1) has no "version": it is 1.
    wanted = {"version": 1, **json.loads(json.dumps(cfg.to_dict()))}
    stored = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    stored = {"version": 1, **stored}
    diffs = [f"{k}: folder has {stored.get(k, '<missing>')!r}, requested {wanted.get(k, '<missing>')!r}"
             for k in sorted(set(wanted) | set(stored)) if stored.get(k) != wanted.get(k)]
    if diffs:
        raise SyntheticBenchmarkError(f"{out} holds a synthetic benchmark generated with another "
                                      f"config ({'; '.join(diffs)}). {advice}")
    missing = [f for f in _EXPECTED_FILES if not (out / f).is_file()]
    if missing:
        raise SyntheticBenchmarkError(f"{out} is missing {', '.join(missing)}. {advice}")


def ensure_synthetic_star(out_dir: PathLike, config: Optional[SyntheticStarConfig] = None) -> Path:
    """Return ``out_dir``, generating it on first use and reusing it when its config matches.

    A folder generated with another config (or another format version) is an error rather
    than silently regenerated: it may be what an earlier run's results were computed on.
    """
    cfg = config if config is not None else SyntheticStarConfig()
    out = Path(out_dir)
    if not out.exists():
        try:
            return generate_synthetic_star(out, cfg)
        except (FileExistsError, OSError):
            if not out.exists():  # a real failure, not another process finishing first
                raise
    _check_reusable(out, cfg)
    return out
