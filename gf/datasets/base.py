"""The builder base classes: config merging, data paths and their error messages
(:class:`BaseBuilder`), and what the benchmark builders share (:class:`VideoQABuilder`).

Why builders own the config and datasets do not: a builder reads one benchmark's files
(annotations, events, class list, features) and hands each split a ready
:class:`~gf.datasets.videoqa.VideoQADataset`; the dataset never sees the config (data
flows one way: config -> builder -> dataset -> batch). Every benchmark builder declares
all keys it accepts in ``DEFAULT_CONFIG``, so a typo in a YAML file is an error naming
the key instead of a silently ignored setting.

The B codes below name defects of the authors' loaders, listed in docs/data_formats.md §6.
"""
from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from gf.common.errors import ConfigError, DataFileError, DatasetError, RegistryError
from gf.common.io import load_json, read_text_utf8
from gf.common.registry import registry
from gf.common.utils import check_known_keys, positive_int
from gf.datasets.builder_config import merge_builder_config
from gf.datasets.split_provenance import SplitProvenance
from gf.datasets.text_files import check_answer_vocab, read_class_lines

if TYPE_CHECKING:  # imported where used: converters import this module and need none of it
    from gf.datasets.events import EventTable
    from gf.datasets.videoqa import VideoQADataset

logger = logging.getLogger(__name__)

_WILDCARDS = set("*?[{")

__all__ = ["BaseBuilder", "STREAM_DEFAULTS", "VideoQABuilder"]


def _registered_name(cls: type) -> Optional[str]:
    """The one builder name ``cls`` is registered under, else ``None``."""
    names = [n for n in registry.list("builder") if registry.get("builder", n) is cls]
    return names[0] if len(names) == 1 else None


class BaseBuilder:
    """Builds the splits of one benchmark from the files a config points at.

    Subclasses set ``benchmark`` (the evaluator's name), ``answer_mode`` (``"mc"`` or
    ``"oe"``) and ``DEFAULT_CONFIG`` (every accepted key with its default), and
    implement :meth:`build_datasets` and :meth:`info`. ``stats`` collects what the builder
    counted while reading (dropped events, clips without events, skipped questions) so
    the runner can log it.
    """

    benchmark: str = ""
    answer_mode: str = "mc"
    DEFAULT_CONFIG: Dict[str, Any] = {}

    def __init__(self, cfg: Optional[Mapping[str, Any]] = None):
        self.config: Dict[str, Any] = merge_builder_config(self.DEFAULT_CONFIG, cfg, self.config_prefix)
        self.stats: Dict[str, Any] = {}

    @property
    def config_prefix(self) -> str:
        """Where this builder's keys live in a run config, for error messages: the name the
        class is registered under (``datasets.synthetic_star``, although its ``benchmark`` is
        ``star``), else its ``benchmark``."""
        return f"datasets.{_registered_name(type(self)) or self.benchmark or type(self).__name__}"

    # -- to implement --------------------------------------------------------------------
    def build_datasets(self, splits: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        raise NotImplementedError

    def info(self) -> Dict[str, Any]:
        raise NotImplementedError

    # -- data paths ----------------------------------------------------------------------
    @property
    def dataset_dir(self) -> Path:
        """``<data_root>/<dataset_dir>`` (``dataset_dir`` may itself be absolute)."""
        root = Path(str(self.config.get("data_root") or "."))
        sub = self.config.get("dataset_dir")
        return root / str(sub) if sub else root

    def resolve_path(self, value: os.PathLike | str) -> Path:
        """A configured path: absolute as given, relative to :attr:`dataset_dir` otherwise."""
        path = Path(os.path.expanduser(str(value)))
        return path if path.is_absolute() else self.dataset_dir / path

    def _fill_path(self, value: Any) -> Any:
        """Hook for placeholders in configured paths (EgoTaskQA's ``{split_type}``); filled
        here, before resolving, so every path -- skip file included -- and every error
        message sees the same path."""
        return value

    def require_path(self, config_key: str, value: Any, what: str, *, must_exist: bool = True) -> Path:
        """Resolve a configured path and fail, naming the config key, if it is not there (or lies
        in a bundle folder whose `gf download` has not finished: its files may mix two versions)."""
        value = self._fill_path(value)
        if value is None or value == "":
            raise DataFileError(f"{what}: {self.config_prefix}.{config_key} is not set.")
        path = self.resolve_path(value)
        from gf.datasets.data_zoo import refuse_unfinished_install  # here: converters need no download code

        refuse_unfinished_install(path)  # a half-installed bundle mixes two versions of its files
        if must_exist and not path.exists():
            raise DataFileError(
                f"{what} not found: {path} (from {self.config_prefix}.{config_key}={value!r}, "
                f"data_root={self.config.get('data_root')!r}). Check data_root (or the DATA_ROOT "
                f"environment variable your config uses) and {self.config_prefix}.{config_key}."
            )
        return path

    # -- shared by the benchmark builders ------------------------------------------------
    def _requested_splits(self, splits: Optional[Sequence[str]]) -> List[str]:
        """``splits`` (default: the configured ones) as a list, each checked against
        ``annotations``; shared so every builder rejects an unknown split the same way."""
        c = self.config
        splits = list(c["splits"] if splits is None else ([splits] if isinstance(splits, str) else splits))
        unknown = [s for s in splits if s not in c["annotations"]]
        if unknown:
            raise DatasetError(f"{self.config_prefix}: unknown split(s) {unknown}; annotations are "
                               f"configured for {sorted(c['annotations'])}")
        return splits

    def check_splits(self, splits: Sequence[str]) -> None:
        """Refuse, reading no data (gf validate), an unknown split or a null/empty ``annotations`` entry."""
        for split in self._requested_splits(splits):
            if self.config["annotations"][split] in (None, ""):
                raise DataFileError(f"{self.display_name} annotation file for split {split!r}: "
                                    f"{self.config_prefix}.annotations.{split} is not set.")

    def _open_configured_store(self, what: str):
        """Open ``features`` (a path, a pattern or a list of webdataset shards) once and
        check ``feature_dim``; shared because every builder keeps one store for all splits
        (opening it per split loaded the authors' ``s3d.pth`` three times, B18)."""
        value = self.config["features"]
        values = value if isinstance(value, list) else [value]  # a list = webdataset shards
        paths = [str(self.require_path("features", v, what,
                                       must_exist=not (set(str(v)) & _WILDCARDS)))  # patterns: the store checks
                 for v in values]
        path = paths if isinstance(value, list) else paths[0]
        from gf.datasets.feature_stores import HDF5Store, open_feature_store

        store = open_feature_store(path, self.config["feature_format"])
        for key, attr in (("features_dataset", "features"), ("ids_dataset", "ids")):
            if self.config.get(key) is not None:  # read when the store opens: set before
                if not isinstance(store, HDF5Store):
                    raise ConfigError(f"{self.config_prefix}.{key} names a dataset inside an HDF5 feature file; "
                                      f"{path} is a {store.format_name} store. Set it to null")
                setattr(store, attr, self.config[key])
        return self._check_feature_dim(store, path)

    def _check_feature_dim(self, store, path: Any):
        """``store``, if its dimension is the configured ``feature_dim`` (or that is null)."""
        expected = self.config["feature_dim"]
        if expected is not None and store.feature_dim != expected:
            raise DataFileError(
                f"{path}: features have dimension {store.feature_dim} but "
                f"{self.config_prefix}.feature_dim is {expected}; use the matching feature file "
                f"or set feature_dim to {store.feature_dim} (or null)."
            )
        return store

    def _skip_ids(self) -> Tuple[set, Optional[str]]:
        """Question ids listed in ``skip_file`` (one per line, ``#`` comments) and the file's
        path (``None`` without one); shared so every builder reads the file the same way and
        logs how many it will leave out."""
        value = self.config["skip_file"]
        if not value:
            return set(), None
        path = self.require_path("skip_file", value, "skip file")
        ids = {line.split("#", 1)[0].strip() for line in read_text_utf8(path, "skip file").splitlines()}
        ids.discard("")  # blank and comment-only lines
        logger.info("%s: %d question id(s) to skip from %s", self.config_prefix, len(ids), path)
        return ids, str(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(benchmark={self.benchmark!r}, dataset_dir={str(self.dataset_dir)!r})"


#: ``stream``: read the training split as a stream of webdataset shards
#: (:mod:`gf.datasets.streaming`) instead of by key. Every :class:`VideoQABuilder` accepts it.
STREAM_DEFAULTS: Dict[str, Any] = {
    "enabled": False,        # stream the train split (the store must be webdataset shards)
    "epoch_length": None,    # samples per process (rank) per epoch; required when enabled
    "shuffle_buffer": 1000,  # questions held in the shuffle buffer of each DataLoader worker; 0 = off
    "shard_shuffle": True,   # permute the shard list each epoch (the same way on every rank)
}


class VideoQABuilder(SplitProvenance, BaseBuilder):
    """What the benchmark builders share: config checks, the resources every split reads
    (one feature store, one event table, the class list, the answer vocabulary) and the
    per-split loop that turns annotation records into :class:`VideoQADataset`\\ s; what a
    split is built from (files, fingerprint, feature recipe) comes from :class:`SplitProvenance`.

    Why one class: the benchmarks differ in how their annotation files read, not in what a
    split is made of; with one loop a fix (or a new stat) reaches every benchmark. A
    subclass sets the class attributes below, implements :meth:`_records` and may extend
    :meth:`_check_config`, :meth:`_split_stats` or :meth:`info`. Which checks and inputs
    apply follows from the keys its ``DEFAULT_CONFIG`` declares (no ``events`` key: no
    event targets; no ``text_format``: the plain ``"{question} {option}"``).
    """

    display_name: str = ""  # names the benchmark's files in messages ("NExT-QA feature file")
    KEY_FIELDS: Tuple[str, ...] = ("video_id", "question_id")  # allowed values of key_field
    NUM_OPTIONS: Optional[int] = None  # multiple choice: options per question
    CLASS_KEY: Optional[str] = "action_mapping"  # config key of the event class list; None: no events
    CLASS_LIST_WHAT: str = "event class list"  # what messages call that file ("STAR action class list")
    # STAR reports its class count even without event targets (the model's event head is
    # sized from it); AGQA's class list only matters for its optional events.
    CLASSES_WITHOUT_EVENTS: bool = True
    EVENTS_KEY: str = "video_id"  # what `gf prepare` keys events.json by (named in an error)
    # Registered processors (kind ``processor``) that turn a store's features and a record's
    # texts into model inputs; a builder for other inputs names its own.
    VIDEO_PROCESSOR: str = "video_features"
    TEXT_PROCESSOR: str = "videoqa_text"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give every benchmark builder the ``stream`` key (:data:`STREAM_DEFAULTS`) and the
        HDF5 dataset names ``features_dataset`` / ``ids_dataset`` (``null``: the store's own).

        Why here and not in each ``DEFAULT_CONFIG``: how features are streamed or found in
        an HDF5 file is a property of the shared feature store, not of a benchmark; a builder
        declared with its own ``DEFAULT_CONFIG`` (a plugin's included) gets the keys without
        listing them, and the config schema, which reads ``DEFAULT_CONFIG``, accepts them. A
        builder that declares one itself keeps its own default.
        """
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("DEFAULT_CONFIG")
        if isinstance(own, dict):
            shared = {"stream": copy.deepcopy(STREAM_DEFAULTS), "features_dataset": None, "ids_dataset": None}
            cls.DEFAULT_CONFIG = {**shared, **own}

    def __init__(self, cfg: Optional[Mapping[str, Any]] = None):
        super().__init__(cfg)
        self._check_config()
        self._store = None
        self._vocab: Optional[List[str]] = None
        self._classes: Optional[List[str]] = None
        self._events: Optional["EventTable"] = None
        self._events_loaded = False
        self.stats = {"events": {}, "splits": {}} if "events" in self.config else {"splits": {}}

    # -- config ----------------------------------------------------------------------------
    def _bad(self, key: str, expected: str) -> None:
        raise ConfigError(f"{self.config_prefix}.{key} must be {expected}, got {self.config[key]!r}")

    def _check_config(self) -> None:
        """Fail at construction, naming the key, rather than mid-way through reading files."""
        c, p, bad = self.config, self.config_prefix, self._bad
        if c["key_field"] not in self.KEY_FIELDS:
            bad("key_field", f"one of {list(self.KEY_FIELDS)}")
        for key in ("max_feats", "max_events"):
            if key in c and not positive_int(c[key]):
                bad(key, "a positive integer")
        if c["feature_dim"] is not None and not positive_int(c["feature_dim"]):
            bad("feature_dim", "a positive integer or null")
        if not isinstance(c["seed"], int) or isinstance(c["seed"], bool):
            bad("seed", "an integer")
        if not isinstance(c["annotations"], dict):
            bad("annotations", "a mapping {split: annotation file}")
        if self.answer_mode == "oe" and not c["answer_vocab"]:
            bad("answer_vocab", f"the answer vocabulary file ({self.display_name} is open-ended)")
        for key in ("splits", "unlabelled_splits"):
            value = c.get(key, [])
            if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                bad(key, "a list of split names")
        unknown = [s for s in c["splits"] if s not in c["annotations"]]
        if unknown:
            raise DatasetError(f"{p}.splits names {unknown} but {p}.annotations only has {sorted(c['annotations'])}")
        if c.get("events") and not (self.CLASS_KEY and c.get(self.CLASS_KEY)):
            raise DatasetError(f"{p}.events is set but {p}.{self.CLASS_KEY} is not; "
                               f"event class ids need the class list")
        if "text_format" in c:
            from gf.processors.text import VideoQATextProcessor

            try:
                VideoQATextProcessor(c["text_format"])
            except ValueError as e:
                raise ConfigError(f"{p}.text_format: {e}") from None
        if "frame_probe" in c:
            from gf.datasets.videoqa import FRAME_PROBES

            if c["frame_probe"] not in FRAME_PROBES:
                bad("frame_probe", "null, shuffle or zeros")
        if "stream" in c:
            self._check_stream_config()
        if c.get("feature_format") is not None:  # a typo fails here, not when the store opens
            from gf.datasets.feature_stores import feature_store_class

            try:
                feature_store_class(c["feature_format"])
            except RegistryError as e:
                raise RegistryError(f"{p}.feature_format: {e}") from None

    def _check_stream_config(self) -> None:
        """``stream``: a mapping of the :data:`STREAM_DEFAULTS` keys with values of their kind.

        Checked key by key because dict-valued defaults merge one level deep and accept new
        keys (an extra split under ``annotations`` is legitimate), so a typo inside ``stream``
        would otherwise be kept and ignored.
        """
        p, value = f"{self.config_prefix}.stream", self.config["stream"]
        if not isinstance(value, dict):
            raise ConfigError(f"{p} must be a mapping with keys {', '.join(STREAM_DEFAULTS)}, got {value!r}")
        check_known_keys(value, STREAM_DEFAULTS, owner=self.config_prefix, error=ConfigError, prefix="stream.")
        for key in ("enabled", "shard_shuffle"):
            if not isinstance(value[key], bool):
                raise ConfigError(f"{p}.{key} must be true or false, got {value[key]!r}")
        buffer = value["shuffle_buffer"]
        if not isinstance(buffer, int) or isinstance(buffer, bool) or buffer < 0:
            raise ConfigError(f"{p}.shuffle_buffer must be an integer >= 0 (questions; 0 = no buffer), got {buffer!r}")
        length = value["epoch_length"]
        if length is not None and not positive_int(length):
            raise ConfigError(f"{p}.epoch_length must be a positive integer (samples per process per epoch) or "
                              f"null, got {length!r}")

    def streams(self) -> bool:
        """Whether the training split is read as a stream of shards (``stream.enabled``)."""
        return bool((self.config.get("stream") or {}).get("enabled"))

    def _check_streamable(self, store) -> None:
        """Streaming reads webdataset shards; any other store with ``stream.enabled`` is a
        config error (naming the key) rather than a silent fall-back to random access."""
        from gf.datasets.webdataset_store import WebDatasetStore

        if not isinstance(store, WebDatasetStore):
            p = self.config_prefix
            fmt = getattr(store, "format_name", "") or type(store).__name__
            raise ConfigError(
                f"{p}.stream.enabled is true but the feature store {getattr(store, 'path', store)} is a {fmt} "
                f"store; streaming reads webdataset shards. Point {p}.features at a folder of .tar shards "
                f"(gf extract --format webdataset, or gf.datasets.webdataset_store.write_webdataset_shards) or set "
                f"{p}.stream.enabled to false.")

    def _stream(self, ds: "VideoQADataset", store):
        """The training split ``ds`` wrapped as a stream over those of ``store``'s shards that
        hold at least one of its questions.

        Why only those: one extraction often writes every split into one folder, the training
        split's keys first (``gf extract --windows train.jsonl val.jsonl test.jsonl``), so
        some shards hold no training question. Given to a rank or worker, such a shard would
        be read for nothing, and a reader with only such shards would have nothing to yield.
        Which shard holds which key is known without reading data: the store's index (tar
        headers), already built when the split checked that its features exist.
        """
        from gf.datasets.streaming import StreamingVideoQADataset

        index = store._index()  # key -> (shard number, data offset, size)
        holding = {index[r[ds.key_field]][0] for r in ds.records}
        shards = [path for i, path in enumerate(store.shards) if i in holding]
        if len(shards) < len(store.shards):
            logger.info("%s %s: streaming the %d of %d shards that hold its questions", self.benchmark, ds.split,
                        len(shards), len(store.shards))
        stream, key = self.config["stream"], f"{self.config_prefix}.stream.epoch_length"
        streamed = StreamingVideoQADataset(ds, shards, epoch_length=stream["epoch_length"],
                                           shuffle_buffer=stream["shuffle_buffer"],
                                           shard_shuffle=stream["shard_shuffle"], ext=store.ext,
                                           epoch_length_key=key)
        streamed.check_epoch_length()  # fail now, before the model is built, not at the first epoch
        return streamed

    # -- shared resources (read once, shared by all splits) ----------------------------------
    def feature_store(self):
        """The one lazy store every split of this builder reads from."""
        if self._store is None:
            self._store = self._open_configured_store(f"{self.display_name} feature file")
        return self._store

    def class_names(self) -> Optional[List[str]]:
        """Lines of the class list (``None`` when this benchmark or config has none)."""
        key = self.CLASS_KEY
        if (self._classes is None and key and self.config.get(key)
                and (self.CLASSES_WITHOUT_EVENTS or self.config.get("events"))):
            path = self.require_path(key, self.config[key], self.CLASS_LIST_WHAT)
            self._classes = read_class_lines(path)
        return self._classes

    def event_table(self) -> Optional["EventTable"]:
        if not self._events_loaded:
            if self.config.get("events"):
                from gf.datasets.events import EventTable

                what = f"{self.display_name} events file"
                path = self.require_path("events", self.config["events"], what)
                classes = self.class_names()
                self._events = EventTable.from_raw(load_json(path, what), source=str(path),
                                                   num_classes=len(classes) if classes else None)
                self.stats["events"] = dict(self._events.stats)
            self._events_loaded = True
        return self._events

    def grounding(self) -> Optional[Dict[str, Tuple[int, int]]]:
        """The ``grounding`` file (:mod:`gf.datasets.grounding`) when the config names one."""
        if not self.config.get("grounding"):
            return None
        if not self.config.get("events"):
            raise DatasetError(f"{self.config_prefix}.grounding is set but {self.config_prefix}.events is not; "
                               f"grounding positions refer to the annotated events")
        from gf.datasets.grounding import grounding_from_raw

        what = f"{self.display_name} grounding file"
        path = self.require_path("grounding", self.config["grounding"], what)
        return grounding_from_raw(load_json(path, what), source=str(path))

    def answer_vocab(self) -> Optional[List[str]]:
        """Open-ended answers; index = label = the model's answer index (``None`` for mc)."""
        if self.answer_mode != "oe":
            return None
        if self._vocab is None:
            what = f"{self.display_name} answer vocabulary"
            path = self.require_path("answer_vocab", self.config["answer_vocab"], what)
            # checked here, whatever the benchmark's layout (_answer_list)
            self._vocab = check_answer_vocab(self._answer_list(load_json(path, what), path), path)
        return self._vocab

    def _answer_list(self, data: Any, path: Path) -> Any:
        """Hook: the vocabulary file's JSON -> the answer list (index = label). By default the
        file is that list; a benchmark with another layout (AGQA's HCRN-style files) overrides
        this and leaves the checks to :meth:`answer_vocab`."""
        return data

    # -- per split ---------------------------------------------------------------------------
    def _records(self, path: Path) -> List[Dict[str, Any]]:
        """One split's annotation file -> dataset records (the dataset validates values)."""
        raise NotImplementedError

    def _annotation_record(self, row: Mapping[str, Any], path: Path, i: int, qid: Any, *, answer: Any,
                               fields: Dict[str, Any]) -> Dict[str, Any]:
        """The dataset record ``_records`` makes of row ``i`` of the annotation file at
        ``path`` (the layout its converter writes): the question, the options (multiple choice
        only), ``answer`` and ``fields``, plus the ``key_field`` value as text when features are
        not keyed by the question id. A multiple-choice row without options is refused, naming
        the row: the dataset would otherwise take the question as open-ended."""
        options = row.get("options") if self.answer_mode == "mc" else None
        if self.answer_mode == "mc" and options is None:
            raise DataFileError(f"{path}: record {i} (question_id {qid!r}) has no 'options'; {self.display_name} "
                                f"questions have {self.NUM_OPTIONS}")
        rec = {"question_id": qid, "question": row.get("question"), "options": options, "answer": answer, "fields": fields}
        key_field = self.config["key_field"]
        if key_field != "question_id":
            rec[key_field] = self._id_text(row.get(key_field))
        return rec

    @staticmethod
    def _objects(rows: Iterable[Any], path: Path) -> Iterator[Tuple[int, Dict[str, Any]]]:
        """``(i, row)`` for the rows of an annotation file, each of which must be a JSON object;
        checked here so every ``_records`` says so naming file and record, rather than
        failing on a field lookup."""
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise DataFileError(f"{path}: record {i} is {type(row).__name__}, expected a JSON object")
            yield i, row

    @staticmethod
    def _id_text(value: Any) -> Any:
        """An integer id as a string (features, events and predictions are keyed by strings);
        anything else unchanged, for the dataset to check. ``True`` is not an id."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def _split_stats(self, split: str, ds: "VideoQADataset") -> Dict[str, Any]:
        """Counts the builder adds to a split's stats, after one check for every benchmark
        with events: an events file keyed differently from the records (by question id while
        ``key_field`` is ``video_id``, say) would train every question without event targets
        and say nothing, so it fails instead. Open-ended: answers outside the vocabulary,
        label -1 -- kept and scored wrong, so a large count (files that do not belong
        together) deserves a warning rather than silence."""
        events, key = self.event_table(), self.config["key_field"]
        absent = [r["question_id"] for r in ds.records if r[key] not in events] if events is not None else []
        if events is not None and len(events) and len(ds) and len(absent) == len(ds):
            raise DataFileError(f"{self.config_prefix}: no question of split {split!r} finds its clip in the "
                                f"events file (looked up by {key}); the events file is keyed "
                                f"differently (the converter keys it by {self.EVENTS_KEY})")
        if absent:  # said, not absorbed: a partial events file would look like clips without events
            logger.warning("%s %s: %d of %d question(s) find no entry for their clip in the events file %s (e.g. "
                           "%s); they train as clips without events (no event targets)", self.benchmark, split,
                           len(absent), len(ds),
                           self.require_path("events", self.config["events"], f"{self.display_name} events file"),
                           ", ".join(map(str, absent[:3])))
        if self.answer_mode != "oe":
            return {}
        from gf.evaluation.core import OOV_ANSWER  # here: converters import this module

        oov = sum(r["answer"] == OOV_ANSWER for r in ds.records)  # after skip_file
        if oov:
            logger.warning("%s %s: %d question(s) have an answer outside the %d-answer vocabulary; they are "
                           "kept with label -1 and scored wrong", self.benchmark, split, oov, len(self.answer_vocab()))
        return {"answers_outside_vocab": oov}

    # -- public API --------------------------------------------------------------------------
    def build_datasets(self, splits: Optional[Sequence[str]] = None, *,
                       features: bool = True) -> Dict[str, "VideoQADataset"]:
        """One :class:`VideoQADataset` per split. ``features=False`` builds the splits for
        scoring only (questions, answers, categories, videos) without opening the feature
        store, so a predictions file can be scored where the features are absent; such a
        split refuses to give samples."""
        from gf.datasets.videoqa import VideoQADataset
        from gf.processors.text import DEFAULT_TEXT_FORMAT

        c = self.config
        video_processor = registry.get("processor", self.VIDEO_PROCESSOR)
        text_processor = registry.get("processor", self.TEXT_PROCESSOR)(c.get("text_format", DEFAULT_TEXT_FORMAT))
        splits = self._requested_splits(splits)
        # Resolve every path before reading anything, so a wrong data_root fails at once.
        ann_paths = {s: self.require_path(f"annotations.{s}", c["annotations"][s],
                                          f"{self.display_name} annotation file for split {s!r}") for s in splits}
        vocab = self.answer_vocab()
        store = self.feature_store() if features else None
        streams = features and self.streams()
        if streams:
            self._check_streamable(store)
        # The dimension every sample is checked against: the configured one, else the store's
        # first key's. Passed to the processor so a store mixing dimensions fails at the
        # sample that differs (naming its key), in training and evaluation alike.
        feature_dim = c["feature_dim"] or (store.feature_dim if store is not None else None)
        events = self.event_table()
        grounding = self.grounding()
        skip_ids, skip_source = self._skip_ids()
        datasets: Dict[str, VideoQADataset] = {}
        for split in splits:
            train = split == "train"
            records = self._records(ann_paths[split])
            if not records:  # a run on it would "succeed" doing nothing
                raise DatasetError(
                    f"{self.config_prefix}: {ann_paths[split]} has no questions for split {split!r}; a run on it "
                    f"would train or score nothing. Point {self.config_prefix}.annotations.{split} at the split's "
                    f"annotation file, or leave {split!r} out of the splits you ask for."
                )
            if split in c.get("unlabelled_splits", []):  # a dummy label must not be scored (B6/B7)
                for rec in records:
                    rec["answer"] = None
            ds = VideoQADataset(
                records, store, video_processor(c["max_feats"], feature_dim, train=train), events,
                split=split, benchmark=self.benchmark, max_events=c.get("max_events"), train=train, seed=c["seed"],
                key_field=c["key_field"], text_format=c.get("text_format", DEFAULT_TEXT_FORMAT),
                skip_ids=skip_ids, skip_source=skip_source, source=str(ann_paths[split]), num_options=self.NUM_OPTIONS,
                num_answers=len(vocab) if vocab is not None else None, text_processor=text_processor,
                frame_probe=c.get("frame_probe"), grounding=grounding,
                grounding_source=str(self.resolve_path(c["grounding"])) if grounding is not None else None,
                config_prefix=self.config_prefix,
            )
            ds.stats.update(self._split_stats(split, ds))
            self.stats["splits"][split] = dict(ds.stats)
            logger.info("%s %s: %s", self.benchmark, split, ds.stats)
            # only the training split streams: evaluation must see every question exactly once
            datasets[split] = self._stream(ds, store) if train and streams else ds
        return datasets

    def info(self, *, features: bool = True) -> Dict[str, Any]:
        """What the runner, the model and the evaluators need to know about this benchmark:
        sizes, the answer vocabulary, the event ``class_names`` (the class list's lines, or
        ``None``) and the ``feature_recipe`` (:meth:`feature_recipe`); the last two travel
        with every checkpoint, so its predictions can be read and its features reproduced.
        ``features=False`` (scoring only): what the feature store would say is left out
        (``feature_dim`` unless configured, ``feature_recipe``), so the store is not opened."""
        classes = self.class_names()
        num_classes = len(classes) if classes is not None else None
        return {
            "num_options": self.NUM_OPTIONS,
            "num_event_classes": num_classes,
            "event_pred_dim": num_classes + 1 if num_classes is not None else None,  # + background
            "feature_dim": self.config["feature_dim"] or (self.feature_store().feature_dim if features else None),
            "max_feats": self.config["max_feats"],
            "max_events": self.config.get("max_events"),
            "answer_vocab": list(self.answer_vocab()) if self.answer_mode == "oe" else None,
            "class_names": list(classes) if classes is not None else None,
            "feature_recipe": self.feature_recipe() if features else None,
        }
