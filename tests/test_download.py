"""gf.common.download against servers on 127.0.0.1 started by the tests (no network)."""
from __future__ import annotations

import json
import logging
import multiprocessing
import time
from pathlib import Path

import pytest

from gf.common.download import (
    ChecksumError,
    DownloadError,
    InvalidURLError,
    OfflineError,
    cache_dir,
    download,
    gdrive_file_id,
    parse_hf_url,
    sha256sum,
)

try:
    from helpers_http import LocalHTTPServer, ServedFile, SilentServer, random_bytes, server, sha256_hex  # noqa: F401
except ImportError:  # tests/ imported as a package
    from tests.helpers_http import (LocalHTTPServer, ServedFile, SilentServer, random_bytes, server,  # noqa: F401
                                    sha256_hex)


_payload, _sha = random_bytes, sha256_hex


@pytest.fixture(autouse=True)
def _isolated_env(isolated_cache):
    return isolated_cache


def _files_under(root: Path):
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


# ------------------------------------------------------------------ basics


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("GF_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("GF_CACHE_DIR")
    assert cache_dir() == tmp_path / "xdg" / "gf"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "gf"


def test_sha256sum_streams_whole_file(tmp_path):
    data = _payload(3 * 1024 * 1024 + 7)  # spans several read chunks
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert sha256sum(path, chunk_size=1 << 20) == _sha(data)


def test_download_http_redirect_file_url_and_cache_hit(server, tmp_path, caplog):
    data = _payload()
    server.routes["/files/weights.bin"] = ServedFile(data)

    def redirect(handler):
        handler.send_response(302)
        handler.send_header("Location", "/files/weights.bin")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server.routes["/latest"] = redirect

    with caplog.at_level(logging.INFO, logger="gf.common.download"):
        got = download(server.url("/files/weights.bin"), dest=tmp_path / "out" / "w.bin", progress=False)
    assert got == tmp_path / "out" / "w.bin" and got.read_bytes() == data
    assert _sha(data) in caplog.text  # the hash is logged so the user can pin it
    assert not (tmp_path / "out" / "w.bin.part").exists()

    # Redirect followed; default destination keyed by the pinned hash; filename given.
    got = download(server.url("/latest"), sha256=_sha(data), filename="w.bin", progress=False)
    assert got == tmp_path / "cache" / "downloads" / _sha(data)[:16] / "w.bin"
    assert got.read_bytes() == data

    # Already cached and verified: no request at all.
    before = len(server.requests)
    assert download(server.url("/latest"), sha256=_sha(data), filename="w.bin", progress=False) == got
    assert len(server.requests) == before

    # file:// is copied, verified and placed like any download.
    src = tmp_path / "local source.bin"
    src.write_bytes(data[:1000])
    got = download(src.as_uri(), sha256=_sha(data[:1000]), dest=tmp_path / "copied.bin", progress=False)
    assert got.read_bytes() == data[:1000]
    with pytest.raises(DownloadError, match="no such file"):
        download((tmp_path / "missing.bin").as_uri(), dest=tmp_path / "x.bin", progress=False)


def test_dest_directory_and_bad_arguments(server, tmp_path):
    server.routes["/a/b/model.pth"] = ServedFile(b"abc")
    out = tmp_path / "dir"
    out.mkdir()
    assert download(server.url("/a/b/model.pth"), dest=out, progress=False) == out / "model.pth"
    with pytest.raises(InvalidURLError, match="unsupported scheme"):
        download("ftp://example.org/x.bin", dest=tmp_path / "x")
    with pytest.raises(ValueError, match="64 hexadecimal"):
        download(server.url("/a/b/model.pth"), sha256="abc123", dest=tmp_path / "x")
    with pytest.raises(ValueError, match="plain file name"):
        download(server.url("/a/b/model.pth"), filename="../escape.bin")


# ------------------------------------------------------------------ resume and retries


def test_resume_after_connection_dropped_halfway(server, tmp_path):
    data = _payload()
    half = len(data) // 2
    route = ServedFile(data, drop_first=1, drop_after=half)
    server.routes["/big.bin"] = route
    got = download(server.url("/big.bin"), sha256=_sha(data), dest=tmp_path / "big.bin",
                   backoff=0.01, progress=False)
    assert got.read_bytes() == data
    first, second = server.requests_to("/big.bin")
    assert "range" not in first.headers
    assert second.headers["range"] == f"bytes={half}-"
    assert route.statuses == [200, 206]
    assert not (tmp_path / "big.bin.part").exists()


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    data = _payload(seed=1)
    half = len(data) // 2
    route = ServedFile(data, honor_range=False, drop_first=1, drop_after=half)
    server.routes["/big.bin"] = route
    got = download(server.url("/big.bin"), sha256=_sha(data), dest=tmp_path / "big.bin",
                   backoff=0.01, progress=False)
    assert got.read_bytes() == data  # not the first half twice
    assert server.requests_to("/big.bin")[1].headers["range"] == f"bytes={half}-"
    assert route.statuses == [200, 200]


def test_later_call_resumes_left_over_part_file(server, tmp_path):
    data = _payload(seed=2)
    route = ServedFile(data, drop_first=1, drop_after=12345)
    server.routes["/big.bin"] = route
    with pytest.raises(DownloadError, match="partial file"):  # an earlier, interrupted call
        download(server.url("/big.bin"), sha256=_sha(data), dest=tmp_path / "big.bin", retries=1, progress=False)
    assert (tmp_path / "big.bin.part").stat().st_size == 12345
    got = download(server.url("/big.bin"), sha256=_sha(data), dest=tmp_path / "big.bin", progress=False)
    assert got.read_bytes() == data
    first, second = server.requests_to("/big.bin")
    assert second.headers["range"] == "bytes=12345-" and second.headers["if-range"] == route.current_etag()
    assert route.statuses == [200, 206] and route.body_bytes == [12345, len(data) - 12345]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["big.bin"]


def test_a_kill_after_the_new_files_validator_is_recorded_cannot_splice_two_versions(server, tmp_path,
                                                                                      monkeypatch):
    """The file changed on the server between a cut transfer and its resume: the whole new
    file comes (200) and its validator is recorded. Killed before the old bytes were
    dropped, the next call would append the new file's tail to the old head under the new
    validator, and (unpinned) install the splice. The old part goes before the record."""
    import gf.common.http_transfer as http_transfer

    old, new = _payload(seed=3), _payload(seed=4)
    route = ServedFile(old, drop_first=1, drop_after=50_000)
    server.routes["/v.bin"] = route
    dest, url = tmp_path / "v.bin", server.url("/v.bin")
    with pytest.raises(DownloadError):  # cut: the part holds the head of the old file
        download(url, dest=dest, retries=1, progress=False)
    route.data = new  # the server now has another file (and ETag)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies before it writes the new body

    monkeypatch.setattr(http_transfer, "_stream_to_part", killed)
    with pytest.raises(KeyboardInterrupt):
        download(url, dest=dest, retries=1, progress=False)
    monkeypatch.undo()
    assert download(url, dest=dest, progress=False).read_bytes() == new


def _part_as_gf_leaves_it(part: Path, data: bytes, url: str, etag: str) -> None:
    """A .part file and the validator gf recorded when its transfer started."""
    part.write_bytes(data)
    part.with_name(part.name + ".json").write_text(json.dumps({"url": url, "validator": ["etag", etag]}))


def test_part_file_the_server_cannot_resume(server, tmp_path):
    data = _payload(seed=8)
    route = ServedFile(data)
    server.routes["/f.bin"] = route
    url = server.url("/f.bin")
    # Complete .part (killed before the rename): 416, the hash says it is whole, no body.
    _part_as_gf_leaves_it(tmp_path / "a.bin.part", data, url, route.current_etag())
    assert download(url, sha256=_sha(data), dest=tmp_path / "a.bin", retries=1, progress=False).read_bytes() == data
    assert route.statuses == [416]
    # The same, left by a gf that recorded no validator: the hash alone says it is whole.
    (tmp_path / "a2.bin.part").write_bytes(data)
    assert download(url, sha256=_sha(data), dest=tmp_path / "a2.bin", progress=False).read_bytes() == data
    assert route.statuses == [416]
    # An over-long stale .part and no hash to judge it: 416, then a fresh full request.
    _part_as_gf_leaves_it(tmp_path / "b.bin.part", b"stale" * 50_000, url, route.current_etag())
    assert download(url, dest=tmp_path / "b.bin", retries=1, progress=False).read_bytes() == data
    assert route.statuses == [416, 416, 200]

    def wrong_range(handler):  # answers any resume with the file from byte 0 as a "206"
        status = 206 if "Range" in handler.headers else 200
        handler.send_bytes(data, status=status, headers={"ETag": '"v1"',
                                                         "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"})

    server.routes["/wrong"] = wrong_range
    _part_as_gf_leaves_it(tmp_path / "c.bin.part", data[:1000], server.url("/wrong"), '"v1"')
    assert download(server.url("/wrong"), dest=tmp_path / "c.bin", retries=1,
                    progress=False).read_bytes() == data
    assert ["range" in r.headers for r in server.requests_to("/wrong")] == [True, False]
    assert not (tmp_path / "c.bin.part.json").exists()


def test_retries_5xx_then_succeeds_and_404_is_final(server, tmp_path):
    data = b"payload" * 100
    calls = []

    def flaky(handler):
        calls.append(1)
        if len(calls) < 3:
            handler.send_bytes(b"busy", "text/plain", status=503)
        else:
            handler.send_bytes(data)

    server.routes["/flaky"] = flaky
    got = download(server.url("/flaky"), dest=tmp_path / "f.bin", retries=3, backoff=0.01, progress=False)
    assert got.read_bytes() == data and len(calls) == 3

    with pytest.raises(DownloadError, match="HTTP 404") as err:
        download(server.url("/nope"), dest=tmp_path / "n.bin", retries=3, backoff=0.01, progress=False)
    assert server.url("/nope") in str(err.value)
    assert len(server.requests_to("/nope")) == 1  # a 404 is not retried


def test_a_retry_after_longer_than_the_longest_backoff_is_capped_and_logged(server, tmp_path, monkeypatch, caplog):
    """urllib3 honours Retry-After up to 6 h without a word: a download must wait at most
    MAX_BACKOFF_S (the documented longest wait) and say that it waits."""
    from gf.common.http_transfer import MAX_BACKOFF_S

    data, calls, slept = b"payload" * 100, [], []
    real_sleep = time.sleep

    def busy_once(handler):
        calls.append(1)
        if len(calls) == 1:
            handler.send_bytes(b"busy", "text/plain", status=503, headers={"Retry-After": "100000"})
        else:
            handler.send_bytes(data)

    def recorded_sleep(seconds):
        slept.append(seconds)
        real_sleep(min(seconds, 0.01))

    monkeypatch.setattr(time, "sleep", recorded_sleep)
    server.routes["/busy"] = busy_once
    with caplog.at_level(logging.WARNING, logger="gf"):
        got = download(server.url("/busy"), dest=tmp_path / "b.bin", retries=2, backoff=0.0, progress=False)
    assert got.read_bytes() == data and len(calls) == 2
    assert max(slept) == MAX_BACKOFF_S
    assert "Retry-After" in caplog.text and "100000" in caplog.text


def test_the_file_is_kept_as_the_server_stores_it(server, tmp_path):
    """A server that labels a .gz file ``Content-Encoding: gzip`` (a common misconfiguration):
    the bytes stored and hashed are the file's, not a decompressed copy; gf asks for no
    encoding, so byte ranges and hashes are over the stored bytes."""
    import gzip

    stored = gzip.compress(b"annotations " * 5000)

    def mislabelled(handler):
        handler.send_bytes(stored, "application/x-tar", headers={"Content-Encoding": "gzip"})

    server.routes["/bundle.tar.gz"] = mislabelled
    got = download(server.url("/bundle.tar.gz"), sha256=_sha(stored), dest=tmp_path / "b.tgz", progress=False)
    assert got.read_bytes() == stored
    assert server.requests_to("/bundle.tar.gz")[0].headers["accept-encoding"] == "identity"


def test_checksum_mismatch_deletes_everything(server, tmp_path):
    data = _payload(seed=3)
    wrong = _sha(b"something else")
    server.routes["/w.bin"] = ServedFile(data)
    with pytest.raises(ChecksumError) as err:
        download(server.url("/w.bin"), sha256=wrong, progress=False)
    message = str(err.value)
    assert wrong in message and _sha(data) in message and server.url("/w.bin") in message
    leftovers = [n for n in _files_under(tmp_path / "cache") if not n.endswith(".lock")]
    assert leftovers == []


def test_server_that_never_answers_times_out_quickly(tmp_path):
    with SilentServer() as silent:
        url = silent.url("/hang.bin")
        start = time.monotonic()
        with pytest.raises(DownloadError, match=r"timed out after 1 attempt") as err:
            download(url, dest=tmp_path / "h.bin", timeout=0.5, retries=1, progress=False)
        assert time.monotonic() - start < 5
        assert url in str(err.value)
        start = time.monotonic()
        with pytest.raises(DownloadError, match=r"timed out after 2 attempt"):
            download(url, dest=tmp_path / "h.bin", timeout=0.3, retries=2, backoff=0.01, progress=False)
        assert time.monotonic() - start < 5
    assert not (tmp_path / "h.bin").exists()


# ------------------------------------------------------------------ concurrency


def _download_in_child(url, sha, dest, barrier, results):
    barrier.wait(timeout=30)
    try:
        path = download(url, sha256=sha, dest=dest, progress=False, timeout=10)
        results.put(("ok", str(path), sha256sum(path)))
    except Exception as err:  # reported to the parent, which fails the test
        results.put(("error", repr(err), ""))


def test_two_processes_download_once(server, tmp_path):
    data = _payload(300_000, seed=4)
    server.routes["/shared.bin"] = ServedFile(data, chunk_delay=0.05)  # ~0.5 s transfer
    dest = tmp_path / "shared" / "shared.bin"
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_download_in_child,
                         args=(server.url("/shared.bin"), _sha(data), str(dest), barrier, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    assert outcomes == [("ok", str(dest), _sha(data))] * 2
    gets = server.requests_to("/shared.bin")
    assert len(gets) == 1 and "range" not in gets[0].headers


# ------------------------------------------------------------------ offline


def test_offline_uses_cache_and_never_contacts_server(server, tmp_path, monkeypatch):
    data = _payload(seed=5)
    server.routes["/c.bin"] = ServedFile(data)
    server.routes["/other.bin"] = ServedFile(data)
    cached = download(server.url("/c.bin"), sha256=_sha(data), progress=False)
    seen = len(server.requests)

    monkeypatch.setenv("GF_OFFLINE", "1")
    assert download(server.url("/c.bin"), sha256=_sha(data)) == cached
    with pytest.raises(OfflineError):  # without the hash the cache key is the URL: a miss
        download(server.url("/c.bin"))

    with pytest.raises(OfflineError) as err:
        download(server.url("/other.bin"), progress=False)
    message = str(err.value)
    expected_path = cache_dir() / "downloads" / _sha(server.url("/other.bin").encode())[:16] / "other.bin"
    assert server.url("/other.bin") in message and str(expected_path) in message
    assert "GF_OFFLINE" in message

    # A corrupted cached file is not handed out offline either.
    cached.write_bytes(b"corrupted")
    with pytest.raises(OfflineError, match="not the expected"):
        download(server.url("/c.bin"), sha256=_sha(data))

    # offline=False overrides the environment.
    assert download(server.url("/c.bin"), sha256=_sha(data), offline=False, progress=False).read_bytes() == data
    monkeypatch.setenv("GF_OFFLINE", "0")
    with pytest.raises(OfflineError):
        download(server.url("/other.bin"), offline=True)
    assert len(server.requests) == seen + 1  # only the offline=False call went out

    monkeypatch.setenv("GF_OFFLINE", "maybe")
    with pytest.raises(ValueError, match="GF_OFFLINE"):
        download(server.url("/c.bin"))


# ------------------------------------------------------------------ Google Drive (through gdown)
# Live Drive cannot be reached from the test machines: gdown.download is replaced by
# fakes, and the tests check what gf adds around it (routing, cache path, sha256,
# offline mode, error wrapping), not Drive's pages, which are gdown's business.


DRIVE_ID = "1AbC-dEf_GhIjKlMnOpQrStUvWxYz0123"


@pytest.mark.parametrize("link", [
    f"https://drive.google.com/file/d/{DRIVE_ID}/view?usp=sharing",
    f"https://drive.google.com/file/u/0/d/{DRIVE_ID}/view",
    f"https://drive.google.com/open?id={DRIVE_ID}",
    f"https://drive.google.com/uc?id={DRIVE_ID}&export=download",
    f"https://drive.usercontent.google.com/download?id={DRIVE_ID}&export=download",
])
def test_gdrive_link_shapes(link):
    assert gdrive_file_id(link) == DRIVE_ID


def test_gdrive_non_drive_links(tmp_path):
    assert gdrive_file_id("https://example.org/file/d/abc/view") is None
    assert gdrive_file_id("https://drive.google.com/drive/folders/xyz") is None
    with pytest.raises(InvalidURLError, match="not a Google Drive file link"):
        download("https://drive.google.com/drive/folders/xyz", dest=tmp_path / "x.bin")


@pytest.fixture
def fake_gdown(monkeypatch):
    """gdown.download replaced: records its calls and writes ``fake.data`` to ``output``
    (or raises ``fake.error``), the way gdown does (partial file, then rename)."""
    gdown = pytest.importorskip("gdown")

    class Fake:
        data = b"drive bytes" * 1000
        error = None
        calls = []

        def __call__(self, **kwargs):
            self.calls.append(kwargs)
            if self.error is not None:
                raise self.error
            output = Path(kwargs["output"])
            tmp = output.with_name(output.name + "abcdefgh.part")
            tmp.write_bytes(self.data)
            tmp.replace(output)
            return str(output)

    fake = Fake()
    monkeypatch.setattr(gdown, "download", fake)
    return fake


def test_gdrive_link_goes_through_gdown_and_is_verified(fake_gdown, tmp_path):
    link = f"https://drive.google.com/file/d/{DRIVE_ID}/view?usp=sharing"
    got = download(link, sha256=_sha(fake_gdown.data), filename="weights.pth", dest=tmp_path,
                   timeout=7, retries=4, progress=False)
    assert got == tmp_path / "weights.pth" and got.read_bytes() == fake_gdown.data
    (call,) = fake_gdown.calls
    assert call["id"] == DRIVE_ID and call["output"] == str(tmp_path / "weights.pth.part")
    assert call["resume"] is True and call["timeout"] == 7 and call["retries"] == 3
    assert call["quiet"] is True  # progress=False
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["weights.pth"]

    # Cached and verified: gdown is not called again, whatever the link's shape.
    assert download(f"https://drive.google.com/open?id={DRIVE_ID}", sha256=_sha(fake_gdown.data),
                    filename="weights.pth", dest=tmp_path, progress=False) == got
    assert len(fake_gdown.calls) == 1

    # Default destination: the cache, keyed by the hash, named by the file id.
    cached = download(f"https://drive.google.com/uc?id={DRIVE_ID}", sha256=_sha(fake_gdown.data), progress=False)
    assert cached == cache_dir() / "downloads" / _sha(fake_gdown.data)[:16] / DRIVE_ID


def test_gdrive_checksum_mismatch_deletes_the_file(fake_gdown, tmp_path):
    wrong = _sha(b"something else")
    link = f"https://drive.google.com/file/d/{DRIVE_ID}/view"
    with pytest.raises(ChecksumError) as err:
        download(link, sha256=wrong, progress=False)
    assert wrong in str(err.value) and _sha(fake_gdown.data) in str(err.value) and link in str(err.value)
    assert [n for n in _files_under(tmp_path / "cache") if not n.endswith(".lock")] == []


def test_gdrive_left_over_complete_transfer_is_used_or_replaced(fake_gdown, tmp_path):
    link = f"https://drive.google.com/file/d/{DRIVE_ID}/view"
    # gdown finished, the process died before gf's rename: a verified .part is used as is.
    (tmp_path / "a.bin.part").write_bytes(fake_gdown.data)
    assert download(link, sha256=_sha(fake_gdown.data), dest=tmp_path / "a.bin",
                    progress=False).read_bytes() == fake_gdown.data
    assert fake_gdown.calls == []
    # Without a hash to judge it, it is not trusted (gdown would skip an existing output).
    (tmp_path / "b.bin.part").write_bytes(b"truncated")
    assert download(link, dest=tmp_path / "b.bin", progress=False).read_bytes() == fake_gdown.data
    assert len(fake_gdown.calls) == 1


def test_gdrive_failures_are_download_errors_naming_link_and_fix(fake_gdown, tmp_path):
    import gdown.exceptions
    import requests

    link = f"https://drive.google.com/file/d/{DRIVE_ID}/view"
    fake_gdown.error = gdown.exceptions.FileURLRetrievalError(
        "Failed to retrieve file url:\n\n\tToo many users have viewed or downloaded this file recently.\n"
        "\n\tYou may still be able to access the file from the browser:\n\n\t...\n\nbut Gdown can't.")
    with pytest.raises(DownloadError, match="Too many users") as err:
        download(link, dest=tmp_path / "gone.bin", retries=1, progress=False)
    message = str(err.value)
    assert link in message and str(tmp_path / "gone.bin") in message and "browser" in message
    assert isinstance(err.value.__cause__, gdown.exceptions.FileURLRetrievalError)
    assert not (tmp_path / "gone.bin").exists()

    fake_gdown.error = requests.exceptions.ConnectTimeout("connect timed out")
    with pytest.raises(DownloadError, match=r"timed out after 2 attempt") as err:
        download(link, dest=tmp_path / "slow.bin", timeout=3, retries=2, progress=False)
    assert link in str(err.value) and "timeout=3" in str(err.value)

    fake_gdown.error = requests.exceptions.HTTPError("403 Client Error: Forbidden")
    with pytest.raises(DownloadError, match="403"):
        download(link, dest=tmp_path / "private.bin", progress=False)


def test_gdrive_offline_never_calls_gdown(fake_gdown, tmp_path, monkeypatch):
    link = f"https://drive.google.com/file/d/{DRIVE_ID}/view"
    path = download(link, sha256=_sha(fake_gdown.data), progress=False)
    monkeypatch.setenv("GF_OFFLINE", "1")
    assert download(link, sha256=_sha(fake_gdown.data)) == path
    with pytest.raises(OfflineError) as err:
        download("https://drive.google.com/file/d/OTHER/view")
    assert "GF_OFFLINE" in str(err.value)
    assert len(fake_gdown.calls) == 1


def test_importing_download_does_not_import_gdown():
    import subprocess
    import sys

    code = "import sys, gf.common.download; print([m for m in ('gdown', 'requests') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ hf://


def test_parse_hf_url():
    loc = parse_hf_url("hf://my-org/glance-focus/star/sub/ckpt.pth@v1.0")
    assert (loc.repo_id, loc.filename, loc.revision, loc.repo_type) == (
        "my-org/glance-focus", "star/sub/ckpt.pth", "v1.0", "model")
    assert parse_hf_url("hf://org/repo/file.bin").revision is None
    ds = parse_hf_url("hf://datasets/org/feats/star/x.h5@abc123")
    assert (ds.repo_id, ds.filename, ds.revision, ds.repo_type) == ("org/feats", "star/x.h5", "abc123", "dataset")
    for bad in ("hf://org/repo", "hf://org//file.bin", "hf://org/repo/file.bin@", "hf://org/repo/../x"):
        with pytest.raises(InvalidURLError):
            parse_hf_url(bad)


def test_hf_offline_error_names_url_and_fix(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    url = "hf://gf-test-org/no-such-repo/star/ckpt.pth@v1"
    with pytest.raises(OfflineError) as err:
        download(url, offline=True)
    message = str(err.value)
    assert url in message and "hf download gf-test-org/no-such-repo star/ckpt.pth --revision v1" in message


def test_hf_download_passes_location_verifies_and_copies(tmp_path, fake_hub):
    hub_file, calls = fake_hub
    got = download("hf://org/repo/star/ckpt.pth@v2", sha256=_sha(b"weights"))
    assert got == hub_file
    assert calls[-1] == {"repo_id": "org/repo", "filename": "star/ckpt.pth", "revision": "v2",
                         "repo_type": "model", "local_files_only": False}

    copied = download("hf://org/repo/star/ckpt.pth@v2", dest=tmp_path / "mine.pth", offline=True)
    assert copied.read_bytes() == b"weights" and calls[-1]["local_files_only"] is True

    with pytest.raises(ChecksumError, match="pin the commit"):
        download("hf://org/repo/star/ckpt.pth", sha256=_sha(b"other"), dest=tmp_path / "no.pth")
    assert not (tmp_path / "no.pth").exists()
    assert hub_file.exists()  # the Hub's own cache is not ours to delete


def test_gf_download_command_verifies_and_reports_the_hash(tmp_path, capsys):
    import hashlib

    from gf.cli import main as gf_main

    src = tmp_path / "weights.bin"
    src.write_bytes(b"gf" * 1000)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "out" / "weights.bin"
    assert gf_main(["download", src.as_uri(), "--sha256", digest, "--dest", str(dest), "--quiet"]) == 0
    assert dest.read_bytes() == src.read_bytes() and digest in capsys.readouterr().out
    assert gf_main(["download", src.as_uri(), "--sha256", "0" * 64, "--dest", str(tmp_path / "bad.bin"),
                    "--quiet"]) == ChecksumError.exit_code == 6
    assert not (tmp_path / "bad.bin").exists()
