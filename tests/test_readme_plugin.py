"""The README's "Adding a benchmark" example, run as written (code and YAML taken from the README)."""
import re
import textwrap
from pathlib import Path

import yaml

from gf.benchmarks.synthetic.config import SyntheticStarConfig
from gf.benchmarks.synthetic.generate import generate_synthetic_star
from gf.cli import main as gf_main

from conftest import TINY_TEXT_ENCODER

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_blocks(lang):
    text = README.read_text()
    section = text.split("## Adding a benchmark", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


def test_readme_plugin_builder_trains_through_the_cli(tmp_path, monkeypatch, capsys):
    (code,) = readme_blocks("python")
    (config,) = readme_blocks("yaml")
    pkg = tmp_path / "my_videoqa"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "builders.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))

    # STAR-layout data under <data_root>/MY_STAR, features renamed to what the example names
    data = generate_synthetic_star(tmp_path / "data" / "MY_STAR", SyntheticStarConfig(
        train_per_type=3, val_per_type=2, test_per_type=2, feature_dim=8, max_event_frames=3, max_gap_frames=1))
    (data / "vis_db" / "s3d.pth").rename(data / "vis_db" / "clip.pth")

    cfg = yaml.safe_load(config)
    cfg["datasets"]["my_star_clips"].update(data_root=str(tmp_path / "data"), max_feats=20, unlabelled_splits=[])
    cfg["model"].update(text_encoder=TINY_TEXT_ENCODER, d_model=16, nhead=2, dim_feedforward=32)
    cfg["run"].update(output_dir=str(tmp_path / "out"), epochs=1, batch_size=4, num_workers=0, progress=False)
    path = tmp_path / "my_star_clips.yaml"
    path.write_text(yaml.safe_dump(cfg))

    assert gf_main(["list", "datasets", "--plugins", "my_videoqa.builders"]) == 0
    assert "my_star_clips" in capsys.readouterr().out.split()
    assert gf_main(["train", "--cfg-path", str(path)]) == 0
    assert "my_star_clips test" in capsys.readouterr().out
    assert (tmp_path / "out" / "checkpoint_last.pth").is_file()
