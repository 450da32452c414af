"""A GfError raised inside a DataLoader worker reaches the user as gf's own one-line message
(gf.common.workers), not as torch's "Caught ... in DataLoader worker process N" traceback text."""
from __future__ import annotations

import pytest
import torch

from gf.common.errors import CheckpointError, DataFileError, GfError
from gf.common.workers import gf_worker_errors, iter_loader, unwrap_worker_error


class NeedsPath(CheckpointError):
    """A GfError torch cannot rebuild from one string (it re-raises it as a RuntimeError)."""

    def __init__(self, message, *, path):
        super().__init__(message)
        self.path = path


class Raises(torch.utils.data.Dataset):
    """Item 2 raises ``error`` from ``cause`` (a reader's error is often chained to another)."""

    def __init__(self, error, cause):
        self.error, self.cause = error, cause

    def __len__(self):
        return 4

    def __getitem__(self, i):
        if i == 2:
            try:
                raise self.cause
            except Exception as e:
                raise self.error from e
        return i


def loader(error, workers=1, cause=None):
    cause = KeyError("inner detail") if cause is None else cause
    return torch.utils.data.DataLoader(Raises(error, cause), batch_size=None, num_workers=workers)


MESSAGE = "features/v2.npy: the feature file is truncated: its header promises 4096 bytes. Copy it again."


def test_a_workers_data_error_surfaces_as_itself_with_its_one_line_message():
    with pytest.raises(DataFileError) as plain:
        list(loader(DataFileError(MESSAGE)))
    assert str(plain.value).startswith("Caught DataFileError in DataLoader worker process 0")  # torch's own
    with pytest.raises(DataFileError) as err:
        list(iter_loader(loader(DataFileError(MESSAGE))))
    assert str(err.value) == MESSAGE and err.value.exit_code == 3
    assert "Caught" not in str(err.value) and "Traceback" not in str(err.value)
    assert "inner detail" in err.value.worker_traceback  # kept for --debug and bug reports
    assert err.value.__cause__ is None and err.value.__suppress_context__  # shown alone


def test_a_multiline_message_and_a_class_torch_cannot_rebuild_come_back_whole():
    two_lines = "first line of the message\nsecond line naming the fix"
    cause = DataFileError("the cause, of the same class, comes first in the traceback")
    with pytest.raises(DataFileError) as err:
        list(iter_loader(loader(DataFileError(two_lines), cause=cause)))
    assert str(err.value) == two_lines
    with pytest.raises(NeedsPath) as err:  # torch raised RuntimeError; the class is found again by name
        with gf_worker_errors():
            for _ in loader(NeedsPath("model.pth does not fit", path="model.pth")):
                pass
    assert str(err.value) == "model.pth does not fit" and err.value.exit_code == 4


def test_other_errors_and_errors_outside_workers_pass_unchanged():
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process 0") as err:
        list(iter_loader(loader(ValueError("a bug in gf"))))  # a bug keeps torch's text and traceback
    assert not isinstance(err.value, GfError)
    error = DataFileError(MESSAGE)
    with pytest.raises(DataFileError) as err:
        list(iter_loader(loader(error, workers=0)))  # raised in this process: the very same error
    assert err.value is error
    assert unwrap_worker_error(DataFileError("Caught nothing")) is None
    assert list(iter_loader(torch.utils.data.DataLoader(list(range(3)), batch_size=None, num_workers=1))) == [0, 1, 2]
