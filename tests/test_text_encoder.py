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


def test_a_full_cache_never_evicts_a_text_the_call_reads():
    """A frozen encoder's cache is bounded (cache_size); a full cache used to evict the
    oldest entry while inserting the batch's new texts, even one of the same batch that was
    a hit, which then crashed with a raw KeyError. Now a hit counts as a use and eviction
    comes after the batch's states are read: the bound holds and the states are right."""
    import torch

    encoder = TextEncoder(TINY_TEXT_ENCODER, 16, freeze=True, cache=True, cache_size=5).eval()
    uncached = TextEncoder(TINY_TEXT_ENCODER, 16, freeze=True, cache=False).eval()
    with torch.no_grad():
        encoder(["a cup", "the door", "a sofa", "the box", "a towel"])  # full
        states, pad = encoder.encode_states(["a cup", "a sandwich"])  # 'a cup' is the oldest entry
        want, want_pad = uncached.encode_states(["a cup", "a sandwich"])
        assert torch.equal(pad, want_pad)
        torch.testing.assert_close(states[~pad], want[~want_pad], atol=1e-5, rtol=0)
        assert list(encoder._cache) == ["a sofa", "the box", "a towel", "a cup", "a sandwich"]
        big = [f"text {i}" for i in range(7)]  # more distinct texts than the cache holds: still read
        assert encoder.encode_states(big)[0].shape[0] == 7 and len(encoder._cache) == 5


def test_texts_beyond_the_backbones_positions_are_refused_by_name(tmp_path):
    """The tiny RoBERTa reads 128 tokens (130 positions less its offset of 2). Uncut texts
    (arch reference) longer than that, and a text_max_length above it, used to crash in the
    backbone (index 130 is out of bounds); now check_fits and encoding refuse such a text
    with a ModelInputError (its place in the call as ``text_index``), and the config with a
    ConfigError naming model.text_max_length."""
    from gf.common.errors import ConfigError, ModelInputError

    with pytest.raises(ConfigError, match=r"model.text_max_length is 300, but the text encoder .* reads at most "
                                          r"128 tokens .*set model.text_max_length to 128 or less"):
        TextEncoder(TINY_TEXT_ENCODER, 16, max_length=300)
    assert TextEncoder(TINY_TEXT_ENCODER, 16, max_length=128).read_limit == 128
    for cache in (False, True):
        encoder = TextEncoder(TINY_TEXT_ENCODER, 16, truncation=False, freeze=True, cache=cache)
        long_ = "what did the person do " * 40
        texts = ["short one", long_ + "a", long_ + "b"]
        with pytest.raises(ModelInputError, match=r"the question \+ its longest option \(option \d\) is \d+ tokens, "
                                                  r"but the text encoder .* reads at most 128 .*shorten the question"):
            encoder.check_fits(texts, True)
        encoder.encode_states(["short one"])  # cached (when on): the long texts are the only new ones
        with pytest.raises(ModelInputError, match="reads at most 128") as error:
            encoder.encode_states(texts)
        assert error.value.text_index == 1
        encoder.check_fits(["short one", "what a"], True)  # what fits passes
