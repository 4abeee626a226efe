"""The life of the client's connection: which broker it is on or tries next, and what that looks like
to the daemon (events to wait on, counters, log lines). No paho here: :mod:`edge.messaging.client`
reports what paho's callbacks saw, and points paho at the address this module hands back.

Fail-over: with several brokers (``mqtt.brokers``: the nodes of a cluster), a connection that ends
or an attempt that fails moves to the next address, round-robin. A broker that drops the gate is
the one most likely gone, and waiting for it would leave events undelivered while another node
could take them; paho's own back-off still spaces the attempts, so a fleet whose brokers are all
down does not hammer them. There is no fail-back: a gate stays on the node that took it until that
connection ends (moving back would end a working connection and its in-flight messages for nothing).

What the next broker keeps of the session depends on the broker: a cluster that shares sessions
resumes them (``session present``); one that does not (ejabberd loses a crashed node's sessions)
starts afresh. Either way the client subscribes again after every connect and paho resends its
unacknowledged QoS 1 messages, and the durable outbox holds the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge.messaging.connect_failures import FailureLog, describe_early_close, describe_exception, describe_refusal
from edge.messaging.settings import MqttConfig
from edge.messaging.wire import ClientStats

Address = tuple[str, int]


class Connection:
    """The connection state the client's paho callbacks report, and the broker to use next.

    Called from paho's network thread only (the waits from any thread).
    """

    def __init__(self, cfg: MqttConfig, stats: ClientStats, logger: logging.Logger,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.addresses: list[Address] = [(a.host, a.port) for a in cfg.addresses]
        self.tls = cfg.tls is not None
        self.stats = stats
        self._log = logger
        self._index = 0
        self._failure_log = FailureLog(logger, ", ".join(f"{h}:{p}" for h, p in self.addresses), clock)
        self._connected = threading.Event()
        self._attempted = threading.Event()  # a connection attempt has ended, either way
        self._refused = False  # the current attempt got a refusing CONNACK
        self.stopping = False
        self.failovers = 0  # moves to another broker after a lost connection or a failed attempt

    # ------------------------------------------------------------------ where
    @property
    def current(self) -> Address:
        """The broker the client is connected to, or trying now."""
        return self.addresses[self._index]

    @property
    def broker(self) -> str:
        host, port = self.current
        return f"{host}:{port}"

    def _next(self) -> Address | None:
        """Move to the next broker; None when there is only one (paho retries it as it is)."""
        if len(self.addresses) < 2:
            return None
        self._index = (self._index + 1) % len(self.addresses)
        self.failovers += 1
        self._log.info("MQTT: trying the next broker, %s", self.broker)
        return self.current

    # ------------------------------------------------------------------ waiting
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def wait_attempt(self, timeout: float) -> bool:
        self._attempted.wait(timeout)
        return self.connected

    # ------------------------------------------------------------------ what paho saw
    def _failed(self, reason: str) -> None:
        # Reason and log line first, the count last: whoever waits on the count sees both.
        self.stats.last_connect_error = reason
        self._failure_log.failed(reason)
        self.stats.connect_failures += 1
        self._attempted.set()

    def up(self, session_present: object) -> None:
        """CONNACK with success."""
        self._failure_log.connected()
        self.stats.connects += 1
        self.stats.last_connect_error = None
        self._connected.set()
        self._attempted.set()
        self._log.info("MQTT connected to %s (session present: %s)", self.broker, session_present)

    def refused(self, code: int, name: str) -> None:
        """CONNACK with a failure code: counted here (paho disconnects next; see :meth:`down`)."""
        self._refused = True
        self._failed(describe_refusal(code, name))

    def down(self, reason: str) -> tuple[bool, Address | None]:
        """The connection (or the attempt) ended. Returns whether an established connection was lost
        (the client tells the app), and the broker to try next (None: the same one)."""
        was = self._connected.is_set()
        self._connected.clear()
        if self.stopping:
            return False, None
        refused, self._refused = self._refused, False
        if was:
            self.stats.disconnects += 1
            self._log.warning("MQTT disconnected from %s: %s; reconnecting with back-off", self.broker, reason)
        elif not refused:  # (a refusal was counted with its CONNACK)
            # Lost before any CONNACK: e.g. the broker ended the TLS session (no client certificate).
            self._failed(describe_early_close(reason, self.tls))
        return was, self._next()

    def attempt_failed(self, exc: BaseException | None) -> Address | None:
        """The TCP/TLS connection could not be made (``exc``: why). Returns the broker to try next."""
        host, port = self.current
        self._failed(describe_exception(exc, host, port, self.tls))
        return self._next()
