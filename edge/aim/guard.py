"""Is a flight boarding at this gate? Asked of the broker before the aiming view shows any face.

Two retained messages say so, and either is enough to refuse: the gate's assignment from departure
control (a flight assigned whose boarding has not closed), which the gate's own broker identity may
read, and the gate's status (online with a gallery requested, loading or live), which the fleet
admin's identity may read. A broker that cannot be reached leaves the question open: the aiming
view is then refused too, unless the installer says on the command line that no flight is boarding.
Neither message is verified here: a forgery could only make the view refuse.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from edge.messaging.client import MqttClient
from edge.messaging.envelope import display_json
from edge.messaging.settings import MqttConfig
from edge.messaging.topics import Topics

BOARDING_STATES = frozenset({"requested", "loading", "live"})
RETAINED_GRACE_S = 2.0  # retained messages follow the subscription at once; this is the wait for them


@dataclass(frozen=True)
class Boarding:
    """``boarding`` True: a flight is boarding; False: none; None: could not tell (the reason says why)."""

    boarding: bool | None
    reason: str


def judge(status: Any, assignment: Any, now: datetime) -> Boarding:
    """The verdict from the two retained messages (either may be missing or not an object)."""
    if isinstance(status, dict) and status.get("online") is True:
        gallery = status.get("gallery")
        if isinstance(gallery, dict) and gallery.get("state") in BOARDING_STATES:
            return Boarding(True, f"the gate's status says the gallery of flight {gallery.get('flight_id')} is "
                                  f"{gallery.get('state')}")
    if isinstance(assignment, dict) and assignment.get("flight_id"):
        close = assignment.get("close_time")
        try:
            closes = datetime.fromisoformat(str(close)) if close else None
        except ValueError:
            closes = None  # unreadable: as if it never closed
        if closes is None or closes.tzinfo is None or closes > now:
            return Boarding(True, f"flight {assignment['flight_id']} is assigned to this gate"
                                  + (f" until {close}" if close else ""))
    return Boarding(False, "no flight is assigned to this gate and its status shows no gallery")


def check_boarding(mqtt: MqttConfig, gate_id: str, timeout: float = 10.0,
                   clock: Callable[[], float] = time.monotonic) -> Boarding:
    """Read the gate's retained assignment and status from the broker and :func:`judge` them."""
    topics = Topics.from_config(gate_id, mqtt)
    # Its own client id (the gate's would push the daemon off the broker) and no session left behind.
    client = MqttClient(mqtt.model_copy(update={"session_expiry_s": 0}), f"{gate_id}-aim-{os.getpid()}",
                        subscriptions=[topics.status, topics.assignment])
    seen: dict[str, Any] = {}
    client.start()
    try:
        if not client.wait_connected(timeout):
            why = client.stats.last_connect_error or "no answer"
            return Boarding(None, f"cannot reach the broker at {mqtt.host}:{mqtt.port} ({why})")
        if not client.wait_subscribed(timeout):
            return Boarding(None, "the broker did not confirm the subscription to the gate's status")
        deadline = clock() + RETAINED_GRACE_S
        while clock() < deadline and len(seen) < 2:
            msg = client.get(0.1)
            if msg is None or not msg.payload:
                continue
            try:
                seen[msg.topic] = display_json(msg.payload)
            except ValueError:
                seen[msg.topic] = None
    finally:
        client.stop()
    return judge(seen.get(topics.status), seen.get(topics.assignment), datetime.now(timezone.utc))
