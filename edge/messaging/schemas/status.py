"""What a gate says about itself: the retained status (birth and last will) and telemetry."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from edge.messaging.ids import GATE_ID_PATTERN
from edge.messaging.schemas.base import GalleryState, Message, schema_field, utcnow


# --------------------------------------------------------------------------- status and telemetry
class GallerySummary(Message):
    flight_id: str | None = Field(None, description="the flight assigned to the gate; null: none")
    gallery_version: int | None = Field(None, description="version of the gallery held; null: none")
    state: GalleryState = Field(GalleryState.NONE, description="none, requested, loading or live")
    entries: int = Field(0, description="travellers in the gallery (count)")
    loaded: int = Field(0, description="entries embedded so far while loading")
    expires_at: AwareDatetime | None = Field(None, description="when the gallery is wiped at the latest (ISO 8601, "
                                                               "UTC)")


class Status(Message):
    """Retained on ``status``: the birth (online) after every connect, and the LWT (offline).

    Version 2: ``since`` (which was the send time) became ``online_since`` and ``sent_at``.
    """

    SCHEMA: ClassVar[str] = "gate-edge/status/2"
    schema_: Literal["gate-edge/status/2"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN, description="id of the gate")
    online: bool = Field(description="true: connected (birth, updates); false: stopped or lost (last will)")
    software_version: str | None = Field(None, description="gate-edge version the gate runs")
    models: dict[str, str] = Field(default_factory=dict,
                                   description="model name -> the first 16 hex digits of its file's sha256")
    config_version: int | None = Field(None, description="version of the config in force")
    gallery: GallerySummary | None = Field(None, description="the flight's gallery, as the gate holds it")
    camera: str | None = Field(None, description="camera health: starting, ok, degraded, stopped")
    broker: str | None = Field(None, max_length=300, description="connected, or why the last connection failed "
                                                                 "(as the gate saw it before this one)")
    broker_address: str | None = Field(None, max_length=300, description="host:port of the broker this connection "
                                                                         "is on; it changes when the gate fails over")
    paused: bool | None = Field(None, description="true: an officer paused the gate (no capture until resume)")
    key_id: str | None = Field(None, description="id of the gate's own key, which signs its events and wipes")
    public_key: str | None = Field(None, max_length=512, description="the gate's Ed25519 public key, PEM")
    outbox_depth: int | None = Field(None, ge=0, description="events and attestations stored, not yet "
                                                              "acknowledged by the broker")
    last_event_at: AwareDatetime | None = Field(None, description="when the last decision was made")
    last_outcome: str | None = Field(None, max_length=40, description="the outcome of the last decision")
    online_since: AwareDatetime | None = Field(
        None, description="online: when the gate's current connection to the broker began (the same in every "
                          "status of that connection); absent when offline")
    sent_at: AwareDatetime | None = Field(
        default_factory=utcnow, description="when the gate wrote this status; absent in the last will (offline), "
                                            "which the broker publishes at a moment the gate cannot know")


class LatencySummary(Message):
    p50: float | None = Field(None, description="median, milliseconds; null: no sample")
    p95: float | None = Field(None, description="95th percentile, milliseconds; null: no sample")
    count: int = Field(0, description="samples the percentiles are of (count)")


class TelemetryCounters(Message):
    """Counters since start; ISO/IEC 19795 terms where they apply."""

    transactions: int = Field(0, description="decisions made, every outcome (count)")
    matches: int = Field(0, description="decisions with outcome match (count)")
    non_matches: int = Field(0, description="decisions with outcome no_match (count)")
    failures_to_acquire: int = Field(0, description="a face present but never usable: failure to acquire (count)")
    timeouts: int = Field(0, description="decisions with outcome timeout: no decision within the budget (count)")
    opt_outs: int = Field(0, description="travellers who opted out (count)")
    frames_dropped: int = Field(0, description="camera frames replaced by a newer one before analysis (count)")
    frames_in: int = Field(0, description="frames the gate took from the camera since start")
    frames_analysed: int = Field(0, description="frames analysed for a transaction since start")
    outbox_depth: int = Field(0, description="events and attestations not yet acknowledged by the broker, now "
                                             "(count)")
    outbox_dropped: int = Field(0, description="oldest outbox messages dropped because the outbox was full (count)")
    outbox_refused: int = Field(0, description="outbox messages the broker refused, removed (count)")
    messages_rejected: int = Field(0, description="inbound messages refused, each also on rejected (count)")
    inbound_dropped: int = Field(0, description="inbound messages dropped because the queue was full (count)")


class Telemetry(Message):
    SCHEMA: ClassVar[str] = "gate-edge/telemetry/1"
    schema_: Literal["gate-edge/telemetry/1"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN, description="id of the gate")
    time: AwareDatetime = Field(default_factory=utcnow, description="when the figures were taken (ISO 8601, UTC)")
    interval_s: float = Field(..., gt=0, description="seconds between two telemetry messages")
    counters: TelemetryCounters = Field(description="counters since the gate started")
    latency_ms: LatencySummary = Field(LatencySummary(),
                                       description="decision latency (first usable frame to event), milliseconds")
    camera: str | None = Field(None, description="camera health: starting, ok, degraded, stopped")
    frame_rate_fps: float | None = Field(None, ge=0, description="frames taken per second, last 10 s")
    quality_rejections: dict[str, int] = Field(
        default_factory=dict, description="traveller frames refused by the quality gate since start, by reason")
    stage_latency_ms: dict[str, LatencySummary] = Field(
        default_factory=dict, description="per stage (detect ... search, decide, e2e), in milliseconds")
    rss_bytes: int | None = Field(None, ge=0, description="resident memory of the gate process, bytes")
    cpu_temperature_c: float | None = Field(None, description="hottest readable thermal zone, degrees Celsius")
    uptime_s: float | None = Field(None, ge=0, description="seconds since the gate daemon was built (models loaded)")
