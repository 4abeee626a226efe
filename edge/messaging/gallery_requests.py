"""The gate's gallery request, from sending it to a complete gallery, in one owner.

:class:`GalleryRequests` holds the outstanding request (its id, the flight it asked for, when it was
sent), the chunks received for it and its one deadline. It decides whether a chunk was asked for,
checks it against the request and the chunks before it, decodes it (once, into wipeable buffers:
:func:`~edge.messaging.intake.decode_entries`) and hands out a :class:`GalleryReady` when every
chunk is in. Whatever ends a request early (a refused chunk, the deadline, a cancel, a newer
request) wipes what it had received and, unless the daemon itself ended it, yields a
:class:`GalleryFailed` (with what was received, for the wipe attestation) so that the daemon can
ask again. A partial gallery never leaves this object.

A gallery must not be able to take the gate down: an empty gallery is refused, the photos of one
gallery have a byte budget checked before a chunk is decoded, and each photo's declared pixel count
(read from its header, :mod:`edge.core.image_header`) is checked before anything decodes its image.

One request at a time: the gate boards one flight, so a new request replaces the one outstanding
(whose late chunks are then refused as unsolicited). The limits are read at every check, so a new
:class:`~edge.messaging.settings.IntakeLimits` applies from the next chunk on. Not thread-safe: use
from the daemon's loop (through :class:`~edge.messaging.link.GateLink`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from edge.core.gallery import Gallery, GalleryItem
from edge.messaging.envelope import EnvelopeRefused, TrustAnchors
from edge.messaging.intake import decode_entries, photo_bytes
from edge.messaging.items import GalleryChunkItem, GalleryFailed, GalleryReady, Rejection
from edge.messaging.schemas import GalleryChunk, GalleryManifest, RejectionCode, gallery_digest
from edge.messaging.settings import IntakeLimits
from edge.messaging.topics import InboundKind

log = logging.getLogger(__name__)

ChunkResult = Rejection | GalleryReady | GalleryFailed
# Header fields every chunk of one gallery must agree on.
_HEADER = ("gallery_version", "embedding_model", "dim", "expires_at", "chunk_count", "total_entries")
# Returned by the checks for a chunk received again, identical (not an error: QoS 1 redelivers).
_DUPLICATE: tuple[RejectionCode, str] = ("invalid", "duplicate chunk")


@dataclass
class _Received:
    items: list[GalleryItem]
    payload_sha256: bytes


@dataclass(frozen=True)
class _Arrival:
    """A chunk of the requested flight's gallery that reached the request, held or refused."""

    index: int
    payload_sha256: bytes
    entries: int
    gallery_version: int


@dataclass
class _Request:
    request_id: str
    flight_id: str
    sent_at: float  # monotonic
    first: GalleryChunk | None = None  # header of the first chunk received
    chunks: dict[int, _Received] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)
    photo_bytes: int = 0  # decoded photo bytes held
    arrivals: list[_Arrival] = field(default_factory=list)  # for the attestation of a failed request
    manifest: dict[str, str] | None = None  # entry id -> sha256 the gallery authority signed (from chunk 0)
    cut_off: bool = False  # the connection went down while it was outstanding
    ask_again: bool = False  # ... and came back up (perhaps on another broker): fail now, do not wait it out

    @property
    def entries(self) -> int:
        return sum(len(c.items) for c in self.chunks.values())

    def wipe(self) -> None:
        for c in self.chunks.values():
            for it in c.items:
                it.wipe()
        self.chunks.clear()
        self.ids.clear()


@dataclass(frozen=True)
class Progress:
    """The outstanding request, for logs and status."""

    request_id: str
    flight_id: str
    chunks_received: int
    chunk_count: int | None  # None until the first chunk


class GalleryRequests:
    def __init__(self, limits: IntakeLimits, trust: TrustAnchors,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._trust = trust
        self._clock = clock
        self._request: _Request | None = None

    # ------------------------------------------------------------------ the request's life
    def opened(self, request_id: str, flight_id: str) -> None:
        """A request was sent: it replaces (and wipes) any request still outstanding."""
        if self._request is not None:
            log.info("gallery request %s replaced by %s", self._request.request_id, request_id)
            self._request.wipe()
        self._request = _Request(request_id, flight_id, self._clock())

    def cancel(self) -> None:
        """Forget the outstanding request and wipe its partial gallery (e.g. the flight changed)."""
        if self._request is not None:
            self._request.wipe()
            self._request = None

    @property
    def progress(self) -> Progress | None:
        r = self._request
        if r is None:
            return None
        return Progress(r.request_id, r.flight_id, len(r.chunks), r.first.chunk_count if r.first else None)

    def connection(self, up: bool) -> None:
        """The broker connection went down or came back (called from the client's thread: flags only).

        Gallery chunks travel at QoS 0, so a chunk sent while the gate was away (or to the node it
        was on, before a fail-over) is never redelivered: once the connection is back, the request
        cannot complete, and :meth:`expire` fails it at once instead of after ``gallery_timeout_s``.
        """
        r = self._request
        if r is None:
            return
        if not up:
            r.cut_off = True
        elif r.cut_off:
            r.ask_again = True

    def is_pending(self, request_id: str | None) -> bool:
        return self._request is not None and request_id == self._request.request_id

    def expire(self) -> list[GalleryFailed]:
        """Fail the request if its gallery is not complete ``gallery_timeout_s`` after it was sent."""
        r = self._request
        timeout = self.limits.gallery_timeout_s
        if r is not None and r.ask_again:
            return [self._fail("the broker connection was lost while the gallery was arriving (its chunks are "
                               "not redelivered)")]
        if r is None or self._clock() - r.sent_at <= timeout:
            return []
        got = f"{len(r.chunks)}/{r.first.chunk_count} chunks" if r.first else "no chunk"
        return [self._fail(f"no complete gallery within {timeout:g} s ({got} received)")]

    def refused(self, rejection: Rejection) -> GalleryFailed | None:
        """A gallery response refused by :func:`~edge.messaging.intake.parse`: if it was for the
        outstanding request, that request can no longer complete."""
        if rejection.kind is not InboundKind.GALLERY_RESPONSE or not self.is_pending(rejection.request_id):
            return None
        return self._fail(f"{rejection.code}: {rejection.reason}")

    # ------------------------------------------------------------------ chunks
    def add(self, item: GalleryChunkItem) -> list[ChunkResult]:
        """Take one parsed chunk. Returns what to publish (a Rejection) and what to hand to the
        daemon (GalleryReady, GalleryFailed); empty while more chunks are awaited."""
        r = self._request
        if r is None or item.correlation_id != r.request_id:
            return [self._rejection(item, "unsolicited", "gallery response without a known correlation id")]
        c = item.chunk
        chunk_photo_bytes = sum(photo_bytes(e.photo) for e in c.entries if e.photo is not None)
        problem = self._check(r, item, chunk_photo_bytes)
        if problem is _DUPLICATE:
            return []  # a QoS 1 redelivery of a chunk already held: nothing to do
        if c.flight_id == r.flight_id:  # part of the gallery asked for, kept or not: the attestation counts it
            r.arrivals.append(_Arrival(c.chunk_index, item.payload_sha256, len(c.entries), c.gallery_version))
        if problem is not None:
            return self._refuse(item, *problem)
        if c.chunk_index == 0 or c.manifest is not None:
            signed = self._manifest(r, c)
            if isinstance(signed, tuple):
                return self._refuse(item, *signed)
            r.manifest = signed
        decoded = decode_entries(c, self.limits.max_photo_bytes, self.limits.max_photo_pixels)
        if isinstance(decoded, tuple):
            return self._refuse(item, *decoded)
        r.first = r.first or c
        r.chunks[c.chunk_index] = _Received(decoded, item.payload_sha256)
        r.ids.update(e.id for e in c.entries)
        r.photo_bytes += chunk_photo_bytes
        if len(r.chunks) < c.chunk_count:
            log.info("gallery %s: chunk %d/%d received", r.flight_id, len(r.chunks), c.chunk_count)
            return []
        if r.entries != c.total_entries:
            return self._refuse(item, "invalid", f"received {r.entries} entries, total_entries says {c.total_entries}")
        forged = self._unsigned_entry(r)
        if forged is not None:
            return self._refuse(item, "bad_signature", forged)
        return [self._complete(r)]

    def _manifest(self, r: _Request, c: GalleryChunk) -> dict[str, str] | tuple[RejectionCode, str]:
        """The entries the gallery authority signed for this very request, from chunk 0's manifest."""
        if c.chunk_index != 0:
            return "invalid", f"chunk {c.chunk_index} carries a manifest: only chunk 0 may"
        if c.manifest is None:
            return "unsigned", "chunk 0 carries no manifest signed by the gallery authority"
        try:
            m = GalleryManifest.model_validate_json(self._trust.open(c.manifest.encode(), "gallery_authority"))
        except EnvelopeRefused as exc:
            return exc.code, f"manifest: {exc.reason}"
        except ValidationError as exc:
            return "invalid", f"manifest: {exc.error_count()} errors ({exc.errors(include_input=False)[0]['msg']})"
        if m.request_id != r.request_id:
            return "replayed", f"the manifest was signed for request {m.request_id}, not {r.request_id}"
        for name in ("gate", "flight_id", "gallery_version", "embedding_model", "dim", "expires_at", "chunk_count"):
            if getattr(m, name) != getattr(c, name):
                return "invalid", f"the signed manifest and the chunk disagree on {name}"
        signed = {e.id: e.sha256 for e in m.entries}
        if len(signed) != len(m.entries) or len(signed) != c.total_entries:
            return "invalid", f"the manifest lists {len(m.entries)} entries, total_entries says {c.total_entries}"
        return signed

    @staticmethod
    def _unsigned_entry(r: _Request) -> str | None:
        """Why an entry is not exactly what the gallery authority signed (None: all are)."""
        signed = r.manifest or {}
        for chunk in r.chunks.values():
            for it in chunk.items:
                buf = it.photo if it.photo is not None else it.template
                # hashlib reads the numpy buffer in place: no copy of the photo is made.
                digest = hashlib.sha256(buf.data if buf is not None else b"").hexdigest()
                if signed.get(it.id) != digest:
                    return f"entry {it.id!r} is not the one the gallery authority signed"
        return None

    def _check(self, r: _Request, item: GalleryChunkItem, chunk_photo_bytes: int) -> tuple[RejectionCode, str] | None:
        """What is wrong with this chunk for this request, if anything (before decoding it);
        :data:`_DUPLICATE` for a chunk already held."""
        c = item.chunk
        if c.flight_id != r.flight_id:
            asked = f"request {r.request_id} asked for flight {r.flight_id!r}"
            return "wrong_flight", f"gallery is for flight {c.flight_id!r}, {asked}"
        if c.total_entries == 0:
            return "invalid", "empty gallery: total_entries is 0"
        limit = self.limits.max_gallery_entries
        if c.total_entries > limit:
            return "too_large", f"{c.total_entries} entries exceed {limit}"
        f = r.first
        if f is not None:
            for name in _HEADER:
                if getattr(c, name) != getattr(f, name):
                    return "invalid", f"chunk {c.chunk_index} disagrees with chunk {f.chunk_index} on {name}"
        held = r.chunks.get(c.chunk_index)
        if held is not None:
            if held.payload_sha256 == item.payload_sha256:
                return _DUPLICATE
            return "invalid", f"chunk {c.chunk_index} received twice with different content"
        if not c.entries:
            return "invalid", f"chunk {c.chunk_index} has no entries"
        dup = r.ids.intersection(e.id for e in c.entries)
        if dup:
            return "duplicate_id", f"entry id {sorted(dup)[0]!r} appears in more than one chunk"
        if r.entries + len(c.entries) > c.total_entries:
            return "invalid", f"more entries than total_entries ({c.total_entries})"
        cap = self.limits.max_gallery_bytes
        if r.photo_bytes + chunk_photo_bytes > cap:
            total = r.photo_bytes + chunk_photo_bytes
            return "too_large", f"gallery photos reach {total} bytes with chunk {c.chunk_index}, more than {cap}"
        return None

    def _complete(self, r: _Request) -> GalleryReady:
        self._request = None
        f = r.first
        assert f is not None
        order = range(f.chunk_count)
        items = [it for i in order for it in r.chunks[i].items]
        digest = gallery_digest((r.chunks[i].payload_sha256 for i in order), prehashed=True)
        gallery = Gallery(r.request_id, r.flight_id, f.gallery_version, f.embedding_model, f.dim, f.expires_at,
                          items, digest)
        log.info("gallery %s v%d complete: %d entries", r.flight_id, gallery.version, len(gallery))
        return GalleryReady(r.request_id, r.flight_id, gallery)

    def _fail(self, reason: str) -> GalleryFailed:
        r = self._request
        assert r is not None
        r.wipe()
        self._request = None
        log.warning("gallery request %s for flight %s failed: %s", r.request_id, r.flight_id, reason)
        got = sorted(r.arrivals, key=lambda a: a.index)  # stable: a chunk received twice keeps arrival order
        digest = gallery_digest((a.payload_sha256 for a in got), prehashed=True) if got else None
        return GalleryFailed(r.request_id, r.flight_id, reason, gallery_version=got[0].gallery_version if got else None,
                             entries_received=sum(a.entries for a in got), received_sha256=digest)

    def _refuse(self, item: GalleryChunkItem, code: RejectionCode, reason: str) -> list[ChunkResult]:
        return [self._rejection(item, code, reason), self._fail(f"{code}: {reason}")]

    @staticmethod
    def _rejection(item: GalleryChunkItem, code: RejectionCode, reason: str) -> Rejection:
        return Rejection(code, reason, item.topic, InboundKind.GALLERY_RESPONSE, item.reply_topic,
                         item.correlation_data, item.correlation_id)
