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
    request_id: str = Field(..., pattern=ID_PATTERN,
                            description="unique per command: a request id is executed once (replays are refused)")
    gate: str | None = Field(None, pattern=GATE_ID_PATTERN, description="required to match, if given")
    issued_at: AwareDatetime = Field(
        ..., description="commands are executed only within minutes of this (ISO 8601, UTC)")


class WipeCommand(CommandRequest):
    """Wipe the gallery now (a wipe attestation follows); the flight ends at this gate."""

    NAME: ClassVar[str] = "wipe"


class OptOutCommand(CommandRequest):
    """The next traveller opts out of face capture: not captured, an opt_out event instead."""

    NAME: ClassVar[str] = "opt_out"
    duration_s: float | None = Field(
        None, gt=0, le=600, description="seconds, at most, that the next traveller is not captured; default: "
                                        "opt_out.duration_s")


class PauseCommand(CommandRequest):
    """Stop capturing until resume (the gallery stays)."""

    NAME: ClassVar[str] = "pause"


class ResumeCommand(CommandRequest):
    """Capture again after a pause."""

    NAME: ClassVar[str] = "resume"


class CloseFlightCommand(CommandRequest):
    """Close the flight now: its gallery is wiped (reason flight_close) as at its close time."""

    NAME: ClassVar[str] = "close_flight"
    flight_id: str | None = Field(None, pattern=ID_PATTERN, description="must match the live flight, if given")


class RestartCommand(CommandRequest):
    """Restart the gate process (for a config change reported ``restart_required``): after the current
    transaction the gate wipes its gallery, exits with the status its unit restarts on, and comes back
    with the config stored for the next start."""

    NAME: ClassVar[str] = "restart"


COMMANDS: dict[str, type[CommandRequest]] = {
    c.NAME: c
    for c in (WipeCommand, OptOutCommand, PauseCommand, ResumeCommand, CloseFlightCommand, RestartCommand)
}


class CommandReply(Message):
    SCHEMA: ClassVar[str] = "gate-edge/cmd-reply/1"
    schema_: Literal["gate-edge/cmd-reply/1"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN, description="id of the replying gate")
    command: str = Field(description="the command's name, as in its topic")
    request_id: str | None = Field(None, description="the command's request id, when it could be read")
    result: Literal["accepted", "rejected"] = Field(description="accepted (carried out) or rejected (see reason)")
    reason: str | None = Field(None, description="rejected: the rejection code and why; accepted: what was done, "
                                                 "if there is something to say")
    replied_at: AwareDatetime = Field(default_factory=utcnow, description="when the gate replied (ISO 8601, UTC)")


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
    gate: str = Field(..., pattern=GATE_ID_PATTERN, description="id of the refusing gate")
    topic: str = Field(description="the topic the refused message came on")
    code: RejectionCode = Field(description="why, as a code a program can act on")
    reason: str = Field(description="why, in words")
    request_id: str | None = Field(None, description="the refused message's request id (or correlation data), if any")
    rejected_at: AwareDatetime = Field(default_factory=utcnow, description="when the gate refused (ISO 8601, UTC)")
