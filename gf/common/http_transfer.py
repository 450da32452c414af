"""One http(s) transfer into a ``.part`` file, resumed only while it is the same file.

Why a module of its own: resuming is where a download can go wrong without anyone
noticing. A part file holds the first bytes of the file the server had then; appending the
rest of the file the server has now gives a file that is neither, and without a pinned
sha256 nothing would catch it. So, with ``requests`` doing the HTTP:

- when a transfer starts from byte 0, the server's validator (its strong ``ETag``, else
  ``Last-Modified``) is written beside the part file (``<part>.json``, atomically);
- a resume sends ``Range: bytes=<size of the part>-`` with ``If-Range: <validator>``. A
  server whose file changed answers with the whole new file (200), which replaces the
  part. A 206 is appended only when its ``Content-Range`` starts where the part ends and
  it carries the same validator (a server that ignores ``If-Range`` is caught there). A
  416 (``bytes */<size of the part>``) means the part is whole only when it carries the same
  validator too, or the part has the expected sha256;
  anything else deletes the part and fetches the file from byte 0;
- a part without a recorded validator (the server sent none, or an older gf wrote it) is
  never appended to: the transfer starts again from byte 0;
- connection errors, timeouts and busy answers (408, 429, 5xx) are retried by urllib3's
  ``Retry`` with exponential backoff (a server's ``Retry-After`` capped at
  ``MAX_BACKOFF_S``, and logged); a body cut short is resumed as above; both draw on the
  same number of attempts;
- the body is written as the server sends it (``Accept-Encoding: identity``, no
  decoding): byte ranges and the sha256 are over the bytes the server stores.

Where the part goes, the lock, and verifying and renaming the result:
:mod:`gf.common.download_dest`. ``requests`` is imported only when a transfer starts.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Optional, Tuple

from gf.version import __version__
from gf.common.errors import DownloadError, InvalidURLError
from gf.common.io import atomic_write_json, sha256sum
from gf.common.utils import progress_bar

__all__ = ["MAX_BACKOFF_S", "discard_part", "fetch_http", "state_path"]

logger = logging.getLogger(__name__)

_CHUNK = 256 * 1024
#: The longest wait between two attempts, in seconds.
MAX_BACKOFF_S = 60.0
_USER_AGENT = f"gf/{__version__} (+python-requests)"
#: Answers worth another attempt: the server is busy or failing, not refusing.
_RETRY_STATUSES = frozenset({408, 429, *range(500, 600)})


class _BodyCut(Exception):
    """The body stopped before its end (connection dropped, read timed out): worth resuming.

    ``used`` is the number of attempts the request that was cut had spent (urllib3 may
    have retried its connection before the body started)."""

    def __init__(self, message: str, *, timed_out: bool, used: int):
        super().__init__(message)
        self.timed_out = timed_out
        self.used = used


def state_path(part: Path) -> Path:
    """Where the validator of the transfer that ``part`` holds is recorded."""
    return part.with_name(part.name + ".json")


def fetch_http(url: str, part: Path, *, timeout: Optional[float], attempts: int, backoff: float,
               progress: bool, label: str, expected: Optional[str]) -> None:
    """Fill ``part`` with the whole file at ``url``, resuming it while that is safe.

    ``expected`` (a sha256, or None) only lets a part without a recorded validator count
    as whole; the caller verifies and renames the result. A body that stops part-way is
    resumed here; the other retries happen inside urllib3 (:func:`_session`).
    """
    left = attempts
    cuts = 0
    while True:
        session = _session(left - 1, backoff, url)
        try:
            _transfer(session, url, part, timeout=timeout, attempts=attempts, progress=progress, label=label,
                      expected=expected)
            return
        except _BodyCut as cut:
            left -= cut.used
            cuts += 1
            if left <= 0:
                raise _gave_up(url, attempts, timeout, str(cut), timed_out=cut.timed_out) from cut
            delay = 0.0 if cuts == 1 else min(backoff * 2 ** (cuts - 2), MAX_BACKOFF_S)  # as urllib3's Retry
            logger.warning("download of %s stopped (%s); resuming in %.1fs (%d attempt(s) left)", url, cut, delay,
                           left)
            time.sleep(delay)
        finally:
            session.close()


def _session(retries: int, backoff: float, url: str):
    """A ``requests.Session`` that retries connection errors, timeouts and busy answers
    ``retries`` more times, waiting ``backoff`` seconds before the second retry, doubling;
    a server's ``Retry-After`` is honoured up to ``MAX_BACKOFF_S`` too."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    class CappedRetry(Retry):
        """urllib3 honours ``Retry-After`` up to 6 h, silently: a busy server could stall a
        download far past the documented longest wait. Capped at ``MAX_BACKOFF_S`` and logged."""

        def get_retry_after(self, response):
            asked = super().get_retry_after(response)
            if asked is None:
                return None
            wait = min(asked, MAX_BACKOFF_S)
            logger.warning("%s answered HTTP %s with Retry-After: %s; waiting %.1fs (at most %.0fs)",
                           url, response.status, response.headers.get("Retry-After"),
                           wait, MAX_BACKOFF_S)
            return wait

    retry = CappedRetry(total=retries, status_forcelist=_RETRY_STATUSES, allowed_methods=frozenset({"GET"}),
                        backoff_factor=backoff / 2, backoff_max=MAX_BACKOFF_S, raise_on_status=False)
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"})
    return session


def _transfer(session, url: str, part: Path, *, timeout: Optional[float], attempts: int, progress: bool,
              label: str, expected: Optional[str]) -> None:
    """One request: resume ``part`` when it can be resumed safely, else start it afresh.

    A resume that cannot be appended (416 on an incomplete part, a 206 for another range
    or with another validator) deletes the part and makes one request from byte 0, which
    cannot need a restart itself, so this never loops.
    """
    offset, validator = _resume_point(part, url, expected)
    if offset is None:
        return  # the part is already the whole, verified file
    headers = {"Range": f"bytes={offset}-", "If-Range": validator[1]} if offset else {}
    response = _get(session, url, headers, timeout, attempts)
    restart, total, received = None, None, 0
    with response:
        used = 1 + len(getattr(getattr(response.raw, "retries", None), "history", ()) or ())
        if response.status_code == 416 and offset:
            if _part_is_whole(response, part, offset, validator, expected):
                return  # the part is whole (killed before the rename); the caller verifies it
            restart = (f"HTTP 416 with Content-Range {response.headers.get('Content-Range')!r} and validator "
                       f"{_validator(response)!r}, not a whole part of {validator!r}")
        elif response.status_code not in (200, 206):
            raise _status_error(url, response, attempts)
        else:
            start, total = _body_plan(response, offset, validator)
            if start is None:
                restart = (f"HTTP {response.status_code} with Content-Range {response.headers.get('Content-Range')!r} "
                           f"and validator {_validator(response)!r}, not bytes {offset}- of {validator!r}")
            else:
                if start == 0:
                    if offset:
                        logger.info("%s sent the whole file instead of bytes %d- (it changed on the server, or the "
                                    "server cannot resume); starting again from byte 0", url, offset)
                    # emptied before the new validator is recorded: a kill in between must not
                    # leave the old file's bytes under the new file's validator (a later resume
                    # would append the new tail to the old head)
                    part.unlink(missing_ok=True)
                    atomic_write_json(state_path(part), {"url": url, "validator": _validator(response)})
                received = _stream_to_part(response, part, start, total, label, progress, used)
    if restart is not None and not offset:
        raise DownloadError(f"{url}: the server answered a request for the whole file with {restart}; it is not "
                            f"serving the file correctly. Try again later or use a mirror.")
    if restart is not None:
        logger.info("%s: cannot append to %s (%s); starting again from byte 0", url, part.name, restart)
        discard_part(part)
        return _transfer(session, url, part, timeout=timeout, attempts=attempts, progress=progress, label=label,
                         expected=expected)
    if total is not None and received < total:
        raise _BodyCut(f"connection closed after {received} of {total} bytes", timed_out=False, used=used)


def _resume_point(part: Path, url: str, expected: Optional[str]) -> Tuple[Optional[int], Optional[list]]:
    """(bytes to keep, recorded validator) for ``part``; (None, None) when it is already
    the whole file. A part that cannot be resumed safely is deleted: (0, None)."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        state = json.loads(state_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = None
    validator = state.get("validator") if isinstance(state, dict) and state.get("url") == url else None
    if not (isinstance(validator, list) and len(validator) == 2 and validator[0] in ("etag", "last-modified")
            and isinstance(validator[1], str)):
        validator = None  # none recorded, or not one gf wrote
    if offset and validator is not None:
        return offset, validator
    if offset and expected is not None and sha256sum(part) == expected:
        return None, None  # complete, from a gf that recorded no validator
    if offset:
        logger.info("%s: no validator is recorded for %s (the server sent no strong ETag or Last-Modified, or an "
                    "older gf wrote it), so it cannot be checked against the file the server has now; starting "
                    "again from byte 0", url, part.name)
    discard_part(part)
    return 0, None


def _part_is_whole(response, part: Path, offset: int, validator: list, expected: Optional[str]) -> bool:
    """Whether a 416 to ``Range: bytes=<offset>-`` says the part already holds the whole file.

    ``bytes */<offset>`` alone does not: a server that ignores ``If-Range`` answers so when
    its *new* file is exactly as long as the old file's first bytes. So the 416 must also
    carry the recorded validator, or the part must have the expected sha256.
    """
    if not re.fullmatch(rf"bytes\s+\*/{offset}", response.headers.get("Content-Range", "").strip()):
        return False
    return _validator(response) == validator or (expected is not None and sha256sum(part) == expected)


def _validator(response) -> Optional[list]:
    """``["etag", value]`` (a strong ETag), else ``["last-modified", value]``, else None.

    A weak ETag (``W/"..."``) says "equivalent", not "the same bytes", and ``If-Range``
    refuses it (RFC 9110, 13.1.5), so it cannot tell whether a range may be appended.
    """
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return ["etag", etag]
    modified = response.headers.get("Last-Modified")
    return ["last-modified", modified] if modified else None


def _body_plan(response, offset: int, validator: Optional[list]) -> Tuple[Optional[int], Optional[int]]:
    """(first byte the body writes, size of the whole file or None); start None when a
    206 may not be appended: it must start at ``offset`` and carry the recorded validator."""
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if response.status_code == 200:
        return 0, length
    match = re.fullmatch(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", "").strip())
    if not offset or not match or int(match.group(1)) != offset or _validator(response) != validator:
        return None, None
    size = match.group(3)
    return offset, int(size) if size != "*" else (offset + length if length is not None else None)


def discard_part(part: Path) -> None:
    """Delete a part file and its recorded validator (a transfer that cannot be continued)."""
    part.unlink(missing_ok=True)
    state_path(part).unlink(missing_ok=True)


def _get(session, url: str, headers: dict, timeout: Optional[float], attempts: int):
    """``session.get`` streaming, its failures turned into gf errors naming the URL."""
    import requests
    import urllib3

    try:
        return session.get(url, headers=headers, timeout=timeout, stream=True)
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema) as err:
        raise InvalidURLError(f"cannot download {url!r}: {err}") from err
    except requests.exceptions.TooManyRedirects as err:
        raise DownloadError(f"{url} redirects in a loop ({err}); check the URL.") from err
    except requests.exceptions.RequestException as err:
        # urllib3 gave up on a cause that requests wraps in "Max retries exceeded with url".
        reason = getattr(err.args[0] if err.args else None, "reason", None)
        timed_out = isinstance(err, requests.exceptions.Timeout) or (
            isinstance(reason, urllib3.exceptions.TimeoutError)
            and not isinstance(reason, urllib3.exceptions.NewConnectionError))  # a refusal, despite its base
        raise _gave_up(url, attempts, timeout, str(reason or err), timed_out=timed_out) from err


def _gave_up(url: str, attempts: int, timeout: Optional[float], reason: str, *, timed_out: bool) -> DownloadError:
    if timed_out:
        return DownloadError(
            f"{url} timed out after {attempts} attempt(s) (timeout={timeout}s each). The server "
            f"is not answering: check the URL and your network, or raise timeout=/retries=. "
            f"A partial file, if any, is kept and the next call resumes it."
        )
    return DownloadError(
        f"could not download {url} after {attempts} attempt(s): {reason}. Check the URL and your "
        f"network, then try again (a partial file, if any, is kept and resumed)."
    )


def _status_error(url: str, response, attempts: int) -> DownloadError:
    status = response.status_code
    if status in _RETRY_STATUSES:
        return _gave_up(url, attempts, None, f"HTTP {status} {response.reason}", timed_out=False)
    hint = {
        401: "the server wants credentials; the file may be private",
        403: "access denied; the file may be private or the link expired",
        404: "no file at this URL; check it (the file may have moved)",
    }.get(status, "the server refused the request")
    return DownloadError(f"HTTP {status} {response.reason} for {url}: {hint}.")


def _stream_to_part(response, part: Path, start: int, total: Optional[int], label: str, progress: bool,
                    used: int) -> int:
    """Write the body to ``part`` (appending from ``start``); return the size reached.

    The raw stream, not ``iter_content``, which undoes a ``Content-Encoding`` (see the
    module docstring).
    """
    import urllib3

    received = start
    try:
        with open(part, "ab" if start else "wb") as fh, progress_bar(total, start, label, progress) as bar:
            for block in response.raw.stream(_CHUNK, decode_content=False):
                fh.write(block)
                received += len(block)
                bar.update(len(block))
            fh.flush()
            os.fsync(fh.fileno())
    except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as err:
        timed_out = isinstance(err, (urllib3.exceptions.TimeoutError, TimeoutError))
        raise _BodyCut(f"{'timed out' if timed_out else 'connection lost'} after {received} bytes "
                       f"({type(err).__name__})", timed_out=timed_out, used=used) from err
    return received

