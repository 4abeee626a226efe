"""What the gate says about itself: the retained status, telemetry, and systemd's STATUS line.

Built from counters and states only: no image, template or name can reach these messages.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from edge import __version__
from edge.camera.base import FrameSource
from edge.core.decide import Decision, Outcome
from edge.daemon.flight_session import FlightSession
from edge.daemon.gallery_loader import GalleryProgress, LiveGallery
from edge.daemon.metrics import GateMetrics, percentiles
from edge.inference.onnx_runtime import FaceModels
from edge.messaging.schemas import (
    Event,
    GalleryState,
    GallerySummary,
    LatencySummary,
    Status,
    Telemetry,
    TelemetryCounters,
)


@dataclass(frozen=True)
class GateView:
    """The parts of a running gate that reports read."""

    gate_id: str
    session: FlightSession
    live: LiveGallery | None
    progress: GalleryProgress
    source: FrameSource
    metrics: GateMetrics
    paused: bool
    config_version: int
    broker: str  # connected, connecting, or unreachable (with the reason)
    online_since: datetime | None = None  # when the current broker connection was first seen up
    last_event: tuple[datetime, str] | None = None  # when the last decision was made, and its outcome
    broker_address: str | None = None  # host:port of the broker the client is on (or trying)


def gallery_summary(v: GateView) -> GallerySummary:
    state = v.session.state
    if state is GalleryState.LIVE and v.live is not None:
        g = v.live
        return GallerySummary(flight_id=g.flight_id, gallery_version=g.version, state=state, entries=g.entries,
                              loaded=g.entries, expires_at=g.expires_at)
    if state is GalleryState.LOADING:
        p = v.progress
        return GallerySummary(flight_id=p.flight_id, gallery_version=p.version, state=state, entries=p.total,
                              loaded=p.done)
    return GallerySummary(flight_id=v.session.flight, state=state)


def status(v: GateView, models: FaceModels, outbox_depth: int | None = None) -> Status:
    model_ids = {m.spec.name: m.spec.sha256[:16] for m in (models.detector_model, models.embedder_model)}
    return Status(gate=v.gate_id, online=True, software_version=__version__, models=model_ids,
                  config_version=v.config_version, gallery=gallery_summary(v), camera=v.source.health.value,
                  paused=v.paused, broker=v.broker[:300], broker_address=v.broker_address,
                  online_since=v.online_since if v.broker == "connected" else None, outbox_depth=outbox_depth,
                  last_event_at=v.last_event[0] if v.last_event else None,
                  last_outcome=v.last_event[1] if v.last_event else None)


def telemetry(v: GateView, interval_s: float, link_counters: dict[str, int]) -> Telemetry:
    m = v.metrics
    o = m.outcomes
    p50, p95 = percentiles(m.latency_ms)
    counters = TelemetryCounters(
        transactions=m.transactions, matches=o["match"], non_matches=o["no_match"],
        failures_to_acquire=o["failure_to_acquire"], timeouts=o["timeout"], opt_outs=o["opt_out"],
        frames_dropped=v.source.stats.dropped, frames_in=m.frames, frames_analysed=m.frames_analysed,
        **{k: n for k, n in link_counters.items() if k in TelemetryCounters.model_fields},
    )
    return Telemetry(gate=v.gate_id, interval_s=interval_s, counters=counters,
                     latency_ms=LatencySummary(p50=p50, p95=p95, count=len(m.latency_ms)),
                     camera=v.source.health.value, **m.telemetry_fields())


def systemd_line(v: GateView) -> str:
    """One line in plain words for `systemctl status`."""
    state = v.session.state
    if state is GalleryState.LIVE and v.live is not None:
        gallery = f"flight {v.live.flight_id} ({v.live.entries} travellers)"
    elif state is GalleryState.LOADING:
        p = v.progress
        gallery = f"loading the gallery of flight {p.flight_id}: {p.done}/{p.total}"
    else:
        gallery = f"no gallery ({state.value})"
    doing = "paused" if v.paused else "boarding" if state is GalleryState.LIVE else "idle"
    return (f"{doing}: {gallery}; camera {v.source.health.value}; broker {v.broker}; "
            f"{v.metrics.transactions} transactions")


# --------------------------------------------------------------------------- decision events
def _utc(mono: float) -> datetime:
    """A monotonic timestamp as wall-clock UTC (events carry wall time, the core works in monotonic)."""
    return datetime.now(timezone.utc) - timedelta(seconds=time.monotonic() - mono)


def _score(value: float | None) -> float | None:
    return None if value is None else round(max(-1.0, min(1.0, value)), 4)


def decision_event(gate_id: str, config_version: int, live: LiveGallery | None, d: Decision,
                   stages_ms: dict[str, float]) -> tuple[Event, float]:
    """The event for a decision and its total latency (first usable frame to now), in ms."""
    started = d.first_usable_at if d.first_usable_at is not None else d.started_at
    latency = {k: round(v, 2) for k, v in stages_ms.items()}
    total = (time.monotonic() - started) * 1e3
    latency["total"] = round(total, 2)
    event = Event(gate=gate_id, flight_id=live.flight_id if live else None, transaction_id=uuid.uuid4().hex[:20],
                  outcome=d.outcome, matched_id=d.entry_id, score=_score(d.score),
                  runner_up_score=_score(d.runner_up), frames_used=d.frames_used, latency_ms=latency,
                  started_at=_utc(d.started_at), decided_at=_utc(d.decided_at), config_version=config_version,
                  gallery_version=live.version if live else None)
    return event, total


def opt_out_event(gate_id: str, config_version: int, live: LiveGallery | None, flight: str | None) -> Event:
    now = datetime.now(timezone.utc)
    return Event(gate=gate_id, flight_id=live.flight_id if live else flight, transaction_id=uuid.uuid4().hex[:20],
                 outcome=Outcome.OPT_OUT, started_at=now, decided_at=now, config_version=config_version,
                 gallery_version=live.version if live else None)
