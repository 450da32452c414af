"""``gf extract``: videos -> frame features in a store the builders read.

Why decoding runs in DataLoader workers: decoding and resizing frames costs about as much
CPU as a small backbone's forward pass, and on a GPU far more; with ``workers`` processes
decoding the next videos while the backbone runs on the current batch, the run goes at
the speed of the slower of the two instead of their sum. Frames of several videos are
gathered into one batch of ``batch_size`` frames, so short clips do not leave the
backbone running on tiny batches.

Failures are data, not exceptions: a video that cannot be decoded, takes too long, or a
question window that lies outside its video becomes a line in ``failures.jsonl`` (with
the reason) and its key in ``failed_keys.txt`` (usable as a builder's ``skip_file``); the
other samples are written, and the command ends with an error naming the count and the
list. Failed keys are not stored, so the next run tries them again.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from gf.common.errors import ConfigError, DataFileError
from gf.extraction import decode
from gf.extraction.sources import Job, make_jobs

__all__ = ["ExtractOptions", "ExtractSummary", "extract", "FrameDataset"]

logger = logging.getLogger(__name__)

FAILURES_NAME = "failures.jsonl"
FAILED_KEYS_NAME = "failed_keys.txt"
DEFAULT_NUM_FRAMES = 32


@dataclass
class ExtractOptions:
    videos: str
    out: str
    backbone: str
    weights: Optional[str] = None
    pretrained: bool = False
    seed: int = 0
    num_frames: Optional[int] = None
    fps: Optional[float] = None
    windows: Optional[Sequence[str]] = None
    window_tolerance: float = 0.5
    format: str = "webdataset"
    batch_size: int = 64
    workers: int = 2
    timeout: Optional[float] = 300.0
    shard_size: int = 1000
    device: Optional[str] = None
    input_size: Optional[int] = None
    progress: bool = True


@dataclass
class ExtractSummary:
    out: str
    written: int = 0
    skipped: int = 0
    total: int = 0  # samples this run tried (failures before decoding included)
    videos: int = 0
    frames: int = 0
    seconds: float = 0.0
    failures: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def videos_per_s(self) -> float:
        return self.videos / self.seconds if self.seconds else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------------------------------
# decoding + preprocessing, in DataLoader workers
# ---------------------------------------------------------------------------------------
class FrameDataset:
    """Map-style dataset: item ``i`` is job ``i`` decoded and preprocessed (never raises
    for a bad video: the failure travels back as the item's ``error``)."""

    def __init__(self, jobs: Sequence[Job], transform, *, num_frames, fps, timeout, tolerance):
        self.jobs = list(jobs)
        self.transform = transform
        self.num_frames, self.fps = num_frames, fps
        self.timeout, self.tolerance = timeout, tolerance

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        import torch
        from PIL import Image

        job = self.jobs[i]
        deadline = decode.Deadline(self.timeout)
        try:
            video = decode.decode_video(job.path, job.windows, num_frames=self.num_frames, fps=self.fps,
                                        tolerance=self.tolerance, deadline=deadline)
            frames = None
            if video.frames is not None:
                rows = []
                for frame in video.frames:
                    rows.append(self.transform(Image.fromarray(frame)))
                    deadline.check("preprocessing frames")
                frames = torch.stack(rows)
        except decode.DecodeFailure as e:
            return {"index": i, "error": e.reason}
        except Exception as e:  # a decoder's or PIL's own error on a damaged file
            return {"index": i, "error": f"cannot decode: {type(e).__name__}: {str(e).strip()[:300]}"}
        return {"index": i, "frames": frames, "samples": video.samples, "info": video.info}


def _identity(item):
    return item


def _worker_init(_worker_id: int) -> None:
    import torch

    torch.set_num_threads(1)  # each worker decodes one video; the backbone has the main process's threads


# ---------------------------------------------------------------------------------------
def _check_options(o: ExtractOptions) -> ExtractOptions:
    from gf.extraction.writers import normalise_format

    if o.num_frames is not None and o.fps is not None:
        raise ConfigError("give --num-frames or --fps, not both")
    if o.num_frames is None and o.fps is None:
        o.num_frames = DEFAULT_NUM_FRAMES
    if o.num_frames is not None and (not isinstance(o.num_frames, int) or o.num_frames < 1):
        raise ConfigError(f"--num-frames must be an integer >= 1, got {o.num_frames!r}")
    if o.fps is not None and not (o.fps > 0):
        raise ConfigError(f"--fps must be > 0, got {o.fps!r}")
    o.format = normalise_format(o.format)
    if o.format == "hdf5" and o.fps is not None:
        raise ConfigError("--format h5 stores one [N, T, D] array, so every sample needs the same T: use "
                          "--num-frames (or --format webdataset/pth/npy with --fps)")
    for name in ("batch_size", "shard_size"):
        if not isinstance(getattr(o, name), int) or getattr(o, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= 1, got {getattr(o, name)!r}")
    if not isinstance(o.workers, int) or o.workers < 0:
        raise ConfigError(f"--workers must be an integer >= 0 (0 = decode in this process), got {o.workers!r}")
    if o.window_tolerance < 0:
        raise ConfigError(f"--window-tolerance must be >= 0, got {o.window_tolerance!r}")
    if o.weights and not os.path.isfile(o.weights):
        from gf.common.errors import CheckpointNotFoundError

        raise CheckpointNotFoundError(f"--weights {o.weights}: no such file")
    return o


def _write_failures(out: str, failures: List[Dict[str, Any]]) -> None:
    from gf.common.io import atomic_write_jsonl, atomic_write_text

    paths = [os.path.join(out, FAILURES_NAME), os.path.join(out, FAILED_KEYS_NAME)]
    if not failures:  # a list from an earlier run would name keys that are now stored
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)
        return
    atomic_write_jsonl(paths[0], failures)
    atomic_write_text(paths[1], "".join(f"{f['key']}\n" for f in failures))


def extract(options: ExtractOptions) -> ExtractSummary:
    """Run an extraction (see the module doc); returns the summary, failures included.

    Raises a :class:`~gf.common.errors.GfError` only for input that stops the whole run
    (options, the videos folder, a windows file, a recipe mismatch); per-video failures
    are in ``summary.failures``.
    """
    import torch
    from tqdm import tqdm

    from gf.common.download import sha256sum
    from gf.common.io import output_lock, remove_stale_temp_files
    from gf.extraction.backbone import create_backbone
    from gf.extraction.recipe import RECIPE_NAME, check_or_write_recipe, make_recipe, read_recipe
    from gf.extraction.writers import check_keys, make_writer

    o = _check_options(options)
    jobs, failures = make_jobs(o.videos, o.windows)
    check_keys([k for job in jobs for k, _, _ in job.windows], o.format)
    device = o.device or ("cuda" if torch.cuda.is_available() else "cpu")
    backbone = create_backbone(o.backbone, weights=o.weights, pretrained=o.pretrained, seed=o.seed,
                               input_size=o.input_size, device=device)
    windows_id = [{"file": os.path.basename(p), "sha256": sha256sum(p)} for p in o.windows] if o.windows else None
    recipe = make_recipe(backbone=backbone, num_frames=o.num_frames, fps=o.fps, windows=windows_id,
                         window_tolerance=o.window_tolerance, fmt=o.format, shard_size=o.shard_size)
    summary = ExtractSummary(out=o.out)
    os.makedirs(o.out, exist_ok=True)
    with output_lock(o.out, "gf extract"):
        remove_stale_temp_files(o.out)
        writer = make_writer(o.out, o.format, o.shard_size)
        if read_recipe(o.out) is None:
            foreign = writer.foreign_files()
            if foreign:
                raise ConfigError(f"{o.out} holds feature files without a {RECIPE_NAME} (e.g. {foreign[0]}): not "
                                  f"written by gf extract, so a rerun cannot tell what they are. Use another --out.")
        check_or_write_recipe(o.out, recipe)
        done = writer.completed()
        pending: List[Job] = []
        for job in jobs:
            todo = [w for w in job.windows if w[0] not in done]
            summary.skipped += len(job.windows) - len(todo)
            if todo:
                pending.append(Job(job.path, job.source, job.video_id, todo))
        failures = [f for f in failures if f["key"] not in done]
        summary.total = sum(len(j.windows) for j in pending) + len(failures)
        if summary.skipped:
            logger.info("%s: %d samples already stored, skipped", o.out, summary.skipped)

        dataset = FrameDataset(pending, backbone.transform, num_frames=o.num_frames, fps=o.fps,
                               timeout=o.timeout, tolerance=o.window_tolerance)
        loader = None
        if pending:
            loader = torch.utils.data.DataLoader(
                dataset, batch_size=None, shuffle=False, num_workers=o.workers, collate_fn=_identity,
                worker_init_fn=_worker_init if o.workers else None, pin_memory=device.startswith("cuda"),
                prefetch_factor=2 if o.workers else None, persistent_workers=False)
        bar = tqdm(total=len(pending), unit="video", desc="gf extract", disable=not o.progress,
                   file=sys.stderr, dynamic_ncols=True)
        buffer: List[Dict[str, Any]] = []
        t0 = time.perf_counter()

        def run_backbone(items: List[Dict[str, Any]]) -> None:
            frames = torch.cat([it["frames"] for it in items])
            outs = []
            with torch.inference_mode():
                for s in range(0, len(frames), o.batch_size):
                    chunk = frames[s:s + o.batch_size].to(device, non_blocking=True)
                    outs.append(backbone.model(chunk).float().cpu())
            feats = torch.cat(outs).numpy()
            offset = 0
            for it in items:
                job = pending[it["index"]]
                n = len(it["frames"])
                video_feats = feats[offset:offset + n]
                offset += n
                for sample in it["samples"]:
                    if "error" in sample:
                        continue
                    meta = {"key": sample["key"], "video_id": job.video_id, "source": job.source,
                            "times": sample["times"], "window": sample["window"], **it["info"]}
                    if "window_used" in sample:
                        meta["window_used"] = sample["window_used"]
                    writer.add(sample["key"], video_feats[sample["rows"]].astype(np.float16), meta)
                    summary.written += 1
                summary.frames += n

        try:
            for item in (loader if loader is not None else ()):
                job = pending[item["index"]]
                summary.videos += 1
                if "error" in item:
                    failures += [{"key": k, "video_id": job.video_id, "source": job.source, "reason": item["error"]}
                                 for k, _, _ in job.windows]
                else:
                    failures += [{"key": s["key"], "video_id": job.video_id, "source": job.source,
                                  "reason": s["error"]} for s in item["samples"] if "error" in s]
                    if item["frames"] is not None:
                        buffer.append(item)
                        if sum(len(it["frames"]) for it in buffer) >= o.batch_size:
                            run_backbone(buffer)
                            buffer = []
                bar.update(1)
                bar.set_postfix(failed=len(failures), refresh=False)
            if buffer:
                run_backbone(buffer)
        finally:
            bar.close()
            writer.close()  # what was extracted before an error or a Ctrl-C is kept
            summary.seconds = time.perf_counter() - t0
            summary.failures = failures
            _write_failures(o.out, failures)
    return summary


def failure_error(summary: ExtractSummary, windows: bool) -> DataFileError:
    """The error that ends a run with failures: how many, and where the list is."""
    what = "questions" if windows else "videos"
    return DataFileError(
        f"{len(summary.failures)} of {summary.total} {what} failed; the reasons are listed in "
        f"{os.path.join(summary.out, FAILURES_NAME)} (their keys, for a builder's skip_file, in "
        f"{os.path.join(summary.out, FAILED_KEYS_NAME)}). The other {summary.written} were written; fix or remove "
        f"the failed videos and rerun: stored samples are skipped.")
