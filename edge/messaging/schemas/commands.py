"""Officers' and admins' commands, their replies, and the notice for every refused message."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from edge.messaging.ids import GATE_ID_PATTERN, ID_PATTERN
from edge.messaging.schemas.base import InboundMessage, Message, schema_field, utcnow


# --------------------------------------------------------------------------- commands
class CommandRequest(InboundMessage):
    """Base of ``cmd/{name}`` payloads; the topic names the command. Reply via the response topic."""

    NAME: ClassVar[str] = ""
    SCHEMA: ClassVar[str] = "gate-edge/cmd/1"
    schema_: Literal["gate-edge/cmd/1"] = schema_field(SCHEMA)
    request_id: str = Field(..., pattern=ID_PATTERN)
    gate: str | None = Field(None, pattern=GATE_ID_PATTERN, description="required to match, if given")
    issued_at: AwareDatetime = Field(..., description="commands are executed only within minutes of this")


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
    schema_: Literal["gate-edge/cmd-reply/1"] = schema_field(SCHEMA)
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
    "unsigned",  # not in a signed envelope
    "wrong_role",  # signed, but by a role that may not send this
    "unknown_key",  # signed by a key that is not a trust anchor of the role
    "bad_signature",  # the signature does not verify: altered or forged
    "replayed",  # a signed message executed before (e.g. a command's request id)
]


class RejectionNotice(Message):
    """Published on ``gate/v1/{gate}/rejected`` (and on the response topic when one was given)."""

    SCHEMA: ClassVar[str] = "gate-edge/rejection/1"
    schema_: Literal["gate-edge/rejection/1"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN)
    topic: str
    code: RejectionCode
    reason: str
    request_id: str | None = None
    rejected_at: AwareDatetime = Field(default_factory=utcnow)
