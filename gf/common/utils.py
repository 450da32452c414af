"""Small helpers that several parts of gf need, each in one place.

Nothing here imports torch: configs, the registry and the CLI use these before any model
code is loaded.
"""
from __future__ import annotations

import difflib
import math
import os
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Optional, Type, Union

from gf.common.errors import ConfigError

__all__ = ["PathLike", "check_device", "check_known_keys", "describe_ids", "did_you_mean", "finite_number",
           "is_plain_file_name", "non_utf8", "normalize_sha256", "one_line", "positive_int", "progress_bar",
           "repeated", "utc_now"]

#: What gf accepts wherever a file or folder is named.
PathLike = Union[str, "os.PathLike[str]"]

#: Ids shown in one message: enough to find the problem, never a flood.
MAX_IDS_IN_MESSAGE = 10

_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def did_you_mean(name: str, known: Iterable[str], n: int = 3) -> str:
    """``" Did you mean: 'a', 'b'?"`` for the known names close to ``name``, else ``""``."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=n, cutoff=0.5)
    return f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""


def check_known_keys(given: Iterable[Any], known: Iterable[str], *, owner: str,
                     error: Type[Exception], prefix: str = "") -> None:
    """Refuse keys outside ``known``: one message naming each unknown key, its closest
    known key, and every known key, so a typo never falls back to a default.

    ``owner`` says where the keys come from (``"datasets.star in file x.yaml"``);
    ``prefix`` is put before each key shown (``"run."``).
    """
    known = sorted(str(k) for k in known)
    unknown = [k for k in given if str(k) not in known]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f" (did you mean {prefix + close[0]!r}?)" if close else ""
        hints.append(f"{prefix + str(key)!r}{hint}")
    plural = "s" if len(unknown) > 1 else ""
    of = f" of {prefix.rstrip('.')}" if prefix else ""
    raise error(f"{owner}: unknown key{plural} {', '.join(hints)}. Known keys{of}: {', '.join(known)}.")


def normalize_sha256(value: Any, *, where: str = "sha256", error: Type[Exception] = ValueError) -> str:
    """Lower-case hex digest; a ``sha256:`` prefix is accepted, anything else refused."""
    text = str(value).strip().lower().removeprefix("sha256:")
    if not _SHA256_RE.fullmatch(text):
        raise error(f"{where}: sha256 must be 64 hexadecimal characters, got {value!r}.")
    return text


def is_plain_file_name(name: Any) -> bool:
    """Whether ``name`` names one file inside its folder: a non-empty string without ``/``,
    ``\\`` or NUL, and not ``.`` or ``..``."""
    return isinstance(name, str) and bool(name) and not any(c in name for c in "/\\\x00") and name not in (".", "..")


def positive_int(value: Any) -> bool:
    """A config value that must be a count: an int >= 1 (``True`` is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def one_line(error: BaseException) -> str:
    """An error's message on one line, for quoting it inside gf's own one-line message."""
    return " ".join(str(error).split())


def finite_number(x: Any) -> Optional[float]:
    """``x`` as a float when it is a finite number, else None: records mark what was not
    measured with null, a bool is not a number, and a NaN must never pass for a figure."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def utc_now() -> str:
    """The time stamp gf writes into records: UTC, ISO 8601, whole seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def describe_ids(ids: Iterable[Any], limit: int = MAX_IDS_IN_MESSAGE) -> str:
    """``'a', 'b', ... (and 7 more)``: enough ids to find the problem, never a flood."""
    ids = list(ids)
    shown = ", ".join(repr(i) for i in ids[:limit])
    if len(ids) > limit:
        shown += f" (and {len(ids) - limit} more)"
    return shown


def repeated(values: Iterable[Any]) -> list:
    """The values that occur more than once in ``values``, each named once, in the order of
    their first occurrence: ``['a', 'b', 'b', 'b', 'a']`` gives ``['a', 'b']``. Values must be
    hashable."""
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return [value for value, count in counts.items() if count > 1]


#: A cell a spreadsheet reads as a plain number (it is shown, never evaluated).
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
#: What a spreadsheet takes for the start of a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text rather than evaluates.

    Why: gf's CSVs hold names others chose (entries, categories, sources). A cell starting
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula by Excel
    or LibreOffice when the file is opened, so such a cell gets a leading ``'``, as OWASP
    recommends. Plain numbers (``-3.20``) are left alone: they are not formulas, and the
    figures must stay numbers. Anything that is not a string is returned as it is.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def progress_bar(total: Optional[int], initial: int, label: str, enabled: bool):
    """A tqdm bar over ``total`` bytes (None: unknown) starting at ``initial``: a download or an
    extraction. A context manager (tqdm's own): the bar is closed when the block ends."""
    from tqdm import tqdm

    # disable=None lets tqdm turn itself off when stderr is not a terminal (logs, CI).
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=label, disable=None if enabled else True)


def non_utf8(text: str) -> Optional[str]:
    """``text`` shown for a message when it holds bytes that are not UTF-8, else None.

    Why: Python hands such command-line bytes over as lone surrogates (``\\udcff``), which a
    tokenizer or a file write cannot take, so the argument is named instead, its bad bytes
    written ``\\xff`` and the first one given: ``'What \\xff?' (byte 0xff)``."""
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as error:
        try:
            shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a surrogate that stands for no byte (not from argv)
            shown = text.encode("utf-8", "backslashreplace").decode("utf-8")
        code = ord(text[error.start])
        what = f"byte {code - 0xDC00:#04x}" if 0xDC80 <= code <= 0xDCFF else f"character U+{code:04X}"
        return f"'{shown}' ({what})"


def check_device(device: Optional[str], name: str = "--device") -> None:
    """A device torch knows, and that this machine has (checked before any output is made).
    ``name``: what the device is called in the errors (``device=`` for the Python API)."""
    import torch

    if device is None:
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(f"{name} {device!r} is not a torch device ({e}); use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (parsed.index or 0) >= count:
            raise ConfigError(f"{name} {device}: this machine has {count} CUDA device(s); use cpu"
                              + (f" or cuda:0 .. cuda:{count - 1}" if count else ""))
