"""The aiming view's HTTP side: the newest analysed frame, and a small threaded server for the page.

Frames go nowhere but the page: the newest JPEG is held in memory only (the one before it is zeroed
when it is replaced, and the last one when the view stops), nothing is written to disk, every
answer forbids caching, and the page is served only to a ``Host`` naming the address it listens on
(a web page elsewhere that points a DNS name at 127.0.0.1 gets nothing: no DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from edge.aim.page import CSS, HTML, JS

log = logging.getLogger("edge.aim")

LONG_POLL_S = 2.0  # a page asking for a newer frame waits at most this long for one
NO_STORE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}


@dataclass
class Shown:
    """One analysed frame as the page gets it: the JPEG and what was found in it."""

    seq: int
    jpeg: np.ndarray  # the encoded image (cv2.imencode's buffer): zeroed when replaced
    info: dict[str, Any]


class LatestFrame:
    """The newest analysed frame, handed from the analysis thread to the page's requests."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shown: Shown | None = None
        self.closed = False

    def put(self, jpeg: np.ndarray, info: dict[str, Any]) -> int:
        with self._cond:
            old, seq = self._shown, (self._shown.seq + 1 if self._shown else 1)
            self._shown = Shown(seq, jpeg, {**info, "seq": seq})
            self._cond.notify_all()
        if old is not None:
            old.jpeg.fill(0)
        return seq

    def newer_than(self, seq: int, timeout: float) -> tuple[bytes, dict[str, Any]] | None:
        """A copy of the newest frame once it is newer than ``seq`` (waits up to ``timeout``), or None."""
        with self._cond:
            self._cond.wait_for(lambda: self.closed or (self._shown is not None and self._shown.seq > seq), timeout)
            if self.closed or self._shown is None or self._shown.seq <= seq:
                return None
            return self._shown.jpeg.tobytes(), dict(self._shown.info)

    def close(self) -> None:
        with self._cond:
            self.closed = True
            if self._shown is not None:
                self._shown.jpeg.fill(0)
                self._shown = None
            self._cond.notify_all()


class AimServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: str, port: int, latest: LatestFrame, state: Callable[[], dict[str, Any]]) -> None:
        if ":" in address:
            self.address_family = socket.AF_INET6
        super().__init__((address, port), _Handler)
        self.latest, self.state = latest, state
        self.bound_port = int(self.server_address[1])
        self.loopback = ipaddress.ip_address(address).is_loopback
        host = f"[{address}]" if ":" in address else address
        self.url = f"http://{host}:{self.bound_port}/"
        names = {host, "localhost", "127.0.0.1", "[::1]"} if self.loopback else set()
        self.allowed_hosts = {f"{n}:{self.bound_port}" for n in names}


class _Handler(BaseHTTPRequestHandler):
    server: AimServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        # Loopback: only a Host naming this very listener (no DNS rebinding). An address set on purpose
        # to something else is reached by whatever name the installer uses.
        if self.server.allowed_hosts and self.headers.get("Host", "") not in self.server.allowed_hosts:
            self._send(HTTPStatus.MISDIRECTED_REQUEST, b"wrong host\n", "text/plain")
            return
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, HTML.encode(), "text/html; charset=utf-8")
        elif url.path == "/aim.js":
            self._send(HTTPStatus.OK, JS.encode(), "text/javascript; charset=utf-8")
        elif url.path == "/aim.css":
            self._send(HTTPStatus.OK, CSS.encode(), "text/css; charset=utf-8")
        elif url.path == "/frame":
            self._frame(url.query)
        elif url.path == "/faces.json":
            self._faces()
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _frame(self, query: str) -> None:
        try:
            after = int(parse_qs(query).get("after", ["0"])[0])
        except ValueError:
            after = 0
        got = self.server.latest.newer_than(after, LONG_POLL_S)
        if self.server.latest.closed:
            self._send(HTTPStatus.GONE, b"the aiming view has stopped\n", "text/plain")
        elif got is None:
            self._send(HTTPStatus.NO_CONTENT, b"", None, {"X-Aim-State": json.dumps(self.server.state())})
        else:
            jpeg, info = got
            self._send(HTTPStatus.OK, jpeg, "image/jpeg", {"X-Aim-Frame": json.dumps(info)})

    def _faces(self) -> None:
        """What was found in the newest frame, without the picture (for scripts and tests)."""
        got = self.server.latest.newer_than(-1, 0.0)
        body = {"state": self.server.state(), "frame": got[1] if got else None}
        self._send(HTTPStatus.OK, json.dumps(body).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, ctype: str | None, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in {**NO_STORE, **(extra or {})}.items():
            self.send_header(k, v)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
