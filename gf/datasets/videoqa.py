"""The VideoQA dataset shared by every benchmark, its event targets and its collator.

One dataset class serves STAR, AGQA, EgoTaskQA and NExT-QA: builders turn each
benchmark's annotations into plain *records* and hand them over with a feature store and
an :class:`~gf.datasets.events.EventTable`. What the authors' four loaders did differently (span format,
empty event lists, random event subsampling at validation, a full feature copy per
split) is decided here once (the span format in the :class:`EventTable`). The codes B8 and
B20 below are two of those defects, listed in docs/data_formats.md §6.

Record (a dict, one per question)::

    {"question_id": str,                # unique within the split; the key of predictions
     "question": str,
     "options": list[str] | None,       # multiple choice: K options in order; None: open-ended
     "answer": int | None,              # option / vocabulary index; None = unlabelled
     "fields": dict,                    # benchmark category fields (optional)
     <key_field>: str}                  # feature / events key, e.g. "question_id" or "video_id"
"""
from __future__ import annotations

import logging
import random
import zlib
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from gf.common.errors import DataFileError, DatasetError
from gf.common.io import record_place
from gf.common.utils import MAX_IDS_IN_MESSAGE, describe_ids
from gf.datasets.events import EventTable, is_int
from gf.datasets.grounding import GROUNDING_FIELDS, NO_EVENT
from gf.evaluation.core import OOV_ANSWER
from gf.processors.text import VideoQATextProcessor
from gf.processors.video import non_finite

__all__ = ["VideoQADataset", "collate_videoqa", "skipped_questions", "IGNORE_INDEX", "OOV_ANSWER"]

logger = logging.getLogger(__name__)

#: Answer value of unlabelled questions in a batch; ``F.cross_entropy`` ignores it by default.
IGNORE_INDEX = -100
#: ``frame_probe`` values: none, frames in a fixed shuffled order per clip, or zeros.
FRAME_PROBES = (None, "shuffle", "zeros")
# OOV_ANSWER (re-exported): an open-ended answer outside the answer vocabulary (val/test
# only), kept in the split and scored wrong by the evaluator (B8), never dropped, which
# would inflate accuracy. Imported from the evaluator so the two can never disagree.

# ---------------------------------------------------------------------------------------
# dataset
# ---------------------------------------------------------------------------------------
class VideoQADataset(torch.utils.data.Dataset):
    """One split of a VideoQA benchmark: records + lazy features + event targets.

    The sample's keys: docs/data_formats.md, "0. What every benchmark becomes".

    * ``feature_store`` is shared, not copied: pass the same store object to every split.
      Pickling the dataset (``spawn`` workers) carries only its path.
    * ``events``: an :class:`EventTable`, the raw ``events.json`` mapping (converted here,
      without a class-range check), or ``None`` (no event supervision). Clips without
      events give ``spans [0, 2]`` and ``event_classes [0]``.
    * More than ``max_events`` events: ``train=True`` samples ``max_events`` of them with a
      ``random.Random`` seeded by ``(seed, epoch, index)`` (exact resume; call
      :meth:`set_epoch`), keeping spans and classes paired and in time order; otherwise the
      first ``max_events`` by start time, so validation is deterministic (B20).
    * ``skip_ids``: question ids to leave out (counted in ``stats``, logged); ``skip_source``
      names where they came from (the skip file) in messages. Every remaining question's
      features are checked once here; missing ones are an error that names them and points
      at ``datasets.<benchmark>.skip_file``.
    * No questions (none given, or the skip ids remove all) is a :class:`DatasetError`: a
      run on an empty split would "succeed" doing nothing.
    * Each sample's features are checked as they are read: a non-finite value (NaN/Inf) is
      a :class:`DataFileError` naming the feature key and the store (it would otherwise
      poison the loss, the matching and argmax predictions); a wrong dimension is the video
      processor's error, given the key and the store here.
    * ``source``: the annotation file, used to name file and line in record errors.
    * ``num_options`` / ``num_answers``: if given, every MC question must have exactly
      ``num_options`` options / every OE answer must be below ``num_answers``.
    """

    def __init__(self, records: Sequence[Mapping[str, Any]], feature_store: Any, video_processor: Any,
                 events: Union[EventTable, Mapping[str, Any], None], *, split: str, benchmark: str,
                 max_events: Optional[int], train: bool, seed: int, key_field: str, text_format: str,
                 skip_ids: Optional[Iterable[str]] = None, source: Optional[str] = None,
                 num_options: Optional[int] = None, num_answers: Optional[int] = None,
                 text_processor: Any = None, skip_source: Optional[str] = None,
                 frame_probe: Optional[str] = None,
                 grounding: Optional[Mapping[str, Tuple[int, int]]] = None, grounding_source: Optional[str] = None,
                 config_prefix: Optional[str] = None):
        if frame_probe not in FRAME_PROBES:
            raise DatasetError(f"frame_probe must be one of {FRAME_PROBES}, got {frame_probe!r}")
        self.frame_probe = frame_probe
        if max_events is not None and (not is_int(max_events) or max_events < 1):
            raise DatasetError(f"max_events must be a positive integer or None, got {max_events!r}")
        if not is_int(seed):
            raise DatasetError(f"seed must be an integer, got {seed!r}")
        self.split = split
        self.benchmark = benchmark
        self.config_prefix = config_prefix or f"datasets.{benchmark}"  # the builder's keys, for advice
        self.feature_store = feature_store
        self.video_processor = video_processor
        # a builder passes the processor it looked up in the registry; text_format alone
        # gives the default one
        self.text_processor = text_processor if text_processor is not None else VideoQATextProcessor(text_format)
        self.max_events = max_events
        self.train = bool(train)
        self.seed = int(seed)
        self.key_field = key_field
        self.source = str(source) if source is not None else None
        self.epoch = 0
        if events is None:
            events = EventTable.empty()
        elif not isinstance(events, EventTable):
            events = EventTable.from_raw(events, source=f"events of {benchmark} {split}")
        self.events = events
        # {question_id: (named_event, answer_event)} (gf.datasets.grounding); None: not annotated
        self.grounding = dict(grounding) if grounding is not None else None
        self.grounding_source = grounding_source or "grounding"

        skip = {str(i) for i in (skip_ids or ())}
        all_ids = set()
        kept: List[Dict[str, Any]] = []
        for i, rec in enumerate(records):
            self._check_record(rec, i, num_options, num_answers)
            qid = rec["question_id"]
            all_ids.add(qid)
            if qid not in skip:
                kept.append(dict(rec))
        #: the questions the skip file took out, so a predictions file that has them is told so
        self.skipped_ids = sorted(all_ids & skip)
        skipped = len(self.skipped_ids)
        where = f"{benchmark} {split} ({self.source or 'records'})"
        if not all_ids:
            raise DatasetError(f"{where}: the split has no questions; a run on it would train or score nothing. "
                               f"Use the split's annotation file, or leave the split out.")
        if not kept:
            raise DatasetError(f"{where}: all {len(all_ids)} questions are listed in the skip file"
                               f"{f' {skip_source}' if skip_source else ''}, so nothing is left to train or score. "
                               f"Check that the skip file belongs to these annotations.")
        self.records = kept
        self._check_unique_and_labels()
        self.answer_mode = self._answer_mode()
        if skipped:
            logger.warning("%s %s: skipped %d question(s) listed in the skip file", benchmark, split, skipped)
        if feature_store is not None:  # None: built for scoring only (builder.build_datasets(features=False))
            self._check_features()
        self._check_grounding()

        capped = 0 if max_events is None else sum(self.events.count(r[key_field]) > max_events for r in self.records)
        self.stats: Dict[str, Any] = {
            "split": split,
            "questions": len(self.records),
            "labelled": sum(r.get("answer") is not None for r in self.records),
            "skipped": skipped,
            "skip_file": skip_source if skipped else None,
            "skip_ids_not_in_split": len(skip - all_ids),
            "no_events": sum(self.events.count(r[key_field]) == 0 for r in self.records),
            "events_capped": capped,
        }

    # -- validation ----------------------------------------------------------------------
    def _where(self, index: int, rec: Mapping[str, Any]) -> str:
        qid = rec.get("question_id")  # rec is a record, or {} for one that is not a mapping
        return f"{self.benchmark} {self.split} ({record_place(self.source, index)}, question_id {qid!r})"

    def _check_record(self, rec: Any, i: int, num_options: Optional[int], num_answers: Optional[int]) -> None:
        if not isinstance(rec, Mapping):
            raise DataFileError(f"{self._where(i, {})}: record is {type(rec).__name__}, expected an object")

        def fail(msg: str) -> None:
            raise DataFileError(f"{self._where(i, rec)}: {msg}")

        if not isinstance(rec.get("question_id"), str) or not rec["question_id"]:
            fail(f"'question_id' must be a non-empty string, got {rec.get('question_id')!r}")
        if not isinstance(rec.get("question"), str):
            fail(f"'question' must be a string, got {rec.get('question')!r}")
        key = rec.get(self.key_field)
        if not isinstance(key, str) or not key:
            fail(f"feature key field {self.key_field!r} must be a non-empty string, got {key!r}")
        options = rec.get("options")
        answer = rec.get("answer")
        if options is not None:
            if not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options):
                fail(f"'options' must be a non-empty list of strings, got {options!r}")
            if num_options is not None and len(options) != num_options:
                fail(f"has {len(options)} options, expected {num_options}")
            if answer is not None and (not is_int(answer) or not 0 <= answer < len(options)):
                fail(f"'answer' must be an integer option index in [0, {len(options)}), got {answer!r}")
        elif answer == OOV_ANSWER and is_int(answer):
            if self.train:  # the loss would have no target for it
                fail("the answer is outside the answer vocabulary (-1); a training split must be fully in "
                     "vocabulary, since the vocabulary is built from train (do the files belong together?)")
        elif answer is not None:
            if not is_int(answer) or answer < 0 or (num_answers is not None and answer >= num_answers):
                bound = f"[0, {num_answers})" if num_answers is not None else ">= 0"
                fail(f"'answer' must be an integer answer-vocabulary index {bound}, got {answer!r}")
        fields = rec.get("fields", {})
        if not isinstance(fields, Mapping):
            fail(f"'fields' must be a mapping, got {fields!r}")

    def _check_unique_and_labels(self) -> None:
        seen: Dict[str, int] = {}
        for i, rec in enumerate(self.records):
            qid = rec["question_id"]
            if qid in seen:
                raise DataFileError(
                    f"{self.benchmark} {self.split}: question_id {qid!r} appears twice "
                    f"({self.source or 'records'} records {seen[qid]} and {i} after skipping); "
                    f"predictions are keyed by question id, so ids must be unique."
                )
            seen[qid] = i
        unlabelled = [r["question_id"] for r in self.records if r.get("answer") is None]
        if unlabelled and self.train:
            raise DataFileError(
                f"{self.benchmark} {self.split} ({self.source or 'records'}): {len(unlabelled)} training "
                f"question(s) have no answer: {describe_ids(unlabelled)}. Training needs labels."
            )
        if unlabelled and len(unlabelled) != len(self.records):
            raise DataFileError(
                f"{self.benchmark} {self.split} ({self.source or 'records'}): {len(unlabelled)} of "
                f"{len(self.records)} questions have no answer ({describe_ids(unlabelled)}); a split is "
                f"either fully labelled or fully unlabelled."
            )

    def _answer_mode(self) -> str:
        with_options = sum(r.get("options") is not None for r in self.records)
        if with_options and with_options != len(self.records):
            missing = [r["question_id"] for r in self.records if r.get("options") is None]
            raise DataFileError(
                f"{self.benchmark} {self.split}: some questions have options and some do not "
                f"(without: {describe_ids(missing)}); a split is multiple choice or open-ended."
            )
        return "mc" if with_options else "oe"

    def _check_features(self) -> None:
        keys = [r[self.key_field] for r in self.records]
        missing = set(self.feature_store.missing(keys))
        if not missing:
            return
        from gf.datasets.extract_state import explain_missing

        qids = [r["question_id"] for r in self.records if r[self.key_field] in missing]
        by_key = "" if self.key_field == "question_id" else f" (missing {self.key_field}s: {describe_ids(sorted(missing))})"
        # a gf extract output that did not finish, or lost a shard, says so: leaving its
        # questions out (skip_file) would drop samples the rerun extracts
        why = explain_missing(self.feature_store)
        if why:
            advice = why + "."
        elif len(missing) == len(set(keys)):  # nothing matches: a skip file would leave nothing
            advice = _no_key_matches(self.feature_store, sorted(missing), self.key_field)
        else:
            advice = (f"Use the feature file that matches these annotations, or list the question ids to leave out, "
                      f"one per line, in a file and set {self.config_prefix}.skip_file to it.")
        raise DataFileError(
            f"{self.benchmark} {self.split}: {len(qids)} of {len(self.records)} questions have no "
            f"features in {self._store_name()} (looked up by "
            f"{self.key_field}): {describe_ids(qids)}{by_key}. {advice}"
        )

    # -- dataset API -----------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Seeds train-time event sampling; call before each epoch's iterator is created."""
        self.epoch = int(epoch)

    def question_ids(self) -> List[str]:
        return [r["question_id"] for r in self.records]

    def video_ids(self) -> Dict[str, str]:
        """Question id -> the video it is about (``video_id`` when the record has it, else
        the feature key). Questions about one video are not independent samples, so
        resampling statistics draw whole videos."""
        return {r["question_id"]: str(r.get("video_id") or r[self.key_field]) for r in self.records}

    def __len__(self) -> int:
        return len(self.records)

    def _check_grounding(self) -> None:
        """Every grounded position must be one of its clip's annotated events."""
        if self.grounding is None:
            return
        for rec in self.records:
            entry = self.grounding.get(str(rec["question_id"]))
            if entry is None:
                continue
            n = self.events.count(rec[self.key_field])
            for name, value in zip(GROUNDING_FIELDS, entry):
                if value != NO_EVENT and value >= n:
                    raise DataFileError(
                        f"{self.grounding_source}: question {rec['question_id']!r} ({self.benchmark} "
                        f"{self.split}): {name} = "
                        f"{value}, but its clip has {n} annotated event(s); positions count the clip's events "
                        f"sorted by start time. Is the grounding file from the same release as the events file?")

    def _event_positions(self, index: int, key: str) -> Optional[List[int]]:
        """Which of the clip's events are targets: all (None), or ``max_events`` of them."""
        n = self.events.count(key)
        if self.max_events is None or n <= self.max_events:
            return None
        if self.train:
            rng = random.Random(f"{self.seed}/{self.epoch}/{index}")  # str seeds hash stably across processes
            return sorted(rng.sample(range(n), self.max_events))
        return list(range(self.max_events))  # table is sorted by start time

    def _grounding(self, qid: str, positions: Optional[List[int]]) -> Tuple[int, int]:
        """(named_event, answer_event) as positions among the sample's event targets."""
        entry = (self.grounding or {}).get(str(qid), (NO_EVENT, NO_EVENT))
        if positions is None:
            return entry
        return tuple(positions.index(v) if v in positions else NO_EVENT for v in entry)  # type: ignore[return-value]

    def _store_name(self) -> str:
        return str(getattr(self.feature_store, "path", self.feature_store))

    def _video(self, key: str, rec: Mapping[str, Any], feats: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``key``'s features (as the store gives them), checked (finite, dimension) and processed."""
        feats = torch.as_tensor(feats)
        bad = non_finite(feats)
        if bad is not None:
            raise DataFileError(
                f"feature file {self._store_name()}: feature key {key!r} (question {rec['question_id']!r}, "
                f"{self.benchmark} {self.split}) holds {bad}; re-extract the features of that clip, or list the "
                f"question in {self.config_prefix}.skip_file."
            )
        process = getattr(self.video_processor, "process", self.video_processor)  # finiteness checked above
        try:
            return process(feats)
        except DataFileError as e:
            raise DataFileError(f"feature file {self._store_name()}: feature key {key!r} (question "
                                f"{rec['question_id']!r}, {self.benchmark} {self.split}): {e}") from None

    def _probe_frames(self, key: str, visual: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The frame probes: ``shuffle`` permutes a clip's real frames (the same permutation
        for that clip every time, so a model can learn the frames but not their order);
        ``zeros`` replaces the video by zeros. A model trained and evaluated so should be at
        chance on whatever needs the order (shuffle) or the video (zeros)."""
        if self.frame_probe is None:
            return visual
        video = visual["video"].clone()
        if self.frame_probe == "zeros":
            video.zero_()
        else:
            n = int(visual["video_mask"].sum())
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(zlib.crc32(str(key).encode())))
            video[:n] = video[:n][perm]
        return {**visual, "video": video}

    def feature_key(self, index: int) -> str:
        """The feature-store key of question ``index`` (its ``key_field``)."""
        return self.records[index][self.key_field]

    def read_features(self, index: int) -> torch.Tensor:
        """Question ``index``'s raw features ``[T, D]`` from the store (a fresh float32 tensor)."""
        if self.feature_store is None:
            raise DatasetError(f"{self.benchmark} {self.split} was built for scoring only, without its features; "
                               f"build it with features to read samples")
        return torch.as_tensor(self.feature_store[self.feature_key(index)])

    def sample_from_features(self, index: int, feats: torch.Tensor) -> Dict[str, Any]:
        """The sample of question ``index`` built from its raw features ``feats`` ``[T, D]``
        (float32, as a feature store returns them; the tensor may be modified).

        Why split from :meth:`__getitem__`: the streaming dataset
        (:mod:`gf.datasets.streaming`) gets the features from a shard stream rather than by
        key, and must build exactly the sample random access builds -- the same checks,
        frame sampling, probes and event targets (seeded by ``(seed, epoch, index)``) -- so
        both go through this one method.
        """
        rec = self.records[index]
        key = rec[self.key_field]
        visual = self._probe_frames(key, self._video(key, rec, feats))
        positions = self._event_positions(index, key)
        spans, classes = self.events.select(key, positions)
        named, answer_event = self._grounding(rec["question_id"], positions)
        return {
            "question_id": rec["question_id"],
            "video": visual["video"],
            "video_mask": visual["video_mask"],
            "text": self.text_processor(rec["question"], rec.get("options")),
            "answer": rec.get("answer"),
            "spans": spans,
            "event_classes": classes,
            "named_event": named,
            "answer_event": answer_event,
            "fields": dict(rec.get("fields") or {}),
        }

    def __getitem__(self, index: int) -> Dict[str, Any]:
        return self.sample_from_features(index, self.read_features(index))

    def __repr__(self) -> str:
        return (f"VideoQADataset({self.benchmark} {self.split}: {len(self)} questions, "
                f"{self.answer_mode}, train={self.train}, store={self.feature_store!r})")


# ---------------------------------------------------------------------------------------
# collator
# ---------------------------------------------------------------------------------------
def _no_key_matches(store: Any, expected: Sequence[str], key_field: str) -> str:
    """Advice when not one key the split looks up is in the store: a few of the store's keys
    beside a few expected ones, since the keys' form (e.g. VidOR's ``<folder>/<video>`` paths
    where the annotations give ``<video>``) is then what is wrong, not a few questions."""
    try:
        held = [str(k) for k in store.keys()]
    except (AttributeError, TypeError, NotImplementedError):  # a plugin store that cannot list its keys
        return "Not one key matches: use the feature file that matches these annotations."
    if not held:
        return "The store holds no features at all: use the feature file that matches these annotations."
    shown = (f"the store's keys look like {describe_ids(held[:3])}, the {key_field}s looked up like "
             f"{describe_ids(expected[:3])}")
    wanted = set(expected)
    path = next((k for k in held if "/" in k and k.rsplit("/", 1)[1] in wanted), None)
    if path is not None:
        return (f"Not one key matches: {shown}; the store's keys look like paths whose last part is the "
                f"{key_field} (e.g. {path!r} for {path.rsplit('/', 1)[1]!r}): key the features by that last part.")
    return f"Not one key matches: {shown}. Use the feature file that matches these annotations."


def skipped_questions(split_dataset: Any) -> Optional[Dict[str, Any]]:
    """``{"questions": n, "skip_file": path, "ids": [...]}`` when the split's skip file left
    questions out, else ``None``. Scoring passes it on (``expected_ids`` are the questions
    left), so that a report over such a subset says so instead of passing for the official
    split, and a prediction for a left-out question is named as such (``ids``, empty where
    a wrapper does not forward them). Read from ``stats``, which the streaming and probe
    wrappers forward."""
    stats = getattr(split_dataset, "stats", None) or {}
    if not stats.get("skipped"):
        return None
    return {"questions": int(stats["skipped"]), "skip_file": stats.get("skip_file"),
            "ids": list(getattr(split_dataset, "skipped_ids", ()))}


def collate_videoqa(samples: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Samples -> batch (see ``GlanceFocus.forward``).

    ``text`` is flat and grouped by question (B*K strings for multiple choice, B for
    open-ended); every sample must have the same number of texts. ``answer`` is a
    LongTensor with ``IGNORE_INDEX`` for unlabelled samples, or ``None`` when no sample is
    labelled. ``spans`` / ``event_classes`` stay lists: clips have different event counts.
    """
    if not samples:
        raise DatasetError("collate_videoqa: empty batch")
    counts = [len(s["text"]) for s in samples]
    if len(set(counts)) != 1:
        detail = ", ".join(f"{s['question_id']!r}: {c}" for s, c in list(zip(samples, counts))[:MAX_IDS_IN_MESSAGE])
        raise DatasetError(
            f"collate_videoqa: samples in one batch have different numbers of options/texts ({detail}); "
            f"multiple-choice questions batched together must have the same K."
        )
    shapes = {tuple(s["video"].shape) for s in samples}
    if len(shapes) != 1:
        detail = ", ".join(f"{s['question_id']!r}: {tuple(s['video'].shape)}" for s in samples[:MAX_IDS_IN_MESSAGE])
        raise DatasetError(f"collate_videoqa: video features of different shapes in one batch ({detail}); "
                           f"use one video processor (same max_feats) and one feature store per dataset.")
    answers = [s.get("answer") for s in samples]
    answer = (None if all(a is None for a in answers)
              else torch.tensor([IGNORE_INDEX if a is None else int(a) for a in answers], dtype=torch.long))
    return {
        "question_id": [s["question_id"] for s in samples],
        "video": torch.stack([s["video"] for s in samples]),
        "video_mask": torch.stack([s["video_mask"] for s in samples]),
        "text": [t for s in samples for t in s["text"]],
        "answer": answer,
        "spans": [s["spans"] for s in samples],
        "event_classes": [s["event_classes"] for s in samples],
        # positions among each sample's event targets (gf.datasets.grounding); -1 = none
        **{name: torch.tensor([int(s.get(name, NO_EVENT)) for s in samples], dtype=torch.long)
           for name in GROUNDING_FIELDS},
        "fields": [s["fields"] for s in samples],
    }
