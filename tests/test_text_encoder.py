"""The text encoder is built from a local folder quietly: no transformers progress bar per
model (a leaderboard builds one model per entry and seed), and the bar setting is restored."""
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
