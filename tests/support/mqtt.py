"""An MQTT watcher for tests, and quick-reconnect broker settings."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

from edge.messaging.client import MqttClient
from edge.messaging.envelope import display_json
from edge.messaging.settings import MqttConfig
from edge.messaging.wire import Inbound, OutMessage
from support.waiting import wait_for

Body = dict[str, Any]


def fast_mqtt(port: int, **kw: Any) -> MqttConfig:
    """Settings for a test broker on ``port``: quick reconnects (the defaults are for the field)."""
    return MqttConfig(**{"port": port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "keepalive_s": 5, **kw})


def _always(_body: Body) -> bool:
    return True


class Watcher:
    """A plain MQTT client that subscribes to ``filters`` and records everything it receives.

    The constructor returns once the broker acknowledged the subscriptions (SUBACK), so anything
    published afterwards is seen. With ``require_granted=False`` a subscription the broker refuses
    (an ACL) is allowed: ``granted`` then tells whether every one was granted. Safe to use from
    several threads. Also a handy publisher: :meth:`publish` waits for the broker's acknowledgement.

    - :meth:`on` / :meth:`count`: the JSON objects received on a topic so far (other payloads are
      kept in :meth:`raw` only);
    - :meth:`wait`: the first object on a topic that satisfies a predicate, waiting for it;
    - :meth:`wait_latest`: wait until the newest object on a topic satisfies it (e.g. a status).
    """

    def __init__(
        self,
        mqtt: MqttConfig,
        filters: Sequence[str],
        client_id: str = "watcher",
        *,
        timeout: float = 10.0,
        require_granted: bool = True,
    ) -> None:
        self.client = MqttClient(mqtt, client_id, subscriptions=list(filters))
        self._lock = threading.Lock()
        self._raw: list[Inbound] = []
        self._json: list[tuple[str, Body]] = []
        self.client.start()
        assert self.client.wait_connected(timeout), f"watcher {client_id} could not connect: {self.client.stats}"
        self.granted = self.client.wait_subscribed(timeout)
        if require_granted:
            assert self.granted, f"watcher {client_id}: subscriptions not granted within {timeout} s"

    def _drain(self) -> None:
        with self._lock:
            while (m := self.client.get()) is not None:
                self._raw.append(m)
                try:
                    body = display_json(m.payload) if m.payload else None  # signed events unwrapped
                except ValueError:
                    body = None
                if isinstance(body, dict):
                    self._json.append((m.topic, body))

    def raw(self, topic: str | None = None) -> list[Inbound]:
        """Every message received (on ``topic``, or on any), in arrival order, with its properties."""
        self._drain()
        with self._lock:
            return [m for m in self._raw if topic is None or m.topic == topic]

    def on(self, topic: str) -> list[Body]:
        """The JSON objects received on ``topic`` so far, in arrival order."""
        self._drain()
        with self._lock:
            return [b for t, b in self._json if t == topic]

    def count(self, topic: str) -> int:
        return len(self.on(topic))

    def wait(self, topic: str, pred: Callable[[Body], bool] = _always, timeout: float = 20.0,
             what: str | None = None) -> Body:
        """The first object on ``topic`` (already received or arriving) for which ``pred`` holds."""
        return wait_for(lambda: next((b for b in self.on(topic) if pred(b)), None), timeout, what or topic)

    def wait_latest(self, topic: str, pred: Callable[[Body], bool] = _always, timeout: float = 20.0,
                    what: str | None = None) -> Body:
        """Wait until the newest object on ``topic`` satisfies ``pred``; returns it."""

        def newest() -> Body | None:
            got = self.on(topic)
            return got[-1] if got and pred(got[-1]) else None

        return wait_for(newest, timeout, what or topic)

    def publish(self, topic: str, payload: bytes | Body, *, retain: bool = False, response_topic: str | None = None,
                correlation: bytes | None = None, timeout: float = 5.0) -> None:
        """Publish (QoS 1) and wait for the broker's acknowledgement; raises if it refused."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        msg = OutMessage(topic, body, retain=retain, response_topic=response_topic, correlation_data=correlation)
        self.client.publish(msg).wait(timeout)

    def close(self) -> None:
        self.client.stop()
