"""Every MQTT message of gate-edge: one versioned pydantic v2 schema each.

Each message carries ``schema`` (e.g. ``"gate-edge/event/1"``): a consumer can tell what it holds
and which version. Inbound messages forbid unknown keys and must name their schema; outbound ones
forbid unknown keys too, so nobody can slip an image or an embedding into an event.

Serialise with :meth:`Message.to_bytes` (aliases, JSON mode); parse inbound ones with
:mod:`edge.messaging.intake`, which turns every failure into a typed rejection.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from edge.core.decide import Outcome
from edge.messaging.ids import GATE_ID_PATTERN, ID_PATTERN, SHA256_PATTERN

# A hard cap on one base64 field whatever the config says; the configured limits are checked in intake.
MAX_B64_CHARS = 48 * 1024 * 1024
MAX_CHUNK_ENTRIES = 100_000
# Config versions are bounded so that one absurd version (10**30 was once stored) cannot lock out every
# later push: a version must be greater than the applied one, and nothing is greater than this.
MAX_CONFIG_VERSION = 2**31 - 1

# "refused": a received gallery the gate could not use (e.g. no photo decodable), wiped all the same.
WipeReason = Literal["flight_close", "command", "expiry", "shutdown", "replaced", "refused"]


class GalleryState(str, enum.Enum):
    """The gallery as the status reports it (the flight session's states)."""

    NONE, REQUESTED, LOADING, LIVE = "none", "requested", "loading", "live"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Message(BaseModel):
    """Base of every message. ``SCHEMA`` is the value of the ``schema`` field."""

    SCHEMA: ClassVar[str] = ""
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def to_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True, exclude_none=False).encode()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class InboundMessage(Message):
    """Inbound messages: intake rejects a payload whose ``schema`` is missing or different
    (constructing one in Python fills it in)."""


def _schema_field(value: str) -> Any:
    return Field(value, alias="schema", description="message schema and version")


# --------------------------------------------------------------------------- assignment
class Assignment(InboundMessage):
    """Retained on ``gate/v1/{gate}/assignment`` by departure control: the flight now boarding."""

    SCHEMA: ClassVar[str] = "gate-edge/assignment/1"
    schema_: Literal["gate-edge/assignment/1"] = _schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    flight_id: str | None = Field(..., pattern=ID_PATTERN, description="null: no flight at this gate")
    departure: AwareDatetime | None = None
    close_time: AwareDatetime | None = None
    issued_at: AwareDatetime

    @model_validator(mode="after")
    def _times(self) -> Assignment:
        if self.departure and self.close_time and self.close_time > self.departure:
            raise ValueError("close_time must not be after departure")
        return self


# --------------------------------------------------------------------------- gallery
class GalleryRequest(Message):
    """Published on ``gallery/request`` with an MQTT v5 response topic and correlation data."""

    SCHEMA: ClassVar[str] = "gate-edge/gallery-request/1"
    schema_: Literal["gate-edge/gallery-request/1"] = _schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    flight_id: str = Field(..., pattern=ID_PATTERN)
    request_id: str = Field(..., pattern=ID_PATTERN, description="also sent as correlation data")
    embedding_model: str
    dim: int = Field(..., ge=1, le=4096)
    accept: list[Literal["template", "photo"]] = ["template", "photo"]
    requested_at: AwareDatetime = Field(default_factory=utcnow)


class GalleryEntry(Message):
    """One enrolled traveller: an opaque id and EITHER a template OR a photo (base64 JPEG/PNG/WebP).

    Only the shape is checked here. The base64 is decoded once, by :mod:`edge.messaging.intake`,
    into buffers that are wiped (base64 length, image type and template values are checked there).
    """

    id: str = Field(..., pattern=ID_PATTERN)
    template: str | None = Field(
        None, max_length=MAX_B64_CHARS, description="base64 of dim float32 little-endian values"
    )
    photo: str | None = Field(None, max_length=MAX_B64_CHARS, description="base64 JPEG, PNG or WebP")

    @model_validator(mode="after")
    def _one_of(self) -> GalleryEntry:
        if (self.template is None) == (self.photo is None):
            raise ValueError("an entry needs exactly one of 'template' or 'photo'")
        return self


class GalleryChunk(InboundMessage):
    """One chunk of a flight gallery on ``gallery/response`` (correlation data = request id)."""

    SCHEMA: ClassVar[str] = "gate-edge/gallery/1"
    schema_: Literal["gate-edge/gallery/1"] = _schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    flight_id: str = Field(..., pattern=ID_PATTERN)
    gallery_version: int = Field(..., ge=0)
    embedding_model: str = Field(..., min_length=1, max_length=128)
    dim: int = Field(..., ge=1, le=4096)
    expires_at: AwareDatetime
    chunk_index: int = Field(..., ge=0)
    chunk_count: int = Field(..., ge=1, le=100_000)
    total_entries: int = Field(..., ge=0)
    entries: list[GalleryEntry] = Field(..., max_length=MAX_CHUNK_ENTRIES)

    @model_validator(mode="after")
    def _consistent(self) -> GalleryChunk:
        if self.chunk_index >= self.chunk_count:
            raise ValueError("chunk_index must be < chunk_count")
        seen: set[str] = set()
        for e in self.entries:
            if e.id in seen:
                raise ValueError(f"duplicate entry id {e.id!r}")
            seen.add(e.id)
        return self


def gallery_digest(chunks: Iterable[bytes], *, prehashed: bool = False) -> str:
    """What wipe attestations report: sha256 over the sha256 of each chunk payload, in chunk order.

    ``chunks`` are the chunk payloads as sent or received, or, with ``prehashed``, each payload's
    sha256 digest already (the gate keeps only those while it assembles, not the payloads).
    """
    h = hashlib.sha256()
    for c in chunks:
        h.update(c if prehashed else hashlib.sha256(c).digest())
    return h.hexdigest()


# --------------------------------------------------------------------------- events and wipes
class Event(Message):
    """One transaction's decision. Carries no image, no embedding, no name."""

    SCHEMA: ClassVar[str] = "gate-edge/event/1"
    schema_: Literal["gate-edge/event/1"] = _schema_field(SCHEMA)
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    seq: int = Field(0, ge=0, description="per gate, strictly increasing; assigned by the outbox")
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    flight_id: str | None = Field(None, pattern=ID_PATTERN)
    transaction_id: str = Field(..., pattern=ID_PATTERN)
    outcome: Outcome
    matched_id: str | None = Field(None, pattern=ID_PATTERN, description="opaque gallery id")
    score: float | None = Field(None, ge=-1.0, le=1.0)
    runner_up_score: float | None = Field(None, ge=-1.0, le=1.0)
    frames_used: int = Field(0, ge=0)
    latency_ms: dict[str, float] = Field(default_factory=dict, description="per stage, and 'total'")
    started_at: AwareDatetime
    decided_at: AwareDatetime
    config_version: int = Field(..., ge=0)
    gallery_version: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _match_has_id(self) -> Event:
        if (self.outcome is Outcome.MATCH) != (self.matched_id is not None):
            raise ValueError("matched_id is set exactly when outcome is 'match'")
        return self


class WipeAttestation(Message):
    """Proof of deletion of a gallery: what, why, when, and the digest of what was received."""

    SCHEMA: ClassVar[str] = "gate-edge/wipe/1"
    schema_: Literal["gate-edge/wipe/1"] = _schema_field(SCHEMA)
    attestation_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    flight_id: str | None = Field(None, pattern=ID_PATTERN)
    gallery_version: int | None = Field(None, ge=0)
    entries_wiped: int = Field(..., ge=0)
    reason: WipeReason
    wiped_at: AwareDatetime = Field(default_factory=utcnow)
    received_sha256: str | None = Field(None, pattern=SHA256_PATTERN)


# --------------------------------------------------------------------------- config
class ConfigDesired(InboundMessage):
    """Retained on ``fleet/v1/config`` (fleet-wide) or ``gate/v1/{gate}/config/desired`` (override)."""

    SCHEMA: ClassVar[str] = "gate-edge/config-desired/1"
    schema_: Literal["gate-edge/config-desired/1"] = _schema_field(SCHEMA)
    version: int = Field(
        ..., ge=0, le=MAX_CONFIG_VERSION, description="must exceed the applied version; at most 2**31 - 1"
    )
    gate: str | None = Field(None, pattern=GATE_ID_PATTERN, description="required to match, if given")
    config: dict[str, Any]


class ConfigIssue(Message):
    path: str
    value: Any = None
    expected: str


class ConfigReported(Message):
    """Retained on ``config/reported``: what the device made of the desired config."""

    SCHEMA: ClassVar[str] = "gate-edge/config-reported/1"
    schema_: Literal["gate-edge/config-reported/1"] = _schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    status: Literal["applied", "rejected", "restart_required"]
    version: int = Field(..., ge=0, description="the version this report is about")
    applied_version: int = Field(..., ge=0, description="the version now running")
    errors: list[ConfigIssue] = []
    reported_at: AwareDatetime = Field(default_factory=utcnow)


# --------------------------------------------------------------------------- commands
class CommandRequest(InboundMessage):
    """Base of ``cmd/{name}`` payloads; the topic names the command. Reply via the response topic."""

    NAME: ClassVar[str] = ""
    SCHEMA: ClassVar[str] = "gate-edge/cmd/1"
    schema_: Literal["gate-edge/cmd/1"] = _schema_field(SCHEMA)
    request_id: str = Field(..., pattern=ID_PATTERN)
    gate: str | None = Field(None, pattern=GATE_ID_PATTERN, description="required to match, if given")
    issued_at: AwareDatetime | None = None


class WipeCommand(CommandRequest):
    NAME: ClassVar[str] = "wipe"


class OptOutCommand(CommandRequest):
    NAME: ClassVar[str] = "opt_out"
    duration_s: float | None = Field(None, gt=0, le=600, description="default: opt_out.duration_s")


class PauseCommand(CommandRequest):
    NAME: ClassVar[str] = "pause"


class ResumeCommand(CommandRequest):
    NAME: ClassVar[str] = "resume"


class CloseFlightCommand(CommandRequest):
    NAME: ClassVar[str] = "close_flight"
    flight_id: str | None = Field(None, pattern=ID_PATTERN, description="must match the live flight, if given")


COMMANDS: dict[str, type[CommandRequest]] = {
    c.NAME: c for c in (WipeCommand, OptOutCommand, PauseCommand, ResumeCommand, CloseFlightCommand)
}


class CommandReply(Message):
    SCHEMA: ClassVar[str] = "gate-edge/cmd-reply/1"
    schema_: Literal["gate-edge/cmd-reply/1"] = _schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    command: str
    request_id: str | None = None
    result: Literal["accepted", "rejected"]
    reason: str | None = None
    replied_at: AwareDatetime = Field(default_factory=utcnow)


# --------------------------------------------------------------------------- rejections
RejectionCode = Literal[
    "malformed_json",
    "wrong_schema",
    "invalid",
    "wrong_gate",
    "wrong_model",
    "oversized",
    "stale_version",
    "expired",
    "duplicate_id",
    "bad_template",
    "unsolicited",
    "too_large",
    "unknown_topic",
    "overloaded",
    "wrong_flight",  # a gallery chunk for another flight than the request asked for
    "clock_skew",  # e.g. an assignment issued in the future by the gate's clock
]


class RejectionNotice(Message):
    """Published on ``gate/v1/{gate}/rejected`` (and on the response topic when one was given)."""

    SCHEMA: ClassVar[str] = "gate-edge/rejection/1"
    schema_: Literal["gate-edge/rejection/1"] = _schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    topic: str
    code: RejectionCode
    reason: str
    request_id: str | None = None
    rejected_at: AwareDatetime = Field(default_factory=utcnow)


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
    schema_: Literal["gate-edge/status/1"] = _schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    online: bool
    software_version: str | None = None
    models: dict[str, str] = {}
    config_version: int | None = None
    gallery: GallerySummary | None = None
    camera: str | None = Field(None, description="camera health: starting, ok, degraded, stopped")
    paused: bool | None = None
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
    schema_: Literal["gate-edge/telemetry/1"] = _schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    time: AwareDatetime = Field(default_factory=utcnow)
    interval_s: float = Field(..., gt=0)
    counters: TelemetryCounters
    latency_ms: LatencySummary = LatencySummary()
    camera: str | None = None


ALL_MESSAGES: dict[str, type[Message]] = {
    "assignment": Assignment,
    "gallery_request": GalleryRequest,
    "gallery_chunk": GalleryChunk,
    "event": Event,
    "wipe_attestation": WipeAttestation,
    "config_desired": ConfigDesired,
    "config_reported": ConfigReported,
    **{f"cmd_{name}": cls for name, cls in COMMANDS.items()},
    "command_reply": CommandReply,
    "rejection": RejectionNotice,
    "status": Status,
    "telemetry": Telemetry,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every message, keyed by a short name (for ``gate-edge schema``)."""
    return {name: cls.model_json_schema(by_alias=True) for name, cls in ALL_MESSAGES.items()}
