"""A resumed download is the file the server has now (issue 21, class 3).

An interrupted transfer leaves ``<dest>.part``. Before appending to it, gf asks the
server whether its file is still the one the part came from (``If-Range`` with the
validator recorded when the transfer started). These tests change the served file between
the interrupted transfer and the resume, on servers that follow the HTTP rules and on ones
that do not, and check that the result is the new file, never a mix of the two.
Everything runs against a server on 127.0.0.1 (tests/helpers_http.py).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gf.common.download import ChecksumError, DownloadError, download

try:
    from helpers_http import ServedFile, random_bytes, server, sha256_hex  # noqa: F401 (server: a fixture)
except ImportError:  # tests/ imported as a package
    from tests.helpers_http import ServedFile, random_bytes, server, sha256_hex  # noqa: F401

SIZE = 150_000
HALF = SIZE // 2


def _payload(seed: int) -> bytes:
    return random_bytes(SIZE, seed)


_sha = sha256_hex


@pytest.fixture(autouse=True)
def _isolated_env(isolated_cache):
    return isolated_cache


def _interrupt(server, route: ServedFile, dest: Path) -> Path:
    """One transfer of ``route`` cut after HALF bytes, with no retry: the part file stays."""
    route.drop_first, route.drop_after = 1, HALF
    server.routes["/f.bin"] = route
    with pytest.raises(DownloadError, match="partial file"):
        download(server.url("/f.bin"), dest=dest, retries=1, progress=False)
    part = dest.with_name(dest.name + ".part")
    assert part.stat().st_size == HALF
    return part


def _leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


# ------------------------------------------------------------------ the file did not change


@pytest.mark.parametrize("validator", ["etag", "last_modified"])
def test_an_unchanged_file_resumes_and_only_the_rest_is_sent(server, tmp_path, validator):
    data = _payload(1)
    route = (ServedFile(data) if validator == "etag"
             else ServedFile(data, etag=None, last_modified="Tue, 01 Jul 2025 10:00:00 GMT"))
    _interrupt(server, route, tmp_path / "f.bin")
    got = download(server.url("/f.bin"), sha256=_sha(data), dest=tmp_path / "f.bin", progress=False)
    assert got.read_bytes() == data
    first, second = server.requests_to("/f.bin")
    sent = route.current_etag() if validator == "etag" else route.last_modified
    assert second.headers["range"] == f"bytes={HALF}-" and second.headers["if-range"] == sent
    assert route.statuses == [200, 206]
    assert route.body_bytes == [HALF, SIZE - HALF]  # counted at the server: the second call sent only the rest
    assert _leftovers(tmp_path) == ["f.bin"]  # neither the part nor its validator is left


# ------------------------------------------------------------------ the file changed on the server


def test_a_changed_file_is_sent_whole_and_replaces_the_part(server, tmp_path):
    old, new = _payload(2), _payload(3)
    route = ServedFile(old)
    _interrupt(server, route, tmp_path / "f.bin")
    old_etag = route.current_etag()
    route.data = new  # the file changes on the server; so does its ETag
    got = download(server.url("/f.bin"), dest=tmp_path / "f.bin", progress=False)
    assert got.read_bytes() == new  # the new file, not old[:HALF] + new[HALF:]
    second = server.requests_to("/f.bin")[1]
    assert second.headers["if-range"] == old_etag and route.statuses == [200, 200]
    assert route.body_bytes == [HALF, SIZE]


def test_a_server_that_ignores_if_range_is_caught_by_the_validator(server, tmp_path):
    """The server sends the range of its new file anyway (206): its ETag gives it away."""
    old, new = _payload(4), _payload(5)
    route = ServedFile(old, honor_if_range=False)
    _interrupt(server, route, tmp_path / "f.bin")
    route.data = new
    got = download(server.url("/f.bin"), dest=tmp_path / "f.bin", progress=False)
    assert got.read_bytes() == new
    assert route.statuses == [200, 206, 200]  # the 206 was not appended; a whole new transfer followed
    assert "range" not in server.requests_to("/f.bin")[2].headers


def test_a_changed_file_with_a_pinned_hash_is_refused_not_mixed(server, tmp_path):
    old, new = _payload(6), _payload(7)
    route = ServedFile(old, honor_if_range=False, etag=None)  # no validator at all, and no If-Range support
    _interrupt(server, route, tmp_path / "f.bin")
    route.data = new
    with pytest.raises(ChecksumError) as err:
        download(server.url("/f.bin"), sha256=_sha(old), dest=tmp_path / "f.bin", progress=False)
    assert _sha(new) in str(err.value) and _sha(old[:HALF] + new[HALF:]) not in str(err.value)
    assert _leftovers(tmp_path) == []  # the mismatching file was deleted, not kept


# ------------------------------------------------------------------ servers that cannot resume


def test_no_validator_means_no_append(server, tmp_path):
    """Without a strong ETag or Last-Modified there is nothing to check a resume against:
    the transfer starts again from byte 0, even though the server supports Range."""
    old, new = _payload(8), _payload(9)
    for etag in (None, 'W/"weak"'):
        route = ServedFile(old, etag=etag)
        dest = tmp_path / f"{'none' if etag is None else 'weak'}.bin"
        _interrupt(server, route, dest)
        route.data = new
        assert download(server.url("/f.bin"), dest=dest, progress=False).read_bytes() == new
        assert "range" not in server.requests_to("/f.bin")[-1].headers and route.statuses == [200, 200]


def test_a_server_without_range_support_restarts_from_zero(server, tmp_path):
    data = _payload(10)
    route = ServedFile(data, honor_range=False)
    _interrupt(server, route, tmp_path / "f.bin")
    got = download(server.url("/f.bin"), sha256=_sha(data), dest=tmp_path / "f.bin", progress=False)
    assert got.read_bytes() == data and route.statuses == [200, 200] and route.body_bytes == [HALF, SIZE]


def test_a_part_whose_validator_was_for_another_url_is_not_appended(server, tmp_path):
    """Two URLs written to the same dest: the part of one is never continued from the other."""
    first, second = _payload(11), _payload(12)
    _interrupt(server, ServedFile(first), tmp_path / "f.bin")
    route = ServedFile(second)
    server.routes["/other.bin"] = route
    got = download(server.url("/other.bin"), dest=tmp_path / "f.bin", progress=False)
    assert got.read_bytes() == second and "range" not in server.requests_to("/other.bin")[0].headers


def test_the_validator_file_is_written_when_the_transfer_starts(server, tmp_path):
    data = _payload(13)
    route = ServedFile(data)
    part = _interrupt(server, route, tmp_path / "f.bin")
    state = json.loads(part.with_name("f.bin.part.json").read_text())
    assert state == {"url": server.url("/f.bin"), "validator": ["etag", route.current_etag()]}


def test_a_416_from_a_server_that_ignores_if_range_is_not_taken_as_the_whole_file(server, tmp_path):
    """The new file is exactly as long as the part: a server ignoring If-Range answers the
    resume with 416 ``bytes */<part size>``. Without the recorded validator on that 416 (or
    the expected hash) the part is the old file's first half, so it is thrown away."""
    old, new = _payload(14), random_bytes(HALF, 15)
    route = ServedFile(old, honor_if_range=False)
    _interrupt(server, route, tmp_path / "f.bin")
    route.data = new  # its 416 carries no ETag, and the ETag it now sends is another
    assert download(server.url("/f.bin"), dest=tmp_path / "f.bin", progress=False).read_bytes() == new
    assert route.statuses == [200, 416, 200] and "range" not in server.requests_to("/f.bin")[2].headers
    assert _leftovers(tmp_path) == ["f.bin"]

    def whole(handler):  # a 416 with the validator recorded for the part: the part is the whole file
        handler.send_bytes(b"", status=416, headers={"ETag": '"v1"', "Content-Range": f"bytes */{HALF}"})

    server.routes["/whole"] = whole
    part = tmp_path / "w.bin.part"
    part.write_bytes(old[:HALF])
    state = {"url": server.url("/whole"), "validator": ["etag", '"v1"']}
    part.with_name("w.bin.part.json").write_text(json.dumps(state))
    assert download(server.url("/whole"), dest=tmp_path / "w.bin", progress=False).read_bytes() == old[:HALF]
    assert len(server.requests_to("/whole")) == 1
