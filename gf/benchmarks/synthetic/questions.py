"""The synthetic benchmark's questions: the action vocabulary and the sampler of each STAR
question type (:class:`QuestionMaker`), built so that no cheap cue gives the answer away
(the rules, type by type: docs/data_formats.md §5).

Why a module of its own: what a question is (and how each version draws it) is one job;
laying clips out in time, rendering features and writing the folder is another
(:mod:`.generate`). Every draw comes from the rng the caller passes, so a config fixes
the questions exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from gf.benchmarks.synthetic.config import NUM_OPTIONS, OBJECTS, VERBS, VERSION_RULES, SyntheticStarConfig
from gf.common.errors import DatasetError

__all__ = ["ActionVocabulary", "Draft", "QuestionMaker", "class_files"]

_MAX_ATTEMPTS = 2000


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


def class_files(vocab: ActionVocabulary) -> Dict[str, str]:
    """STAR's class files: ``<id> <rest>`` per line and, like the real files, no final newline."""
    return {
        "action_classes.txt": "\n".join(f"a{k:03d} {vocab.name(k)}" for k in range(vocab.size)),
        "action_mapping.txt": "\n".join(f"a{k:03d} v{vocab.verb(k):03d} o{vocab.obj(k):03d}"
                                        for k in range(vocab.size)),
        "verb_classes.txt": "\n".join(f"v{v:03d} {VERBS[v][0]}" for v in range(vocab.num_verbs)),
        "object_classes.txt": "\n".join(f"o{o:03d} {OBJECTS[o]}" for o in range(vocab.num_objects)),
    }


@dataclass
class Draft:
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


class QuestionMaker:
    """Samples clips and questions of each type; every draw comes from the given rng."""

    def __init__(self, cfg: SyntheticStarConfig, vocab: ActionVocabulary, routine: np.ndarray):
        self.cfg = cfg
        self.vocab = vocab
        self.routine = routine  # routine[c] = the action that always follows c (Prediction)

    def _num_events(self, rng: np.random.Generator, qtype: str) -> int:
        minimum = VERSION_RULES[self.cfg.version].min_events[qtype]
        low = max(self.cfg.min_events, minimum)
        return int(rng.integers(low, self.cfg.max_events + 1))

    def _clip(self, rng: np.random.Generator, n: int) -> List[int]:
        return [int(c) for c in rng.choice(self.vocab.size, size=n, replace=False)]

    def make(self, rng: np.random.Generator, qtype: str, template: int) -> Draft:
        build = getattr(self, f"_{qtype.lower()}")
        for _ in range(_MAX_ATTEMPTS):
            draft = build(rng, template)
            if draft is not None:
                return draft
        raise DatasetError(f"synthetic generator: could not sample a valid {qtype} question in "
                           f"{_MAX_ATTEMPTS} tries; the config leaves too few classes "
                           f"(raise num_verbs/num_objects or lower max_events)")

    # Interaction: presence. T1 "which action", T2 "what ... with the <object>".
    def _interaction(self, rng, template) -> Optional[Draft]:
        events = self._clip(rng, self._num_events(rng, "Interaction"))
        if template == 1:
            answer = events[int(rng.integers(len(events)))]
            absent = [c for c in range(self.vocab.size) if c not in events]
            distractors = [int(c) for c in rng.choice(absent, size=3, replace=False)]
            return Draft(1, "Which action did the person perform?", events, answer, distractors,
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
        return Draft(2, f"What did the person do with the {OBJECTS[obj]}?", events, answer, distractors,
                      named_event=events.index(answer), answer_event=events.index(answer))

    # Sequence: T1 right after / T2 right before the named event; how the named event, the
    # answer and the distractors are drawn is the version's (VersionRules.sequence_named_first).
    def _sequence(self, rng, template) -> Optional[Draft]:
        events = self._clip(rng, self._num_events(rng, "Sequence"))
        after = template == 1
        draw = self._named_first if VERSION_RULES[self.cfg.version].sequence_named_first else self._answer_first
        named, answer, distractors = draw(rng, events, after)
        question = f"What did the person do right {'after' if after else 'before'} {self.vocab.gerund(events[named])}?"
        return Draft(template, question, events, events[answer], distractors, named_event=named, answer_event=answer)

    @staticmethod
    def _named_first(rng, events: List[int], after: bool) -> Tuple[int, int, List[int]]:
        """Version 1: the named event first, its neighbour the answer, the options the clip's other events."""
        n = len(events)
        named = int(rng.integers(0, n - 1)) if after else int(rng.integers(1, n))
        answer = named + 1 if after else named - 1
        others = [c for c in events if c not in (events[named], events[answer])]
        return named, answer, [int(c) for c in rng.choice(others, size=3, replace=False)]

    @staticmethod
    def _answer_first(rng, events: List[int], after: bool) -> Tuple[int, int, List[int]]:
        """Version 2: the named event is *derived from* the answer, not the options from the named event.

        With ``after`` the possible answers are the events at positions 1..n-1 (``before``:
        0..n-2). The 4 options are drawn uniformly among them, the answer uniformly among the
        options, and the named event is the answer's predecessor (successor). So, given the
        clip, its order, the direction and the options, every option is equally likely to be
        the answer: only the named event decides. The named event is a distractor whenever it
        is itself among the drawn options (not an answer, since it cannot follow itself), and
        with n >= 6 events the options never cover all events but the named one.
        """
        n = len(events)
        valid = list(range(1, n)) if after else list(range(0, n - 1))
        chosen = [int(i) for i in rng.choice(valid, size=NUM_OPTIONS, replace=False)]
        answer = chosen[int(rng.integers(NUM_OPTIONS))]
        return answer - 1 if after else answer + 1, answer, [events[i] for i in chosen if i != answer]

    # Prediction: the clip stops before the next action, which is routine[last shown action].
    def _prediction(self, rng, template) -> Optional[Draft]:
        events = self._clip(rng, self._num_events(rng, "Prediction") - 1)  # the last one is hidden
        earlier = [int(k) for k in rng.choice(len(events) - 1, size=3, replace=False)]
        sources = [events[-1]] + [events[k] for k in earlier]
        options = [int(self.routine[c]) for c in sources]
        # Every option must be absent from the clip: otherwise "the absent option" or
        # "a shown option" would be a cue that needs no order.
        if any(o in events for o in options):
            return None
        return Draft(1, "What will the person do next?", events, options[0], options[1:])

    # Feasibility: what else could be done with the object of the event with a given verb.
    def _feasibility(self, rng, template) -> Optional[Draft]:
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
        return Draft(1, question, events, options[k], options[:k] + options[k + 1:],
                      named_event=events.index(keys[k]))
