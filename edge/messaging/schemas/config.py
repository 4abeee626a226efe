"""Desired config (fleet-wide and per gate) and what the gate reports of it."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, Field

from edge.messaging.ids import GATE_ID_PATTERN
from edge.messaging.schemas.base import MAX_CONFIG_VERSION, InboundMessage, Message, schema_field, utcnow


# --------------------------------------------------------------------------- config
class ConfigDesired(InboundMessage):
    """Retained on ``fleet/v1/config`` (fleet-wide) or ``gate/v1/{gate}/config/desired`` (override)."""

    SCHEMA: ClassVar[str] = "gate-edge/config-desired/1"
    schema_: Literal["gate-edge/config-desired/1"] = schema_field(SCHEMA)
    version: int = Field(
        ..., ge=0, le=MAX_CONFIG_VERSION, description="must exceed the applied version; at most 2**31 - 1"
    )
    gate: str | None = Field(None, pattern=GATE_ID_PATTERN, description="required to match, if given")
    config: dict[str, Any] = Field(
        description="a partial gate config (the sections of `gate-edge run`'s config file but the local-only ones), "
                    "merged over the local file, the fleet's under the gate's; the result must be a valid config")


class ConfigIssue(Message):
    path: str = Field(description="where in the config, dotted (e.g. decision.threshold), or (message)")
    value: Any = Field(None, description="the value found there (secrets redacted)")
    expected: str = Field(description="what is expected there, in words")
    suggestion: str | None = Field(None, description="for a misspelt key or kind: the nearest known one "
                                                     "(\"did you mean\"), as `gate-edge check` says it")


class ConfigReported(Message):
    """Retained on ``config/reported``: what the device made of the desired config."""

    SCHEMA: ClassVar[str] = "gate-edge/config-reported/1"
    schema_: Literal["gate-edge/config-reported/1"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN, description="id of the reporting gate")
    status: Literal["applied", "rejected", "restart_required"] = Field(
        description="applied (in force now), rejected (see errors; the applied version stays), or restart_required "
                    "(stored, in force after the next start)")
    version: int = Field(..., ge=0, description="the version this report is about")
    applied_version: int = Field(..., ge=0, description="the version now running")
    errors: list[ConfigIssue] = Field(default_factory=list, description="rejected: every problem found")
    reported_at: AwareDatetime = Field(default_factory=utcnow, description="when the gate reported (ISO 8601, UTC)")
