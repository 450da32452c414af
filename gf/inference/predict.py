"""``gf predict``: answer a question about a video file with a trained checkpoint.

Why through the checkpoint's recipe: a model only knows the features it was trained on.
So the new video is extracted with the recipe the checkpoint recorded, through the same
``gf extract`` code (decoding, sampling, float16 storage included), and the answer is the
one ``gf evaluate`` gives on the same clip. What the recipe records: docs/extraction.md,
"The recipe, and reruns with another one"; what gf predict needs and refuses (a checkpoint
without a recipe first): docs/extraction.md, "`gf predict`: one video, extracted with the
checkpoint's recipe".
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from gf.common.errors import CheckpointError, ConfigError, DataFileError, ModelInputError
from gf.common.utils import PathLike

__all__ = ["Event", "VideoAnswer", "answer_video", "check_plot_path", "check_window",
           "extraction_options", "plot_timeline"]


@dataclass
class Event:
    """One event the glance stage predicts: its class and its span in seconds of the video."""

    class_index: int
    class_name: str  # its named line (STAR's action_classes: "a000 hold some clothes"), else its class-list line
    start: float
    end: float
    confidence: float


@dataclass
class VideoAnswer:
    prediction: int
    answer: Any
    probabilities: List[float]
    options: Optional[List[str]]
    events: List[Event] = field(default_factory=list)
    window: tuple = (0.0, 0.0)             # the seconds of the video the features cover
    frame_times: List[float] = field(default_factory=list)


def _recipe_of(extra: Mapping[str, Any], path: PathLike) -> Dict[str, Any]:
    recipe = extra.get("feature_recipe")
    if not recipe:
        raise CheckpointError(
            f"{path} records no feature recipe: it was trained on features that gf extract did not make (or by a "
            f"gf older than the recipe), so gf cannot know how to turn a video into the features it expects. "
            f"Train on features made by `gf extract` (its features.json travels into the checkpoint).")
    return recipe


def _weights_options(spec: Mapping[str, Any], given: Optional[str], option: str) -> Dict[str, Any]:
    """How to rebuild one recorded backbone's weights: the file (or, for ``hf:``, the folder)
    ``given`` with ``option``, checked against the recorded sha256; the hub; or the seed."""
    from gf.common.io import sha256sum

    source = spec.get("weights") or {}
    kind = source.get("kind")
    if kind in ("file", "folder"):
        what = "weights file" if kind == "file" else "model folder"
        if not given:
            raise ConfigError(f"the checkpoint's features were made with the {what} {source.get(kind)} "
                              f"(sha256 {source.get('sha256')}); give it with {option}")
        if kind == "folder":
            from gf.extraction.clip_backbone import folder_digest

            if not os.path.isdir(given):
                raise ConfigError(f"{option} {given}: the checkpoint's backbone {spec['name']} was read from a folder "
                                  f"({source.get('folder')}); give that folder")
            digest = folder_digest(given)
        else:
            if not os.path.isfile(given):
                why = "is a folder" if os.path.isdir(given) else "does not exist"
                raise ConfigError(f"{option} {given} {why}; give the weights file {source.get('file')} (sha256 "
                                  f"{source.get('sha256')}) the checkpoint's features were made with")
            digest = sha256sum(given)
        if digest != source.get("sha256"):
            raise CheckpointError(f"{option} {given} has sha256 {digest}, but the checkpoint's features were made "
                                  f"with {source.get(kind)} (sha256 {source.get('sha256')}); use that {what}")
        return {"weights": str(given), "folder": kind == "folder"}
    if kind == "pretrained":
        return {"pretrained": True}
    if kind == "random-init":
        if given:
            raise ConfigError("the checkpoint's features came from a randomly initialised backbone (seed "
                              f"{source.get('seed')}); {option} does not apply")
        return {"seed": int(source.get("seed", 0))}
    raise CheckpointError(f"the checkpoint's feature recipe names backbone weights of an unknown kind {kind!r}")


def _backbone_options(spec: Mapping[str, Any], given: Optional[str], option: str) -> tuple:
    """``(backbone name, weights options, input size)`` that rebuild one recorded backbone."""
    chosen = _weights_options(spec, given, option)
    name = spec["name"]
    if chosen.pop("folder", False):  # hf:FOLDER records the folder's name; the path is the one given
        name, chosen = f"hf:{chosen['weights']}", {}
    config = spec.get("data_config") or {}
    if name.startswith("hf:"):
        size = None  # a transformers model takes its own size
    elif name.startswith("torchvision:"):
        size = config.get("crop_size", [None])[0]
    else:
        size = (config.get("input_size") or [None])[-1]
    return name, chosen, int(size) if size else None


def extraction_options(recipe: Mapping[str, Any], video: PathLike, out: PathLike, *, weights: Optional[str] = None,
                       backbone: Optional[str] = None, windows_file: Optional[str] = None, device: str = "cpu",
                       motion_weights: Optional[str] = None):
    """``gf extract`` options that reproduce ``recipe`` for one video: frame, clip-level and
    two-stream (appearance + motion) recipes alike."""
    from gf.extraction.extract import ExtractOptions

    spec = recipe["backbone"]
    if backbone is not None and backbone != spec["name"]:
        raise ConfigError(f"--backbone {backbone} differs from the checkpoint's recipe ({spec['name']}): the model "
                          f"was trained on {spec['name']} features; drop --backbone or use a checkpoint trained on "
                          f"{backbone} features")
    name, options, input_size = _backbone_options(spec, weights, "--weights")
    motion = recipe.get("motion_backbone")
    if motion:
        mname, mopts, msize = _backbone_options(motion, motion_weights, "--motion-weights")
        options.update(motion_backbone=mname, motion_weights=mopts.get("weights"),
                       motion_pretrained=mopts.get("pretrained", False), motion_input_size=msize)
    elif motion_weights:
        raise ConfigError("--motion-weights: the checkpoint's features have no motion stream")
    sampling = recipe.get("sampling") or {}
    clips = sampling.get("clips") or {}
    if clips:
        options.update(clip_len=clips.get("clip_len"), clip_stride=clips.get("clip_stride", 1),
                       num_clips=clips.get("num_clips"), clips_per_second=clips.get("clips_per_second"))
    return ExtractOptions(videos=str(video), out=str(out), backbone=name, num_frames=sampling.get("num_frames"),
                          fps=sampling.get("fps"), windows=[windows_file] if windows_file else None,
                          window_tolerance=(0.5 if sampling.get("window_tolerance_s") is None
                                            else float(sampling["window_tolerance_s"])), format="npy",
                          workers=0, device=device, input_size=input_size, progress=False, **options)


def check_window(start: Optional[float], end: Optional[float]) -> None:
    """``--start``/``--end``: both or neither, finite seconds, ``0 <= start < end``. Checked
    before anything is loaded, so the message names the options, not a temporary file."""
    from gf.extraction.options import check_number_option

    if start is None and end is None:
        return
    if start is None or end is None:
        raise ConfigError("give both --start and --end (seconds), or neither")
    check_number_option("--start", start, 0, note=" (seconds from the video's first frame)")
    check_number_option("--end", end, float(start), exclusive=True, note=f" (after --start {start:g})")


def check_text_fits(model, question: str, options: Optional[Sequence[str]], text_format: str) -> None:
    """Refuse, before any video is extracted, a question whose text the model would cut at
    its ``text_max_length``, or (uncut) could not read past its text model's positions (the
    texts made by the template the model was trained with, and counted by its own
    tokenizer; see ``TextEncoder.check_fits``)."""
    from gf.processors.text import VideoQATextProcessor

    encoder = getattr(model, "text_encoder", None)
    if encoder is None:
        return
    try:
        encoder.check_fits(VideoQATextProcessor(text_format)(question, options), options is not None)
    except ModelInputError as error:
        raise ModelInputError(f"--question: {error}") from None


def _failure_error(failure: Mapping[str, Any], video: Path, start, end, link: Path) -> Exception:
    """Why the video could not be extracted, said about the user's own inputs: the video
    file (not ``link``, the name gf extract read it by), and --start/--end for a window that
    does not fit it (gf extract's failures list lives in a temporary folder that is gone when
    this error is shown)."""
    reason = str(failure.get("reason")).replace(str(link), str(video))
    if failure.get("kind") == "window" and start is not None:
        return ConfigError(f"--start {start:g} --end {end:g}: {reason} ({video}); choose a window inside the video")
    return DataFileError(f"video {video}: {reason}")


def _extract(recipe, video: Path, work: Path, *, weights, backbone, start, end, device, motion_weights=None):
    """The video's features and frame times, made by ``gf extract`` with the recipe."""
    from gf.datasets.feature_stores import open_feature_store
    from gf.extraction.extract import extract
    from gf.datasets.feature_recipe import read_recipe, recipe_differences
    from gf.extraction.sources import VIDEO_EXTENSIONS

    # Why a link: gf extract's list file strips its lines, so the video's own name (outer
    # spaces, a newline) could name another file; the link's plain name is read as written.
    suffix = video.suffix.lower() if video.suffix.lower() in VIDEO_EXTENSIONS else ""
    link = work / f"video{suffix}"
    try:
        link.symlink_to(video.absolute())  # absolute: the link lives in another folder
    except OSError:  # a temporary folder without symbolic links (FAT, some FUSE mounts)
        shutil.copyfile(video, link)
    key = "video"
    listing = work / "videos.txt"
    listing.write_text(link.name + "\n")
    windows_file = None
    if start is not None:
        windows_file = work / "window.jsonl"
        windows_file.write_text(json.dumps({"question_id": "query", "video_id": key, "start": start, "end": end}))
        key = "query"
    options = extraction_options(recipe, listing, work / "features", weights=weights, backbone=backbone,
                                 windows_file=str(windows_file) if windows_file else None, device=device,
                                 motion_weights=motion_weights)
    summary = extract(options, warn_random=False)  # the recipe's own weights, whatever they are
    if summary.failures:
        raise _failure_error(summary.failures[0], video, start, end, link)
    made = read_recipe(str(work / "features"))
    differences = recipe_differences(recipe, made)
    if differences:
        raise CheckpointError(f"the features made here differ from the checkpoint's recipe ({'; '.join(differences)}): "
                              f"other weights or preprocessing (another timm, torchvision or transformers version?) "
                              f"would give other features than the model was trained on")
    store = open_feature_store(str(work / "features"), format="npy")
    features = store[key]
    meta = json.loads((work / "features" / "meta" / f"{key}.json").read_text())
    times = [float(t) for t in meta.get("times", [])]
    window = meta.get("window_used") or meta.get("window")
    if not window:
        window = (0.0, float(meta.get("duration") or (times[-1] if times else 0.0)))
    return features, times, (float(window[0]), float(window[1]))


def answer_video(checkpoint: PathLike, video: PathLike, question: str, options: Optional[Sequence[str]] = None, *,
                 start: Optional[float] = None, end: Optional[float] = None, weights: Optional[str] = None,
                 backbone: Optional[str] = None, device: str = "cpu",
                 motion_weights: Optional[str] = None, text_encoder: Optional[str] = None) -> VideoAnswer:
    """Extract ``video`` with ``checkpoint``'s recipe (frame, clip-level or two-stream) and
    answer ``question``; ``frame_times`` of the answer are the rows' times (clip centres for clips).
    ``text_encoder``: the folder the checkpoint's text encoder moved to (it records a path)."""
    import torch

    from gf.common.utils import check_device
    from gf.models import zoo
    from gf.models.glance_focus.model import check_options
    from gf.models.checkpoint import read_checkpoint
    from gf.processors.text import check_question

    check_question(question, options)  # before anything is loaded or extracted
    options = list(options) if options is not None else None
    check_window(start, end)
    check_device(device)
    video = Path(video)
    if video.is_dir():
        raise DataFileError(f"--video {video} is a folder; name one video file inside it")
    if not video.is_file():
        raise DataFileError(f"video {video} not found")
    path = Path(zoo.resolve_checkpoint(checkpoint, progress=False))
    ckpt = read_checkpoint(path).require_gf("gf predict needs one (it carries the model config and the feature "
                                            "recipe)")
    recipe = _recipe_of(ckpt.extra, path)
    model = _model_of(ckpt, device, text_encoder)
    check_options(model.config, options)  # before the video is extracted
    check_text_fits(model, question, options, ckpt.text_format)
    with tempfile.TemporaryDirectory(prefix="gf-predict-") as tmp:
        features, times, window = _extract(recipe, video, Path(tmp), weights=weights, backbone=backbone, start=start,
                                           end=end, device=device, motion_weights=motion_weights)
    vocab = ckpt.extra.get("answer_vocab") if options is None else None  # None in older checkpoints: the index
    result = model.predict_example(features, question, options, text_format=ckpt.text_format,
                                   answer_vocab=vocab)
    probabilities = torch.softmax(torch.tensor(result["scores"]), -1).tolist()
    events = _events(model, features, result.get("glance"), ckpt.extra.get("class_labels")
                     or ckpt.extra.get("class_names"), window)
    return VideoAnswer(prediction=result["prediction"], answer=result["answer"], probabilities=probabilities,
                       options=options, events=events, window=window, frame_times=times)


def _model_of(ckpt, device: str, text_encoder: Optional[str]):
    """The checkpoint's model, its text encoder from ``text_encoder`` when given. The text
    encoder's error names ``model.text_encoder``, which cannot be set here, so it is said
    about ``--text-encoder``, the flag that can point at the folder's new place."""
    from gf.common.errors import DownloadError
    from gf.models.loading import model_from_checkpoint

    overrides = {"text_encoder": text_encoder} if text_encoder else {}
    try:
        return model_from_checkpoint(ckpt, format="gf", device=device, **overrides)
    except (CheckpointError, DownloadError) as err:
        text = str(err)
        if not text.startswith("model.text_encoder "):
            raise
        if text_encoder:
            raise type(err)("--text-encoder " + text[len("model.text_encoder "):]) from None
        raise type(err)(f"the checkpoint's {text}; if the folder moved, pass gf predict --text-encoder FOLDER "
                        f"(its new place)") from None


def _events(model, features, glance, class_names, window) -> List[Event]:
    """The glance stage's slots whose most likely class is not "no event", as classes and
    spans in seconds: the spans are (centre, width) in [0, 1] of the clip the features
    cover, so they are placed on ``window``."""
    import torch

    if glance is None:
        return []
    logits, spans = torch.as_tensor(glance["pred_logits"]), torch.as_tensor(glance["pred_spans"])
    probs = torch.softmax(logits.float(), -1)
    background = probs.shape[-1] - 1
    start, end = window
    length = max(end - start, 0.0)
    events = []
    for q in range(probs.shape[0]):
        conf, cls = probs[q].max(-1)
        if int(cls) == background:
            continue
        centre, width = (float(v) for v in spans[q])
        lo, hi = max(0.0, centre - width / 2), min(1.0, centre + width / 2)
        name = class_names[int(cls)] if class_names and int(cls) < len(class_names) else f"class {int(cls)}"
        events.append(Event(int(cls), name, start + lo * length, start + hi * length, float(conf)))
    return sorted(events, key=lambda e: (e.start, e.end))


#: The PNG ``Software`` text of a ``gf predict --plot`` picture: what marks a file as gf's to replace.
PLOT_SOFTWARE = "gf predict"


def check_plot_path(path: PathLike, inputs: Sequence[Optional[PathLike]]) -> None:
    """Refuse a ``--plot`` path that gf predict may not write (the rules: docs/extraction.md,
    "`gf predict`: one video, extracted with the checkpoint's recipe"). ``inputs``: ``--video``,
    ``--checkpoint``, ``--weights``, ``--motion-weights``, in that order. Why: a typo'd
    ``--plot`` must never overwrite the video, the checkpoint or anything else the user owns,
    nor fail only after the whole prediction."""
    from gf.common.io import check_outputs_apart, check_replaceable

    labels = ("--video", "--checkpoint", "--weights", "--motion-weights")
    check_outputs_apart({"--plot": path}, [(labels[i] if i < len(labels) else "an input", source)
                                           for i, source in enumerate(inputs)], command="gf predict")
    check_replaceable(path, "--plot", owned=_written_by_predict, command="gf predict", kind=".png file")
    blocker = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:  # else found only when the picture is written, after all the work
        raise ConfigError(f"--plot {path} lies under {blocker}, which is a file, so no picture can be written "
                          f"there; choose another --plot path")
    if Path(path).suffix.lower() != ".png":  # the picture is PNG bytes: a .jpg name would lie
        raise ConfigError(f"--plot {path}: the picture is a PNG, so its name must end in .png "
                          f"(not {Path(path).suffix or 'no suffix'}); choose a .png path")


def _written_by_predict(path: Path) -> bool:
    """Whether ``path`` is a PNG whose ``Software`` text says gf predict wrote it."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            return image.format == "PNG" and image.info.get("Software") == PLOT_SOFTWARE
    except Exception:  # not an image at all
        return False


def _thumbnails(video: PathLike, times) -> list:
    """The video's frames nearest ``times`` (seconds), read as gf extract reads them (the same
    decoder choice and fallbacks, so the pictures are the frames the features came from); a
    video that cannot give them is a :class:`DataFileError`, not a decoder's traceback."""
    import numpy as np

    from gf.extraction.decode import DecodeFailure, decode_video

    def nearest(frame_times, duration, start, end):
        index = np.abs(np.asarray(frame_times)[None, :] - np.asarray(times)[:, None]).argmin(axis=1)
        return {"frames": index.astype(np.int64)}, {}

    try:
        decoded = decode_video(str(video), [("plot", None, None)], sampler=nearest)
    except DecodeFailure as error:
        raise DataFileError(f"--plot: video {video}: {error.reason}") from None
    return list(decoded.frames[decoded.samples[0]["rows"]["frames"]])


def plot_timeline(answer: VideoAnswer, video: PathLike, path: PathLike, *, thumbnails: int = 6) -> Path:
    """The glance's events on the video's timeline, with a few frame thumbnails above it
    (matplotlib, written atomically as PNG)."""
    import io

    import numpy as np
    from matplotlib.figure import Figure

    from gf.common.io import atomic_write

    start, end = answer.window
    if end <= start:
        end = start + 1.0
    times = np.linspace(start, end, thumbnails + 2)[1:-1]
    frames = list(zip(times, _thumbnails(video, times)))
    fig = Figure(figsize=(10, 4), dpi=100)
    grid = fig.add_gridspec(2, thumbnails, height_ratios=[1.2, 1])
    for i, (t, frame) in enumerate(frames):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(frame)
        ax.set_title(f"{t:.1f} s", fontsize=8)
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    for row, event in enumerate(answer.events):
        ax.barh(row, event.end - event.start, left=event.start, height=0.6, color=f"C{event.class_index % 10}")
        ax.text(event.start, row, f" {event.class_name} ({event.confidence:.2f})", va="center", fontsize=8)
    ax.set_xlim(start, end)
    ax.set_ylim(-0.7, max(len(answer.events), 1) - 0.3)
    ax.invert_yaxis()
    ax.set_yticks([])
    ax.set_xlabel("seconds")
    chosen = answer.options[answer.prediction] if answer.options else answer.answer
    ax.set_title(f"predicted events; answer: {chosen}", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": PLOT_SOFTWARE})
    path = Path(path)
    with atomic_write(path, "wb", encoding=None) as fh:
        fh.write(buf.getvalue())
    return path
