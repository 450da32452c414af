"""Applying a probe to samples and to whole splits.

Why after the sample is built: :meth:`VideoQADataset.sample_from_features
<gf.datasets.videoqa.VideoQADataset.sample_from_features>` is where every benchmark's
features, whatever their store, become ``video`` / ``video_mask`` / ``spans``; perturbing
there keeps one probe code path for random access, streaming and every builder, and leaves
the frame sampling, the checks and the event targets exactly as evaluation sees them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Union

import torch
from torch.utils.data import Dataset, IterableDataset

from gf.common.errors import ConfigError, DatasetError
from gf.probes.frames import Probe, event_blocks, get_probe, question_seed

__all__ = ["ProbeOutcome", "ProbedDataset", "apply_probe", "coverage_warning", "probe_coverage", "probe_sample"]

ProbeLike = Union[str, Probe]

#: Why a probe left a sample unchanged although it applies to it (e.g. a clip whose frames
#: are all alike under ``static``); a clip with one real frame gets ``ONE_FRAME`` instead.
NO_EFFECT = "the perturbed frames equal the original ones"
NO_FRAMES = "the clip has no real frames"
ONE_FRAME = "the clip has one real frame"
#: Below this share of changed clips a probe's figures are mostly the unchanged clips' (a warning says so).
FEW_CHANGED = 0.5


@dataclass(frozen=True)
class ProbeOutcome:
    """A probed sample, whether its video changed, and if not, why (``reason``)."""

    sample: Dict[str, Any]
    changed: bool
    reason: Optional[str] = None


def _real_rows(sample: Mapping[str, Any]) -> torch.Tensor:
    """Positions of the real frames: ``video_mask`` checked against ``video``."""
    video, mask = sample.get("video"), sample.get("video_mask")
    if not isinstance(video, torch.Tensor) or video.ndim != 2:
        raise DatasetError(f"question {sample.get('question_id')!r}: a probe needs the processed video "
                           f"[T, D], got {getattr(video, 'shape', type(video).__name__)}")
    if not isinstance(mask, torch.Tensor) or mask.shape != video.shape[:1]:
        raise DatasetError(f"question {sample.get('question_id')!r}: a probe needs video_mask [T] "
                           f"(True = real frame) with T = {len(video)}, got {getattr(mask, 'shape', mask)!r}")
    return mask.bool().nonzero().flatten()


def probe_sample(sample: Mapping[str, Any], probe: ProbeLike, seed: int = 0, *,
                 source_frames: Optional[int] = None) -> ProbeOutcome:
    """``sample`` with ``probe`` applied to its real frames, seeded by ``(seed, question_id)``.

    ``source_frames``: as :func:`~gf.probes.frames.event_blocks` takes it. The sample is
    not modified: the result holds a new ``video`` and shares everything else.
    """
    probe = get_probe(probe)
    if "question_id" not in sample:
        raise DatasetError("a probe needs the sample's question_id (it seeds the perturbation)")
    rows = _real_rows(sample)
    video = sample["video"]
    if len(rows) == 0:
        return ProbeOutcome(dict(sample), False, NO_FRAMES)
    frames = video.index_select(0, rows)
    spans = sample.get("spans")
    blocks = None if spans is None else event_blocks(spans, len(rows), source_frames)
    out = probe.perturb(frames, blocks, question_seed(seed, str(sample["question_id"])))
    unchanged = ONE_FRAME if len(rows) == 1 else NO_EFFECT  # one frame: nothing to reorder, average or swap
    if out is None:
        return ProbeOutcome(dict(sample), False, probe.skip_reason or unchanged)
    if out.shape != frames.shape:
        raise DatasetError(f"probe {probe.name!r} returned frames of shape {tuple(out.shape)} for "
                           f"{tuple(frames.shape)}; a probe must keep the number of frames and their size")
    new = video.clone()
    new[rows] = out.to(video.dtype)
    changed = not torch.equal(new, video)
    return ProbeOutcome({**sample, "video": new}, changed, None if changed else unchanged)


def apply_probe(sample: Mapping[str, Any], probe: ProbeLike, seed: int = 0, *,
                source_frames: Optional[int] = None) -> Dict[str, Any]:
    """The probed sample (see :func:`probe_sample`); the form a streaming pipeline maps with."""
    return probe_sample(sample, probe, seed, source_frames=source_frames).sample


def _probed_item(dataset: Any, index: int, probe: Probe, seed: int) -> ProbeOutcome:
    """Question ``index`` of ``dataset``, probed; read as raw features and built by the split
    when it can (a :class:`~gf.datasets.videoqa.VideoQADataset`), so the clip's length before
    sampling is known, else as ``dataset[index]``."""
    if hasattr(dataset, "read_features") and hasattr(dataset, "sample_from_features"):
        feats = dataset.read_features(index)
        return probe_sample(dataset.sample_from_features(index, feats), probe, seed, source_frames=len(feats))
    return probe_sample(dataset[index], probe, seed)


def _split_name(dataset: Any) -> str:
    return f"{getattr(dataset, 'benchmark', type(dataset).__name__)} {getattr(dataset, 'split', '')}".strip()


def _check_events(dataset: Any, probe: Probe) -> None:
    """A probe that needs events on a split that has none would change nothing and report
    a flip rate of 0 that looks like a finding; refuse it up front."""
    if not probe.needs_events:
        return
    stats = getattr(dataset, "stats", None)
    if isinstance(stats, Mapping) and "no_events" in stats and "questions" in stats:
        has_events = stats["no_events"] < stats["questions"]
    else:
        events = getattr(dataset, "events", None)
        has_events = None if events is None else len(getattr(events, "classes", ())) > 0
    if has_events is False:
        raise ConfigError(f"probe {probe.name!r} needs annotated events; {_split_name(dataset)} has none. "
                          f"Use a probe that needs no events (e.g. shuffle, reverse, static).")


class ProbedDataset(Dataset):
    """A split whose every sample is probed: ``ProbedDataset(dataset, "shuffle", seed=0)``.

    Stands in for the split wherever it is read: every attribute it lacks comes from the
    wrapped split. ``sample_from_features`` is probed too, so a streaming dataset built
    over a ``ProbedDataset`` streams probed samples. A streamed split
    (:class:`~gf.datasets.streaming.StreamingVideoQADataset`) is probed through the
    random-access split beneath it, which is what evaluation reads.

    ``probe_seed`` (not ``seed``: that stays the split's own, read by streaming) seeds the
    per-question draws. Picklable, so DataLoader workers probe alike.
    """

    def __init__(self, dataset: Any, probe: ProbeLike, seed: int = 0):
        if isinstance(dataset, IterableDataset):
            inner = getattr(dataset, "dataset", None)
            if inner is None:
                raise DatasetError(f"{_split_name(dataset)}: a probe needs a split read by index; this one is "
                                   f"only a stream")
            dataset = inner
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"the probe seed must be an integer, got {seed!r}")
        self.probe = get_probe(probe)
        _check_events(dataset, self.probe)
        self.dataset = dataset
        self.probe_seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        return _probed_item(self.dataset, index, self.probe, self.probe_seed).sample

    def sample_from_features(self, index: int, feats: torch.Tensor) -> Dict[str, Any]:
        return apply_probe(self.dataset.sample_from_features(index, feats), self.probe, self.probe_seed,
                           source_frames=len(feats))

    def provenance(self) -> Dict[str, Any]:
        """What to record next to a probed report: ``{"probe": name, "probe_seed": seed}``."""
        return {"probe": self.probe.name, "probe_seed": self.probe_seed}

    def coverage(self) -> Dict[str, Any]:
        """:func:`probe_coverage` of this split under this probe."""
        return probe_coverage(self.dataset, self.probe, self.probe_seed)

    def __getattr__(self, name: str) -> Any:
        # only called for what the instance lacks; ``__dict__`` is looked up directly, so an
        # instance being unpickled (no ``dataset`` yet) does not recurse
        dataset = self.__dict__.get("dataset")
        if dataset is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(dataset, name)

    def __repr__(self) -> str:
        return f"ProbedDataset({self.dataset!r}, probe={self.probe.name!r}, seed={self.probe_seed})"


def probe_coverage(dataset: Any, probe: ProbeLike, seed: int = 0) -> Dict[str, Any]:
    """How many questions of a split ``probe`` changes, and which it could not, and why.

    Why a separate pass: DataLoader workers cannot report back what they did, and a flip
    rate means little without the share of questions whose video the probe changed (e.g.
    ``swap_events`` on clips with fewer than two events). Reads every sample once.

    Returns ``{"probe", "probe_seed", "questions", "changed", "unchanged", "unchanged_ids",
    "reasons": {reason: count}}``.
    """
    if isinstance(dataset, ProbedDataset):
        dataset = dataset.dataset
    probe = get_probe(probe)
    unchanged: List[str] = []
    reasons: Dict[str, int] = {}
    for index in range(len(dataset)):
        outcome = _probed_item(dataset, index, probe, seed)
        if not outcome.changed:
            unchanged.append(str(outcome.sample["question_id"]))
            reasons[outcome.reason] = reasons.get(outcome.reason, 0) + 1
    return {"probe": probe.name, "probe_seed": seed, "questions": len(dataset),
            "changed": len(dataset) - len(unchanged), "unchanged": len(unchanged),
            "unchanged_ids": unchanged, "reasons": reasons}


def coverage_warning(coverage: Mapping[str, Any]) -> Optional[str]:
    """What to say when a probe changed no question's clip, or those of fewer than
    :data:`FEW_CHANGED` of the questions (``coverage``: :func:`probe_coverage`'s record, which
    counts questions: several may share one video); None otherwise.

    Why: a drop of 0 and no flipped answer read as "the model ignores what the probe
    removes", but on clips the probe could not change they only mean it saw the same video.
    """
    total, changed = int(coverage["questions"]), int(coverage["changed"])
    if total == 0 or changed >= FEW_CHANGED * total:
        return None
    why = "; ".join(f"{reason} ({n})" for reason, n in sorted(coverage.get("reasons", {}).items(), key=lambda r: -r[1]))
    probe = coverage.get("probe", "the probe")
    if changed == 0:
        return (f"{probe} changed no question's clip (all {total} unchanged: {why}); its drop, flip rate and p say "
                f"nothing about the model")
    return (f"{probe} changed the clips of only {changed} of {total} questions ({100 * changed / total:.0f}%; "
            f"unchanged: {why}); its drop and flip rate are over all {total}, so they understate the effect on the "
            f"changed clips")
