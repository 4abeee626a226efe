"""Every MQTT message of gate-edge: one versioned pydantic v2 schema each.

Each message carries ``schema`` (e.g. ``"gate-edge/event/1"``): a consumer can tell what it holds
and which version. Inbound messages forbid unknown keys and must name their schema; outbound ones
forbid unknown keys too, so nobody can slip an image or an embedding into an event.

Serialise with :meth:`Message.to_bytes` (aliases, JSON mode); parse inbound ones with
:mod:`edge.messaging.intake`, which turns every failure into a typed rejection.
"""

from __future__ import annotations

from typing import Any

from edge.messaging.schemas.base import (
    MAX_B64_CHARS,
    MAX_CHUNK_ENTRIES,
    MAX_CONFIG_VERSION,
    GalleryState,
    InboundMessage,
    Message,
    WipeReason,
    schema_field,
    utcnow,
)
from edge.messaging.schemas.commands import (
    COMMANDS,
    CloseFlightCommand,
    CommandReply,
    CommandRequest,
    OptOutCommand,
    PauseCommand,
    RejectionCode,
    RejectionNotice,
    RestartCommand,
    ResumeCommand,
    WipeCommand,
)
from edge.messaging.schemas.config import ConfigDesired, ConfigIssue, ConfigReported
from edge.messaging.schemas.events import Event, WipeAttestation
from edge.messaging.schemas.gallery import (
    Assignment,
    EnrolmentReport,
    EntryVerdict,
    GalleryChunk,
    GalleryEntry,
    GalleryManifest,
    GalleryRequest,
    ManifestEntry,
    gallery_digest,
)
from edge.messaging.schemas.status import GallerySummary, LatencySummary, Status, Telemetry, TelemetryCounters

ALL_MESSAGES: dict[str, type[Message]] = {
    "assignment": Assignment,
    "gallery_request": GalleryRequest,
    "gallery_chunk": GalleryChunk,
    "gallery_manifest": GalleryManifest,
    "enrolment_report": EnrolmentReport,
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
    """JSON Schema of every message, keyed by a short name, each with its example (``gate-edge schema``)."""
    from edge.messaging.schemas.examples import examples  # only the schema tools need them

    found = examples()  # every message has one (tests/contract); a missing one must not break the command
    return {
        name: {**cls.model_json_schema(by_alias=True), "examples": [found[name]] if name in found else []}
        for name, cls in ALL_MESSAGES.items()
    }

__all__ = [
    "ALL_MESSAGES",
    "COMMANDS",
    "MAX_B64_CHARS",
    "MAX_CHUNK_ENTRIES",
    "MAX_CONFIG_VERSION",
    "Assignment",
    "CloseFlightCommand",
    "CommandReply",
    "CommandRequest",
    "ConfigDesired",
    "ConfigIssue",
    "ConfigReported",
    "EnrolmentReport",
    "EntryVerdict",
    "Event",
    "GalleryChunk",
    "GalleryEntry",
    "GalleryManifest",
    "GalleryRequest",
    "GalleryState",
    "GallerySummary",
    "InboundMessage",
    "LatencySummary",
    "ManifestEntry",
    "Message",
    "OptOutCommand",
    "PauseCommand",
    "RejectionCode",
    "RejectionNotice",
    "RestartCommand",
    "ResumeCommand",
    "Status",
    "Telemetry",
    "TelemetryCounters",
    "WipeAttestation",
    "WipeCommand",
    "WipeReason",
    "gallery_digest",
    "json_schemas",
    "schema_field",
    "utcnow",
]
