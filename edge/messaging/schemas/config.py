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
    config: dict[str, Any]


class ConfigIssue(Message):
    path: str
    value: Any = None
    expected: str


class ConfigReported(Message):
    """Retained on ``config/reported``: what the device made of the desired config."""

    SCHEMA: ClassVar[str] = "gate-edge/config-reported/1"
    schema_: Literal["gate-edge/config-reported/1"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    status: Literal["applied", "rejected", "restart_required"]
    version: int = Field(..., ge=0, description="the version this report is about")
    applied_version: int = Field(..., ge=0, description="the version now running")
    errors: list[ConfigIssue] = Field(default_factory=list)
    reported_at: AwareDatetime = Field(default_factory=utcnow)
