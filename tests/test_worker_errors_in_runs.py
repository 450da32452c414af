"""`gf train` and `gf evaluate` with DataLoader workers: a GfError a worker raises (a damaged
feature file, say) reaches the user as gf's own one-line message and exit code, not as
torch's "Caught DataFileError in DataLoader worker process 0 ... Traceback" text."""
from __future__ import annotations

import textwrap

import pytest

from gf.cli import main as gf_main
from gf.common.errors import DataFileError
from gf.datasets.videoqa import VideoQADataset

from conftest import REFERENCE
from test_runner import PLUGINS
from test_runner_parts import _toy_benchmark

MESSAGE = "TOY/features.pth: the row of video {split}1 is damaged; extract it again."


@pytest.fixture
def toy_config(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.syspath_prepend(PLUGINS)
    _toy_benchmark(tmp_path / "TOY")
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(textwrap.dedent(f"""
        plugins: [gf_toy_counting]
        model:
          name: glance_focus
          model_type: demo_uns
          text_encoder: {REFERENCE / 'star_mc' / 'text_encoder'}
          freeze_text_encoder: true
          d_model: 32
          nhead: 4
          dim_feedforward: 64
          num_queries: 4
        datasets:
          toy_counting: {{data_root: {tmp_path}}}
        run: {{output_dir: {tmp_path / 'out'}, epochs: 1, batch_size: 4, num_workers: 1, progress: false,
               lr: 0.001}}
    """))
    return cfg


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
