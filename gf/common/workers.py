"""gf's own errors out of DataLoader worker processes, as gf's own one-line messages.

Why: a :class:`~gf.common.errors.GfError` raised while a DataLoader worker builds a sample
(a damaged feature file, a key missing from a store) reaches the main process re-raised by
torch as the same class, but with a message that starts "Caught DataFileError in
DataLoader worker process 0. Original Traceback (most recent call last): ..." and carries
the whole worker traceback. ``gf`` prints an error's message on one line, so the user
would get a wall of traceback text instead of the sentence that says which file is wrong
and what to do. Iterating a loader through :func:`iter_loader` (or inside
:func:`gf_worker_errors`) turns such an error back into the worker's error with its own
message; any other exception, a bug, keeps torch's text and traceback.

Call sites: wherever gf iterates a DataLoader that may have ``num_workers > 0``.
"""
from __future__ import annotations

import logging
import re
from typing import Iterable, Iterator, Optional, TypeVar

from gf.common.errors import GfError

__all__ = ["gf_worker_errors", "iter_loader", "unwrap_worker_error"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How ``torch._utils.ExceptionWrapper.reraise`` starts the message of a re-raised error.
_RERAISED = re.compile(r"Caught (\w+) (in DataLoader worker process \d+|in pin memory thread[^.]*)\.\n"
                       r"Original Traceback \(most recent call last\):\n")


def _gf_error_classes(root: type = GfError) -> Iterator[type]:
    """``root`` and every class derived from it that is defined in this process."""
    yield root
    for sub in root.__subclasses__():
        yield from _gf_error_classes(sub)


def _worker_class(exc: BaseException, name: str, text: str) -> Optional[type]:
    """The GfError class the worker raised: ``type(exc)`` when torch kept it, else (torch
    raises ``RuntimeError`` for a class it cannot rebuild from one string) the GfError
    subclass of that name whose qualified name ends the traceback."""
    if isinstance(exc, GfError):
        return type(exc)
    for cls in _gf_error_classes():
        if cls.__name__ == name and f"\n{_printed_name(cls)}" in text:
            return cls
    return None


def _printed_name(cls: type) -> str:
    """The class name as a traceback prints it (``traceback.format_exception_only``)."""
    module = cls.__module__
    return cls.__qualname__ if module in ("__main__", "builtins") else f"{module}.{cls.__qualname__}"


def _original_message(cls: type, text: str) -> str:
    """The worker error's own message: what follows the last ``module.Class:`` line of the
    traceback (chained exceptions come before it), which may span several lines."""
    head = _printed_name(cls)
    at = text.rfind(f"\n{head}: ")
    if at < 0:  # an empty message is printed as the bare class name
        return ""
    return text[at + len(head) + 3:].strip()


def unwrap_worker_error(exc: BaseException) -> Optional[GfError]:
    """The GfError a DataLoader worker raised, rebuilt with its own message, when ``exc``
    is torch's re-raise of one; ``None`` for any other exception.

    The rebuilt error has the worker's class (so its ``exit_code``) and message; the
    worker's traceback is kept as its ``worker_traceback`` attribute and logged at debug
    level, for ``gf --debug`` and bug reports.
    """
    text = str(exc)
    match = _RERAISED.match(text)
    if not match:
        return None
    cls = _worker_class(exc, match.group(1), text)
    if cls is None:
        return None
    message = _original_message(cls, text)
    try:
        error = cls(message)
    except Exception:  # a class that takes more than a message: keep the message, skip its __init__
        error = cls.__new__(cls, message)
        Exception.__init__(error, message)
    error.worker_traceback = text
    logger.debug("error %s, re-raised by torch:\n%s", match.group(2), text)
    return error


def _drop_tracebacks(exc: Optional[BaseException]) -> None:
    """Clear the tracebacks of ``exc`` and the exceptions chained to it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


class gf_worker_errors:
    """Inside this block, a GfError a DataLoader worker raised surfaces as itself::

        with gf_worker_errors():
            for batch in loader:
                ...

    torch's exception is not shown with it, and its traceback is dropped: that traceback
    holds the loader's iterator, which would otherwise outlive the error and be finalised
    inside the worker processes of the next loader ("can only test a child process").
    """

    def __enter__(self) -> "gf_worker_errors":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        error = unwrap_worker_error(exc) if isinstance(exc, Exception) else None
        if error is None:
            return False
        _drop_tracebacks(exc)
        del exc, tb
        raise error from None  # shown alone: torch's text is in error.worker_traceback


def iter_loader(loader: Iterable[T]) -> Iterator[T]:
    """``iter(loader)`` whose worker GfErrors surface as themselves (see :func:`gf_worker_errors`)."""
    with gf_worker_errors():
        yield from loader
