"""Every error gf raises on purpose, under one root: :class:`GfError`.

Why one root: a user's input (a config, a data file, a checkpoint, a predictions file, a
URL) can be wrong in many ways, and each way already has a message that names the file,
the key and the fix. The CLI prints any ``GfError`` as that one message and exits with
the class's ``exit_code``; anything else is a bug in gf and keeps its traceback.

Each class also derives from the built-in exception that code written before the root
existed catches (``ValueError``, ``KeyError``, ``RuntimeError``), so ``except ValueError``
around a builder still works.

The exit code of each class: README.md, "Errors".
"""
from __future__ import annotations

__all__ = [
    "ArchiveError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "ChecksumError",
    "ConfigError",
    "DataFileError",
    "DatasetError",
    "DestinationExistsError",
    "DistributedPeerError",
    "DownloadError",
    "EvaluationError",
    "GfError",
    "InvalidURLError",
    "ModelInputError",
    "NonFiniteLossError",
    "OfflineError",
    "OutputLockedError",
    "RegistryError",
    "TrainingError",
]


class GfError(Exception):
    """Root of gf's errors: the message says what is wrong, where, and what to do."""

    exit_code = 1


class PlainMessage:
    """``KeyError`` quotes its message when printed; gf's messages are sentences."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(GfError, ValueError):
    """A config is invalid; the message names the key and where it came from."""

    exit_code = 2


class OutputLockedError(ConfigError):
    """Another gf process holds the output folder (``<folder>/.gf.lock``); the message names
    the folder, that process's pid and its command. ``folder``, ``pid`` and ``command`` are
    also attributes (``pid``/``command`` are ``None`` when the holder had not written them yet)."""

    def __init__(self, message: str, *, folder=None, pid=None, command=None):
        super().__init__(message)
        self.folder, self.pid, self.command = folder, pid, command


class RegistryError(PlainMessage, GfError, KeyError):
    """A name is not registered (or taken); the message lists the known and close names."""

    exit_code = 2


class DataFileError(GfError, ValueError):
    """A data file cannot be used as given; the message names the file, line or key."""

    exit_code = 3


class DatasetError(GfError, ValueError):
    """A dataset's configuration or contents do not fit together (splits, sizes, events)."""

    exit_code = 3


class CheckpointError(GfError, ValueError):
    """A checkpoint cannot be used: not a checkpoint, or it does not fit the model or config."""

    exit_code = 4


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint path, URL or zoo name points at nothing; the message says where gf looked."""


class ModelInputError(GfError, ValueError):
    """What was given to a model does not fit it (batch layout, options, vocabulary, sizes)."""

    exit_code = 3


class EvaluationError(GfError, ValueError):
    """Predictions cannot be scored as given; the message names the ids and the fix."""

    exit_code = 5


class DownloadError(GfError, RuntimeError):
    """A download failed, was refused, or did not match its pinned hash."""

    exit_code = 6


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected sha256 (the bad file is deleted)."""


class OfflineError(DownloadError):
    """Offline mode is on and the file is not in the cache."""


class InvalidURLError(DownloadError, ValueError):
    """The URL's scheme or shape is not one gf can download."""


class DestinationExistsError(DownloadError, FileExistsError):
    """``dest`` already holds a file that gf cannot verify as the download (it is left as it is)."""


class ArchiveError(DownloadError):
    """An archive is unreadable or unsafe to extract (the message names the member)."""


class TrainingError(GfError, RuntimeError):
    """A run cannot go on; the last good checkpoint is left as it was."""

    exit_code = 1


class NonFiniteLossError(TrainingError):
    """The loss (or a matching cost) became NaN or infinite; the message names the step."""


class DistributedPeerError(TrainingError):
    """Under torchrun, a collective (DDP's gradient all-reduce, a barrier, a gather) failed
    because another process is gone: that process printed its own error, so this one says
    only that, not torch's transport traceback, which would read as the cause."""
