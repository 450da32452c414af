"""Frame sampling and padding of video features to a fixed ``max_feats`` rows.

Why exactly the authors' rule (:func:`sample_frames`; docs/data_formats.md, "0. What every
benchmark becomes"): their checkpoints were trained on features sampled so, and a released
checkpoint evaluated on frames sampled otherwise silently gets shifted inputs. The padding
is also reported in a mask, so models can ignore padded rows instead of attending to them.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from gf.common.errors import ConfigError, DataFileError
from gf.common.registry import registry
from gf.common.utils import check_known_keys, describe_ids, positive_int

__all__ = ["non_finite", "sample_frames", "VideoFeatureProcessor"]


def sample_frames(feats: torch.Tensor, max_feats: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sample or pad ``feats [T, D]`` to ``[max_feats, D]``; return ``(frames, mask)``.

    * ``T < max_feats``: the T rows followed by zero rows; ``mask`` is ``True`` on the T
      real rows and ``False`` on padding.
    * ``T >= max_feats``: rows ``floor(j * T / max_feats)`` for ``j = 0..max_feats-1``
      (integer arithmetic, so exact for any T; ``T == max_feats`` is the identity);
      ``mask`` is all ``True``.
    """
    if not positive_int(max_feats):
        raise ConfigError(f"max_feats must be a positive integer, got {max_feats!r}")
    feats = torch.as_tensor(feats)
    if feats.ndim != 2:
        raise DataFileError(
            f"video features must be 2-D [T, D] (flatten them in the feature store), "
            f"got shape {tuple(feats.shape)}"
        )
    num_frames, dim = feats.shape
    if num_frames == 0:
        raise DataFileError(
            f"video features have no frames (shape {tuple(feats.shape)}); the feature file "
            f"holds an empty entry for this video — re-extract it or drop the video."
        )
    if num_frames < max_feats:
        frames = feats.new_zeros((max_feats, dim))
        frames[:num_frames] = feats
        return frames, torch.arange(max_feats) < num_frames
    rows = torch.arange(max_feats, dtype=torch.long) * num_frames // max_feats
    return feats.index_select(0, rows), torch.ones(max_feats, dtype=torch.bool)


def non_finite(feats: torch.Tensor) -> Optional[str]:
    """``"N NaN and M infinite value(s), in frame(s) ..."`` for features that hold any, else
    None: the model would still answer them, from scores that mean nothing (every score NaN,
    argmax 0). Shared by the datasets (which name the store and question) and the processor."""
    if not feats.is_floating_point() or bool(torch.isfinite(feats).all()):
        return None
    bad = ~torch.isfinite(feats)
    rows = bad.reshape(len(feats), -1).any(dim=1).nonzero().flatten().tolist() if feats.ndim else [0]
    return (f"{int(torch.isnan(feats).sum())} NaN and {int(torch.isinf(feats).sum())} infinite value(s), in "
            f"frame(s) {describe_ids(rows)}")


def _check_finite(feats: torch.Tensor) -> None:
    """Refuse NaN/Inf features handed in directly (``predict_example``, the API's processors)."""
    bad = non_finite(feats)
    if bad is not None:
        raise DataFileError(f"video features hold {bad}; re-extract the features of that clip (or drop those frames).")


@registry.register_processor("video_features")
class VideoFeatureProcessor:
    """Turns a ``[T, D]`` feature tensor into ``{"video": [max_feats, D], "video_mask": [max_feats]}``.

    ``feature_dim`` (optional) is checked on every call, so a store of the wrong
    backbone (e.g. 2048-d ResNet for a 1024-d S3D model) fails at the first sample with
    both dimensions named rather than deep inside the model's input projection.
    ``train`` records which split the processor serves (LAVIS keeps separate train and
    eval processors); frames are sampled the same way in both.
    """

    def __init__(self, max_feats: int = 80, feature_dim: Optional[int] = None, train: bool = False):
        if not positive_int(max_feats):
            raise ConfigError(f"video_features processor: max_feats must be a positive integer, got {max_feats!r}")
        if feature_dim is not None and not positive_int(feature_dim):  # True is not a dimension
            raise ConfigError(f"video_features processor: feature_dim must be a positive integer or None, got {feature_dim!r}")
        self.max_feats = max_feats
        self.feature_dim = feature_dim
        self.train = train

    @classmethod
    def from_config(cls, cfg: Optional[Mapping[str, Any]] = None) -> "VideoFeatureProcessor":
        """Build from a config mapping; unknown keys are errors (they are usually typos)."""
        cfg = dict(cfg or {})
        cfg.pop("name", None)  # LAVIS-style processor configs carry their registry name
        check_known_keys(cfg, ("max_feats", "feature_dim", "train"), owner="video_features processor",
                         error=ConfigError)
        return cls(**cfg)

    def __call__(self, feats: torch.Tensor) -> Dict[str, torch.Tensor]:
        feats = torch.as_tensor(feats)
        _check_finite(feats)
        return self.process(feats)

    def process(self, feats: torch.Tensor) -> Dict[str, torch.Tensor]:
        """:meth:`__call__` without the finiteness check, for a caller that has made it with
        the sample named (the dataset): the check reads every value and costs more than the
        rest (80x1024 features: 93 us against 25 us), so twice per sample would show."""
        feats = torch.as_tensor(feats)
        if self.feature_dim is not None and (feats.ndim < 1 or feats.shape[-1] != self.feature_dim):
            got = feats.shape[-1] if feats.ndim else "a scalar"
            raise DataFileError(
                f"video features have dimension {got} but the video_features processor "
                f"expects feature_dim={self.feature_dim}; use the feature file of the right "
                f"backbone or set feature_dim to {got}."
            )
        video, mask = sample_frames(feats, self.max_feats)
        return {"video": video, "video_mask": mask}

    def __repr__(self) -> str:
        return f"VideoFeatureProcessor(max_feats={self.max_feats}, feature_dim={self.feature_dim})"
