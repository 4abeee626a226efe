"""What the messaging layer hands to the daemon, and what it refuses.

:func:`edge.messaging.intake.parse` turns an inbound message into an :class:`AssignmentUpdate`,
:class:`ConfigUpdate`, :class:`CommandItem` or :class:`GalleryChunkItem`, or a :class:`Rejection`;
:class:`edge.messaging.gallery_requests.GalleryRequests` turns chunks into :class:`GalleryReady` or
:class:`GalleryFailed`. :meth:`edge.messaging.link.GateLink.poll` returns :data:`InboundItem`.
Each item keeps the response topic and correlation data it came with, so that the daemon can still
refuse it (:meth:`edge.messaging.link.GateLink.reject`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edge.core.gallery import Gallery
from edge.messaging.schemas import Assignment, CommandRequest, ConfigDesired, GalleryChunk, RejectionCode
from edge.messaging.topics import InboundKind


@dataclass(frozen=True)
class Rejection:
    """A refused message: a machine code and a reason safe to publish (never the offending value)."""

    code: RejectionCode
    reason: str
    topic: str
    kind: InboundKind | None = None
    reply_topic: str | None = None
    correlation_data: bytes | None = None
    request_id: str | None = None
    report: bool = True  # False: a harmless repeat (e.g. retained config already applied): count only
    version: int | None = None  # config: the refused version, when known


@dataclass(frozen=True)
class AssignmentUpdate:
    assignment: Assignment
    retained: bool
    reply_topic: str | None = None
    correlation_data: bytes | None = None


@dataclass(frozen=True)
class ConfigUpdate:
    source: Literal["fleet", "gate"]
    desired: ConfigDesired
    retained: bool
    reply_topic: str | None = None
    correlation_data: bytes | None = None


@dataclass(frozen=True)
class CommandItem:
    name: str
    request: CommandRequest
    reply_topic: str | None
    correlation_data: bytes | None


@dataclass(frozen=True)
class GalleryChunkItem:
    """A gallery chunk whose shape and header passed :func:`~edge.messaging.intake.parse`.

    Its entries are still base64 text: only the request owner decodes them, once it has checked that
    the chunk belongs to the request it holds (:func:`~edge.messaging.intake.decode_entries`).
    """

    chunk: GalleryChunk
    correlation_id: str | None
    payload_sha256: bytes
    topic: str
    reply_topic: str | None = None
    correlation_data: bytes | None = None


@dataclass(frozen=True)
class GalleryReady:
    """A complete gallery for the request ``request_id``. The daemon embeds photos, builds the index,
    swaps it in between transactions, and wipes it later."""

    request_id: str
    flight_id: str
    gallery: Gallery


@dataclass(frozen=True)
class GalleryFailed:
    """The request ``request_id`` will not complete (a refused chunk, or no gallery in time); anything
    received for it has been wiped. The daemon may ask again.

    What the daemon needs to attest the wipe of a gallery it had partly received: the chunks of the
    requested flight's gallery that reached the request (those it held, and the one refused, if it
    was for that flight): ``entries_received`` entries over them, their ``received_sha256`` (the
    :func:`~edge.messaging.schemas.gallery_digest` of their payloads, in chunk order; None when no
    chunk came) and the ``gallery_version`` their header named (None when no chunk came).
    """

    request_id: str
    flight_id: str
    reason: str
    gallery_version: int | None = None
    entries_received: int = 0
    received_sha256: str | None = None


Parsed = AssignmentUpdate | ConfigUpdate | CommandItem | GalleryChunkItem
InboundItem = AssignmentUpdate | ConfigUpdate | CommandItem | GalleryReady | GalleryFailed
