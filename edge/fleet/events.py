"""`gate-edge fleet events --follow`: the gates' decisions as they come, one row (or JSON line) each.

Only the event topics are read: an event holds an outcome, scores, timings and ids, never an image
or a template, and the tool subscribes to nothing that carries a gallery.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from edge.fleet.connection import FleetLink
from edge.messaging.settings import MqttConfig
from edge.messaging.topics import FleetTopics, Topics

# What a row shows, and what `--json` prints, of each event: nothing else of it leaves the tool.
EVENT_FIELDS = ("gate", "seq", "flight_id", "transaction_id", "outcome", "matched_id", "score", "runner_up_score",
                "frames_used", "latency_ms", "decided_at", "config_version", "gallery_version")


def event_filters(topics: FleetTopics, gates: Sequence[str] | None, mqtt: MqttConfig) -> list[str]:
    """Every gate's events, or only those of ``gates``."""
    if not gates:
        return [topics.every_gate("events")]
    return [Topics.from_config(g, mqtt).events for g in gates]


def shown(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of an event that the tool shows (every key listed in EVENT_FIELDS, nothing more)."""
    return {k: body[k] for k in EVENT_FIELDS if k in body}


def follow(link: FleetLink, on_event: Callable[[dict[str, Any]], None], *, count: int | None = None,
           seconds: float | None = None) -> int:
    """Call ``on_event`` for each event until ``count`` events or ``seconds`` (forever when neither);
    returns how many were shown."""
    n = 0
    end = None if seconds is None else time.monotonic() + seconds
    while count is None or n < count:
        left = 1.0 if end is None else end - time.monotonic()
        if left <= 0:
            break
        m = link.receive(min(left, 1.0))
        if m is None or m.body is None or not m.topic.endswith("/events"):
            continue
        on_event(shown(m.body))
        n += 1
    return n
