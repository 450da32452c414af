"""`gf train` with DataLoader workers (its training loop, and the evaluation loop `gf evaluate` shares): a GfError a worker raises (a damaged
feature file, say) reaches the user as gf's own one-line message and exit code, not as
torch's "Caught DataFileError in DataLoader worker process 0 ... Traceback" text."""
from __future__ import annotations

import pytest

from gf.cli import main as gf_main
from gf.common.errors import DataFileError
from gf.datasets.videoqa import VideoQADataset

from test_runner_parts import toy_config as toy_config_file

MESSAGE = "TOY/features.pth: the row of video {split}1 is damaged; extract it again."


@pytest.fixture
def toy_config(tmp_path, plugin_path, isolated_cache):
    return toy_config_file(tmp_path, batch_size=4, num_workers=1)


def _damaged_in(monkeypatch, split):
    """Item 1 of ``split`` raises a DataFileError, as a damaged feature row would. The
    DataLoader forks its workers, so they inherit the patch."""
    original = VideoQADataset.__getitem__

    def getitem(self, index):
        if self.split == split and index == 1:
            raise DataFileError(MESSAGE.format(split=split))
        return original(self, index)

    monkeypatch.setattr(VideoQADataset, "__getitem__", getitem)


@pytest.mark.parametrize("split", ["train", "test"])  # the training loop, then the evaluation loop
def test_a_workers_error_in_a_run_is_one_line_with_its_exit_code(toy_config, monkeypatch, capsys, split):
    _damaged_in(monkeypatch, split)
    code = gf_main(["train", "--cfg-path", str(toy_config)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("gf train: error:")]
    assert code == 3
    assert lines == [f"gf train: error: {MESSAGE.format(split=split)}"]
    assert "Caught" not in err and "Traceback" not in err
