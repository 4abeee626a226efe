"""A real headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages ending in a NUL byte, commands on fd 3, answers on fd 4), so a test can wait for what
the page really did (a script's ``document.body.dataset``), not for a virtual-time budget.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    """Chromium's path; skipped locally with the reason, a failure in CI (make test installs it)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (make test installs it: apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium; make test installs it)")


def _on_fds_3_and_4(read_end: int, write_end: int) -> None:
    # Out of the way first (F_DUPFD: lowest free fd >= 10), so that neither dup2 clobbers the other.
    r, w = fcntl.fcntl(read_end, fcntl.F_DUPFD, 10), fcntl.fcntl(write_end, fcntl.F_DUPFD, 10)
    os.dup2(r, 3)
    os.dup2(w, 4)


class Browser:
    """One headless Chromium with an empty profile of its own, and one page (tab) in it."""

    def __init__(self, profile: Path, width: int = 900, height: int = 900) -> None:
        profile.mkdir(parents=True)
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4.
        self.proc = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            pass_fds=(3, 4),  # kept open once _on_fds_3_and_4 has put the pipes there
            preexec_fn=lambda: _on_fds_3_and_4(to_chrome_r, from_chrome_w),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._buffer = b""
        self._lock = threading.Lock()
        self.session = ""
        self.size = (width, height)

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True,
             timeout: float = 60.0) -> dict[str, Any]:
        """Send one command and return its result (raises on a protocol error)."""
        with self._lock:
            self._next_id += 1
            msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
            if session and self.session:
                msg["sessionId"] = self.session
            os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
            deadline = time.monotonic() + timeout
            while True:
                answer = self._read(deadline)
                if answer.get("id") == msg["id"]:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    result: dict[str, Any] = answer.get("result", {})
                    return result

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(raw)
        return parsed

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        w, h = self.size
        self.call("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1,
                                                         "mobile": False})
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"].get("value")

    def wait(self, expression: str, timeout: float, what: str) -> Any:
        """Poll a script expression in the page until it is truthy (the page's own doing)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.1)

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", session=False, timeout=10)
        except Exception:
            self.proc.kill()
        try:
            self.proc.wait(30)
        finally:
            os.close(self._to_chrome)
            os.close(self._from_chrome)


def with_browser(profile: Path, body: Callable[[Browser], None]) -> None:
    b = Browser(profile)
    try:
        body(b)
    finally:
        b.close()
