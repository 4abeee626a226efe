from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.notify_socket import NotifySocket  # shared with tests/daemon

import edge.system.systemd as sd


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    """A fake systemd notify socket, with NOTIFY_SOCKET and WATCHDOG_USEC (10 s) set for this
    process and edge.system.systemd's default notifier reset to pick them up."""
    ns = NotifySocket(tmp_path)
    for key, value in ns.env(watchdog_usec=10_000_000).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setattr(sd, "_default", None)
    yield ns
    sd.default_notifier().close()
    monkeypatch.setattr(sd, "_default", None)
    ns.close()
