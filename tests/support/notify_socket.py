"""A stand-in for systemd's notify socket, for tests of READY/STATUS/WATCHDOG without systemd.

Binds an AF_UNIX datagram socket (a path in a temp dir, or an abstract name) and collects the
datagrams a process sends to $NOTIFY_SOCKET. Use :meth:`env` for a subprocess's environment, or
the ``notify_socket`` fixture (tests/system/conftest.py), which also sets the variables for this process.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path


class NotifySocket:
    def __init__(self, directory: Path | None = None, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"gate-edge-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            assert directory is not None, "a directory for the socket file"
            path = Path(directory) / "notify.sock"
            self.sock.bind(str(path))
            self.address = str(path)
        self.received: list[dict[str, str]] = []  # one dict per datagram

    def env(self, watchdog_usec: int | None = None, pid: int | None = None) -> dict[str, str]:
        out = {"NOTIFY_SOCKET": self.address}
        if watchdog_usec is not None:
            out["WATCHDOG_USEC"] = str(watchdog_usec)
            if pid is not None:
                out["WATCHDOG_PID"] = str(pid)
        return out

    def drain(self, timeout: float = 0.0) -> list[dict[str, str]]:
        """Collect every datagram waiting (blocking up to ``timeout`` for the first)."""
        new: list[dict[str, str]] = []
        wait = max(timeout, 0.0)
        while select.select([self.sock], [], [], wait)[0]:
            data = self.sock.recv(65536)
            new.append(dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line))
            wait = 0.0
        self.received.extend(new)
        return new

    def wait_for(self, predicate: Callable[[dict[str, str]], bool], timeout: float) -> dict[str, str] | None:
        """The first datagram (already received or arriving within ``timeout``) matching."""
        for msg in self.received:
            if predicate(msg):
                return msg
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for msg in self.drain(min(left, 0.2)):
                if predicate(msg):
                    return msg
        return None

    def count(self, key: str, value: str = "1") -> int:
        return sum(1 for m in self.received if m.get(key) == value)

    def close(self) -> None:
        self.sock.close()
        if not self.address.startswith("@"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)
