"""What the fleet sees of one gate: its events, wipe attestations and status, as they arrive.

The demo and the soak both watch their gate through this, from a thread of its own. Events are kept
once per ``event_id`` (a redelivery counts as a duplicate), so "every published event arrived" is a
question about ids, not about counts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from edge.messaging.client import MqttClient
from edge.messaging.envelope import display_json
from edge.messaging.settings import MqttConfig
from edge.messaging.topics import Topics

Body = dict[str, Any]


class GateWatch:
    def __init__(self, mqtt: MqttConfig, gate: str, client_id: str, *,
                 on_event: Callable[[Body], None] | None = None,
                 on_wipe: Callable[[Body], None] | None = None) -> None:
        self.topics = Topics.from_config(gate, mqtt)
        self._client = MqttClient(mqtt, client_id,
                                  subscriptions=[self.topics.events, self.topics.wipe, self.topics.status])
        self._on_event = on_event
        self._on_wipe = on_wipe
        self._lock = threading.Lock()
        self._events: list[Body] = []
        self._ids: set[str] = set()
        self.duplicates = 0
        self._wipes: list[Body] = []
        self._status: Body = {}
        self.degraded_periods = 0  # times the status went to camera "degraded"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"watch-{gate}", daemon=True)

    def start(self, timeout: float = 10.0) -> GateWatch:
        self._client.start()
        if not self._client.wait_connected(timeout):
            raise RuntimeError(f"{self._client.client_id}: cannot connect to the broker")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.stop()

    def carry_over(self, earlier: GateWatch) -> None:
        """Take what an earlier watch of the same gate saw, as if this one had been watching all along
        (a watch that had to make way for another connection under the same identity)."""
        with self._lock:
            self._events[:0] = earlier.events
            self._ids |= {e["event_id"] for e in earlier.events if "event_id" in e}
            self._wipes[:0] = earlier.wipes
            self.duplicates += earlier.duplicates

    # ------------------------------------------------------------------ what was seen
    @property
    def events(self) -> list[Body]:
        """Every distinct event, in arrival order."""
        with self._lock:
            return list(self._events)

    @property
    def wipes(self) -> list[Body]:
        with self._lock:
            return list(self._wipes)

    @property
    def status(self) -> Body:
        """The newest status message (retained, so the gate's current one from the start)."""
        with self._lock:
            return dict(self._status)

    @property
    def gallery_state(self) -> str | None:
        return (self.status.get("gallery") or {}).get("state")

    def received(self, event_ids: Iterable[str]) -> bool:
        """Whether every one of ``event_ids`` has arrived."""
        with self._lock:
            return all(i in self._ids for i in event_ids)

    def received_count(self) -> int:
        with self._lock:
            return len(self._ids)

    # ------------------------------------------------------------------ the thread
    def _loop(self) -> None:
        while not self._stop.is_set():
            msg = self._client.get(0.1)
            if msg is None or not msg.payload:
                continue
            try:
                body = display_json(msg.payload)  # events and wipes come signed: shown, not verified
            except ValueError:
                continue
            if not isinstance(body, dict):
                continue
            if msg.topic == self.topics.events:
                self._event(body)
            elif msg.topic == self.topics.wipe:
                with self._lock:
                    self._wipes.append(body)
                if self._on_wipe is not None:
                    self._on_wipe(body)
            elif msg.topic == self.topics.status and body.get("online"):
                with self._lock:
                    if body.get("camera") == "degraded" and self._status.get("camera") != "degraded":
                        self.degraded_periods += 1
                    self._status = body

    def _event(self, body: Body) -> None:
        event_id = str(body.get("event_id"))
        with self._lock:
            if event_id in self._ids:
                self.duplicates += 1
                return
            self._ids.add(event_id)
            self._events.append(body)
        if self._on_event is not None:
            self._on_event(body)
