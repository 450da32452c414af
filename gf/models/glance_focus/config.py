"""The Glance-Focus configuration: every knob of the model, with the paper's defaults.

A dataclass (rather than loose kwargs) so that the config system can validate user YAML
against it: unknown keys and wrong types are reported before any work starts. The R codes
in the comments are the differences from the authors' code, in
docs/differences_from_authors.md (which also lists which switches are gf's own additions).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

from gf.common.errors import ConfigError
from gf.common.utils import check_known_keys, finite_number

ARCHS = ("paper", "reference")
MEMORY_MODES = ("sup", "uns")
ANSWER_MODES = ("mc", "oe")
FRAME_POS = ("sine", "learned", "none")
VIDEO_INPUTS = ("frames", "none", "mean")


@dataclass
class GlanceFocusConfig:
    # What is computed.
    arch: str = "paper"                # "reference" reproduces the authors' numerics (R1-R4)
    memory: str = "sup"                # "sup": Hungarian-matched event supervision; "uns": diversity/certainty
    answer_mode: str = "mc"            # "mc": score each option; "oe": classify over an answer vocabulary
    num_options: int = 4               # mc only (STAR 4, NExT-QA 5)
    num_answers: int = 171             # oe only (answer-vocabulary size)
    # Sizes (paper defaults).
    d_model: int = 512
    nhead: int = 8
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    dim_feedforward: int = 2048
    dropout: float = 0.1
    num_queries: int = 10
    max_feats: int = 80
    feature_dim: int = 1024
    event_pred_dim: int = 112          # event classes + 1 background (STAR: 111 + 1)
    frame_pos: str = "sine"            # paper arch only: temporal positions of frames (R1)
    video_input: str = "frames"        # baselines (gf addition): "frames" (the model), "none" (blind: one
                                       # zero frame, no mask: nothing of the clip, not even its length),
                                       # "mean" (atemporal: every real frame is replaced by the clip's mean
                                       # frame, so no order is left; the count of real frames is)
    # paper arch only (the reference always uses the authors' choices: "resized", False):
    focus_query: str = "encoded"       # question queries of the multi-level attention: the text states
                                       # after the focus encoder ("encoded") or before it ("resized")
    focus_residual: bool = True        # residual connections through question -> events -> frames
    sort_background_last: bool = True  # memory: sup -- slots predicted "no event" go after the events,
                                       # so neighbouring slots are neighbouring events
    suppress_duplicate_events: bool = False  # memory: sup, with sort_background_last -- a slot repeating
                                       # a more confident slot's event (same class, overlapping span)
                                       # also goes after the events
    grounded_answer: bool = False      # mc only: add an event-grounded option score (see GroundedAnswerScore)
    pointer_loss: float = 0.0          # grounded_answer + memory: sup -- weight of the pointer loss: where a
                                       # question's grounding is annotated (gf.datasets.grounding), its pointer
                                       # is trained to land on the named event and, after the shift, on the
                                       # answer event (gf addition; 0 = off, the answer loss alone)
    # Text encoder.
    text_encoder: str = "roberta-base"  # transformers name or local folder; "minilm" = offline all-MiniLM-L6-v2
    text_encoder_init: str = "pretrained"  # "pretrained" (from_pretrained) or "config" (random init, weights loaded later)
    freeze_text_encoder: bool = False
    cache_text_features: bool = True    # when frozen: encode each distinct text once
    text_max_length: int = 100
    resizer_dropout: float = 0.1
    # Losses (paper defaults).
    loss_weights: Dict[str, float] = field(default_factory=dict)  # empty -> defaults for `memory`
    cost_cls: float = 1.0
    cost_l1: float = 1.0
    eos_coef: float = 0.1

    def __post_init__(self):
        _check_numbers(self)
        _check_choice("arch", self.arch, ARCHS)
        _check_choice("memory", self.memory, MEMORY_MODES)
        _check_choice("answer_mode", self.answer_mode, ANSWER_MODES)
        _check_choice("frame_pos", self.frame_pos, FRAME_POS)
        _check_choice("video_input", self.video_input, VIDEO_INPUTS)
        _check_choice("focus_query", self.focus_query, ("encoded", "resized"))
        _check_choice("text_encoder_init", self.text_encoder_init, ("pretrained", "config"))
        _check_ranges(self)
        if self.d_model % self.nhead:
            raise ConfigError(f"d_model ({self.d_model}) must be divisible by nhead ({self.nhead})")
        for name in ("dropout", "resizer_dropout"):  # torch would refuse them only when the model is built
            if not 0 <= getattr(self, name) < 1:  # a number: _check_numbers refused anything else
                raise ConfigError(f"{name} is a probability in [0, 1), got {getattr(self, name)!r}")
        if self.answer_mode == "mc" and (self.num_options is None or self.num_options < 2):
            raise ConfigError(f"num_options must be >= 2 for multiple choice, got {self.num_options}")
        if self.answer_mode == "oe" and (self.num_answers is None or self.num_answers < 2):
            raise ConfigError(f"num_answers must be >= 2 for open-ended QA, got {self.num_answers}")
        if self.arch == "reference" and self.num_encoder_layers != self.num_decoder_layers:
            raise ConfigError("arch 'reference' uses as many encoder as decoder layers")
        # switches that only exist in one arch: refused here, so `gf validate` catches them
        if self.grounded_answer and (self.arch != "paper" or self.answer_mode != "mc"):
            raise ConfigError("grounded_answer needs arch 'paper' and answer_mode 'mc' (it scores options "
                              f"against the time-sorted memories); got arch {self.arch!r}, answer_mode "
                              f"{self.answer_mode!r}")
        if self.suppress_duplicate_events and (self.arch != "paper" or self.memory != "sup"):
            raise ConfigError("suppress_duplicate_events needs arch 'paper' and memory 'sup' (it reads the glance's "
                              f"class predictions); got arch {self.arch!r}, memory {self.memory!r}")
        if self.pointer_loss and not (self.grounded_answer and self.memory == "sup"):
            raise ConfigError("pointer_loss trains the grounded answer score's pointer on the matched events: it "
                              f"needs grounded_answer: true and memory: sup; got grounded_answer "
                              f"{self.grounded_answer!r}, memory {self.memory!r}")
        weights = dict(default_loss_weights(self.memory))
        unknown = set(self.loss_weights) - set(weights)
        if unknown:
            raise ConfigError(
                f"unknown loss weight(s) {sorted(unknown)} for memory={self.memory!r}; "
                f"known: {sorted(weights)}"
            )
        for key, value in self.loss_weights.items():
            _check_weight(f"loss_weights.{key}", value)
        weights.update({k: float(v) for k, v in self.loss_weights.items()})
        self.loss_weights = weights

    @classmethod
    def from_dict(cls, cfg: Optional[Mapping[str, Any]] = None, **overrides) -> "GlanceFocusConfig":
        data = {**(cfg or {}), **overrides}
        check_known_keys(data, [f.name for f in dataclasses.fields(cls)], owner="Glance-Focus config",
                         error=ConfigError)
        if "loss_weights" in data and data["loss_weights"] is not None:
            data["loss_weights"] = dict(data["loss_weights"])
        return cls(**data)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def default_loss_weights(memory: str) -> Dict[str, float]:
    if memory == "sup":
        return {"loss_qa": 1.0, "loss_cls": 0.5, "loss_l1": 0.5}
    return {"loss_qa": 1.0, "loss_cls": 0.5, "loss_giou": 0.5, "loss_cert": 1.0}


def _check_choice(name: str, value: Any, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _check_numbers(cfg: GlanceFocusConfig) -> None:
    """The int and float fields hold numbers of their type. Why here: ``gf.load_model``'s
    keyword overrides reach the dataclass unchecked (YAML goes through the config schema),
    and a string would fail later as a raw TypeError (``d_model % nhead``). The count of the
    answer mode not used may be None (it is checked with the mode below)."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if value is None and f.name in ("num_options", "num_answers"):
            continue
        ok = {"int": (int,), "float": (int, float)}.get(str(f.type))
        if ok is not None and (isinstance(value, bool) or not isinstance(value, ok)):
            kind = "an integer" if f.type == "int" else "a number"
            raise ConfigError(f"Glance-Focus config: {f.name} must be {kind}, got {type(value).__name__} {value!r}")


SIZES = ("d_model", "nhead", "num_encoder_layers", "num_decoder_layers", "dim_feedforward", "num_queries",
         "max_feats", "feature_dim", "event_pred_dim", "text_max_length")
WEIGHTS = ("cost_cls", "cost_l1", "eos_coef", "pointer_loss")


def _check_ranges(cfg: GlanceFocusConfig) -> None:
    """Sizes >= 1 and weights finite and >= 0, refused here by name. Why: torch fails on them
    late and blames something else (nhead 0: a ZeroDivisionError; no decoder layer: an
    empty stack), or not at all (no encoder layer trains a different model; a negative
    cost inverts the matching; a NaN weight stops training blaming the learning rate). The
    authors never use 0 layers either."""
    for name in SIZES:
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {getattr(cfg, name)!r}")
    for name in WEIGHTS:
        _check_weight(name, getattr(cfg, name))


def _check_weight(name: str, value: Any) -> None:
    if finite_number(value) is None or value < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
