"""Inbound messages -> typed items or a :class:`~edge.messaging.items.Rejection`. Pure: no paho, no
sockets, no files, no clock (the caller passes ``now``), no state.

:func:`parse` validates one message against its topic's schema and the device's expectations
(:class:`IntakeContext`: gate, loaded embedder, payload limit, config versions already applied).
Whether a gallery chunk was asked for is not known here: that is decided by the request's owner,
:class:`edge.messaging.gallery_requests.GalleryRequests`, which then calls :func:`decode_entries`
to decode the chunk's base64 exactly once, into buffers that can be wiped.

Every failure is a rejection with a machine code and a reason safe to publish: reasons name the
field and the rule, never the offending value (it could be a template or a photo).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError

from edge.core.gallery import GalleryItem
from edge.core.image_header import ImageHeaderError, read_header
from edge.messaging.b64 import Base64Error, b64decode, decoded_size
from edge.messaging.items import (
    AssignmentUpdate,
    CommandItem,
    ConfigUpdate,
    GalleryChunkItem,
    Parsed,
    Rejection,
)
from edge.messaging.schemas import (
    COMMANDS,
    Assignment,
    CommandRequest,
    ConfigDesired,
    GalleryChunk,
    GalleryEntry,
    InboundMessage,
    RejectionCode,
)
from edge.messaging.topics import InboundKind, TopicError, Topics
from edge.messaging.wire import Inbound


@dataclass(frozen=True)
class IntakeContext:
    """The device's expectations, given by the app (it owns the embedder and the applied config)."""

    topics: Topics
    embedder_id: str
    embedder_dim: int
    max_payload_bytes: int  # the client's limit (MqttConfig.max_payload_bytes)
    fleet_config_version: int = -1  # highest version already applied from each source
    gate_config_version: int = -1


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


def correlation_text(data: bytes | None) -> str | None:
    """MQTT v5 correlation data as the request id it carries (None if absent or not UTF-8)."""
    if data is None:
        return None
    try:
        return data.decode("utf-8")[:128]
    except UnicodeDecodeError:
        return None


def parse(msg: Inbound, ctx: IntakeContext, now: datetime | None = None) -> Parsed | Rejection:
    """Validate one inbound message. Never raises for bad input: it returns a Rejection."""
    now = now or datetime.now(timezone.utc)
    corr = correlation_text(msg.correlation_data)

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
        return AssignmentUpdate(r, msg.retained, msg.response_topic, msg.correlation_data)

    if kind in (InboundKind.FLEET_CONFIG, InboundKind.GATE_CONFIG):
        r = _validate(ConfigDesired, data)
        if isinstance(r, tuple):
            return reject(*r, kind)
        assert isinstance(r, ConfigDesired)
        if r.gate is not None and r.gate != ctx.topics.gate_id:
            return reject("wrong_gate", f"config is for gate {r.gate!r}", kind, version=r.version)
        source: Literal["fleet", "gate"] = "fleet" if kind is InboundKind.FLEET_CONFIG else "gate"
        known = ctx.fleet_config_version if source == "fleet" else ctx.gate_config_version
        if r.version < known:
            msg_ = f"{source} config version {r.version} < applied {known}"
            return reject("stale_version", msg_, kind, version=r.version)
        if r.version == known:
            msg_ = f"{source} config version {r.version} already applied"
            return reject("stale_version", msg_, kind, report=False, version=r.version)
        return ConfigUpdate(source, r, msg.retained, msg.response_topic, msg.correlation_data)

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

    # gallery response: header checks here; solicited or not, and the entries, are the request owner's
    r = _validate(GalleryChunk, data)
    if isinstance(r, tuple):
        return reject(*r, kind)
    assert isinstance(r, GalleryChunk)
    return _check_chunk(r, msg, corr, ctx, now, reject)


def _check_chunk(
    c: GalleryChunk,
    msg: Inbound,
    corr: str | None,
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
    return GalleryChunkItem(
        chunk=c,
        correlation_id=corr,
        payload_sha256=hashlib.sha256(msg.payload).digest(),
        topic=msg.topic,
        reply_topic=msg.response_topic,
        correlation_data=msg.correlation_data,
    )


# --------------------------------------------------------------------------- decoding entries
def _template_chars(dim: int) -> int:
    """Length of the base64 text of ``dim`` float32 values (padded)."""
    return (4 * dim + 2) // 3 * 4


def photo_bytes(text: str) -> int:
    """The bytes the base64 ``text`` of a photo decodes to, from its length and padding alone (exact
    for valid base64; what is not valid is refused when decoded)."""
    return decoded_size(len(text)) - (2 if text.endswith("==") else 1 if text.endswith("=") else 0)


def _decode_photo(
    e: GalleryEntry, max_photo_bytes: int, max_photo_pixels: int
) -> GalleryItem | tuple[RejectionCode, str]:
    assert e.photo is not None
    # The decoded size is known from the text (length and padding): refuse before decoding.
    if photo_bytes(e.photo) > max_photo_bytes:
        return "too_large", f"photo of entry {e.id!r} exceeds {max_photo_bytes} bytes"
    try:
        photo = b64decode(e.photo)
    except Base64Error as exc:
        return "invalid", f"photo of entry {e.id!r} is not valid base64: {exc}"
    # What a decoder would allocate is what the header declares: a small file can declare a huge
    # image (a decompression bomb), so the declared size is checked here, before anything decodes it.
    try:
        header = read_header(photo)
    except ImageHeaderError as exc:
        photo.fill(0)
        return "invalid", f"photo of entry {e.id!r} has no readable JPEG, PNG or WebP header: {exc}"
    if header.pixels > max_photo_pixels:
        photo.fill(0)
        declared = f"{header.width}x{header.height} ({header.pixels} pixels)"
        return "too_large", f"photo of entry {e.id!r} declares {declared}, more than {max_photo_pixels} pixels"
    return GalleryItem(e.id, photo=photo)


def _decode_entry(
    e: GalleryEntry, dim: int, max_photo_bytes: int, max_photo_pixels: int
) -> GalleryItem | tuple[RejectionCode, str]:
    """Decode one entry into wipeable buffers; on refusal nothing decoded is left unwiped."""
    if e.template is None:
        return _decode_photo(e, max_photo_bytes, max_photo_pixels)
    if len(e.template) != _template_chars(dim):  # cheap: refused before anything is decoded
        return "invalid", f"template of entry {e.id!r} is not {dim} float32 values"
    try:
        raw = b64decode(e.template)
    except Base64Error as exc:
        return "invalid", f"template of entry {e.id!r} is not valid base64: {exc}"
    if len(raw) != 4 * dim:
        raw.fill(0)
        return "invalid", f"template of entry {e.id!r} is not {dim} float32 values"
    template = raw.view("<f4")  # shares raw's memory: wiping the template wipes the decoded bytes
    if not bool(np.isfinite(template).all()) or not bool(template.any()):
        raw.fill(0)
        return "bad_template", f"template of entry {e.id!r} is not finite or all zero"
    return GalleryItem(e.id, template=template)


def decode_entries(
    chunk: GalleryChunk, max_photo_bytes: int, max_photo_pixels: int
) -> list[GalleryItem] | tuple[RejectionCode, str]:
    """Decode a chunk's entries, each base64 field once, into buffers that :meth:`GalleryItem.wipe`
    zeroes. Checks photo size, header and declared pixel count, and template length and values. On
    the first bad entry, everything decoded so far is wiped and ``(code, reason)`` returned."""
    items: list[GalleryItem] = []
    for e in chunk.entries:
        got = _decode_entry(e, chunk.dim, max_photo_bytes, max_photo_pixels)
        if isinstance(got, tuple):
            for it in items:
                it.wipe()
            return got
        items.append(got)
    return items
