"""Which flight boards where, and its gallery: the assignment, the gallery request and its chunks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field, model_validator

from edge.messaging.ids import GATE_ID_PATTERN, ID_PATTERN, SHA256_PATTERN
from edge.messaging.schemas.base import (
    MAX_B64_CHARS,
    MAX_CHUNK_ENTRIES,
    MAX_MANIFEST_CHARS,
    EntryId,
    InboundMessage,
    Message,
    schema_field,
    utcnow,
)


# --------------------------------------------------------------------------- assignment
class Assignment(InboundMessage):
    """Retained on ``gate/v1/{gate}/assignment`` by departure control: the flight now boarding."""

    SCHEMA: ClassVar[str] = "gate-edge/assignment/1"
    schema_: Literal["gate-edge/assignment/1"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN, description="id of the gate the flight boards at")
    flight_id: str | None = Field(..., pattern=ID_PATTERN, description="null: no flight at this gate")
    departure: AwareDatetime | None = Field(None, description="scheduled departure (ISO 8601, UTC)")
    close_time: AwareDatetime | None = Field(
        None, description="when boarding closes and the gallery is wiped (ISO 8601, UTC); not after departure")
    issued_at: AwareDatetime = Field(
        description="when departure control issued it (ISO 8601, UTC); a newer assignment replaces an older one")

    @model_validator(mode="after")
    def _times(self) -> Assignment:
        if self.departure and self.close_time and self.close_time > self.departure:
            raise ValueError("close_time must not be after departure")
        return self


# --------------------------------------------------------------------------- gallery
class GalleryRequest(Message):
    """Published on ``gallery/request`` with an MQTT v5 response topic and correlation data."""

    SCHEMA: ClassVar[str] = "gate-edge/gallery-request/1"
    schema_: Literal["gate-edge/gallery-request/1"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN, description="id of the gate asking")
    flight_id: str = Field(..., pattern=ID_PATTERN, description="the flight whose gallery is asked for")
    request_id: str = Field(..., pattern=ID_PATTERN, description="also sent as correlation data")
    embedding_model: str = Field(description="id of the gate's face embedding model; templates must come from it")
    dim: int = Field(..., ge=1, le=4096, description="length of a template (float32 values)")
    accept: tuple[Literal["template", "photo"], ...] = Field(
        ("template", "photo"), description="entry kinds the gate takes: templates of its model, photos to embed")
    requested_at: AwareDatetime = Field(default_factory=utcnow, description="when the gate asked (ISO 8601, UTC)")


class GalleryEntry(Message):
    """One enrolled traveller: an opaque id and EITHER a template OR a photo (base64 JPEG/PNG/WebP).

    Only the shape is checked here. The base64 is decoded once, by :mod:`edge.messaging.intake`,
    into buffers that are wiped (base64 length, image type and template values are checked there).
    """

    id: EntryId = Field(description="opaque token made up by the gallery authority; never a name or a date")
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
    schema_: Literal["gate-edge/gallery/1"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN, description="id of the gate that asked")
    flight_id: str = Field(..., pattern=ID_PATTERN, description="the flight asked for")
    gallery_version: int = Field(..., ge=0, description="version of this flight's gallery")
    embedding_model: str = Field(..., min_length=1, max_length=128,
                                 description="model the templates come from: the gate's own")
    dim: int = Field(..., ge=1, le=4096, description="length of a template (float32 values)")
    expires_at: AwareDatetime = Field(description="the gate wipes the gallery at this time (ISO 8601, UTC)")
    chunk_index: int = Field(..., ge=0, description="0-based position of this chunk")
    chunk_count: int = Field(..., ge=1, le=100_000, description="chunks in the gallery (count)")
    total_entries: int = Field(..., ge=0, description="entries in the whole gallery (count)")
    entries: list[GalleryEntry] = Field(..., max_length=MAX_CHUNK_ENTRIES, description="this chunk's travellers")
    manifest: str | None = Field(None, max_length=MAX_MANIFEST_CHARS,
                                 description="chunk 0 only: the GalleryManifest, in an envelope signed by the "
                                             "gallery authority")

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


class ManifestEntry(Message):
    id: EntryId = Field(description="the entry's opaque id, as in the chunks")
    sha256: str = Field(..., pattern=SHA256_PATTERN,
                        description="hex sha256 of the entry's decoded photo or template bytes")


class GalleryManifest(Message):
    """What the gallery authority vouches for, signed: this gallery, for this gate's request, exactly
    these entries. Chunks are not signed one by one: every entry is checked against this."""

    SCHEMA: ClassVar[str] = "gate-edge/gallery-manifest/1"
    schema_: Literal["gate-edge/gallery-manifest/1"] = schema_field(SCHEMA)
    gate: str = Field(..., pattern=GATE_ID_PATTERN, description="id of the gate that asked")
    flight_id: str = Field(..., pattern=ID_PATTERN, description="the flight asked for")
    request_id: str = Field(..., pattern=ID_PATTERN, description="binds the gallery to one request: no replay")
    gallery_version: int = Field(..., ge=0, description="as in the chunks")
    embedding_model: str = Field(..., min_length=1, max_length=128, description="as in the chunks")
    dim: int = Field(..., ge=1, le=4096, description="length of a template (float32 values)")
    issued_at: AwareDatetime = Field(description="when the gallery authority signed it (ISO 8601, UTC)")
    expires_at: AwareDatetime = Field(description="as in the chunks (ISO 8601, UTC)")
    chunk_count: int = Field(..., ge=1, le=100_000, description="chunks in the gallery (count)")
    entries: list[ManifestEntry] = Field(..., min_length=1, max_length=10_000_000,
                                         description="every entry of the gallery, each with its digest")



EnrolVerdictName = Literal["ok", "several_faces", "too_small", "poor_quality", "no_face", "unreadable"]


class EntryVerdict(Message):
    id: EntryId = Field(description="the entry's opaque id, as in the chunks")
    verdict: EnrolVerdictName = Field(
        description="ok; several_faces, too_small or poor_quality: enrolled, but the photo should be replaced; "
                    "no_face or unreadable: not enrolled, the traveller goes to an officer")


class EnrolmentReport(Message):
    """What the gate tells the gallery service once a gallery of photos is enrolled: one word per photo
    entry (template entries are not judged). Nothing biometric: ids and verdicts only."""

    SCHEMA: ClassVar[str] = "gate-edge/enrolment-report/1"
    schema_: Literal["gate-edge/enrolment-report/1"] = schema_field(SCHEMA)
    flight_id: str = Field(..., pattern=ID_PATTERN, description="the flight whose gallery was enrolled")
    gallery_version: int = Field(..., ge=0, description="as in the chunks")
    received_sha256: str = Field(..., pattern=SHA256_PATTERN, description="gallery_digest of the chunks enrolled")
    entries: list[EntryVerdict] = Field(..., max_length=10_000_000, description="one verdict per photo entry")


def enrolment_report(flight_id: str, version: int, sha256: str, verdicts: dict[str, str]) -> EnrolmentReport:
    return EnrolmentReport(flight_id=flight_id, gallery_version=version, received_sha256=sha256,
                           entries=[EntryVerdict(id=k, verdict=v) for k, v in verdicts.items()])


def gallery_digest(chunks: Iterable[bytes], *, prehashed: bool = False) -> str:
    """What wipe attestations report: sha256 over the sha256 of each chunk payload, in chunk order.

    ``chunks`` are the chunk payloads as sent or received, or, with ``prehashed``, each payload's
    sha256 digest already (the gate keeps only those while it assembles, not the payloads).
    """
    h = hashlib.sha256()
    for c in chunks:
        h.update(c if prehashed else hashlib.sha256(c).digest())
    return h.hexdigest()
