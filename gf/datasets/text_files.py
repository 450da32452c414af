"""Readers of the plain text files benchmarks ship beside their annotations: class lists,
answer vocabularies, one-item-per-line files. Why a module of their own: converters
(``gf prepare``) and builders both read them, and converters must not import the builders."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List

from gf.common.errors import DataFileError
from gf.common.io import read_text_utf8

__all__ = ["check_answer_vocab", "read_class_lines", "text_lines"]


def check_answer_vocab(vocab: Any, path: os.PathLike | str) -> List[str]:
    """``vocab`` if it is a non-empty list of strings, each once: a repeated answer would make
    labels ambiguous. Errors name ``path`` (and the repeated answer with both positions)."""
    if not isinstance(vocab, list) or not vocab or not all(isinstance(a, str) for a in vocab):
        raise DataFileError(f"{path}: expected a non-empty JSON list of answer strings")
    seen: Dict[str, int] = {}
    for i, answer in enumerate(vocab):
        if answer in seen:
            raise DataFileError(f"{path}: answer {answer!r} is listed twice (entries {seen[answer]} and {i}); "
                                f"labels would be ambiguous")
        seen[answer] = i
    return list(vocab)


def text_lines(path: os.PathLike | str, what: str = "text file") -> List[str]:
    """The lines of a UTF-8 text file (``splitlines()``), trailing blank lines dropped."""
    lines = read_text_utf8(path, what).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_class_lines(path: os.PathLike | str) -> List[str]:
    """The lines of a class-list file; line i is class i.

    Uses ``splitlines()``: the STAR class files have no final newline and the authors'
    ``read().split('\\n')[:-1]`` dropped their last class (B3). Trailing blank lines are
    ignored; a blank line in the middle would shift every later class, so it is an error.
    A file that is not UTF-8 is an error naming the line.
    """
    path = Path(path)
    lines = text_lines(path, "class list")
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataFileError(
                f"{path}:{lineno}: blank line inside the class list; line i is class i-1, so "
                f"remove the blank line (or fill in the missing class)."
            )
    if not lines:
        raise DataFileError(f"{path}: class list is empty")
    return [line.strip() for line in lines]
