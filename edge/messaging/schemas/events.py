"""What a gate decides and what it wipes: decision events and wipe attestations."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field, model_validator

from edge.core.decide import Outcome
from edge.messaging.ids import GATE_ID_PATTERN, ID_PATTERN, SHA256_PATTERN
from edge.messaging.schemas.base import EntryId, Message, WipeReason, schema_field, utcnow


# --------------------------------------------------------------------------- events and wipes
class Event(Message):
    """One transaction's decision. Carries no image, no embedding, no name."""

    SCHEMA: ClassVar[str] = "gate-edge/event/1"
    schema_: Literal["gate-edge/event/1"] = schema_field(SCHEMA)
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4,
                                description="unique id of this event (UUID); consumers deduplicate on it")
    seq: int = Field(0, ge=0, description="per gate, strictly increasing; assigned by the outbox")
    gate: str = Field(..., pattern=GATE_ID_PATTERN, description="id of the gate that decided")
    flight_id: str | None = Field(None, pattern=ID_PATTERN,
                                  description="the flight whose gallery was live; null when none was")
    transaction_id: str = Field(..., pattern=ID_PATTERN, description="one traveller's walk-up, from face to decision")
    outcome: Outcome = Field(description="match, no_match, failure_to_acquire (a face, never usable), timeout, "
                                         "or opt_out")
    matched_id: EntryId | None = Field(None, description="opaque gallery id; set exactly when outcome is match")
    score: float | None = Field(None, ge=-1.0, le=1.0,
                                description="cosine similarity to the best gallery entry (-1 to 1, no unit)")
    runner_up_score: float | None = Field(None, ge=-1.0, le=1.0,
                                          description="cosine similarity to the second-best entry (-1 to 1)")
    frames_used: int = Field(0, ge=0, description="usable frames that went into the decision (count)")
    latency_ms: dict[str, float] = Field(
        default_factory=dict, description="milliseconds per stage (detect, align, embed, search), and 'total' "
                                          "from the first usable frame to the event")
    started_at: AwareDatetime = Field(description="when the traveller was first seen (ISO 8601, UTC)")
    decided_at: AwareDatetime = Field(description="when the decision was made (ISO 8601, UTC)")
    config_version: int = Field(..., ge=0, description="version of the config in force")
    gallery_version: int | None = Field(None, ge=0, description="version of the gallery searched; null: none live")

    @model_validator(mode="after")
    def _match_has_id(self) -> Event:
        if (self.outcome is Outcome.MATCH) != (self.matched_id is not None):
            raise ValueError("matched_id is set exactly when outcome is 'match'")
        return self


class WipeAttestation(Message):
    """Proof of deletion of a gallery: what, why, when, and the digest of what was received."""

    SCHEMA: ClassVar[str] = "gate-edge/wipe/1"
    schema_: Literal["gate-edge/wipe/1"] = schema_field(SCHEMA)
    attestation_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="unique id of this attestation (UUID)")
    gate: str = Field(..., pattern=GATE_ID_PATTERN, description="id of the gate that wiped")
    flight_id: str | None = Field(None, pattern=ID_PATTERN, description="the flight whose gallery was wiped")
    gallery_version: int | None = Field(None, ge=0, description="version of the gallery wiped")
    entries_wiped: int = Field(..., ge=0, description="gallery entries deleted (count)")
    reason: WipeReason = Field(description="flight_close, command, expiry, shutdown, replaced, or refused (a "
                                           "received gallery the gate could not use)")
    wiped_at: AwareDatetime = Field(default_factory=utcnow, description="when the wipe finished (ISO 8601, UTC)")
    received_sha256: str | None = Field(
        None, pattern=SHA256_PATTERN, description="hex sha256 over the sha256 of each chunk payload received, "
                                                  "in chunk order (gallery_digest)")
