"""`gate-edge fleet gates`: one row per gate, from the retained status and config report of each."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from edge.fleet.connection import FleetLink, Received
from edge.messaging.topics import FleetTopics


@dataclass(frozen=True)
class GateRow:
    """What the fleet knows of one gate, from its retained messages only."""

    gate: str
    online: bool | None  # None: a config report but no status yet
    since: str | None  # online: since the current connection; offline: the last status's time
    software: str | None
    flight: str | None
    gallery: str | None  # state, and "entries" or "loaded/entries" while loading
    config_version: int | None  # running, as the status says
    config_state: str | None  # the last report: applied, rejected, restart_required (and its version)
    camera: str | None
    broker: str | None
    outbox: int | None
    last_event: str | None  # outcome at time

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status_filters(topics: FleetTopics) -> list[str]:
    """What the gates table reads: every gate's retained status and config report."""
    return [topics.every_gate("status"), topics.every_gate("config_reported")]


def _time(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%SZ")
    except ValueError:
        return value[:40]


# Bodies are shown as received (a gate of another version may add or lack fields): every field is
# read for its type, and anything else shows as absent.
def _text(d: dict[str, Any], key: str) -> str | None:
    v = d.get(key)
    return v[:300] if isinstance(v, str) else None


def _number(d: dict[str, Any], key: str) -> int | None:
    v = d.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _mapping(d: dict[str, Any], key: str) -> dict[str, Any]:
    v = d.get(key)
    return v if isinstance(v, dict) else {}


def _gallery(g: dict[str, Any]) -> tuple[str | None, str | None]:
    if not g:
        return None, None
    state = _text(g, "state") or "none"
    entries = _number(g, "entries") or 0
    if state == "loading":
        state = f"loading {_number(g, 'loaded') or 0}/{entries}"
    elif entries:
        state = f"{state} ({entries})"
    return _text(g, "flight_id"), state


def _report(r: dict[str, Any], running: int | None) -> str | None:
    if not r:
        return None
    status, version = _text(r, "status"), _number(r, "version")
    if status == "restart_required" and running is not None and running == version:
        return f"applied v{running} (at a restart)"  # the gate restarted with it since it reported
    errors = r.get("errors")
    count = len(errors) if isinstance(errors, list) else 0
    extra = f", {count} error(s)" if status == "rejected" and count else ""
    return f"{status} v{version}{extra}"


def rows(statuses: dict[str, dict[str, Any]], reports: dict[str, dict[str, Any]]) -> list[GateRow]:
    """The table: every gate that has a retained status or config report, sorted by gate id."""
    out = []
    for gate in sorted(set(statuses) | set(reports)):
        s = statuses.get(gate) or {}
        online = s.get("online") if isinstance(s.get("online"), bool) else None
        flight, gallery = _gallery(_mapping(s, "gallery"))
        last = None
        if _text(s, "last_event_at"):
            last = f"{_text(s, 'last_outcome')} {_time(s['last_event_at'])}"
        out.append(GateRow(
            gate=gate, online=online,
            since=_time(s.get("online_since") if online else s.get("sent_at")),
            software=_text(s, "software_version"), flight=flight, gallery=gallery,
            config_version=_number(s, "config_version"),
            config_state=_report(reports.get(gate) or {}, _number(s, "config_version")),
            camera=_text(s, "camera"), broker=_text(s, "broker"), outbox=_number(s, "outbox_depth"), last_event=last,
        ))
    return out


def latest(messages: list[Received], channel_suffix: str) -> dict[str, dict[str, Any]]:
    """The newest JSON body per gate among ``messages`` on topics ending in ``channel_suffix``."""
    found: dict[str, dict[str, Any]] = {}
    for m in messages:
        if m.gate and m.body is not None and m.topic.endswith(channel_suffix):
            found[m.gate] = m.body
    return found


def snapshot(link: FleetLink) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The retained statuses and config reports of every gate (the link subscribed to both)."""
    seen = link.sync()
    return latest(seen, "/status"), latest(seen, "/config/reported")


def gate_rows(link: FleetLink) -> list[GateRow]:
    return rows(*snapshot(link))
