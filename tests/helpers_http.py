"""Local HTTP servers for download tests: scripted responses, recorded requests.

Why: nothing in gf's test environment may reach the internet, yet the download code's
hard parts (resume with Range, servers that drop connections or ignore Range, servers
that never answer) only show up against a real socket.
These servers listen on 127.0.0.1 only, stop by themselves after ``lifetime`` seconds
if a test forgets them, and join their threads on exit.
"""
from __future__ import annotations

import hashlib
import posixpath
import random
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Union

import pytest


#: ``ServedFile(etag=AUTO)``: an ETag derived from the served bytes.
AUTO = "auto"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: Dict[str, str]  # lower-cased names


@dataclass
class ServedFile:
    """A route that serves ``data``, optionally misbehaving in scripted ways.

    drop_first: for the first N responses, send only ``drop_after`` bytes of the body
    (the Content-Length still announces all of it) and close the connection.
    honor_range: answer ``Range: bytes=n-`` with 206; if False, always 200 from byte 0.
    etag: the ETag sent with every answer; ``AUTO`` (default) derives a strong one from
    ``data``, so assigning new ``data`` (the file changed on the server) changes it;
    None sends none. last_modified: a Last-Modified value to send, or None.
    honor_if_range: evaluate ``If-Range`` as RFC 9110 says (a validator that is not the
    current one gets the whole file, 200); if False, the range is served regardless.
    chunk_delay: seconds slept between 32 KiB chunks (to make transfers overlap).
    statuses and body_bytes: per response, its status and the body bytes actually sent.
    """

    data: bytes
    honor_range: bool = True
    drop_first: int = 0
    drop_after: int = 0
    chunk_delay: float = 0.0
    content_type: str = "application/octet-stream"
    etag: Optional[str] = AUTO
    last_modified: Optional[str] = None
    honor_if_range: bool = True
    statuses: List[int] = field(default_factory=list)
    body_bytes: List[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def current_etag(self) -> Optional[str]:
        if self.etag == AUTO:
            return '"' + hashlib.sha256(self.data).hexdigest()[:20] + '"'
        return self.etag

    def _range_applies(self, handler: "_Handler") -> bool:
        """RFC 9110 13.1.5: with If-Range, the range is served only for the current validator."""
        condition = handler.headers.get("If-Range")
        if condition is None or not self.honor_if_range:
            return True
        return condition in (self.current_etag(), self.last_modified)

    def __call__(self, handler: "_Handler") -> None:
        total = len(self.data)
        start, status = 0, 200
        wanted = handler.headers.get("Range")
        if wanted and self.honor_range and self._range_applies(handler):
            match = re.fullmatch(r"bytes=(\d+)-", wanted.strip())
            start = int(match.group(1)) if match else 0
            if start >= total:
                self._record(416, 0)
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{total}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            status = 206
        body = self.data[start:]
        with self._lock:
            drop = self.drop_first > 0
            if drop:
                self.drop_first -= 1
        sent = min(len(body), self.drop_after) if drop else len(body)
        self._record(status, sent)
        handler.send_response(status)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(body)))
        if self.current_etag() is not None:
            handler.send_header("ETag", self.current_etag())
        if self.last_modified is not None:
            handler.send_header("Last-Modified", self.last_modified)
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        handler.end_headers()
        if drop:
            handler.wfile.write(body[: self.drop_after])
            handler.wfile.flush()
            handler.close_connection = True
            return
        for offset in range(0, len(body), 32 * 1024):
            handler.wfile.write(body[offset: offset + 32 * 1024])
            if self.chunk_delay:
                time.sleep(self.chunk_delay)

    def _record(self, status: int, sent: int) -> None:
        with self._lock:
            self.statuses.append(status)
            self.body_bytes.append(sent)


Route = Union[ServedFile, Callable[["_Handler"], None]]


class _Handler(BaseHTTPRequestHandler):
    timeout = 5  # a stuck client cannot keep a handler thread alive for long

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        owner: LocalHTTPServer = self.server.owner  # type: ignore[attr-defined]
        parts = urllib.parse.urlsplit(self.path)
        owner._record(RecordedRequest("GET", parts.path, {k.lower(): v for k, v in self.headers.items()}))
        route = owner.route_for(parts.path)
        if route is None:
            self.send_error(404, "no such route in the test server")
            return
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away; that is the client's business

    def send_bytes(self, data: bytes, content_type: str = "application/octet-stream",
                   status: int = 200, headers: Optional[Dict[str, str]] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args) -> None:  # noqa: A002
        pass


def _remove_dot_segments(path: str) -> str:
    resolved = posixpath.normpath(path)
    while resolved.startswith("//"):
        resolved = resolved[1:]
    return "/" + resolved.lstrip("/") if not resolved.startswith("/") else resolved


class LocalHTTPServer:
    """``with LocalHTTPServer() as srv: srv.routes["/f"] = ServedFile(b"..."); srv.url("/f")``"""

    def __init__(self, lifetime: float = 60.0):
        self.routes: Dict[str, Route] = {}
        self.requests: List[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self._lifetime = lifetime
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = False  # server_close() joins the handler threads
        self._httpd.timeout = 0.05
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._serve, name="test-http-server", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route_for(self, path: str) -> Optional[Route]:
        """The route for a request path; a route registered with dot segments
        (``/a/../../y.bin``) answers at the path clients send for it (``/y.bin``: requests,
        like curl and browsers, removes dot segments as RFC 3986, 5.2.4 says)."""
        if path in self.routes:
            return self.routes[path]
        for name, route in self.routes.items():
            if _remove_dot_segments(name) == path:
                return route
        return None

    def requests_to(self, path: str) -> List[RecordedRequest]:
        with self._requests_lock:
            return [r for r in self.requests if r.path == path]

    def _record(self, request: RecordedRequest) -> None:
        with self._requests_lock:
            self.requests.append(request)

    def _serve(self) -> None:
        deadline = time.monotonic() + self._lifetime
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._httpd.handle_request()

    def __enter__(self) -> "LocalHTTPServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._httpd.server_close()


class SilentServer:
    """Listens but never accepts: connections complete in the kernel, no byte comes back.

    That is what a hung server looks like to a client: connect succeeds, the response
    never arrives, only the client's own timeout ends the wait.
    """

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}{path}"

    def __enter__(self) -> "SilentServer":
        return self

    def __exit__(self, *exc) -> None:
        self._sock.close()


@pytest.fixture
def server():
    """A :class:`LocalHTTPServer` for one test (import it into the test module to use it)."""
    with LocalHTTPServer(lifetime=60) as srv:
        yield srv


def random_bytes(n: int = 200_000, seed: int = 0) -> bytes:
    """``n`` bytes that no compression or coincidence makes look alike, fixed by ``seed``."""
    return random.Random(seed).getrandbits(8 * n).to_bytes(n, "little")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
