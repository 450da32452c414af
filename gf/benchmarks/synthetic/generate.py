"""A synthetic multi-event VideoQA benchmark in the authors' STAR layout, for the offline demo.

Why it exists: the demo must show, on CPU and offline, whether a model reasons about
*multiple events and their order* -- and expose a model that does not. So the benchmark is
written exactly like the authors' STAR bundle and goes through the real STAR builder, and
its questions are built so that no cheap cue gives the answer away (how, type by type:
docs/data_formats.md §5).

Versions (``SyntheticStarConfig.version``; 1 is the default): the two version-1 shortcuts
that ``tests/test_synthetic_audit.py`` found and what version 2 changes against them are
in docs/data_formats.md §5 ("Generator versions"); how version 2 draws a Sequence
question: :meth:`.questions.QuestionMaker._answer_first`.

Time frame: one feature row per second (like S3D), so event ``[class, s, e]`` covers rows
``s .. e-1`` of the clip and ``duration == T``. Each question has its own clip (keyed by
``question_id``, as in STAR); ``video_id`` is ``syn<number>``.
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

from gf.benchmarks.synthetic.config import NUM_OPTIONS, QUESTION_TYPES, SPLITS, VERSION_RULES, SyntheticStarConfig
from gf.benchmarks.synthetic.questions import ActionVocabulary, Draft, QuestionMaker, class_files
from gf.common.errors import DataFileError
from gf.common.io import atomic_write_jsonl, current_umask, load_json
from gf.common.utils import PathLike

__all__ = ["FORMAT_VERSION", "GENERATOR_NAME", "SyntheticBenchmarkError", "ensure_synthetic_star",
           "generate_synthetic_star"]

#: Bumped whenever the same config would produce different files. 2: ``txt_db/grounding.json``
#: added (every other file as in format 1).
FORMAT_VERSION = 2
#: Written into ``meta.json`` and README.md (this module's former path, kept so folders stay byte-identical).
GENERATOR_NAME = "gf.datasets.synthetic"


class SyntheticBenchmarkError(DataFileError):
    """An existing synthetic benchmark folder cannot be reused; the message says what to do."""


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
    rows = np.linalg.qr(raw)[0].T if k <= d else raw.T
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
    maker = QuestionMaker(cfg, vocab, routine)

    built = _Built({}, {}, {}, {})
    number = 0
    for split, split_seed in zip(SPLITS, split_seeds):
        # One stream per (split, type): a split's content does not depend on the sizes of
        # the other splits, and adding a type later would not reshuffle the others.
        type_seeds = split_seed.spawn(len(QUESTION_TYPES) + 1)
        drafts: List[Tuple[str, Draft, int, np.ndarray, List[Tuple[int, int]]]] = []
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
    sequence = VERSION_RULES[cfg.version].sequence_options
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
    for name, text in class_files(vocab).items():
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
    ``out_dir`` only when complete, so an interrupted run never leaves a folder that
    :func:`ensure_synthetic_star` would later trust. ``overwrite=True`` replaces an
    existing folder only if it is a synthetic benchmark (has this generator's
    ``meta.json``); any other folder is refused, so a mistyped path never deletes real data.
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
