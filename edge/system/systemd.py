"""systemd's notify protocol in the standard library (sd_notify(3)), and a frame-loop watchdog.

Every function is a no-op returning False when the process was not started by systemd with a
notify socket, so the daemon calls them unconditionally.

The watchdog pings only while the frame loop proves progress: the loop calls
:meth:`Watchdog.beat` for every frame it handles, the main loop calls :meth:`Watchdog.tick`
often, and a tick pings only when the last beat is fresh. When the frame loop hangs the pings
stop, and systemd kills and restarts the service after WatchdogSec.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends state lines to $NOTIFY_SOCKET (path, or abstract name starting with '@')."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        raw = env.get("NOTIFY_SOCKET", "")
        self.address: str | bytes | None
        if not raw:
            self.address = None
        elif raw.startswith("@"):
            self.address = b"\0" + raw[1:].encode()  # Linux abstract namespace
        elif raw.startswith("/"):
            self.address = raw
        else:
            log.warning("ignoring NOTIFY_SOCKET=%r: neither a path nor an abstract name", raw)
            self.address = None
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines as one datagram; False when disabled or the send failed."""
        if self.address is None:
            return False
        payload = "\n".join(assignments).encode()
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(payload, self.address)
                return True
            except OSError as exc:
                # systemd gone or socket unreachable: never worth crashing the daemon over.
                log.debug("sd_notify failed: %s", exc)
                self._close_locked()
                return False

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


_default: Notifier | None = None
_default_lock = threading.Lock()


def default_notifier() -> Notifier:
    global _default
    with _default_lock:
        if _default is None:
            _default = Notifier()
        return _default


def _clean(text: str) -> str:
    # One line: a newline would start a new assignment in the datagram.
    return " ".join(text.split())


def ready(status_text: str | None = None) -> bool:
    """READY=1: models warm and the camera delivering frames."""
    lines = ["READY=1"] + ([f"STATUS={_clean(status_text)}"] if status_text else [])
    return default_notifier().notify(*lines, f"MAINPID={os.getpid()}")


def status(text: str) -> bool:
    """A line a person reads in `systemctl status`."""
    return default_notifier().notify(f"STATUS={_clean(text)}")


def watchdog() -> bool:
    return default_notifier().notify("WATCHDOG=1")


def stopping(status_text: str | None = None) -> bool:
    lines = ["STOPPING=1"] + ([f"STATUS={_clean(status_text)}"] if status_text else [])
    return default_notifier().notify(*lines)


def reloading() -> bool:
    """RELOADING=1 (send ready() again when done); MONOTONIC_USEC is required by newer systemd."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return default_notifier().notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def extend_timeout(seconds: float) -> bool:
    """Ask for more start/stop time (e.g. a slow first TensorRT engine build)."""
    return default_notifier().notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """WatchdogSec in seconds when systemd expects pings from this process, else None."""
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (we were forked or exec'd by it)
    return usec / 1_000_000


class Watchdog:
    """Pings systemd every ``interval/2`` while the heartbeat is fresh.

    ``stale_after`` is how old the last beat may be; it defaults to the capture's stall timeout
    the daemon passes, or half the watchdog interval. Thread-safe: beat() from the frame loop,
    tick() from the main loop (they may be the same thread).
    """

    def __init__(
        self,
        stale_after: float | None = None,
        interval: float | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.monotonic,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.interval = interval if interval is not None else watchdog_interval(env)
        self.notifier = notifier if notifier is not None else default_notifier()
        default_stale = self.interval / 2 if self.interval else 10.0
        self.stale_after = stale_after if stale_after is not None else default_stale
        self._clock = clock
        self._last_beat: float | None = None
        self._last_ping: float | None = None
        self._stalled = False
        self.pings = 0

    @property
    def enabled(self) -> bool:
        return self.interval is not None and self.notifier.enabled

    def beat(self, at: float | None = None) -> None:
        """The frame loop made progress (a frame handled, or an idle wait that returned)."""
        self._last_beat = self._clock() if at is None else at

    def heartbeat_age(self) -> float | None:
        return None if self._last_beat is None else self._clock() - self._last_beat

    def fresh(self) -> bool:
        age = self.heartbeat_age()
        return age is not None and age <= self.stale_after

    def tick(self) -> bool:
        """Call often (at least every interval/2); True when a ping was sent."""
        if not self.enabled or self.interval is None:
            return False
        if not self.fresh():
            if not self._stalled and self._last_beat is not None:
                self._stalled = True
                age = self.heartbeat_age() or 0.0
                log.error("frame loop made no progress for %.1f s: watchdog pings stopped", age)
                self.notifier.notify(f"STATUS=frame loop stalled for {age:.0f} s; expecting a restart")
            return False
        self._stalled = False
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < self.interval / 2:
            return False
        if self.notifier.notify("WATCHDOG=1"):
            self._last_ping = now
            self.pings += 1
            return True
        return False
