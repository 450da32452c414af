"""The one cross-process file lock gf takes around downloads, extractions and zoo files.

Why one helper: several processes (torchrun ranks, parallel leaderboard jobs, two shells)
fetch the same checkpoint, extract the same data bundle or record a hash in the same zoo
file at once. Each of those places needs the same three things: a ``filelock.FileLock``
(flock on POSIX, so a killed holder releases it), a log line while it waits (a silent
hang behind a 20 GB download looks like a bug), and an error that names the lock file
when it cannot be created (a read-only folder), instead of a bare ``OSError``.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator, Type

from gf.common.errors import DownloadError, GfError
from gf.common.utils import PathLike

__all__ = ["file_lock"]

logger = logging.getLogger(__name__)

#: How often a waiting process says that it is still waiting.
LOG_EVERY_S = 30.0


@contextlib.contextmanager
def file_lock(lock_path: PathLike, what: str, *, error: Type[GfError] = DownloadError) -> Iterator[None]:
    """Hold ``lock_path`` for the ``with`` block; ``what`` says what it guards (for the logs).

    The lock file stays behind after release (removing it while another process waits on
    it would let a third one in). A lock file that cannot be created raises ``error``
    naming it and what to do.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_path))
    waited = 0.0
    while True:
        try:
            lock.acquire(timeout=LOG_EVERY_S)
            break
        except Timeout:
            waited += LOG_EVERY_S
            logger.info("waiting %.0fs so far for another process working on %s (lock %s)", waited, what, lock_path)
        except (OSError, ValueError) as err:
            raise error(f"cannot create the lock file {lock_path} ({type(err).__name__}: {err}); its folder must be "
                        f"writable: choose another destination (or set GF_CACHE_DIR).") from None
    try:
        yield
    finally:
        lock.release()
