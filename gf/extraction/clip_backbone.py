"""Clip backbones: video models that take a clip of frames and give one feature per clip.

``--backbone torchvision:NAME`` (torchvision's video models) and ``--backbone
hf:ID_OR_FOLDER`` (a Hugging Face VideoMAE, or X-CLIP's vision tower) share one interface,
:class:`ClipBackbone`. The models, what a row is for each family, and the preprocessing:
docs/extraction.md, "Clip backbones: one row per clip".

Why the transform runs over frames, not clips: the video models' preprocessing (resize,
centre crop, normalisation) acts on each frame alone, so the frames of a video are
preprocessed once and the clips gathered from them; overlapping clips cost no more.

Why torch is imported at the top, unlike the frame backbone's module: this module is only
imported once an extraction with a clip backbone starts, never by ``gf --help``.

Nothing pickled is ever loaded: a weights file is read as the frame backbone's is
(:mod:`gf.extraction.backbone` says why), torchvision's ``--pretrained`` download with
``weights_only=True``, and a Hugging Face folder must hold ``.safetensors`` weights.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import torch

from gf.common.errors import CheckpointError, ConfigError, DownloadError
from gf.common.io import load_json, sha256sum
from gf.common.utils import did_you_mean, positive_int
from gf.extraction.backbone import apply_state_dict, load_state_dict_file, weights_source

__all__ = ["ClipBackbone", "is_clip_backbone", "create_clip_backbone", "TORCHVISION", "HF"]

TORCHVISION = "torchvision:"
HF = "hf:"
#: names of the classifier module of torchvision's video models, replaced by an identity
_HEADS = ("fc", "classifier", "head")
#: the Hugging Face model types gf reads, and what a row is for each
_HF_TYPES = {"videomae": "mean over tokens of VideoMAEModel's last_hidden_state",
             "xclip": "XCLIPVisionModel pooler_output per frame, averaged over the clip's frames"}
#: PIL resampling numbers of preprocessor_config.json -> torchvision interpolation names
_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


@dataclass
class ClipBackbone:
    model: Any  # torch.nn.Module in eval mode: float [B, C, L, h, w] -> [B, D]
    transform: Callable  # uint8 tensor [U, H, W, 3] -> float [C, U, h, w]
    data_config: Dict[str, Any]
    weights: Dict[str, Any]
    feature_dim: int
    name: str
    features: str  # what one row is, for the recipe
    clip_len: int  # frames per clip


def is_clip_backbone(name: Optional[str]) -> bool:
    return isinstance(name, str) and name.startswith((TORCHVISION, HF))


class FrameTransform:
    """uint8 ``[U, H, W, 3]`` -> float ``[C, U, h, w]``: torchvision's ``VideoClassification``
    preset (resize, centre crop, scale to [0, 1], normalise), built from plain values so
    it pickles into DataLoader workers and is recorded as it is."""

    def __init__(self, config: Dict[str, Any]):
        self.config = config

    def __call__(self, frames):
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms._presets import VideoClassification

        c = self.config
        preset = VideoClassification(crop_size=c["crop_size"], resize_size=c["resize_size"], mean=c["mean"],
                                     std=c["std"], interpolation=InterpolationMode(c["interpolation"]))
        return preset(torch.as_tensor(frames).permute(0, 3, 1, 2))


# ---------------------------------------------------------------------------------------
# torchvision
# ---------------------------------------------------------------------------------------
def _torchvision_config(preset, input_size: Optional[int]) -> Dict[str, Any]:
    crop, resize = list(preset.crop_size), list(preset.resize_size)
    if input_size:
        scale = input_size / crop[0]
        crop, resize = [input_size, input_size], [max(1, round(r * scale)) for r in resize]
    return {"crop_size": crop, "resize_size": resize, "mean": list(preset.mean), "std": list(preset.std),
            "interpolation": preset.interpolation.value}


def _drop_head(model) -> str:
    for attr in _HEADS:
        if isinstance(getattr(model, attr, None), torch.nn.Module):
            setattr(model, attr, torch.nn.Identity())
            return attr
    raise ConfigError(f"{type(model).__name__} has no classifier named {', '.join(_HEADS)}; gf cannot tell its "
                      f"features from its logits")


def _torchvision(arch: str, *, weights: Optional[str], pretrained: bool, input_size: Optional[int]):
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models.video)
    if arch not in names:
        raise ConfigError(f"--backbone {TORCHVISION}{arch}: not a torchvision video model.{did_you_mean(arch, names)} "
                          f"They are: {', '.join(names)}")
    enum = torchvision.models.get_model_weights(arch).DEFAULT  # its transforms() need no download
    # Built bare and its weights loaded here: torchvision's own weights=enum unpickles the
    # download (torch.hub's weights_only defaults to False). num_classes as that sets it.
    classes = len(enum.meta["categories"])
    model = torchvision.models.get_model(arch, weights=None, num_classes=classes)
    if pretrained:
        try:
            state = enum.get_state_dict(progress=True, check_hash=True, weights_only=True)
        except Exception as e:
            raise DownloadError(f"torchvision could not download the weights {enum} "
                                f"({type(e).__name__}: {e}); download them where there is a "
                                f"network and pass --weights FILE") from None
        model.load_state_dict(state)
    head = _drop_head(model)
    if weights:
        apply_state_dict(model, load_state_dict_file(weights), weights, heads=(f"{head}.",),
                         architecture=f"torchvision model {arch!r}")
    source = {"kind": "pretrained", "hub": enum.url, "tag": str(enum)} if pretrained else None
    config = _torchvision_config(enum.transforms(), input_size)
    fixed = arch.startswith("mvit")  # MViT's position embeddings are for 16 frames
    what = f"torchvision {arch}: pooled activations before the classifier ({head} replaced by an identity)"
    return model, config, source, what, 16, fixed


# ---------------------------------------------------------------------------------------
# Hugging Face transformers
# ---------------------------------------------------------------------------------------
class HFClips(torch.nn.Module):
    """A transformers video encoder as a module over ``[B, C, L, h, w]`` clips (see the module doc)."""

    def __init__(self, encoder, kind: str):
        super().__init__()
        self.encoder, self.kind = encoder, kind

    def forward(self, x):
        x = x.permute(0, 2, 1, 3, 4)  # transformers' video layout: [B, L, C, h, w]
        if self.kind == "xclip":
            b, length = x.shape[:2]
            return self.encoder(pixel_values=x.flatten(0, 1)).pooler_output.view(b, length, -1).mean(1)
        return self.encoder(pixel_values=x).last_hidden_state.mean(1)


def folder_digest(folder: str) -> str:
    """sha256 over the files that change a feature: the config, the preprocessor config, the weights."""
    names = sorted(n for n in os.listdir(folder)
                   if n in ("config.json", "preprocessor_config.json") or n.endswith(".safetensors"))
    h = hashlib.sha256()
    for n in names:
        h.update(f"{n}\0{sha256sum(os.path.join(folder, n))}\n".encode())
    return h.hexdigest()


def _hf_config(folder_or_id: str, vision) -> Dict[str, Any]:
    """The preprocessing: the model's ``preprocessor_config.json`` (in the folder, or in the
    Hub cache for a Hub id) when it has one, else the model's image size with ImageNet
    mean/std (VideoMAE's default; X-CLIP's processor gives CLIP's).

    Why the Hub's file is read too: ``--pretrained`` models carry their own normalisation
    and resize (X-CLIP's are CLIP's), and the features are wrong without them."""
    size = int(vision.image_size)
    config = {"crop_size": [size, size], "resize_size": [size], "mean": [0.485, 0.456, 0.406],
              "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"}
    path = _preprocessor_file(folder_or_id)
    if path is None:
        return config
    p = load_json(path, "preprocessor config")
    if not isinstance(p, dict):
        raise CheckpointError(f"{path}: not a preprocessor config (a JSON object); re-save it with the model's "
                              f"image processor (save_pretrained)")
    if p.get("size") is not None:
        config["resize_size"] = _edge_or_hw(p["size"], path, "size", square=False)
    if p.get("crop_size") is not None and p.get("do_center_crop", True):
        config["crop_size"] = _edge_or_hw(p["crop_size"], path, "crop_size", square=True)
    for key, name in (("image_mean", "mean"), ("image_std", "std")):
        value = p.get(key, config[name])
        if not (isinstance(value, list) and len(value) == 3
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            raise CheckpointError(f"{path}: {key} must be a list of 3 numbers (one per RGB channel), got {value!r}")
        config[name] = [float(v) for v in value]
    resample = p.get("resample", 2)
    if resample not in _RESAMPLE:
        raise CheckpointError(f"{path}: resample {resample!r} is not one gf applies (0 nearest, 2 bilinear, "
                              f"3 bicubic)")
    config["interpolation"] = _RESAMPLE[resample]
    return config


def _preprocessor_file(ref: str) -> Optional[str]:
    """``preprocessor_config.json`` of a folder, or of a Hub model through the Hub cache
    (downloaded, or read offline from the cache, as transformers' own processors read it);
    None when the model has none."""
    if os.path.isdir(ref):
        path = os.path.join(ref, "preprocessor_config.json")
        return path if os.path.isfile(path) else None
    from transformers.utils import cached_file

    try:
        return cached_file(ref, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
    except Exception as e:  # not cached and not downloadable: the features would use other preprocessing
        raise DownloadError(f"--backbone {HF}{ref}: cannot fetch its preprocessor_config.json ({type(e).__name__}: "
                            f"{str(e).strip()[:200]})") from None


def _edge_or_hw(value, path: str, key: str, *, square: bool) -> list:
    """A size as transformers reads it: ``{"shortest_edge": N}`` or an int (resize the short
    side, or a square for ``crop_size``), ``{"height", "width"}`` or ``[h, w]``."""
    if positive_int(value):
        return [value, value] if square else [value]
    if isinstance(value, dict) and positive_int(value.get("shortest_edge")) and not square:
        return [value["shortest_edge"]]
    if isinstance(value, dict) and positive_int(value.get("height")) and positive_int(value.get("width")):
        return [value["height"], value["width"]]
    if isinstance(value, list) and len(value) == 2 and all(map(positive_int, value)):
        return list(value)
    raise CheckpointError(f"{path}: {key} must be a positive int, {{\"shortest_edge\": N}}, "
                          f"{{\"height\": H, \"width\": W}} or [H, W], got {value!r}")


def _hf(ref: str, *, weights: Optional[str], pretrained: bool, input_size: Optional[int]):
    import transformers

    if weights:
        raise ConfigError(f"--backbone {HF}{ref}: the folder holds the weights; --weights is for timm and "
                          f"torchvision backbones")
    if input_size:
        raise ConfigError(f"--input-size: {HF}{ref} takes its own image size (its position embeddings are for it)")
    local = os.path.isdir(ref)
    if not local and not pretrained:
        raise ConfigError(f"--backbone {HF}{ref}: no such folder. Give a folder holding config.json and "
                          f"model.safetensors (save_pretrained), or --pretrained to download {ref!r} from the Hub")
    transformers.utils.logging.disable_progress_bar()
    try:
        config = transformers.AutoConfig.from_pretrained(ref)
    except Exception as e:  # from the Hub: a download that failed; a folder: a damaged one
        error = CheckpointError if local else DownloadError
        raise error(f"--backbone {HF}{ref}: no readable config.json ({type(e).__name__}: "
                    f"{str(e).strip()[:200]})") from None
    kind = config.model_type
    if kind not in _HF_TYPES:
        raise ConfigError(f"--backbone {HF}{ref} is a {kind!r} model; gf reads {', '.join(_HF_TYPES)} video encoders")
    cls = transformers.XCLIPModel if kind == "xclip" else transformers.VideoMAEModel
    try:
        model, info = cls.from_pretrained(ref, use_safetensors=True, output_loading_info=True)
    except Exception as e:
        raise CheckpointError(f"--backbone {HF}{ref}: cannot load safetensors weights ({type(e).__name__}: "
                              f"{str(e).strip()[:200]}); gf reads only .safetensors (never pickled .bin files)") from None
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        raise CheckpointError(f"--backbone {HF}{ref}: the weights lack {len(missing)} of the model's tensors (e.g. "
                              f"{', '.join(missing[:3])}); is it a {kind} checkpoint?")
    vision = config.vision_config if kind == "xclip" else config
    encoder = model.vision_model if kind == "xclip" else model
    source = ({"kind": "folder", "folder": os.path.basename(os.path.normpath(ref)), "sha256": folder_digest(ref)}
              if local else {"kind": "pretrained", "hub": ref, "tag": getattr(config, "_commit_hash", None) or ""})
    frames = int(getattr(vision, "num_frames", 16) or 16)
    return HFClips(encoder, kind), _hf_config(ref, vision), source, _HF_TYPES[kind], frames, kind != "xclip"


def create_clip_backbone(name: str, *, weights: Optional[str] = None, pretrained: bool = False, seed: int = 0,
                         input_size: Optional[int] = None, clip_len: Optional[int] = None,
                         device: str = "cpu") -> ClipBackbone:
    """A clip backbone for ``torchvision:NAME`` or ``hf:ID_OR_FOLDER`` (see the module doc).

    torchvision weights are chosen as :func:`gf.extraction.backbone.create_backbone` chooses
    them; Hugging Face: the folder (or, with ``pretrained``, the Hub id). ``clip_len``
    (default: the model's own, 16 for torchvision) is checked by one forward pass, which
    also gives the feature width.
    """
    if weights and pretrained:
        raise ConfigError("give either --weights FILE or --pretrained, not both")
    torch.manual_seed(int(seed))
    build = _torchvision if name.startswith(TORCHVISION) else _hf
    ref = name.split(":", 1)[1]
    model, config, source, what, frames, fixed = build(ref, weights=weights, pretrained=pretrained,
                                                       input_size=input_size)
    source = weights_source(weights, source, seed)
    if clip_len is not None and fixed and clip_len != frames:
        raise ConfigError(f"--clip-len {clip_len}: {name} takes clips of exactly {frames} frames (its position "
                          f"embeddings are for them); use --clip-len {frames}")
    clip_len = frames if clip_len is None else int(clip_len)
    model.eval().to(device)
    h, w = config["crop_size"]
    try:
        with torch.inference_mode():
            dim = int(model(torch.zeros(1, 3, clip_len, h, w, device=device)).shape[-1])
    except RuntimeError as e:  # a clip too short for the temporal strides, an input too small
        raise ConfigError(f"--backbone {name} cannot run on clips of {clip_len} frames at {h}x{w} "
                          f"({str(e).strip().splitlines()[0][:200]}); use a longer --clip-len or a larger "
                          f"--input-size") from None
    if name.startswith(HF):  # recorded: a local folder by its own name (the machine's path is not the model's)
        name = HF + (os.path.basename(os.path.normpath(ref)) if os.path.isdir(ref) else ref)
    return ClipBackbone(model, FrameTransform(config), config, source, dim, name, what, clip_len)
