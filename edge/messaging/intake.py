"""Inbound messages -> typed objects or a :class:`Rejection`. Pure: no paho, no sockets, no files.

:func:`parse` validates one message against its topic's schema and the device's expectations
(:class:`IntakeContext`: gate, loaded embedder, size limits, config versions already applied,
gallery requests outstanding). Every failure is a :class:`Rejection` with a machine code and a
reason safe to publish: reasons name the field and the rule, never the offending value (it could
be a template or a photo). :class:`GalleryAssembler` turns chunks into a complete :class:`Gallery`;
a partial gallery never leaves it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from edge.core.gallery import Gallery, GalleryItem
from edge.messaging.schemas import (
    COMMANDS,
    Assignment,
    CommandRequest,
    ConfigDesired,
    GalleryChunk,
    InboundMessage,
    RejectionCode,
)
from edge.messaging.topics import InboundKind, TopicError, Topics


@dataclass(frozen=True)
class Inbound:
    """What the MQTT client's callback hands over: raw bytes plus the MQTT v5 properties we use.

    ``oversized_bytes`` is set (and ``payload`` empty) when the payload exceeded the limit: the
    client drops the bytes before queueing but keeps the fact, so that it can be answered.
    """

    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation_data: bytes | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    retained: bool = False
    oversized_bytes: int | None = None


@dataclass(frozen=True)
class IntakeContext:
    """The device's expectations, given by the app (it owns the embedder and the applied config)."""

    topics: Topics
    embedder_id: str
    embedder_dim: int
    max_payload_bytes: int = 4 * 1024 * 1024
    max_photo_bytes: int = 2 * 1024 * 1024
    max_gallery_entries: int = 100_000
    fleet_config_version: int = -1  # highest version already applied from each source
    gate_config_version: int = -1
    pending_gallery_requests: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rejection:
    code: RejectionCode
    reason: str
    topic: str
    kind: InboundKind | None = None
    reply_topic: str | None = None
    correlation_data: bytes | None = None
    request_id: str | None = None
    report: bool = True  # False: a harmless repeat (e.g. retained config already applied): count only


@dataclass(frozen=True)
class AssignmentUpdate:
    assignment: Assignment
    retained: bool


@dataclass(frozen=True)
class ConfigUpdate:
    source: Literal["fleet", "gate"]
    desired: ConfigDesired
    retained: bool


@dataclass(frozen=True)
class CommandItem:
    name: str
    request: CommandRequest
    reply_topic: str | None
    correlation_data: bytes | None


@dataclass
class GalleryChunkItem:
    """A validated chunk: header fields plus decoded entries (the base64 strings are not kept)."""

    correlation_id: str
    flight_id: str
    gallery_version: int
    embedding_model: str
    dim: int
    expires_at: datetime
    chunk_index: int
    chunk_count: int
    total_entries: int
    items: list[GalleryItem]
    payload_sha256: bytes
    reply_topic: str | None = None


Parsed = AssignmentUpdate | ConfigUpdate | CommandItem | GalleryChunkItem


def _safe_errors(exc: ValidationError, limit: int = 5) -> str:
    """Field paths and rules only: pydantic's own text would echo the input (maybe biometric)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def _load_json(payload: bytes) -> dict[str, Any] | str:
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return f"not valid UTF-8 JSON ({type(e).__name__})"
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    return data


def _validate(model: type[InboundMessage], data: dict[str, Any]) -> InboundMessage | tuple[RejectionCode, str]:
    got = data.get("schema")
    if got != model.SCHEMA:
        shown = repr(got)[:80] if isinstance(got, str | int | float | type(None)) else type(got).__name__
        return "wrong_schema", f"schema is {shown}, expected {model.SCHEMA!r}"
    try:
        return model.model_validate(data)
    except ValidationError as e:
        return "invalid", _safe_errors(e)
    except (ValueError, TypeError, RecursionError) as e:  # belt and braces: never let one escape
        return "invalid", type(e).__name__


def _str_or_none(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")[:128]
    except UnicodeDecodeError:
        return None


def parse(msg: Inbound, ctx: IntakeContext, now: datetime | None = None) -> Parsed | Rejection:
    """Validate one inbound message. Never raises for bad input: it returns a Rejection."""
    now = now or datetime.now(timezone.utc)
    corr = _str_or_none(msg.correlation_data)

    def reject(code: RejectionCode, reason: str, kind: InboundKind | None = None, **kw: Any) -> Rejection:
        return Rejection(
            code,
            reason,
            msg.topic,
            kind,
            reply_topic=msg.response_topic,
            correlation_data=msg.correlation_data,
            request_id=kw.pop("request_id", corr),
            **kw,
        )

    try:
        route = ctx.topics.classify(msg.topic)
    except TopicError as e:
        code: RejectionCode = "wrong_gate" if "is for gate" in str(e) else "unknown_topic"
        return reject(code, str(e))
    kind = route.kind

    if msg.oversized_bytes is not None or len(msg.payload) > ctx.max_payload_bytes:
        size = msg.oversized_bytes if msg.oversized_bytes is not None else len(msg.payload)
        return reject("oversized", f"payload of {size} bytes exceeds {ctx.max_payload_bytes}", kind)

    data = _load_json(msg.payload)
    if isinstance(data, str):
        return reject("malformed_json", data, kind)

    if kind is InboundKind.ASSIGNMENT:
        r = _validate(Assignment, data)
        if isinstance(r, tuple):
            return reject(*r, kind)
        assert isinstance(r, Assignment)
        if r.gate != ctx.topics.gate_id:
            return reject("wrong_gate", f"assignment is for gate {r.gate!r}", kind)
        return AssignmentUpdate(r, msg.retained)

    if kind in (InboundKind.FLEET_CONFIG, InboundKind.GATE_CONFIG):
        r = _validate(ConfigDesired, data)
        if isinstance(r, tuple):
            return reject(*r, kind)
        assert isinstance(r, ConfigDesired)
        if r.gate is not None and r.gate != ctx.topics.gate_id:
            return reject("wrong_gate", f"config is for gate {r.gate!r}", kind)
        source: Literal["fleet", "gate"] = "fleet" if kind is InboundKind.FLEET_CONFIG else "gate"
        known = ctx.fleet_config_version if source == "fleet" else ctx.gate_config_version
        if r.version < known:
            return reject("stale_version", f"{source} config version {r.version} < applied {known}", kind)
        if r.version == known:
            return reject("stale_version", f"{source} config version {r.version} already applied", kind, report=False)
        return ConfigUpdate(source, r, msg.retained)

    if kind is InboundKind.COMMAND:
        assert route.command is not None
        model = COMMANDS[route.command]
        r = _validate(model, data)
        rid = data.get("request_id") if isinstance(data.get("request_id"), str) else corr
        if isinstance(r, tuple):
            return reject(*r, kind, request_id=rid)
        assert isinstance(r, CommandRequest)
        if r.gate is not None and r.gate != ctx.topics.gate_id:
            return reject("wrong_gate", f"command is for gate {r.gate!r}", kind, request_id=rid)
        return CommandItem(route.command, r, msg.response_topic, msg.correlation_data)

    # gallery response
    if corr is None or corr not in ctx.pending_gallery_requests:
        return reject("unsolicited", "gallery response without a known correlation id", kind)
    r = _validate(GalleryChunk, data)
    if isinstance(r, tuple):
        return reject(*r, kind)
    assert isinstance(r, GalleryChunk)
    return _check_chunk(r, msg, corr, ctx, now, reject)


def _check_chunk(
    c: GalleryChunk,
    msg: Inbound,
    corr: str,
    ctx: IntakeContext,
    now: datetime,
    reject: Callable[..., Rejection],
) -> GalleryChunkItem | Rejection:
    kind = InboundKind.GALLERY_RESPONSE
    if c.gate != ctx.topics.gate_id:
        return reject("wrong_gate", f"gallery is for gate {c.gate!r}", kind)
    if c.embedding_model != ctx.embedder_id or c.dim != ctx.embedder_dim:
        return reject(
            "wrong_model",
            f"gallery is for {c.embedding_model!r} dim {c.dim}, loaded is {ctx.embedder_id!r} dim {ctx.embedder_dim}",
            kind,
        )
    if c.expires_at <= now:
        return reject("expired", f"gallery expired at {c.expires_at.isoformat()}", kind)
    if c.total_entries > ctx.max_gallery_entries:
        return reject("too_large", f"{c.total_entries} entries exceed {ctx.max_gallery_entries}", kind)
    items: list[GalleryItem] = []

    def fail(code: RejectionCode, reason: str) -> Rejection:
        for it in items:
            it.wipe()
        return reject(code, reason, kind)

    for e in c.entries:
        if e.template is not None:
            arr = np.frombuffer(base64.b64decode(e.template), dtype="<f4").astype(np.float32)
            if not np.all(np.isfinite(arr)) or not np.any(arr):
                arr.fill(0)
                return fail("bad_template", f"template of entry {e.id!r} is not finite or all zero")
            items.append(GalleryItem(e.id, template=arr))
        else:
            assert e.photo is not None
            photo = bytearray(base64.b64decode(e.photo))
            if len(photo) > ctx.max_photo_bytes:
                photo[:] = bytes(len(photo))
                return fail("too_large", f"photo of entry {e.id!r} exceeds {ctx.max_photo_bytes} bytes")
            items.append(GalleryItem(e.id, photo=photo))
    return GalleryChunkItem(
        correlation_id=corr,
        flight_id=c.flight_id,
        gallery_version=c.gallery_version,
        embedding_model=c.embedding_model,
        dim=c.dim,
        expires_at=c.expires_at,
        chunk_index=c.chunk_index,
        chunk_count=c.chunk_count,
        total_entries=c.total_entries,
        items=items,
        payload_sha256=hashlib.sha256(msg.payload).digest(),
        reply_topic=msg.response_topic,
    )


@dataclass
class _Partial:
    first: GalleryChunkItem
    started: float
    chunks: dict[int, GalleryChunkItem] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)

    def wipe(self) -> None:
        for ch in self.chunks.values():
            for it in ch.items:
                it.wipe()
        self.chunks.clear()


class GalleryAssembler:
    """Collects chunks per correlation id; yields a :class:`Gallery` once every chunk is in.

    Bounded: at most ``max_pending`` galleries in assembly (the oldest is dropped), each at most
    ``max_entries`` entries, each finished within ``timeout_s`` of its first chunk (see
    :meth:`expire`). A chunk that contradicts the ones before it discards the partial gallery
    (wiping it): it could never complete correctly. Not thread-safe: use from the app's loop.
    """

    def __init__(
        self,
        max_entries: int,
        timeout_s: float,
        max_pending: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self._clock = clock
        self._partials: dict[str, _Partial] = {}

    @property
    def pending(self) -> dict[str, tuple[int, int]]:
        """correlation id -> (chunks received, chunk count): progress for logs and status."""
        return {k: (len(p.chunks), p.first.chunk_count) for k, p in self._partials.items()}

    def received_entries(self, correlation_id: str) -> int:
        p = self._partials.get(correlation_id)
        return sum(len(c.items) for c in p.chunks.values()) if p else 0

    def add(self, chunk: GalleryChunkItem) -> Gallery | Rejection | None:
        """None: waiting for more chunks (or a harmless duplicate). Rejection: chunk refused."""
        key = chunk.correlation_id
        p = self._partials.get(key)
        if p is None:
            if len(self._partials) >= self.max_pending:
                oldest = min(self._partials, key=lambda k: self._partials[k].started)
                self.discard(oldest)
            p = self._partials[key] = _Partial(chunk, self._clock())
        problem = self._conflict(p, chunk)
        if problem is not None:
            code, reason = problem
            if code == "duplicate_chunk":
                for it in chunk.items:  # a QoS1 redelivery of a chunk already held
                    it.wipe()
                return None
            for it in chunk.items:
                it.wipe()
            self.discard(key)
            return Rejection(code, reason, "", InboundKind.GALLERY_RESPONSE, chunk.reply_topic, None, key)
        p.chunks[chunk.chunk_index] = chunk
        p.ids.update(it.id for it in chunk.items)
        if len(p.chunks) < p.first.chunk_count:
            return None
        del self._partials[key]
        items = [it for i in range(p.first.chunk_count) for it in p.chunks[i].items]
        if len(items) != p.first.total_entries:
            for it in items:
                it.wipe()
            return Rejection(
                "invalid",
                f"received {len(items)} entries, total_entries says {p.first.total_entries}",
                "",
                InboundKind.GALLERY_RESPONSE,
                chunk.reply_topic,
                None,
                key,
            )
        h = hashlib.sha256()
        for i in range(p.first.chunk_count):
            h.update(p.chunks[i].payload_sha256)
        f = p.first
        return Gallery(
            key, f.flight_id, f.gallery_version, f.embedding_model, f.dim, f.expires_at, items, h.hexdigest()
        )

    def _conflict(self, p: _Partial, c: GalleryChunkItem) -> tuple[Any, str] | None:
        f = p.first
        header = (
            "flight_id",
            "gallery_version",
            "embedding_model",
            "dim",
            "expires_at",
            "chunk_count",
            "total_entries",
        )
        for name in header:
            if getattr(c, name) != getattr(f, name):
                return "invalid", f"chunk {c.chunk_index} disagrees with chunk {f.chunk_index} on {name}"
        if c.chunk_index in p.chunks:
            if p.chunks[c.chunk_index].payload_sha256 == c.payload_sha256:
                return "duplicate_chunk", ""
            return "invalid", f"chunk {c.chunk_index} received twice with different content"
        dup = p.ids.intersection(it.id for it in c.items)
        if dup:
            return "duplicate_id", f"entry id {sorted(dup)[0]!r} appears in more than one chunk"
        if sum(len(ch.items) for ch in p.chunks.values()) + len(c.items) > self.max_entries:
            return "too_large", f"gallery exceeds {self.max_entries} entries"
        return None

    def expire(self) -> list[str]:
        """Drop (and wipe) partial galleries older than the timeout; returns their correlation ids."""
        now = self._clock()
        old = [k for k, p in self._partials.items() if now - p.started > self.timeout_s]
        for k in old:
            self.discard(k)
        return old

    def discard(self, correlation_id: str) -> None:
        p = self._partials.pop(correlation_id, None)
        if p is not None:
            p.wipe()

    def wipe_all(self) -> None:
        for k in list(self._partials):
            self.discard(k)
