import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = FIXTURES / "reference_glance_focus"
TINY_TEXT_ENCODER = str(REFERENCE / "star_mc" / "text_encoder")  # tiny RoBERTa, local
SHARED = Path(__file__).resolve().parents[1].parent / "shared"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def tiny_text_encoder() -> str:
    return TINY_TEXT_ENCODER
