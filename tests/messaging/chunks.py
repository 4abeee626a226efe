"""Builders of inbound test messages: gallery chunks, templates, photos, Inbound records."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.messaging.envelope import TrustAnchors, sign
from edge.messaging.intake import IntakeContext
from edge.messaging.schemas import GalleryManifest
from edge.messaging.topics import Topics
from edge.messaging.wire import Inbound

from .conftest import FACES

T = Topics("G1")
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
CTX = IntakeContext(T, "sface_2021dec", 128, max_payload_bytes=4 * 1024 * 1024, fleet_config_version=3,
                    gate_config_version=5)
PHOTO = next(FACES.glob("*/*.jpg")).read_bytes()


def tmpl(seed: int, dim: int = 128) -> str:
    v = np.random.default_rng(seed).standard_normal(dim).astype("<f4")
    return base64.b64encode(v.tobytes()).decode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


AUTHORITY = Ed25519PrivateKey.generate()  # the gallery authority of these tests
TRUST = TrustAnchors.of({"gallery_authority": [AUTHORITY.public_key()]})


def _default_entries(i: int) -> list[dict[str, Any]]:
    return [{"id": f"P{i}a", "template": tmpl(i)}, {"id": f"P{i}b", "template": tmpl(100 + i)}]


def _digest(value: object) -> str:
    """sha256 of an entry's decoded bytes; of the value's text when it is not base64 (a test of bad input)."""
    try:
        return hashlib.sha256(base64.b64decode(str(value), validate=True)).hexdigest()
    except ValueError:
        return hashlib.sha256(repr(value).encode()).hexdigest()


def manifest(first: dict[str, Any], entries: list[dict[str, Any]], request_id: str = "req1") -> str:
    """The signed manifest of a gallery whose chunk 0 is ``first`` and whose entries are ``entries``
    (built as plain JSON, so that tests of malformed chunks can carry one too)."""
    body = {"schema": GalleryManifest.SCHEMA, "request_id": request_id, "issued_at": NOW.isoformat(),
            **{k: first.get(k) for k in ("gate", "flight_id", "gallery_version", "embedding_model", "dim",
                                          "expires_at", "chunk_count")},
            "entries": [{"id": e.get("id"), "sha256": _digest(e.get("photo") or e.get("template"))} for e in entries]}
    return sign(json.dumps(body).encode(), "gallery_authority", AUTHORITY).decode()


def chunk(i: int = 0, n: int = 1, entries: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    """Chunk ``i`` of ``n`` of flight LH123's gallery: two template entries each, unless ``entries``.
    Chunk 0 carries the signed manifest of the whole gallery (the default entries of all ``n`` chunks,
    or ``entries`` for a one-chunk gallery) unless ``manifest`` is given (None: no manifest)."""
    body: dict[str, Any] = {
        "schema": "gate-edge/gallery/1",
        "gate": "G1",
        "flight_id": "LH123",
        "gallery_version": 7,
        "embedding_model": "sface_2021dec",
        "dim": 128,
        "expires_at": (NOW + timedelta(hours=1)).isoformat(),
        "chunk_index": i,
        "chunk_count": n,
        "total_entries": 2 * n,
        "entries": entries if entries is not None else _default_entries(i),
    }
    body.update(kw)
    if i == 0 and "manifest" not in kw and body["entries"]:
        everything = body["entries"] if entries is not None else [e for j in range(n) for e in _default_entries(j)]
        body["manifest"] = manifest(body, everything)
    if body.get("manifest") is None:
        body.pop("manifest", None)
    return body


def msg(topic: str, body: Any, corr: bytes | None = b"req1", reply: str | None = "gate/v1/G1/replies/x") -> Inbound:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Inbound(topic, payload, response_topic=reply, correlation_data=corr)
