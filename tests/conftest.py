import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = FIXTURES / "reference_glance_focus"
TINY_TEXT_ENCODER = str(REFERENCE / "star_mc" / "text_encoder")  # tiny RoBERTa, local
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PLUGINS = str(Path(__file__).parent / "plugins")  # the test plugin package gf_test_plugins

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def tiny_text_encoder() -> str:
    return TINY_TEXT_ENCODER


@pytest.fixture
def plugin_path(monkeypatch) -> None:
    """The test plugins (``gf_test_plugins``) importable; a module opts in with
    ``pytestmark = pytest.mark.usefixtures("plugin_path")``."""
    monkeypatch.syspath_prepend(PLUGINS)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """Own gf cache and zoo file, online, and no proxy between urllib and 127.0.0.1.

    Returns the cache folder. Used (autouse) by the download, zoo and API tests."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GF_ZOO", raising=False)
    monkeypatch.delenv("GF_OFFLINE", raising=False)
    return tmp_path / "cache"


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """``huggingface_hub.hf_hub_download`` answered from a local file (the Hub is unreachable
    here): returns ``(hub_file, calls)``, the file it serves (b"weights") and the keyword
    arguments of every call."""
    hub_file = tmp_path / "hub" / "ckpt.pth"
    hub_file.parent.mkdir()
    hub_file.write_bytes(b"weights")
    calls = []

    def fake_hf_hub_download(**kwargs):
        calls.append(kwargs)
        return str(hub_file)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_hf_hub_download)
    return hub_file, calls
