"""The options of clip-level and two-stream extraction, checked before anything is created.

Why apart from the frame options: a clip-level run places clips (``--num-clips`` or
``--clips-per-second``, ``--clip-len`` frames ``--clip-stride`` apart) instead of frames,
so each family of options is refused where it does not apply rather than silently
ignored: a user who passes ``--num-frames 32`` to an S3D run would otherwise get 8 clips.
"""
from __future__ import annotations

import os

from gf.common.errors import CheckpointNotFoundError, ConfigError

__all__ = ["check_clip_options", "DEFAULT_NUM_CLIPS"]

#: clips per sample when neither --num-clips nor --clips-per-second is given (HCRN's 8)
DEFAULT_NUM_CLIPS = 8

_CLIP_ONLY = ("clip_len", "num_clips", "clips_per_second", "motion_weights", "motion_input_size")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_clip_options(o) -> bool:
    """Check and complete the clip options of ``o``; returns whether the run is clip-level
    (a clip backbone, alone or as the motion stream)."""
    from gf.extraction.clip_backbone import HF, TORCHVISION, is_clip_backbone
    from gf.extraction.extract import check_count_or_rate, check_int_option

    clip = is_clip_backbone(o.backbone)
    if o.motion_backbone is not None:
        if not is_clip_backbone(o.motion_backbone):
            raise ConfigError(f"--motion-backbone {o.motion_backbone!r}: a clip model, {TORCHVISION}NAME or "
                              f"{HF}FOLDER (e.g. {TORCHVISION}r2plus1d_18)")
        if clip:
            raise ConfigError(f"--motion-backbone goes with a frame (timm) --backbone, the appearance stream; "
                              f"--backbone {o.backbone} is a clip model")
    if not clip and o.motion_backbone is None:
        given = [_flag(n) for n in _CLIP_ONLY if getattr(o, n) is not None] + \
            (["--clip-stride"] if o.clip_stride not in (None, 1) else [])
        if given:
            raise ConfigError(f"{given[0]} applies to clip backbones ({TORCHVISION}NAME, {HF}FOLDER, or "
                              f"--motion-backbone); --backbone {o.backbone} is a frame model")
        return False
    if o.motion_backbone is None:
        given = [_flag(n) for n in ("motion_weights", "motion_input_size") if getattr(o, n) is not None]
        if given:
            raise ConfigError(f"{given[0]} applies to --motion-backbone; for --backbone {o.backbone} use "
                              f"{given[0].replace('motion-', '')}")
    for name in ("num_frames", "fps"):
        if getattr(o, name) is not None:
            raise ConfigError(f"{_flag(name)}: a clip-level run places clips, not frames; use --num-clips N or "
                              f"--clips-per-second F (and --clip-len, --clip-stride)")
    check_count_or_rate(o, "num_clips", "clips_per_second", DEFAULT_NUM_CLIPS)
    if o.clip_len is not None:
        o.clip_len = check_int_option("--clip-len", o.clip_len, 1, note=" frames")
    o.clip_stride = check_int_option("--clip-stride", 1 if o.clip_stride is None else o.clip_stride, 1,
                                     note=" frames")
    if o.motion_input_size is not None:
        o.motion_input_size = check_int_option("--motion-input-size", o.motion_input_size, 1, note=" pixels")
    if o.motion_weights and not os.path.isfile(o.motion_weights):
        raise CheckpointNotFoundError(f"--motion-weights {o.motion_weights}: no such file")
    return True
