"""The options of ``gf extract`` (and ``gf predict``), every one checked before anything is
read or written.

Why checked first: a refused command must leave nothing behind that the corrected rerun
would trip over, and a NaN passes every ``<`` test unnoticed. Why the clip options are
checked by family: a clip-level run places clips (``--num-clips`` or
``--clips-per-second``, ``--clip-len`` frames ``--clip-stride`` apart) instead of frames,
so each family is refused where it does not apply rather than silently ignored: a user
who passes ``--num-frames 32`` to an S3D run would otherwise get 8 clips.
"""
from __future__ import annotations

import os
from typing import Any, List, Optional

import numpy as np

from gf.common.errors import CheckpointNotFoundError, ConfigError
from gf.common.utils import check_device, finite_number  # check_device: shared with gf predict and gf.api

__all__ = ["DEFAULT_NUM_CLIPS", "MAX_SEED", "check_clip_options", "check_count_or_rate", "check_device",
           "check_int_option", "check_number_option"]

#: torch.manual_seed takes 0 .. 2**64 - 1
MAX_SEED = 2 ** 64 - 1


def check_int_option(option: str, value: Any, minimum: int, maximum: Optional[int] = None, note: str = "") -> int:
    """``value`` if it is an integer in ``[minimum, maximum]``, else a ConfigError naming
    ``option``, the value and the range (``note`` says what a bound means, e.g. "0 = ...")."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum and \
        (maximum is None or value <= maximum)
    if not ok:
        bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ConfigError(f"{option} must be an integer {bounds}{note}, got {value!r}")
    return int(value)


def check_number_option(option: str, value: Any, minimum: float, *, exclusive: bool = False,
                        maximum: Optional[float] = None, note: str = "") -> float:
    """``value`` as a float if it is a finite number ``>= minimum`` (``> minimum`` when
    ``exclusive``) and ``<= maximum``, else a ConfigError naming ``option``, the value and
    the range. NaN and infinity are refused: a NaN passes every ``<`` test unnoticed."""
    number = finite_number(value)
    ok = number is not None and (number > minimum if exclusive else number >= minimum) and \
        (maximum is None or number <= maximum)
    if not ok:
        bounds = f"{'>' if exclusive else '>='} {minimum:g}" + (f" and <= {maximum:g}" if maximum is not None else "")
        raise ConfigError(f"{option} must be a finite number {bounds}{note}, got {value!r}")
    return float(number)


def check_count_or_rate(o, count: str, rate: str, default: int) -> None:
    """The sampling of ``o``: ``count`` per sample (an integer >= 1) or ``rate`` per second (a
    finite number > 0), not both; ``count = default`` when neither (e.g. ``num_frames``/``fps``)."""
    flags = {name: _flag(name) for name in (count, rate)}
    if getattr(o, count) is not None and getattr(o, rate) is not None:
        raise ConfigError(f"give {flags[count]} or {flags[rate]}, not both")
    if getattr(o, count) is None and getattr(o, rate) is None:
        setattr(o, count, default)
    if getattr(o, count) is not None:
        setattr(o, count, check_int_option(flags[count], getattr(o, count), 1))
    if getattr(o, rate) is not None:
        setattr(o, rate, check_number_option(flags[rate], getattr(o, rate), 0, exclusive=True))


#: clips per sample when neither --num-clips nor --clips-per-second is given (HCRN's 8)
DEFAULT_NUM_CLIPS = 8

_CLIP_ONLY = ("clip_len", "num_clips", "clips_per_second", "motion_weights", "motion_pretrained", "motion_input_size")
_MOTION_ONLY = ("motion_weights", "motion_pretrained", "motion_input_size")


def _given(o, names) -> List[str]:
    """The flags among ``names`` that ``o`` sets (a switch counts when it is on)."""
    return [_flag(n) for n in names if getattr(o, n, None) not in (None, False)]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_clip_options(o) -> bool:
    """Check and complete the clip options of ``o``; returns whether the run is clip-level
    (a clip backbone, alone or as the motion stream)."""
    from gf.extraction.clip_backbone import HF, TORCHVISION, is_clip_backbone

    clip = is_clip_backbone(o.backbone)
    if o.motion_backbone is not None:
        if not is_clip_backbone(o.motion_backbone):
            raise ConfigError(f"--motion-backbone {o.motion_backbone!r}: a clip model, {TORCHVISION}NAME or "
                              f"{HF}FOLDER (e.g. {TORCHVISION}r2plus1d_18)")
        if clip:
            raise ConfigError(f"--motion-backbone goes with a frame (timm) --backbone, the appearance stream; "
                              f"--backbone {o.backbone} is a clip model")
    if not clip and o.motion_backbone is None:
        given = _given(o, _CLIP_ONLY) + (["--clip-stride"] if o.clip_stride not in (None, 1) else [])
        if given:
            raise ConfigError(f"{given[0]} applies to clip backbones ({TORCHVISION}NAME, {HF}FOLDER, or "
                              f"--motion-backbone); --backbone {o.backbone} is a frame model")
        return False
    if o.motion_backbone is None:
        given = _given(o, _MOTION_ONLY)
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
    if o.motion_backbone is not None:
        _complete_motion_weights(o)
    if o.motion_weights and not os.path.isfile(o.motion_weights):
        raise CheckpointNotFoundError(f"--motion-weights {o.motion_weights}: no such file")
    return True


def _complete_motion_weights(o) -> None:
    """Where the motion stream's weights come from: ``--motion-weights FILE``, else a download
    with ``--motion-pretrained`` or with ``--pretrained`` (which covers both streams unless
    the motion stream has its own file), else the seeded random initialisation."""
    if o.motion_weights and o.motion_pretrained:
        raise ConfigError("give either --motion-weights FILE or --motion-pretrained, not both")
    o.motion_pretrained = bool(o.motion_pretrained or (o.pretrained and not o.motion_weights))
