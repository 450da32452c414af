"""The text encoder is built from a local folder quietly: no transformers progress bar per
model (a leaderboard builds one model per entry and seed), and the bar setting is restored;
one that cannot be loaded is named by its config key, with what to do."""
import shutil

import pytest
from transformers.utils import logging as hf_logging

from gf.models.glance_focus.text_encoder import TextEncoder

from conftest import TINY_TEXT_ENCODER


def test_building_the_text_encoder_shows_no_loading_bar_and_restores_the_setting(capfd):
    hf_logging.enable_progress_bar()
    encoder = TextEncoder(TINY_TEXT_ENCODER, 32)
    assert encoder.hidden_size > 0
    err = capfd.readouterr().err
    assert "Loading weights" not in err and "%|" not in err
    assert hf_logging.is_progress_bar_enabled()  # the user's setting is left as it was


def test_a_text_encoder_that_cannot_be_loaded_names_the_key_and_what_to_do(tmp_path):
    """Offline (as the tests run), a Hub name transformers has not cached is a download
    error naming model.text_encoder and the offline choices, not transformers' traceback; a
    folder that does not load is named as a damaged folder."""
    from gf.common.errors import CheckpointError, DownloadError

    with pytest.raises(DownloadError, match=r"model.text_encoder 'gf-tests/no-such-encoder': transformers could not "
                                            r"load it from its cache or the Hub \(OSError: .*to 'minilm'"):
        TextEncoder("gf-tests/no-such-encoder", 16)
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"cannot load the folder .*enc .*save_pretrained writes"):
        TextEncoder(str(tmp_path / "enc"), 16)
    cut = tmp_path / "cut"  # a copy whose weights file is truncated: safetensors' own error, named alike
    shutil.copytree(TINY_TEXT_ENCODER, cut)
    weights = cut / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"cannot load the folder .*cut"):
        TextEncoder(str(cut), 16)
    with pytest.raises(CheckpointError, match=r"model.text_encoder '.*no-such-folder': no such folder"):
        TextEncoder(str(tmp_path / "no-such-folder"), 16)


def test_gf_offline_makes_transformers_read_only_its_cache(monkeypatch):
    """GF_OFFLINE=1 holds for the text encoder too: with the Hub reachable in principle
    (HF_HUB_OFFLINE off), transformers is told to read only its cache, so a compute node
    without network fails (or loads from the cache) at once instead of retrying the Hub."""
    import huggingface_hub.constants
    import transformers

    from gf.common.errors import DownloadError

    seen = []
    real = transformers.AutoTokenizer.from_pretrained

    def spy(path, **kwargs):
        seen.append(kwargs.get("local_files_only"))
        return real(path, **kwargs)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", spy)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("GF_OFFLINE", "1")
    with pytest.raises(DownloadError, match=r"from its cache \(GF_OFFLINE is set\)"):
        TextEncoder("gf-tests/no-such-encoder", 16)
    assert TextEncoder(TINY_TEXT_ENCODER, 16).hidden_size > 0  # a folder loads as before
    assert seen == [True, True]


@pytest.mark.parametrize("frozen", [True, False])
def test_texts_cut_at_max_length_are_counted_and_warned_once_per_mode_without_changing_them(frozen, caplog):
    """A long question pushes the option out of "{question} {option}": the cut stays (the
    numerics are the configured ones) but is counted, distinct texts once, and warned once in
    training and once in evaluation; a text that just fits is not counted."""
    import logging

    import torch

    encoder = TextEncoder(TINY_TEXT_ENCODER, 16, freeze=frozen, resizer_dropout=0.0, max_length=12)
    short, long_ = "what did the person do ? the box", "what did the person do " * 6 + "the box"
    fits = next(" ".join(["a"] * k) for k in range(1, 20) if encoder.token_counts([" ".join(["a"] * k)])[0] == 12)
    assert encoder.overlong([short, long_, fits]) == [(1, encoder.token_counts([long_])[0])]
    caplog.set_level(logging.WARNING, logger="gf.models.glance_focus.text_encoder")
    encoder.train()
    states, pad = encoder.encode_states([short, long_, fits])
    assert states.shape[1] == 12 and int((~pad[1]).sum()) == 12  # still cut at max_length
    encoder.encode_states([long_, short])  # the same cut text again: not counted twice, not warned twice
    encoder.eval()
    with torch.no_grad():
        encoder.encode_states([long_ + " again", short])
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and "(training)" in warnings[0] and "(evaluation)" in warnings[1]
    assert "longer than model.text_max_length=12 tokens" in warnings[0] and "is the option" in warnings[0]
    assert encoder.truncated_texts == 2
