"""Text of a VideoQA question: one string per (question, option) pair, or the question alone.

Why a template instead of a hard-coded join: the authors' loaders disagree (a space for
STAR and AGQA, a literal ``" [SEP] "`` for NExT-QA: docs/data_formats.md §1.2 and §4.2).
gf's default is the space, which is what the released STAR checkpoints saw.

Whitespace is normalised (:func:`normalize_whitespace`) because annotation files carry
stray double spaces and trailing newlines that would otherwise change the tokenisation
between otherwise identical questions.
"""
from __future__ import annotations

import string
from typing import Any, List, Mapping, Optional, Sequence

from gf.common.errors import ConfigError, ModelInputError
from gf.common.registry import registry
from gf.common.utils import check_known_keys, positive_int

__all__ = ["VideoQATextProcessor", "check_question", "normalize_whitespace"]

#: How a question and an option become one text when a config or checkpoint says nothing.
DEFAULT_TEXT_FORMAT = "{question} {option}"

_PLACEHOLDERS = {"question", "option"}


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def check_question(question: Any, options: Optional[Sequence[Any]] = None) -> None:
    """Refuse a question nobody could answer: an empty or whitespace-only question, an empty
    or whitespace-only option, or two options that read the same once whitespace is
    normalised.

    Why: the model would still return an answer -- for identical options, one of two equal
    scores; for an empty question, whatever the options alone suggest -- and nothing would
    say it means nothing. Used by ``gf predict`` and ``GlanceFocus.predict_example`` before
    any work is done. Raises :class:`~gf.common.errors.ModelInputError`.
    """
    _check_string("the question", question)
    if not question.strip():
        raise ModelInputError(f"the question is empty ({question!r}); give the question to answer")
    if options is None:
        return
    seen = {}
    for k, option in enumerate(_checked_options(options)):
        if not option.strip():
            raise ModelInputError(f"option {k} is empty ({option!r}); every option must say something")
        text = normalize_whitespace(option)
        if text in seen:
            raise ModelInputError(f"options {seen[text]} and {k} are the same ({text!r}); the model could not tell "
                                  f"them apart, so one of them would be picked at random")
        seen[text] = k


def _check_string(what: str, value: Any) -> None:
    """A question or option that is not a string is a ModelInputError saying so (not "empty",
    not a TypeError: the API's callers catch gf's errors)."""
    if not isinstance(value, str):
        raise ModelInputError(f"{what} must be a string, got {type(value).__name__} {value!r}")


def _checked_options(options: Any) -> Sequence[Any]:
    """``options`` as a list whose items are strings, or a ModelInputError naming the first that is not."""
    if isinstance(options, str) or not isinstance(options, (list, tuple)):
        raise ModelInputError(f"options must be a list of strings, got {type(options).__name__} {options!r}")
    for k, option in enumerate(options):
        _check_string(f"option {k}", option)
    return options


def _check_format(text_format: str) -> None:
    if not isinstance(text_format, str):
        raise ConfigError(f"text_format must be a string, got {type(text_format).__name__}: {text_format!r}")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text_format) if name is not None}
    except ValueError as e:  # unbalanced braces
        raise ConfigError(f"text_format {text_format!r} is not a valid format string: {e}") from None
    unknown = sorted(fields - _PLACEHOLDERS)
    if unknown:
        raise ConfigError(
            f"text_format {text_format!r} uses unknown placeholder(s) {unknown}; only "
            f"{{question}} and {{option}} are filled (write literal braces as {{{{ and }}}})."
        )
    missing = sorted(_PLACEHOLDERS - fields)
    if missing:
        raise ConfigError(
            f"text_format {text_format!r} must contain both {{question}} and {{option}}; "
            f"missing: {', '.join('{' + m + '}' for m in missing)}."
        )


@registry.register_processor("videoqa_text")
class VideoQATextProcessor:
    """``(question, options) -> list[str]``: K strings for multiple choice, ``[question]`` otherwise.

    ``text_format`` must contain ``{question}`` and ``{option}``; it is used only for
    multiple choice (open-ended questions are passed as the question alone, as the
    authors' loaders do). ``max_words`` (optional) keeps the first ``max_words`` words of
    the *question*; options are never cut, because cutting them could make two options
    identical.
    """

    def __init__(self, text_format: str = DEFAULT_TEXT_FORMAT, max_words: Optional[int] = None):
        _check_format(text_format)
        if max_words is not None and not positive_int(max_words):
            raise ConfigError(f"videoqa_text processor: max_words must be a positive integer or None, got {max_words!r}")
        self.text_format = text_format
        self.max_words = max_words

    @classmethod
    def from_config(cls, cfg: Optional[Mapping[str, Any]] = None) -> "VideoQATextProcessor":
        """Build from a config mapping; unknown keys are errors (they are usually typos)."""
        cfg = dict(cfg or {})
        cfg.pop("name", None)
        check_known_keys(cfg, ("text_format", "max_words"), owner="videoqa_text processor", error=ConfigError)
        return cls(**cfg)

    def question_text(self, question: str) -> str:
        _check_string("the question", question)
        return " ".join(question.split()[: self.max_words])  # max_words None: every word

    def __call__(self, question: str, options: Optional[Sequence[str]] = None) -> List[str]:
        q = self.question_text(question)
        if options is None:
            return [q]
        return [normalize_whitespace(self.text_format.format(question=q, option=normalize_whitespace(option)))
                for option in _checked_options(options)]

    def __repr__(self) -> str:
        return f"VideoQATextProcessor(text_format={self.text_format!r}, max_words={self.max_words})"
