"""What a gate says about itself: the retained status (birth and last will) and telemetry."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from edge.messaging.ids import GATE_ID_PATTERN
from edge.messaging.schemas.base import GalleryState, Message, schema_field, utcnow


# --------------------------------------------------------------------------- status and telemetry
class GallerySummary(Message):
    flight_id: str | None = None
    gallery_version: int | None = None
    state: GalleryState = GalleryState.NONE
    entries: int = 0
    loaded: int = Field(0, description="entries embedded so far while loading")
    expires_at: AwareDatetime | None = None


class Status(Message):
    """Retained on ``status``: the birth (online) after every connect, and the LWT (offline)."""

    SCHEMA: ClassVar[str] = "gate-edge/status/1"
    schema_: Literal["gate-edge/status/1"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    online: bool
    software_version: str | None = None
    models: dict[str, str] = Field(default_factory=dict)
    config_version: int | None = None
    gallery: GallerySummary | None = None
    camera: str | None = Field(None, description="camera health: starting, ok, degraded, stopped")
    broker: str | None = Field(None, max_length=300, description="connected, or why the last connection failed "
                                                                 "(as the gate saw it before this one)")
    paused: bool | None = None
    key_id: str | None = Field(None, description="id of the gate's own key, which signs its events and wipes")
    public_key: str | None = Field(None, max_length=512, description="the gate's Ed25519 public key, PEM")
    since: AwareDatetime = Field(default_factory=utcnow)


class LatencySummary(Message):
    p50: float | None = None
    p95: float | None = None
    count: int = 0


class TelemetryCounters(Message):
    """Counters since start; ISO/IEC 19795 terms where they apply."""

    transactions: int = 0
    matches: int = 0
    non_matches: int = 0
    failures_to_acquire: int = 0
    timeouts: int = 0
    opt_outs: int = 0
    frames_dropped: int = 0
    outbox_depth: int = 0
    outbox_dropped: int = 0
    outbox_refused: int = 0
    messages_rejected: int = 0
    inbound_dropped: int = 0


class Telemetry(Message):
    SCHEMA: ClassVar[str] = "gate-edge/telemetry/1"
    schema_: Literal["gate-edge/telemetry/1"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    time: AwareDatetime = Field(default_factory=utcnow)
    interval_s: float = Field(..., gt=0)
    counters: TelemetryCounters
    latency_ms: LatencySummary = LatencySummary()
    camera: str | None = None
