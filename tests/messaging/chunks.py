"""Builders of inbound test messages: gallery chunks, templates, photos, Inbound records."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from edge.messaging.intake import IntakeContext
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


def chunk(i: int = 0, n: int = 1, entries: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    """Chunk ``i`` of ``n`` of flight LH123's gallery: two template entries each, unless ``entries``."""
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
        "entries": entries
        if entries is not None
        else [{"id": f"P{i}a", "template": tmpl(i)}, {"id": f"P{i}b", "template": tmpl(100 + i)}],
    }
    body.update(kw)
    return body


def msg(topic: str, body: Any, corr: bytes | None = b"req1", reply: str | None = "gate/v1/G1/replies/x") -> Inbound:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Inbound(topic, payload, response_topic=reply, correlation_data=corr)
