"""What one feature row is made of: the streams of an extraction, their inputs and their forward passes.

Three kinds of run share this code:

* ``frames``: a timm image model on single frames (``--backbone NAME``);
* ``clips``: a clip-level video model (``--backbone torchvision:NAME`` or ``hf:...``), one
  row per clip;
* ``appearance`` + ``motion``: a timm model on each clip's middle frame (by position), and a
  clip model on the clip (``--backbone NAME --motion-backbone torchvision:NAME``), one row
  per clip, the two features side by side (HCRN and HGA's appearance + motion). Both
  streams come from one decoding, so row i of both belongs to the same clip (where the
  appearance frame lies in time: :mod:`gf.extraction.clips`).

Decoding and preprocessing happen in :class:`FrameDataset` (DataLoader workers), the
forward passes in :func:`embed_and_write` (the main process); why: :mod:`gf.extraction.extract`.

A sample's ``rows`` index the units of its video's item (unique frames, or unique clips:
windows of one video that share a clip embed it once).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Sequence

import numpy as np

from gf.extraction import decode
from gf.extraction.clips import clip_sampler, frame_sampler

__all__ = ["Stream", "FrameDataset", "build_streams", "make_sampler", "embed_and_write", "units",
           "warn_random_weights"]

logger = logging.getLogger("gf.extraction.extract")  # the extraction's logger, where its other messages go


@dataclass
class Stream:
    role: str  # "frames" | "clips" | "appearance" | "motion": the key of its input in an item
    backbone: Any  # gf.extraction.backbone.Backbone or gf.extraction.clip_backbone.ClipBackbone


def build_streams(o, device: str) -> List[Stream]:
    """The streams ``o`` (checked :class:`~gf.extraction.extract.ExtractOptions`) asks for, built."""
    from gf.extraction.backbone import create_backbone
    from gf.extraction.clip_backbone import create_clip_backbone, is_clip_backbone

    if is_clip_backbone(o.backbone):
        clip = create_clip_backbone(o.backbone, weights=o.weights, pretrained=o.pretrained, seed=o.seed,
                                    input_size=o.input_size, clip_len=o.clip_len, device=device)
        o.clip_len = clip.clip_len
        return [Stream("clips", clip)]
    frame = create_backbone(o.backbone, weights=o.weights, pretrained=o.pretrained, seed=o.seed,
                            input_size=o.input_size, device=device)
    if not o.motion_backbone:
        return [Stream("frames", frame)]
    motion = create_clip_backbone(o.motion_backbone, weights=o.motion_weights, pretrained=o.motion_pretrained,
                                  seed=o.seed, input_size=o.motion_input_size, clip_len=o.clip_len, device=device)
    o.clip_len = motion.clip_len
    return [Stream("appearance", frame), Stream("motion", motion)]


def warn_random_weights(streams: Sequence[Stream]) -> None:
    """Say so when a stream's backbone has random weights: its features carry no learned
    meaning (the recipe records it, but a forgotten ``--pretrained`` would otherwise pass
    unseen until a model trained on them fails to learn)."""
    for s in streams:
        source = s.backbone.weights
        if source.get("kind") == "random-init":
            which = f"{s.role} backbone" if s.role in ("appearance", "motion") else "backbone"
            logger.warning("gf extract: the %s %s has random weights (seed %s): its features are for tests and "
                           "benchmarks only; give %s for features a model can learn from", which, s.backbone.name,
                           source.get("seed"),
                           "--motion-weights FILE or --motion-pretrained" if s.role == "motion" else
                           "--weights FILE or --pretrained")


def make_sampler(o, streams: Sequence[Stream]) -> Callable:
    """The picklable sampler :func:`gf.extraction.decode.decode_video` calls per window."""
    if streams[0].role == "frames":
        return functools.partial(frame_sampler, num_frames=o.num_frames, fps=o.fps)
    return functools.partial(clip_sampler, clip_len=o.clip_len, clip_stride=o.clip_stride, num_clips=o.num_clips,
                             clips_per_second=o.clips_per_second, appearance=streams[0].role == "appearance")


def units(item: Dict[str, Any]) -> int:
    """How many rows (frames or clips) an item gives each stream."""
    return len(next(iter(item["inputs"].values())))


# ---------------------------------------------------------------------------------------
# decoding + preprocessing, in DataLoader workers
# ---------------------------------------------------------------------------------------
class FrameDataset:
    """Map-style dataset: item ``i`` is job ``i`` decoded and preprocessed, ``inputs`` holding
    one tensor per stream role (never raises for a bad video: the failure travels back as
    the item's ``error``).

    ``transforms`` maps each role to its backbone's ``transform``: a timm one takes one PIL
    image (``frames``/``appearance``), a clip backbone's all the frames at once.
    """

    def __init__(self, jobs, transforms: Dict[str, Callable], *, sampler: Callable, timeout, tolerance):
        self.jobs = list(jobs)
        self.transforms = dict(transforms)
        self.sampler = sampler
        self.timeout, self.tolerance = timeout, tolerance

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        job = self.jobs[i]
        deadline = decode.Deadline(self.timeout)
        try:
            video = decode.decode_video(job.path, job.windows, sampler=self.sampler, tolerance=self.tolerance,
                                        deadline=deadline)
            inputs = None if video.frames is None else self._inputs(video, deadline)
        except decode.DecodeFailure as e:
            return {"index": i, "error": e.reason}
        except Exception as e:  # a decoder's or PIL's own error on a damaged file
            return {"index": i, "error": f"cannot decode: {type(e).__name__}: {str(e).strip()[:300]}"}
        return {"index": i, "inputs": inputs, "samples": video.samples, "info": video.info}

    def _images(self, role: str, frames: np.ndarray, deadline) -> Any:
        import torch
        from PIL import Image

        rows = []
        for frame in frames:
            rows.append(self.transforms[role](Image.fromarray(frame)))
            deadline.check("preprocessing frames")
        return torch.stack(rows)

    def _inputs(self, video, deadline) -> Dict[str, Any]:
        """Each stream's input tensor, one row per unit; each sample's ``rows`` become indices of units."""
        live = [s for s in video.samples if "rows" in s]
        if "frames" in self.transforms:
            for s in live:
                s["rows"] = s["rows"]["frames"]
            return {"frames": self._images("frames", video.frames, deadline)}
        appearance = "appearance" in self.transforms
        per_sample = [np.concatenate([s["rows"]["clips"], s["rows"]["centre"][:, None]], axis=1) if appearance
                      else s["rows"]["clips"] for s in live]
        unique, inverse = np.unique(np.concatenate(per_sample), axis=0, return_inverse=True)
        inverse, offset = inverse.reshape(-1), 0
        for s, rows in zip(live, per_sample):
            s["rows"], offset = inverse[offset:offset + len(rows)], offset + len(rows)
        role = "motion" if appearance else "clips"
        frames = self.transforms[role](video.frames)  # [C, U, h, w]: each frame preprocessed once
        deadline.check("preprocessing frames")
        length = unique.shape[1] - (1 if appearance else 0)
        inputs = {role: frames[:, unique[:, :length]].permute(1, 0, 2, 3, 4).contiguous()}  # [K, C, L, h, w]
        if appearance:
            inputs = {"appearance": self._images("appearance", video.frames[unique[:, length]], deadline), **inputs}
        return inputs


# ---------------------------------------------------------------------------------------
# forward passes, in the main process
# ---------------------------------------------------------------------------------------
def _forward(model, x, batch_size: int, device: str):
    import torch

    with torch.inference_mode():
        return torch.cat([model(x[s:s + batch_size].to(device, non_blocking=True)).float().cpu()
                          for s in range(0, len(x), batch_size)])


def embed_and_write(items: List[Dict[str, Any]], pending, streams: Sequence[Stream], batch_size: int, device: str,
                    writer, summary) -> None:
    """Embed the units of ``items`` (units of several videos share a batch), the streams side
    by side per row, and store each sample's rows with its sampler's metadata."""
    import torch

    parts = [_forward(s.backbone.model, torch.cat([it["inputs"][s.role] for it in items]), batch_size, device)
             for s in streams]
    with np.errstate(over="ignore"):  # as stored: a float16 overflow becomes inf, refused next
        feats = torch.cat(parts, dim=1).numpy().astype(np.float16)
    _check_finite(items, pending, streams, [p.shape[1] for p in parts], feats)
    offset = 0
    for it in items:
        job = pending[it["index"]]
        n = units(it)
        video_feats = feats[offset:offset + n]
        offset += n
        for sample in it["samples"]:
            if "error" in sample:
                continue
            meta = {"key": sample["key"], "video_id": job.video_id, "source": job.source,
                    **{k: v for k, v in sample.items() if k not in ("key", "rows")}, **it["info"]}
            writer.add(sample["key"], video_feats[sample["rows"]], meta)
            summary.written += 1
        summary.frames += n


def _check_finite(items, pending, streams: Sequence[Stream], widths: Sequence[int], feats: np.ndarray) -> None:
    """Refuse a batch whose stored (float16) rows hold NaN or inf, before any of it is written.

    Why refuse the run rather than store or skip: such rows poison every model trained on
    them, and they come from the backbone (weights that overflow float16's range of 65504,
    a broken checkpoint), so every later video would give them too."""
    bad = ~np.isfinite(feats)
    if not bad.any():
        return
    offset = 0
    for it in items:
        n = units(it)
        col = 0
        for stream, width in zip(streams, widths):
            block = bad[offset:offset + n, col:col + width]
            if block.any():
                from gf.common.errors import ModelInputError

                job = pending[it["index"]]
                raise ModelInputError(
                    f"video {job.video_id} ({job.source}): the {stream.role} backbone {stream.backbone.name} gave "
                    f"{int(block.sum())} NaN/inf feature value(s) of {block.size} (stored as float16, whose largest "
                    f"value is 65504: an overflow, or weights that are broken); nothing of this video was written. "
                    f"Check the --weights{' / --motion-weights' if len(streams) > 1 else ''} given (e.g. a "
                    f"checkpoint of another model, or one saved with scaled values).")
            col += width
        offset += n
