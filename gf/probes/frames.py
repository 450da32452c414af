"""The temporal probes themselves: functions from a clip's real frames to perturbed frames.

Why on the real frames only: every feature store and builder ends in the same processed
sample (``video [T, D]``, ``video_mask [T]``, ``spans``), so a probe written against the
``n`` real rows works for every benchmark, and the padding (which a model may or may not
mask) is never touched. :mod:`gf.probes.dataset` cuts the real rows out of a sample, calls
a probe and puts the result back. What each probe shows: docs/probes.md, "The probes".

A probe is a :class:`Probe`: its ``perturb(frames [n, D], blocks, seed)`` returns the new
``[n, D]`` frames, or ``None`` when it cannot perturb this clip (then ``skip_reason`` says
why). ``blocks`` are the annotated events as frame ranges ``[first, stop)`` of the real
frames (:func:`event_blocks`), or ``None`` when the sample has no ``spans``. ``seed`` is
the question's seed (:func:`question_seed`); probes that draw nothing ignore it.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from gf.common.registry import registry

__all__ = [
    "PROBES",
    "Probe",
    "event_blocks",
    "get_probe",
    "probe_names",
    "question_seed",
    "register_probe",
    "swap_order",
    "swap_pair",
]

#: Registry of probes by name (``get_probe`` / ``probe_names``); an unknown name is a
#: ``RegistryError`` that lists the known ones and the close ones.
PROBES = registry.kind("probe")  # gf list probes

#: Why ``swap_events`` leaves a clip as it is.
NO_EVENT_PAIR = "fewer than two annotated events that do not overlap (in frames)"

Perturb = Callable[[torch.Tensor, Optional[List[Tuple[int, int]]], int], Optional[torch.Tensor]]


@dataclass(frozen=True)
class Probe:
    """A named perturbation of a clip's real frames (see the module docs).

    ``needs_events``: the probe reads the events' frame blocks; a split without annotated
    events cannot be probed with it. ``summary``: one line for listings and reports.
    """

    name: str
    perturb: Perturb
    needs_events: bool = False
    summary: str = ""
    skip_reason: str = ""

    def __repr__(self) -> str:
        return f"Probe({self.name!r})"


def register_probe(name: str, perturb: Perturb, *, needs_events: bool = False, summary: str = "",
                   skip_reason: str = "") -> Probe:
    """Register ``perturb`` as probe ``name`` (a plugin may add its own) and return it."""
    probe = Probe(name, perturb, needs_events, summary, skip_reason)
    PROBES.register(name, probe)
    return probe


def get_probe(name) -> Probe:
    """The probe called ``name`` (a :class:`Probe` is returned as it is)."""
    if isinstance(name, Probe):
        return name
    return PROBES.get(name)


def probe_names() -> List[str]:
    """The registered probe names, sorted."""
    return PROBES.names()


def question_seed(probe_seed: int, question_id: str) -> int:
    """The seed of one question's draws: a hash of ``(probe_seed, question_id)``, below
    2**63 (what ``torch.Generator.manual_seed`` takes).

    Not ``hash()``, which Python salts per process: workers, ranks and reruns must draw
    alike (docs/probes.md, "Seeds").
    """
    text = f"gf-probe/{int(probe_seed)}/{question_id}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") >> 1


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


# ---------------------------------------------------------------------------------------
# order probes
# ---------------------------------------------------------------------------------------
def _shuffle(frames: torch.Tensor, blocks, seed: int) -> torch.Tensor:
    """A random order of the real frames; a draw that keeps the order is drawn again, so
    every clip of two or more frames is changed (two frames: always swapped)."""
    n = len(frames)
    if n < 2:
        return frames
    gen = _generator(seed)
    identity = torch.arange(n)
    perm = torch.randperm(n, generator=gen)
    while torch.equal(perm, identity):
        perm = torch.randperm(n, generator=gen)
    return frames[perm]


def _reverse(frames: torch.Tensor, blocks, seed: int) -> torch.Tensor:
    return frames.flip(0)


# ---------------------------------------------------------------------------------------
# static probes: one frame over the whole real length
# ---------------------------------------------------------------------------------------
def _static(frames: torch.Tensor, blocks, seed: int, *, frame: str) -> torch.Tensor:
    """``frame``: ``first``, ``middle`` (row ``n // 2``, the frame covering the clip's
    midpoint), ``last`` or ``mean`` (the mean of the real frames)."""
    n = len(frames)
    if frame == "mean":
        row = frames.float().mean(0).to(frames.dtype)
    else:
        row = frames[{"first": 0, "middle": n // 2, "last": n - 1}[frame]]
    return row.unsqueeze(0).expand(n, -1).clone()


# ---------------------------------------------------------------------------------------
# no-video probes
# ---------------------------------------------------------------------------------------
def _zeros(frames: torch.Tensor, blocks, seed: int) -> torch.Tensor:
    return torch.zeros_like(frames)


def _noise(frames: torch.Tensor, blocks, seed: int) -> torch.Tensor:
    """Gaussian noise with the clip's own per-dimension mean and (population) standard
    deviation: the feature scale is kept, so a model cannot tell it from its inputs' range,
    but nothing of the content or order is left."""
    x = frames.float()
    mean, std = x.mean(0), x.std(0, unbiased=False)
    noise = torch.randn(x.shape, generator=_generator(seed), dtype=torch.float32)
    return (noise * std + mean).to(frames.dtype)


# ---------------------------------------------------------------------------------------
# swap_events
# ---------------------------------------------------------------------------------------
def event_blocks(spans, num_frames: int, source_frames: Optional[int] = None) -> List[Tuple[int, int]]:
    """Each event's frames ``[first, stop)`` among ``num_frames`` real frames: those whose
    shown feature row has its centre inside the event (one block, as the rows shown grow
    with the frame; empty when there are none).

    ``spans`` are normalised ``(centre, width)`` rows; ``source_frames`` (``S``) is the
    clip's number of rows before sampling, row ``r`` covering ``r/S .. (r+1)/S`` of it;
    without it the frames are taken as the rows themselves. Which row a frame shows (after
    :func:`gf.processors.video.sample_frames`): docs/probes.md, "swap_events", step 1.
    """
    spans = torch.as_tensor(spans, dtype=torch.float64).reshape(-1, 2)
    n = int(num_frames)
    rows = max(int(source_frames or n), n)
    blocks = []
    for centre, width in spans.tolist():
        # first row whose centre (r + 0.5) / rows is at or past the boundary ...
        lo = math.ceil((centre - width / 2) * rows - 0.5)
        hi = math.ceil((centre + width / 2) * rows - 0.5)
        # ... and the first frame showing such a row: t * rows // n >= r  <=>  t >= r * n / rows
        first, stop = -(-lo * n // rows), -(-hi * n // rows)
        blocks.append((min(max(first, 0), n), min(max(stop, 0), n)))
    return blocks


def _candidate_pairs(blocks: Sequence[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Adjacent event pairs ``(i, j)``: ``j`` is the first event (in start order) that begins
    once ``i`` has ended. Pairs of empty blocks or overlapping events are never candidates."""
    order = sorted(range(len(blocks)), key=lambda k: blocks[k])
    pairs = []
    for pos, i in enumerate(order):
        first_i, stop_i = blocks[i]
        if stop_i <= first_i:
            continue
        nxt = next((j for j in order[pos + 1:] if blocks[j][1] > blocks[j][0] and blocks[j][0] >= stop_i), None)
        if nxt is not None:
            pairs.append((i, nxt))
    return pairs


def swap_pair(blocks: Sequence[Tuple[int, int]], seed: int) -> Optional[Tuple[int, int]]:
    """Which two events ``swap_events`` exchanges (indices into ``blocks``, the events'
    frames from :func:`event_blocks`), or ``None``: one adjacent pair, drawn uniformly
    with the question's seed (why adjacent: docs/probes.md, "swap_events", step 2).
    """
    pairs = _candidate_pairs(blocks)
    if not pairs:
        return None
    return pairs[int(torch.randint(len(pairs), (1,), generator=_generator(seed)))]


def swap_order(num_frames: int, a: Tuple[int, int], b: Tuple[int, int]) -> torch.Tensor:
    """The frame order that exchanges blocks ``a = [sa, ea)`` and ``b = [sb, eb)``, ``ea <= sb``.

    ``P A M B S`` becomes ``P B M A S`` (docs/probes.md, "swap_events", step 3).
    """
    (sa, ea), (sb, eb) = a, b
    if not 0 <= sa <= ea <= sb <= eb <= num_frames:
        raise ValueError(f"swap_order needs 0 <= sa <= ea <= sb <= eb <= {num_frames}, got a={a}, b={b}")
    parts = [(0, sa), (sb, eb), (ea, sb), (sa, ea), (eb, num_frames)]
    return torch.cat([torch.arange(lo, hi) for lo, hi in parts])


def _swap_events(frames: torch.Tensor, blocks, seed: int) -> Optional[torch.Tensor]:
    pair = None if blocks is None else swap_pair(blocks, seed)
    if pair is None:
        return None
    return frames[swap_order(len(frames), blocks[pair[0]], blocks[pair[1]])]


# ---------------------------------------------------------------------------------------
# the built-in probes
# ---------------------------------------------------------------------------------------
register_probe("shuffle", _shuffle, summary="real frames in a random order (seeded per question)")
register_probe("reverse", _reverse, summary="real frames in reverse order")
register_probe("static", partial(_static, frame="mean"), summary="the mean real frame, repeated")
for _where in ("first", "middle", "last"):
    register_probe(f"static_{_where}", partial(_static, frame=_where), summary=f"the {_where} real frame, repeated")
del _where
register_probe("zeros", _zeros, summary="real frames set to zero")
register_probe("noise", _noise, summary="Gaussian noise with the clip's per-dimension mean and std")
register_probe("swap_events", _swap_events, needs_events=True, skip_reason=NO_EVENT_PAIR,
               summary="two adjacent annotated events exchange places")
