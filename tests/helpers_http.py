"""Local HTTP servers for download tests: scripted responses, recorded requests.

Why: nothing in gf's test environment may reach the internet, yet the download code's
hard parts (resume with Range, servers that drop connections or ignore Range, servers
that never answer) only show up against a real socket.
These servers listen on 127.0.0.1 only, stop by themselves after ``lifetime`` seconds
if a test forgets them, and join their threads on exit.
"""
from __future__ import annotations

import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Union


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
    chunk_delay: seconds slept between 32 KiB chunks (to make transfers overlap).
    """

    data: bytes
    honor_range: bool = True
    drop_first: int = 0
    drop_after: int = 0
    chunk_delay: float = 0.0
    content_type: str = "application/octet-stream"
    statuses: List[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, handler: "_Handler") -> None:
        total = len(self.data)
        start, status = 0, 200
        wanted = handler.headers.get("Range")
        if wanted and self.honor_range:
            match = re.fullmatch(r"bytes=(\d+)-", wanted.strip())
            start = int(match.group(1)) if match else 0
            if start >= total:
                self._record(416)
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
        self._record(status)
        handler.send_response(status)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(body)))
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

    def _record(self, status: int) -> None:
        with self._lock:
            self.statuses.append(status)


Route = Union[ServedFile, Callable[["_Handler"], None]]


class _Handler(BaseHTTPRequestHandler):
    timeout = 5  # a stuck client cannot keep a handler thread alive for long

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        owner: LocalHTTPServer = self.server.owner  # type: ignore[attr-defined]
        parts = urllib.parse.urlsplit(self.path)
        owner._record(RecordedRequest("GET", parts.path, {k.lower(): v for k, v in self.headers.items()}))
        route = owner.routes.get(parts.path)
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
