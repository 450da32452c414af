"""Glance-Focus (Bai, Wang, Chen, NeurIPS 2023) for multi-event VideoQA.

Two stages share one encoder-decoder. *Glance*: learnable event queries read the frames
and become a set of memory prompts, each with a predicted span and event class. *Focus*:
the question, the frames and the memory prompts (sorted by predicted centre) are encoded
together, and a QA query answers through multi-level attention (question -> events ->
frames).

``arch: reference`` computes exactly what the authors' code computes, defects included,
so their released checkpoints give their answers; ``arch: paper`` (the default) corrects
them. Each difference (the R codes cited below) and gf's own switches:
docs/differences_from_authors.md, "Summary" and "gf additions (not in the paper, not in
the authors' code)".
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gf.common.errors import ConfigError, DataFileError, ModelInputError
from gf.common.registry import registry
from gf.processors.text import DEFAULT_TEXT_FORMAT

from .config import GlanceFocusConfig
from .criterion import GlanceFocusCriterion
from .grounded import GroundedAnswerScore, masked_mean, option_token_masks
from .text_encoder import TextEncoder
from .transformer import Decoder, DecoderLayer, Encoder, EncoderLayer

REFERENCE_EVENT_SLICE = 10  # the authors' hard-coded "event memory" length (defect R2)


class FrameProjection(nn.Module):
    """Weight-normalised Linear (one norm over the whole matrix) followed by ReLU.

    Kept as explicit ``weight_g``/``weight_v`` parameters (the authors'
    ``weight_norm(..., dim=None)``) so their checkpoints map one-to-one.
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        linear = nn.Linear(in_dim, out_dim)
        self.weight_v = nn.Parameter(linear.weight.detach().clone())
        self.weight_g = nn.Parameter(linear.weight.detach().norm())
        self.bias = nn.Parameter(linear.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight_v * (self.weight_g / self.weight_v.norm())
        return F.relu(F.linear(x, weight, self.bias))


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden: int, out_dim: int, num_layers: int):
        super().__init__()
        dims = [in_dim] + [hidden] * (num_layers - 1) + [out_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


def sinusoidal_positions(length: int, dim: int, device=None, dtype=torch.float32) -> Tensor:
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)[:, : dim // 2]
    return pe.to(dtype)


def duplicate_events(pred_logits: Tensor, pred_spans: Tensor) -> Tensor:
    """[B, Q] True where a slot repeats an event another slot predicts more confidently.

    A repeat is the same (non-background) class with an overlapping span. Set prediction
    trained briefly often gives one event two slots; in the time-sorted memories the copy
    then sits between the event and its true neighbour, so "right after X" reads X again.
    """
    probs = pred_logits.softmax(-1)
    conf, cls = probs[..., :-1].max(-1)
    is_event = probs.argmax(-1) != pred_logits.shape[-1] - 1
    centre, width = pred_spans[..., 0], pred_spans[..., 1]
    same = (cls[:, :, None] == cls[:, None, :]) & is_event[:, :, None] & is_event[:, None, :]
    overlap = (centre[:, :, None] - centre[:, None, :]).abs() < 0.5 * (width[:, :, None] + width[:, None, :])
    q = pred_logits.shape[1]
    index = torch.arange(q, device=pred_logits.device)
    # j beats i: more confident, or as confident and earlier
    earlier = (index[None, :] < index[:, None]).unsqueeze(0)
    beats = (conf[:, None, :] > conf[:, :, None]) | ((conf[:, None, :] == conf[:, :, None]) & earlier)
    return (same & overlap & beats).any(-1)


def check_options(config, options: Optional[Sequence[str]], name: str = "--options") -> None:
    """Options against how the model answers; ``gf predict`` calls it before the video is
    extracted (the later checks speak of ``answer_vocab``, an argument it does not have). A multiple-choice model
    needs exactly its number of options; an open-ended one answers from its vocabulary.
    ``name``: what the options are called in the errors (``predict_example`` applies the
    same rule to its ``options``). Options named by a command-line flag (``--options``) are a
    ConfigError (exit 2, "the command line"), the others a ModelInputError (exit 3); the
    count is only known once the checkpoint is read, so the flag's name decides."""
    error = ConfigError if name.startswith("--") else ModelInputError
    if getattr(config, "answer_mode", "mc") == "oe":
        if options is not None:
            raise error(f"{name}: the checkpoint's model is open-ended: it answers from its vocabulary "
                        f"of {config.num_answers} answers, not from options; drop {name}")
        return
    wanted = getattr(config, "num_options", None)
    if options is None or (wanted is not None and len(options) != wanted):
        got = "none" if options is None else len(options)
        raise error(f"{name}: the checkpoint's model is multiple-choice with {wanted} options per "
                    f"question; got {got}. Give the {wanted} answer options"
                    + (f" after {name}" if name.startswith("--") else ""))


@registry.register_model("glance_focus")
class GlanceFocus(nn.Module):
    """The model. ``forward(batch)`` returns outputs and, when labels are given, losses.

    Batch keys and shapes: README.md, "The model from Python"; ``video_mask`` is optional
    (every frame real), and an open-ended model takes B texts, one per video.
    """

    config_class = GlanceFocusConfig

    def __init__(self, config: GlanceFocusConfig | Mapping[str, Any] | None = None,
                 glance_per_option: bool = False, **overrides):
        super().__init__()
        if not isinstance(config, GlanceFocusConfig):
            config = GlanceFocusConfig.from_dict(config, **overrides)
        elif overrides:
            config = GlanceFocusConfig.from_dict(config.to_dict(), **overrides)
        self.config = cfg = config
        self.glance_per_option = glance_per_option
        self.reference = cfg.arch == "reference"
        d = cfg.d_model

        self.input_proj = FrameProjection(cfg.feature_dim, d)
        self.encoder = Encoder(EncoderLayer(d, cfg.nhead, cfg.dim_feedforward, cfg.dropout),
                               cfg.num_encoder_layers)
        self.decoder = Decoder(DecoderLayer(d, cfg.nhead, cfg.dim_feedforward, cfg.dropout),
                               cfg.num_decoder_layers, d, zero_init_targets=self.reference)
        self.query_embed = nn.Embedding(cfg.num_queries, d)
        self.qa_embed = nn.Embedding(1, d)
        self.memory_pos_embed = nn.Embedding(cfg.num_queries, d)
        self.span_head = MLP(d, d, 2, 3)
        self.event_class_head = nn.Linear(d, cfg.event_pred_dim)
        if cfg.answer_mode == "mc":
            self.answer_head = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(True), nn.Linear(2 * d, 1))
        else:
            self.answer_head = nn.Linear(d, cfg.num_answers)
        self.grounded_answer = None
        if cfg.grounded_answer:  # GlanceFocusConfig allows it only with arch 'paper' and answer_mode 'mc'
            self.grounded_answer = GroundedAnswerScore(
                d, num_event_classes=cfg.event_pred_dim if cfg.memory == "sup" else None)
        if not self.reference and cfg.frame_pos == "learned":
            self.frame_pos_embed = nn.Embedding(cfg.max_feats, d)
        for p in list(self.encoder.parameters()) + list(self.decoder.parameters()):
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        # no text cache in the reference arch: the cache keeps each text's states without the
        # padding, and the authors' unmasked text padding (R4) lets the padded batch's states
        # reach the answer
        self.text_encoder = TextEncoder(
            cfg.text_encoder, d, init=cfg.text_encoder_init, freeze=cfg.freeze_text_encoder,
            cache=cfg.cache_text_features and not self.reference, max_length=cfg.text_max_length,
            truncation=not self.reference, resizer_dropout=cfg.resizer_dropout,
        )
        self.criterion = GlanceFocusCriterion(cfg)

    # -- construction helpers -----------------------------------------------------------
    @classmethod
    def default_config(cls) -> Dict[str, Any]:
        cfg = GlanceFocusConfig().to_dict()
        cfg["loss_weights"] = {}  # filled in for the chosen `memory` at construction
        return cfg

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None = None, **overrides) -> "GlanceFocus":
        cfg = {**(cfg or {}), **overrides}
        model_type = cfg.pop("model_type", None)
        glance_per_option = cfg.pop("glance_per_option", False)
        if not isinstance(glance_per_option, bool):  # bool('false') is True: refuse, do not guess
            raise ConfigError(f"model.glance_per_option must be true or false, got {glance_per_option!r}")
        base = registry.get_model_type("glance_focus", model_type) if model_type else {}
        return cls({**base, **cfg}, glance_per_option=glance_per_option)

    # -- stages ---------------------------------------------------------------------------
    def _project_frames(self, video: Tensor) -> Tensor:
        x = self.input_proj(video)
        if self.reference or self.config.frame_pos == "none":
            return x
        t = x.shape[1]
        if self.config.frame_pos == "learned":
            if t > self.config.max_feats:
                raise ModelInputError(f"video has {t} frames but learned positions cover max_feats="
                                 f"{self.config.max_feats}")
            return x + self.frame_pos_embed.weight[:t]
        return x + sinusoidal_positions(t, x.shape[-1], x.device, x.dtype)

    def _video_input(self, video: Tensor, video_mask: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """The baselines' view of the video and its mask (``video_input``: what each mode keeps
        is in :class:`GlanceFocusConfig`). ``none`` drops the mask too: zeros over the clip's
        real frames would still tell its length through it."""
        mode = self.config.video_input
        if mode == "frames":
            return video, video_mask
        if mode == "none":
            return video.new_zeros(video.shape[0], 1, video.shape[-1]), None
        real = (torch.ones(video.shape[:2], dtype=torch.bool, device=video.device) if video_mask is None
                else video_mask.bool())
        mean = masked_mean(video, real).unsqueeze(1)
        return torch.where(real.unsqueeze(-1), mean.expand_as(video), video), video_mask

    def _frame_padding(self, video_mask: Optional[Tensor], shape, device) -> Optional[Tensor]:
        if self.reference:  # the authors' all-ones float mask: +1 on every score (R4)
            return torch.ones(shape[:2], dtype=torch.float32, device=device)
        if video_mask is None:
            return None
        return ~video_mask.bool()

    def _query_pos(self, batch: int) -> Tensor:
        queries = torch.cat([self.query_embed.weight, self.qa_embed.weight], 0)
        return queries.unsqueeze(1).repeat(1, batch, 1)  # [Q+1, B, d]

    def glance(self, frames: Tensor, frame_pad: Optional[Tensor]) -> Dict[str, Tensor]:
        """frames: projected [B, T, d]. Returns event logits, spans and memory prompts."""
        batch = frames.shape[0]
        memory = self.encoder(frames.transpose(0, 1), frame_pad)
        hs = self.decoder.glance(self._query_pos(batch), memory, frame_pad).transpose(1, 2)
        events = hs[-1, :, : self.config.num_queries]
        return {
            "pred_logits": self.event_class_head(events),
            "pred_spans": self.span_head(events).sigmoid(),
            "memory_prompt": events,
        }

    def sort_memories(self, memory_prompt: Tensor, pred_spans: Tensor,
                      pred_logits: Optional[Tensor] = None) -> Tensor:
        """Order each video's memory prompts by predicted centre, earliest first.

        With supervised memories in the corrected arch and ``sort_background_last``, slots
        whose most likely class is "no event" (the last) are put after all events: their spans
        are never trained, so sorting them by centre would scatter empty slots between
        consecutive events. With ``suppress_duplicate_events``, so are :func:`duplicate_events`.
        """
        order = self.memory_order(pred_spans, pred_logits)
        return memory_prompt.gather(1, order.unsqueeze(-1).expand_as(memory_prompt))

    def memory_order(self, pred_spans: Tensor, pred_logits: Optional[Tensor] = None) -> Tensor:
        """[B, Q] slot indices in the order :meth:`sort_memories` puts them."""
        key = pred_spans[..., 0].detach()
        if (pred_logits is not None and not self.reference and self.config.memory == "sup"
                and self.config.sort_background_last):
            background = pred_logits.detach().argmax(-1) == pred_logits.shape[-1] - 1
            if self.config.suppress_duplicate_events:
                background = background | duplicate_events(pred_logits.detach(), pred_spans.detach())
            key = key + 2.0 * background  # centres lie in [0, 1]
        return key.argsort(dim=1, stable=True)

    def _sorted_memories(self, events: Mapping[str, Tensor]):
        """(sorted memory prompts, sorted pointer memories or None).

        With supervised memories the grounded answer score reads each slot as the glance
        classifies it -- its class probabilities (detached: the answer loss must not bend
        the event classifier) times learned class embeddings -- rather than the prompt.
        """
        spans, logits = events["pred_spans"], events["pred_logits"]
        sorted_mem = self.sort_memories(events["memory_prompt"], spans, logits)
        if self.grounded_answer is None or self.grounded_answer.event_embed is None:
            return sorted_mem, None
        by_class = self.grounded_answer.event_embed(logits.detach().softmax(-1))
        return sorted_mem, self.sort_memories(by_class, spans, logits)

    def focus(self, frames: Tensor, frame_pad: Optional[Tensor], memories: Tensor,
              texts: Sequence[str], num_options: int = 1, pointer_memories: Optional[Tensor] = None):
        """``(scores, pointer)``: answer scores from frames [N, T, d], sorted memories [N, Q, d]
        and N texts (grouped by question, ``num_options`` per question for multiple choice),
        and the grounded score's pointer (None without one). ``pointer_memories`` (sorted like
        ``memories``) are what the grounded answer score reads instead of the memory prompts,
        when given."""
        n, t = frames.shape[:2]
        q = self.config.num_queries
        text_states, text_pad = self.text_encoder(list(texts))
        memories = memories + self.memory_pos_embed.weight.unsqueeze(0)
        grounded, pointer = None, None
        if self.grounded_answer is not None and num_options > 1:
            option_mask, question_mask = option_token_masks(
                self.text_encoder.token_ids(texts), num_options, text_states.shape[1])
            pointed = memories if pointer_memories is None else (
                pointer_memories + self.memory_pos_embed.weight.unsqueeze(0))
            grounded, pointer = self.grounded_answer(pointed, text_states, question_mask.to(frames.device),
                                                     option_mask.to(frames.device))
        src = torch.cat([frames, memories, text_states], dim=1).transpose(0, 1)
        if self.reference:
            ones = torch.ones(n, t + q, dtype=torch.float32, device=frames.device)
            mask = torch.cat([ones, text_pad.float()], dim=1)
            memory = self.encoder(src, mask)
            k = REFERENCE_EVENT_SLICE
            memories_kw = dict(events=memory[-k:], event_pad=mask[:, -k:],
                               frames=memory[:-k], frame_pad=mask[:, :-k])
        else:
            frame_pad = frame_pad if frame_pad is not None else torch.zeros(n, t, dtype=torch.bool,
                                                                            device=frames.device)
            mem_pad = torch.zeros(n, q, dtype=torch.bool, device=frames.device)
            mask = torch.cat([frame_pad, mem_pad, text_pad], dim=1)
            memory = self.encoder(src, mask)
            memories_kw = dict(events=memory[t:t + q], event_pad=None,
                               frames=memory[:t], frame_pad=frame_pad, residual=self.config.focus_residual)
        if not self.reference and self.config.focus_query == "encoded":
            text_query = memory[t + q:]  # the question, after it has attended to frames and memories
        else:
            text_query = text_states.transpose(0, 1)
        hs = self.decoder.focus(self._query_pos(n), text_query=text_query,
                                text_pad=text_pad, **memories_kw).transpose(1, 2)
        answer_layer = 0 if self.reference else -1  # R3
        scores = self.answer_head(hs[answer_layer, :, -1])
        return (scores if grounded is None else scores + grounded), pointer

    # -- public API -------------------------------------------------------------------------
    def forward(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        texts = list(batch["text"])
        video, video_mask = self._checked_video(batch)
        video, video_mask = self._video_input(video, video_mask)
        b, t = video.shape[:2]
        num_texts = self._texts_per_video(b, len(texts))
        frames = self._project_frames(video)
        frame_pad = self._frame_padding(video_mask, (b, t), video.device)

        def rep(x: Optional[Tensor]) -> Optional[Tensor]:  # one copy per option text
            return None if x is None else x.repeat_interleave(num_texts, 0)

        with _naming_question(batch, num_texts):
            if self.glance_per_option and num_texts > 1:
                events = self.glance(rep(frames), rep(frame_pad))
                out = {k: v[::num_texts] for k, v in events.items()}
                sorted_mem, pointer_mem = self._sorted_memories(events)
                scores, pointer = self.focus(rep(frames), rep(frame_pad), sorted_mem, texts, num_texts, pointer_mem)
            else:
                out = self.glance(frames, frame_pad)
                sorted_mem, pointer_mem = self._sorted_memories(out)
                if num_texts > 1:
                    frames, frame_pad, sorted_mem, pointer_mem = (rep(frames), rep(frame_pad), rep(sorted_mem),
                                                                  rep(pointer_mem))
                scores, pointer = self.focus(frames, frame_pad, sorted_mem, texts, num_texts, pointer_mem)
        out["pred_answer"] = scores.view(b, num_texts) if self.config.answer_mode == "mc" else scores
        if pointer is not None:
            # the slots the pointer reads, in its order (one row per text, like its logits)
            order = self.memory_order(out["pred_spans"], out["pred_logits"]).repeat_interleave(num_texts, 0)
            out["pointer"] = {**pointer, "order": order, "num_texts": num_texts}

        answers = batch.get("answer")
        if answers is not None:
            out.update(self.criterion(out, answers.to(video.device).long(),
                                      batch.get("spans"), batch.get("event_classes"),
                                      named_events=batch.get("named_event"),
                                      answer_events=batch.get("answer_event")))
        return out

    def _checked_video(self, batch: Mapping[str, Any]) -> Tuple[Tensor, Optional[Tensor]]:
        """``video`` (on the parameters' device and dtype) and ``video_mask`` of a batch, or a
        ModelInputError naming the key. Why: a batch built by hand (README, "The model from
        Python") otherwise fails deep in torch (a matmul's shapes, an attention mask's
        length) or, with an all-False mask, answers from no frame at all. Floating features
        of another dtype (numpy's float64) are cast, as ``predict_example`` does; integer
        or bool ones are refused (pixels or a mask, not features)."""
        video, mask, cfg = batch.get("video"), batch.get("video_mask"), self.config
        want = f"[batch, frames, feature_dim={cfg.feature_dim}] float tensor"
        if not isinstance(video, Tensor) or video.ndim != 3 or video.shape[-1] != cfg.feature_dim \
                or not video.shape[1]:
            got = tuple(video.shape) if isinstance(video, Tensor) else type(video).__name__
            raise ModelInputError(f"batch['video'] must be a {want}; got {got}")
        if not video.is_floating_point():
            raise ModelInputError(f"batch['video'] must be a {want}; got dtype {video.dtype} (features, not pixels "
                                  f"or a mask)")
        param = next(self.parameters())
        video = video.to(param.device, param.dtype)
        if mask is None:
            return video, None
        if not isinstance(mask, Tensor) or tuple(mask.shape) != tuple(video.shape[:2]):
            got = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            raise ModelInputError(f"batch['video_mask'] must be a [batch, frames] = {tuple(video.shape[:2])} tensor "
                                  f"(True = real frame), like batch['video']; got {got}")
        mask = mask.to(video.device)
        if not _bool_or_01(mask):
            raise ModelInputError(f"batch['video_mask'] must be bool or 0/1 (True = real frame); got other values "
                                  f"({mask.dtype})")
        empty = ~mask.bool().any(1)
        if bool(empty.any()):
            raise ModelInputError(f"batch['video_mask'] row {int(empty.nonzero()[0])} is all False: it marks no "
                                  f"frame of that video as real; give at least one real frame per video")
        return video, mask

    def _texts_per_video(self, batch: int, num_texts: int) -> int:
        if self.config.answer_mode == "oe":
            if num_texts != batch:
                raise ModelInputError(f"open-ended batch: expected one text per video ({batch}), got {num_texts}")
            return 1
        if num_texts % batch or num_texts // batch < 2:
            raise ModelInputError(f"multiple-choice batch: {num_texts} texts for {batch} videos; expected "
                             f"K >= 2 option texts per video (question + option), grouped by question")
        return num_texts // batch

    @torch.no_grad()
    def predict(self, batch: Mapping[str, Any]) -> Dict[str, Tensor]:
        """Answer scores and the predicted index (option or vocabulary entry) per question."""
        # ground truth never reaches the forward pass: no loss, and nothing the model
        # could read the answer or the annotated events from
        batch = {k: v for k, v in batch.items()
                 if k not in ("answer", "spans", "event_classes", "named_event", "answer_event")}
        out = self.forward(batch)
        return {"scores": out["pred_answer"], "prediction": out["pred_answer"].argmax(-1),
                "pred_spans": out["pred_spans"], "pred_logits": out["pred_logits"]}

    @torch.no_grad()
    def predict_example(self, features, question: str, options: Optional[Sequence[str]] = None,
                        video_mask=None, *, text_format: Optional[str] = None,
                        answer_vocab: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """Answer one question about one video given its raw ``[T, D]`` features.

        Why this exists: a user with one clip should get exactly the answer that evaluation
        would give, so the features go through the datasets' own sampling/padding
        (``VideoFeatureProcessor`` with this model's ``max_feats``/``feature_dim``) and the
        texts through the training template (``text_format``, else the format of the
        weights ``gf.load_model`` read, else ``"{question} {option}"``). ``video_mask``
        ([T], bool or 0/1, True = real frame) drops padded rows before sampling. Multiple
        choice needs ``options``, a list of exactly ``num_options`` strings; open-ended
        takes none and maps the index through ``answer_vocab`` when given. Dropout follows
        the module's mode: call ``eval()`` first for deterministic answers.

        Returns ``{"prediction": int, "scores": list[float], "answer": option text,
        vocabulary entry or the index, "glance": {"pred_logits": [Q, C+1], "pred_spans": [Q, 2]}}``
        (the glance stage's event slots: class scores, last = no event, and (centre, width)
        spans in [0, 1] of the clip).
        """
        from gf.processors.text import VideoQATextProcessor, check_question
        from gf.processors.video import VideoFeatureProcessor

        cfg = self.config
        if cfg.answer_mode == "mc" and not isinstance(options, (list, tuple)):
            raise ModelInputError(f"multiple-choice model: give options as a list of strings, got {options!r}")
        check_question(question, options if cfg.answer_mode == "mc" else None)
        feats = torch.as_tensor(features)
        if video_mask is not None:
            feats = feats[_frames_kept(feats, video_mask)]
        sample = VideoFeatureProcessor(cfg.max_feats, cfg.feature_dim)(feats)
        if cfg.answer_mode == "mc":
            check_options(cfg, options, name="options")  # the rule gf predict applies: the trained count
            if answer_vocab is not None:
                raise ModelInputError("answer_vocab is for open-ended models; multiple choice answers with options")
        else:
            if options is not None:
                raise ModelInputError("open-ended model: it answers from its vocabulary, options are not used; "
                                 "pass answer_vocab to get the answer string")
            if answer_vocab is not None and len(answer_vocab) != cfg.num_answers:
                raise ModelInputError(f"answer_vocab has {len(answer_vocab)} entries but the model scores "
                                 f"num_answers={cfg.num_answers}")
        texts = VideoQATextProcessor(text_format or getattr(self, "text_format", None) or DEFAULT_TEXT_FORMAT)(
            question, options)
        self.text_encoder.check_fits(texts, options is not None)  # a cut option would be a tie-break
        param = next(self.parameters())
        batch = {"video": sample["video"].to(param.device, param.dtype).unsqueeze(0),
                 "video_mask": sample["video_mask"].to(param.device).unsqueeze(0), "text": texts}
        out = self.predict(batch)
        prediction = int(out["prediction"][0])
        labels = options if options is not None else answer_vocab
        answer: Any = labels[prediction] if labels is not None else prediction
        glance = {"pred_logits": out["pred_logits"][0].float().cpu().tolist(),
                  "pred_spans": out["pred_spans"][0].float().cpu().tolist()}
        return {"prediction": prediction, "scores": out["scores"][0].float().cpu().tolist(), "answer": answer,
                "glance": glance}


@contextlib.contextmanager
def _naming_question(batch: Mapping[str, Any], num_texts: int):
    """A text the encoder cannot read (``text_index``), named by its question where the batch
    says which (a dataset's batch: the data is what is wrong, a DataFileError); else as raised."""
    try:
        yield
    except ModelInputError as error:
        index, ids = getattr(error, "text_index", None), batch.get("question_id")
        if index is None or ids is None:
            raise
        raise DataFileError(f"question_id {ids[index // num_texts]!r}: {error}") from None


def _bool_or_01(mask: Tensor) -> bool:
    """Whether ``mask`` is a valid video mask's type: bool, or numbers that are all 0 or 1."""
    return mask.dtype == torch.bool or bool(((mask == 0) | (mask == 1)).all())


def _frames_kept(feats: Tensor, video_mask) -> Tensor:
    """``video_mask`` as a bool index of the frames to keep. Why strict: a mask of other values
    (0.5) would be read as all True, and an all-False one would leave no frame -- an error the
    feature processor would blame on a feature file."""
    mask = torch.as_tensor(video_mask)
    if feats.ndim != 2 or mask.shape != feats.shape[:1]:
        raise ModelInputError(f"video_mask must have one entry per frame: features {tuple(feats.shape)}, "
                              f"video_mask {tuple(mask.shape)}")
    if not _bool_or_01(mask):
        bad = mask[(mask != 0) & (mask != 1)][0].item()
        raise ModelInputError(f"video_mask must be bool or 0/1 (True = real frame), got the value {bad!r}")
    keep = mask.bool()
    if not bool(keep.any()):
        raise ModelInputError("video_mask is all False: it marks no frame as real; give at least one real frame")
    return keep
