"""``gf extract``: videos -> features (per frame or per clip) in a store the builders read.

Why decoding runs in DataLoader workers: decoding and resizing frames costs about as much
CPU as a small backbone's forward pass, and on a GPU far more; with ``workers`` processes
decoding the next videos while the backbone runs on the current batch, the run goes at
the speed of the slower of the two instead of their sum. Rows (frames, or clips) of several
videos are gathered into one batch of ``batch_size``, so short clips do not leave the
backbone running on tiny batches.

Failures are data, not exceptions: a video or a window that fails is listed with its
reason, the other samples are written, and the command ends with an error naming the
count and the list (docs/extraction.md, "Failures").
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from tqdm import tqdm

from gf.common.errors import CheckpointNotFoundError, ConfigError
from gf.common.io import check_outputs_apart, is_gf_leftover, output_lock, remove_stale_temp_files, sha256sum
from gf.datasets.extract_state import write_state
from gf.datasets.feature_recipe import RECIPE_NAME, check_or_write_recipe, make_recipe, read_recipe
from gf.extraction.out_folder import holds_features, remove_bookkeeping, write_failures
from gf.extraction.options import (MAX_SEED, check_clip_options, check_count_or_rate, check_device, check_int_option,
                                   check_number_option)
from gf.extraction.sources import Job, make_jobs
from gf.extraction.streams import FrameDataset, build_streams, embed_and_write, make_sampler, units, \
    warn_random_weights
from gf.extraction.writers import check_keys, make_writer, normalise_format

__all__ = ["ExtractOptions", "ExtractSummary", "extract", "FrameDataset"]

logger = logging.getLogger(__name__)

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
    # clip backbones (torchvision:NAME, hf:...) and the motion stream of a two-stream run
    clip_len: Optional[int] = None
    clip_stride: int = 1
    num_clips: Optional[int] = None
    clips_per_second: Optional[float] = None
    motion_backbone: Optional[str] = None
    motion_weights: Optional[str] = None
    motion_pretrained: bool = False  # completed by check_clip_options: --pretrained covers both streams
    motion_input_size: Optional[int] = None
    shard: Optional[Tuple[int, int]] = None  # (I, N): part I of N of a job array (gf.extraction.shards)


@dataclass
class ExtractSummary:
    out: str
    written: int = 0
    skipped: int = 0
    total: int = 0  # samples this run tried (failures before decoding included)
    videos: int = 0
    frames: int = 0  # rows embedded: frames, or clips for a clip-level recipe
    seconds: float = 0.0
    failures: List[Dict[str, Any]] = field(default_factory=list)
    lists: Optional[str] = None  # folder of failures.jsonl when not ``out`` (a job array's part)

    @property
    def videos_per_s(self) -> float:
        return self.videos / self.seconds if self.seconds else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


def _identity(item):
    return item


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)  # each worker decodes one video; the backbone has the main process's threads


def _check_options(o: ExtractOptions) -> ExtractOptions:
    if not check_clip_options(o):  # a clip-level run places clips instead of frames
        check_count_or_rate(o, "num_frames", "fps", DEFAULT_NUM_FRAMES)
    o.format = normalise_format(o.format)
    if o.format == "hdf5" and (o.fps is not None or o.clips_per_second is not None):
        raise ConfigError("--format h5 stores one [N, T, D] array, so every sample needs the same T: use "
                          "--num-frames or --num-clips (or --format webdataset/pth/npy with a rate)")
    o.batch_size = check_int_option("--batch-size", o.batch_size, 1)
    o.shard_size = check_int_option("--shard-size", o.shard_size, 1)
    o.workers = check_int_option("--workers", o.workers, 0, note=" (0 = decode in this process)")
    o.seed = check_int_option("--seed", o.seed, 0, MAX_SEED)
    o.window_tolerance = check_number_option("--window-tolerance", o.window_tolerance, 0)
    if o.timeout is not None:
        o.timeout = check_number_option("--timeout-per-video", o.timeout, 0, note=" (0 = no limit)")
    if o.input_size is not None:
        o.input_size = check_int_option("--input-size", o.input_size, 1, note=" pixels")
    check_device(o.device)
    if o.shard is not None:
        from gf.common.sharding import check_shard
        from gf.extraction.shards import check_format

        o.shard = check_shard(o.shard)
        check_format(o.format)
    if o.weights and not os.path.isfile(o.weights):
        raise CheckpointNotFoundError(f"--weights {o.weights}: no such file")
    return o


def _check_output(o: ExtractOptions, jobs: Sequence[Job]) -> bool:
    """Refuse, before it is created, an ``--out`` that could destroy what the user owns
    (docs/extraction.md, "What `--out` may be"); returns whether ``--out`` exists."""
    inputs = [("--videos", o.videos), ("--weights", o.weights), ("--motion-weights", o.motion_weights)]
    inputs += [("--windows", w) for w in o.windows or ()]
    inputs += [(f"video {job.source} of --videos", job.path) for job in jobs]
    check_outputs_apart([("--out", o.out)], inputs, command="gf extract")
    if not os.path.lexists(o.out):
        return False
    if not os.path.isdir(o.out):
        raise ConfigError(f"--out {o.out} is a file; gf extract writes a folder. Choose another --out.")
    if o.shard is None:
        from gf.extraction.shards import refuse_unsharded

        refuse_unsharded(o.out)
    if read_recipe(o.out) is None:
        content = sorted(name for name in os.listdir(o.out) if not is_gf_leftover(name))
        if content:
            raise ConfigError(
                f"--out {o.out} holds files but no {RECIPE_NAME} (e.g. {content[0]}): it is not a folder gf extract "
                f"made, so its files are not gf extract's to write among or replace. Give a new or empty folder "
                f"(or an earlier gf extract output to resume it).")
    return True


def extract(options: ExtractOptions, *, warn_random: bool = True) -> ExtractSummary:
    """Run an extraction (see the module doc); returns the summary, failures included.
    ``warn_random``: say when a stream has random weights (``gf predict`` reproducing a
    random-init recipe does not: the advice to give weights does not apply there).

    Raises a :class:`~gf.common.errors.GfError` only for input that stops the whole run
    (options, the videos folder, a windows file, an ``--out`` that is not gf extract's, a
    recipe mismatch); per-video failures are in ``summary.failures``. Everything that can be
    refused is checked before ``--out`` is created, and a run that stops before storing a
    sample removes the ``--out`` it created, so a refused or failed command leaves nothing
    behind that the corrected rerun would trip over.
    """
    o = _check_options(options)
    jobs, failures = make_jobs(o.videos, o.windows)
    check_keys([k for job in jobs for k, _, _ in job.windows], o.format)
    existed = _check_output(o, jobs)
    device = o.device or ("cuda" if torch.cuda.is_available() else "cpu")
    streams = build_streams(o, device)
    if warn_random:
        warn_random_weights(streams)
    windows_id = [{"file": os.path.basename(p), "sha256": sha256sum(p)} for p in o.windows] if o.windows else None
    recipe = make_recipe(backbone=streams[0].backbone, num_frames=o.num_frames, fps=o.fps, windows=windows_id,
                         window_tolerance=o.window_tolerance, fmt=o.format, shard_size=o.shard_size,
                         motion=streams[1].backbone if len(streams) > 1 else None, clips=_clip_sampling(o, streams))
    summary = ExtractSummary(out=o.out)
    if o.shard is not None:  # one job of an array: its part, beside the other jobs' (gf.extraction.shards)
        from gf.extraction.shards import part_of_array

        with part_of_array(o, jobs, failures, recipe) as part:
            summary.lists = part.folder  # gf extract --merge gathers them into --out
            _run(o, part.jobs, part.failures, streams, device, summary, part.writer())
            part.finish(summary.written + summary.skipped, len(summary.failures))
        return summary
    created = not existed and not os.path.lexists(o.out)
    emptied = False
    try:
        with output_lock(o.out, "gf extract"):
            try:
                remove_stale_temp_files(o.out)
                check_or_write_recipe(o.out, recipe, stored=holds_features(o.out))
                write_state(o.out, done=False)  # until this run ends: a kill leaves the folder marked unfinished
                _run(o, jobs, failures, streams, device, summary, make_writer(o.out, o.format, o.shard_size))
                # every sample is stored or listed as failed: only now is the folder whole
                write_state(o.out, done=True, stored=summary.written + summary.skipped,
                            failed=len(summary.failures))
            except BaseException:
                emptied = created and summary.written == 0 and remove_bookkeeping(o.out)
                raise
    finally:
        if emptied:  # the lock file is gone now; a folder someone else wrote into stays
            for folder in (os.path.join(o.out, "meta"), os.path.join(o.out, ".parts"), o.out):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
    return summary


def _failure(job: Job, key: str, reason: str, kind: str, window: tuple) -> Dict[str, Any]:
    """One line of failures.jsonl; ``kind`` is ``video`` (the file cannot give frames) or
    ``window`` (this question's window does not fit its video)."""
    record = {"key": key, "video_id": job.video_id, "source": job.source, "reason": reason, "kind": kind}
    if window[0] is not None:
        record["window"] = list(window)
    return record


def _resume(jobs: List[Job], failures: List[Dict[str, Any]], done, summary: ExtractSummary,
            out: str) -> Tuple[List[Job], List[Dict[str, Any]]]:
    """Leave out the samples ``--out`` already holds (a rerun resumes); returns the jobs with
    windows left to extract and the failures of samples not stored, and counts both in ``summary``."""
    pending: List[Job] = []
    for job in jobs:
        todo = [w for w in job.windows if w[0] not in done]
        summary.skipped += len(job.windows) - len(todo)
        if todo:
            pending.append(Job(job.path, job.source, job.video_id, todo))
    failures = [f for f in failures if f["key"] not in done]
    summary.total = sum(len(j.windows) for j in pending) + len(failures)
    if summary.skipped:
        logger.info("%s: %d samples already stored, skipped", out, summary.skipped)
    return pending, failures


def _clip_sampling(o: ExtractOptions, streams) -> Optional[Dict[str, Any]]:
    """The recipe's record of where clips lie (``None`` for a frame-level run)."""
    if streams[0].role == "frames":
        return None
    return {"clip_len": o.clip_len, "clip_stride": o.clip_stride, "num_clips": o.num_clips,
            "clips_per_second": o.clips_per_second, "layout": [s.role for s in streams]}


def _frame_loader(o: ExtractOptions, pending: List[Job], streams, device: str):
    """The loader that decodes the pending videos in worker processes (None when nothing is pending)."""
    if not pending:
        return None
    dataset = FrameDataset(pending, {s.role: s.backbone.transform for s in streams}, sampler=make_sampler(o, streams),
                           timeout=o.timeout, tolerance=o.window_tolerance)
    return torch.utils.data.DataLoader(
        dataset, batch_size=None, shuffle=False, num_workers=o.workers, collate_fn=_identity,
        worker_init_fn=_worker_init if o.workers else None, pin_memory=device.startswith("cuda"),
        prefetch_factor=2 if o.workers else None, persistent_workers=False)


def _run(o: ExtractOptions, jobs: List[Job], failures: List[Dict[str, Any]], streams, device: str,
         summary: ExtractSummary, writer) -> None:
    """The run proper, its folder set up and locked by the caller (for a job array's part: its
    recipe checked, its own lock held). The failure lists go to ``summary.lists`` (a part's
    folder), else to ``--out``."""
    from gf.common.workers import iter_loader

    pending, failures = _resume(jobs, failures, writer.completed(), summary, o.out)
    loader = _frame_loader(o, pending, streams, device)
    bar = tqdm(total=len(pending), unit="video", desc="gf extract", disable=not o.progress,
               file=sys.stderr, dynamic_ncols=True)
    buffer: List[Dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        for item in (iter_loader(loader) if loader is not None else ()):
            job = pending[item["index"]]
            windows = {k: (s, e) for k, s, e in job.windows}
            summary.videos += 1
            if "error" in item:
                failures += [_failure(job, k, item["error"], "video", windows[k]) for k in windows]
            else:
                failures += [_failure(job, s["key"], s["error"], "window", windows[s["key"]])
                             for s in item["samples"] if "error" in s]
                if item["inputs"] is not None:
                    buffer.append(item)
                    if sum(units(it) for it in buffer) >= o.batch_size:
                        embed_and_write(buffer, pending, streams, o.batch_size, device, writer, summary)
                        buffer = []
            bar.update(1)
            bar.set_postfix(failed=len(failures), refresh=False)
        if buffer:
            embed_and_write(buffer, pending, streams, o.batch_size, device, writer, summary)
    finally:
        bar.close()
        writer.close()  # what was extracted before an error or a Ctrl-C is kept
        summary.seconds = time.perf_counter() - t0
        summary.failures = failures
        write_failures(summary.lists or o.out, failures)
