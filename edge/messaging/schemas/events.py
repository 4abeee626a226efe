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
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    seq: int = Field(0, ge=0, description="per gate, strictly increasing; assigned by the outbox")
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    flight_id: str | None = Field(None, pattern=ID_PATTERN)
    transaction_id: str = Field(..., pattern=ID_PATTERN)
    outcome: Outcome
    matched_id: EntryId | None = Field(None, description="opaque gallery id")
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
    schema_: Literal["gate-edge/wipe/1"] = schema_field(SCHEMA)
    attestation_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    flight_id: str | None = Field(None, pattern=ID_PATTERN)
    gallery_version: int | None = Field(None, ge=0)
    entries_wiped: int = Field(..., ge=0)
    reason: WipeReason
    wiped_at: AwareDatetime = Field(default_factory=utcnow)
    received_sha256: str | None = Field(None, pattern=SHA256_PATTERN)
