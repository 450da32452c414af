"""Numeric download options are checked, and a refused command leaves nothing behind
(issue 21, class 5, for ``gf download``).

``--timeout``, ``--retries`` and ``--backoff`` (and the same keyword arguments of
``download``, ``download_data`` and ``download_pretrained``) must be finite and in range:
NaN, infinity, zero or a negative number is a ConfigError naming the option, raised before
any folder, part file or lock file exists and before the server is contacted.
"""
from __future__ import annotations

import json
import math

import pytest

from gf.cli import main as gf_main
from gf.common.download import check_transfer_options, download
from gf.common.errors import ConfigError, InvalidURLError
from gf.datasets import data_zoo
from gf.models import zoo

try:
    from helpers_http import ServedFile, server  # noqa: F401 (server: a fixture)
except ImportError:  # tests/ imported as a package
    from tests.helpers_http import ServedFile, server  # noqa: F401

BAD = [
    ("timeout", 0), ("timeout", -1), ("timeout", math.nan), ("timeout", math.inf), ("timeout", 86_401),
    ("timeout", "30"), ("timeout", True),
    ("retries", 0), ("retries", -2), ("retries", 1.5), ("retries", 101), ("retries", True), ("retries", "3"),
    ("backoff", -0.5), ("backoff", math.nan), ("backoff", math.inf), ("backoff", 61),
]


@pytest.fixture(autouse=True)
def _isolated(isolated_cache, monkeypatch):
    monkeypatch.delenv("GF_DATA_URL_STAR", raising=False)
    monkeypatch.delenv("DATA_ROOT", raising=False)
    return isolated_cache


@pytest.fixture(autouse=True)
def _served(server):
    server.routes["/w.bin"] = ServedFile(b"weights" * 100)


def _nothing_created(tmp_path, server) -> None:
    assert not (tmp_path / "new").exists(), sorted(map(str, (tmp_path / "new").rglob("*")))
    assert not (tmp_path / "cache").exists()  # no cache folder, part or lock file either
    assert server.requests == []


@pytest.mark.parametrize("key,value", BAD)
def test_download_refuses_each_bad_number_naming_the_option(tmp_path, server, key, value):
    with pytest.raises(ConfigError, match=rf"download: {key} must be") as err:
        download(server.url("/w.bin"), dest=tmp_path / "new" / "sub" / "w.bin", progress=False, **{key: value})
    assert repr(value) in str(err.value) and "\n" not in str(err.value)
    _nothing_created(tmp_path, server)


@pytest.mark.parametrize("key,value", [("timeout", math.nan), ("retries", 0), ("backoff", -1)])
def test_bundles_and_zoo_entries_refuse_them_before_anything(tmp_path, server, key, value):
    with pytest.raises(ConfigError, match=key):
        data_zoo.download_data("star", tmp_path / "new" / "data", url=server.url("/w.bin"), progress=False,
                               **{key: value})
    with pytest.raises(ConfigError, match=key):
        zoo.download_pretrained("glance_focus/star_reference_authors", progress=False, **{key: value})
    _nothing_created(tmp_path, server)


@pytest.mark.parametrize("option,value", [
    ("--timeout", "nan"), ("--timeout", "0"), ("--timeout", "-3"), ("--timeout", "inf"),
    ("--retries", "0"), ("--retries", "-1"), ("--retries", "1000"),
    ("--backoff", "nan"), ("--backoff", "-1"), ("--backoff", "1e9"),
])
def test_gf_download_refuses_them_with_exit_2_and_creates_nothing(tmp_path, server, capsys, option, value):
    commands = [
        ["download", server.url("/w.bin"), "--dest", str(tmp_path / "new" / "w.bin")],
        ["download", "data:star", "--url", server.url("/w.bin"), "--data-root", str(tmp_path / "new" / "data")],
        ["download", "model:glance_focus/star_reference_authors"],
    ]
    for command in commands:
        assert gf_main(command + [option, value, "--quiet"]) == ConfigError.exit_code == 2
        err = capsys.readouterr().err
        assert err.startswith(f"gf download: error: {option} must be") and "got" in err
    _nothing_created(tmp_path, server)


def test_numbers_in_range_pass_and_are_used(tmp_path, server):
    assert check_transfer_options(None, 1, 0) == 1  # no timeout, no retry, no wait: all allowed
    assert check_transfer_options(0.5, 100, 60.0) == 100
    got = download(server.url("/w.bin"), dest=tmp_path / "w.bin", timeout=5, retries=1, backoff=0, progress=False)
    assert got.read_bytes() == b"weights" * 100
    assert gf_main(["download", server.url("/w.bin"), "--dest", str(tmp_path / "cli.bin"), "--timeout", "5",
                    "--retries", "2", "--backoff", "0.5", "--quiet"]) == 0


@pytest.mark.parametrize("url", ["http://[::1/x.pth", "https://[zz]/x.pth"])
def test_a_malformed_host_is_an_invalid_url_error_everywhere(tmp_path, server, capsys, monkeypatch, url):
    """urlsplit raises a bare ValueError for these; every way in gives exit 6 naming the URL."""
    zoo_file = tmp_path / "zoo.json"
    zoo_file.write_text(json.dumps({"format": "gf-zoo", "version": 1, "entries": {
        "glance_focus/badhost": {"name": "glance_focus/badhost", "model": "glance_focus", "url": url}}}))
    monkeypatch.setenv("GF_ZOO", str(zoo_file))
    with pytest.raises(InvalidURLError, match="the host is malformed"):
        download(url, dest=tmp_path / "new" / "x.pth", progress=False)
    commands = [
        ["download", url],
        ["download", "data:star", "--url", url, "--data-root", str(tmp_path / "new" / "data")],
        ["download", "zoo:glance_focus/badhost"],
    ]
    for command in commands:
        assert gf_main(command + ["--quiet"]) == InvalidURLError.exit_code == 6
        err = capsys.readouterr().err
        assert err.startswith(f"gf download: error: cannot download {url!r}: the host is malformed"), err
        assert "Traceback" not in err and err.count("\n") == 1
    _nothing_created(tmp_path, server)
