"""What every message shares: the base model, the ``schema`` field, limits and small vocabularies."""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from edge.messaging.ids import ENTRY_ID_PATTERN, opaque_entry_id

# A hard cap on one base64 field whatever the config says; the configured limits are checked in intake.
MAX_B64_CHARS = 48 * 1024 * 1024
MAX_CHUNK_ENTRIES = 100_000
MAX_MANIFEST_CHARS = 64 * 1024 * 1024  # a signed list of ids and digests; the payload cap applies first
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


def schema_field(value: str) -> Any:
    return Field(value, alias="schema", description="message schema and version")


# A traveller's gallery entry id: an opaque token (see edge.messaging.ids.ENTRY_ID_PATTERN).
EntryId = Annotated[str, Field(pattern=ENTRY_ID_PATTERN), AfterValidator(opaque_entry_id)]
