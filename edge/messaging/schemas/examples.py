"""One realistic example of every message, as it travels (JSON), for `gate-edge schema` and the AsyncAPI
document (tests/contract checks each against its model and its JSON Schema).

One gate (``fra-b24``) boards one flight: departure control assigns it, the gate asks for the gallery
and gets it in one chunk whose manifest the gallery authority signs, the traveller matches, the flight
closes and the gallery is wiped. Ids are made up; entry ids are opaque tokens, never names.

Messages that change what a gate does, and the gate's events, wipe attestations and enrolment reports,
travel inside a signed envelope (:mod:`edge.messaging.envelope`): :func:`signed_example` wraps an example
the same way.
Example envelopes carry a placeholder signature of the right size, made without any key: they show the
shape and do not verify.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import math
import struct
from typing import Any, Final

GATE: Final = "fra-b24"
FLIGHT: Final = "LH400.FRA-JFK.2612"
REQUEST: Final = "5b0f7c2a9d4e4f7f8a61c3d2e1f0a9b8"
ENTRY: Final = "tv-8KQ2ZP7WXN4M"
DIM: Final = 128
SIGNED: Final = "gate-edge/signed/1"  # edge.messaging.envelope.SIGNED_SCHEMA, without loading cryptography
_EXAMPLE_KID: Final = hashlib.sha256(b"gate-edge example key").hexdigest()[:16]
# The gate's public key in the status: 32 made-up bytes behind the DER prefix of an Ed25519 public key.
_GATE_KEY: Final = hashlib.sha256(b"gate-edge example gate key").digest()
_ED25519_DER: Final = bytes.fromhex("302a300506032b6570032100")


def _template() -> bytes:
    """A unit-length float32 little-endian template (what an embedder's output looks like)."""
    raw = [math.sin(1.7 * i + 0.3) for i in range(DIM)]
    norm = math.sqrt(sum(v * v for v in raw))
    return struct.pack(f"<{DIM}f", *(v / norm for v in raw))


def _compact(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def signed_example(message: dict[str, Any], role: str) -> dict[str, Any]:
    """``message`` in a signed envelope of ``role``, as it travels; the signature is a placeholder."""
    payload = _compact(message)
    return {
        "schema": SIGNED,
        "role": role,
        "kid": _EXAMPLE_KID,
        "payload": base64.b64encode(payload).decode(),
        "sig": base64.b64encode(hashlib.sha512(role.encode() + payload).digest()).decode(),
    }


def _command(name: str, minute: int, **extra: Any) -> dict[str, Any]:
    return {"schema": "gate-edge/cmd/1", "request_id": f"ops-{name}-0{minute}", "gate": GATE,
            "issued_at": f"2026-12-02T09:{minute:02d}:00Z", **extra}


@functools.cache
def _examples() -> dict[str, dict[str, Any]]:
    template = _template()
    manifest = {
        "schema": "gate-edge/gallery-manifest/1", "gate": GATE, "flight_id": FLIGHT, "request_id": REQUEST,
        "gallery_version": 3, "embedding_model": "sface_2021dec", "dim": DIM,
        "issued_at": "2026-12-02T08:05:12Z", "expires_at": "2026-12-02T10:30:00Z", "chunk_count": 1,
        "entries": [{"id": ENTRY, "sha256": hashlib.sha256(template).hexdigest()}],
    }
    latency = {"p50": 212.4, "p95": 389.0, "count": 57}
    chunk = {
        "schema": "gate-edge/gallery/1", "gate": GATE, "flight_id": FLIGHT, "gallery_version": 3,
        "embedding_model": "sface_2021dec", "dim": DIM, "expires_at": "2026-12-02T10:30:00Z",
        "chunk_index": 0, "chunk_count": 1, "total_entries": 1,
        "entries": [{"id": ENTRY, "template": base64.b64encode(template).decode(), "photo": None}],
        "manifest": _compact(signed_example(manifest, "gallery_authority")).decode(),
    }
    return {
        "assignment": {
            "schema": "gate-edge/assignment/1", "gate": GATE, "flight_id": FLIGHT,
            "departure": "2026-12-02T10:15:00Z", "close_time": "2026-12-02T09:55:00Z",
            "issued_at": "2026-12-02T08:00:00Z",
        },
        "gallery_request": {
            "schema": "gate-edge/gallery-request/1", "gate": GATE, "flight_id": FLIGHT, "request_id": REQUEST,
            "embedding_model": "sface_2021dec", "dim": DIM, "accept": ["template", "photo"],
            "requested_at": "2026-12-02T08:05:10.412Z",
        },
        "gallery_chunk": chunk,
        "gallery_manifest": manifest,
        "event": {
            "schema": "gate-edge/event/1", "event_id": "3f6c1e9a-7d2b-4c58-9e0f-2a4b6c8d0e1f", "seq": 41,
            "gate": GATE, "flight_id": FLIGHT, "transaction_id": "7e3d9c1b5a2f4e6d8c0b", "outcome": "match",
            "matched_id": ENTRY, "score": 0.6132, "runner_up_score": 0.2145, "frames_used": 3,
            "latency_ms": {"detect": 18.2, "align": 0.9, "embed": 21.7, "search": 0.3, "total": 412.6},
            "started_at": "2026-12-02T09:12:03.118Z", "decided_at": "2026-12-02T09:12:03.530Z",
            "config_version": 7, "gallery_version": 3,
        },
        "wipe_attestation": {
            "schema": "gate-edge/wipe/1", "attestation_id": "c2a4e6f8-1b3d-4f5a-8c7e-9d0b1a2c3e4f", "gate": GATE,
            "flight_id": FLIGHT, "gallery_version": 3, "entries_wiped": 1, "reason": "flight_close",
            "wiped_at": "2026-12-02T09:55:00.204Z",
            # gallery_digest of the one chunk received (sha256 over each chunk payload's sha256)
            "received_sha256": hashlib.sha256(hashlib.sha256(_compact(chunk)).digest()).hexdigest(),
        },
        # The story's gallery came as a template, which is not judged; had its entry come as a photo, the
        # gate would tell the gallery service how it enrolled (same flight, version and digest).
        "enrolment_report": {
            "schema": "gate-edge/enrolment-report/1", "flight_id": FLIGHT, "gallery_version": 3,
            "received_sha256": hashlib.sha256(hashlib.sha256(_compact(chunk)).digest()).hexdigest(),
            "entries": [{"id": ENTRY, "verdict": "ok"}],
        },
        "config_desired": {
            "schema": "gate-edge/config-desired/1", "version": 8, "gate": GATE,
            "config": {"decision": {"threshold": 0.5, "votes_required": 2}, "telemetry": {"interval_s": 60}},
        },
        "config_reported": {
            "schema": "gate-edge/config-reported/1", "gate": GATE, "status": "rejected", "version": 9,
            "applied_version": 8,
            "errors": [{"path": "decision.treshold", "value": "<unknown key>", "expected": "a known key",
                        "suggestion": "threshold"}],
            "reported_at": "2026-12-02T09:20:01.771Z",
        },
        "cmd_wipe": _command("wipe", 30),
        "cmd_opt_out": _command("opt_out", 14, duration_s=30),
        "cmd_pause": _command("pause", 16),
        "cmd_resume": _command("resume", 18),
        "cmd_close_flight": _command("close_flight", 55, flight_id=FLIGHT),
        "cmd_restart": _command("restart", 21),
        "command_reply": {
            "schema": "gate-edge/cmd-reply/1", "gate": GATE, "command": "opt_out", "request_id": "ops-opt_out-014",
            "result": "accepted",
            "reason": "the next traveller is not captured (at most 30 s)", "replied_at": "2026-12-02T09:14:00.352Z",
        },
        "rejection": {
            "schema": "gate-edge/rejection/1", "gate": GATE, "topic": f"gate/v1/{GATE}/cmd/pause",
            "code": "expired", "reason": "command issued at 2026-12-02T08:40:00Z is older than 300 s",
            "request_id": "ops-pause-040", "rejected_at": "2026-12-02T09:16:00.090Z",
        },
        "status": {
            "schema": "gate-edge/status/2", "gate": GATE, "online": True, "software_version": "0.1.0",
            "models": {"yunet_2023mar": "8f2383e4dd3cfbb4", "sface_2021dec": "0ba9fbfa01b5270c"},
            "config_version": 7,
            "gallery": {"flight_id": FLIGHT, "gallery_version": 3, "state": "live", "entries": 1, "loaded": 1,
                        "expires_at": "2026-12-02T10:30:00Z"},
            "camera": "ok", "broker": "connected", "broker_address": "mqtt-1.gates.example:8883", "paused": False,
            "key_id": hashlib.sha256(_GATE_KEY).hexdigest()[:16],
            "public_key": "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(_ED25519_DER + _GATE_KEY).decode()
                          + "\n-----END PUBLIC KEY-----\n",
            "outbox_depth": 0, "last_event_at": "2026-12-02T09:12:03.530Z", "last_outcome": "match",
            "online_since": "2026-12-02T07:58:41.006Z", "sent_at": "2026-12-02T09:12:04.001Z",
        },
        "telemetry": {
            "schema": "gate-edge/telemetry/1", "gate": GATE, "time": "2026-12-02T09:30:00.000Z", "interval_s": 30,
            "counters": {
                "transactions": 57, "matches": 52, "non_matches": 2, "failures_to_acquire": 1, "timeouts": 1,
                "opt_outs": 1, "frames_dropped": 12, "frames_in": 91234, "frames_analysed": 45012,
                "outbox_depth": 0, "outbox_dropped": 0, "outbox_refused": 0, "messages_rejected": 1,
                "inbound_dropped": 0,
            },
            "latency_ms": latency, "camera": "ok", "frame_rate_fps": 29.9,
            "quality_rejections": {"too_small": 310, "blurred": 42, "pose": 97, "too_dark": 0, "too_bright": 4},
            "stage_latency_ms": {"detect": {"p50": 17.9, "p95": 24.1, "count": 45012},
                                 "embed": {"p50": 21.3, "p95": 27.8, "count": 1520}},
            "rss_bytes": 412_000_000, "cpu_temperature_c": 61.5, "uptime_s": 5519.2,
        },
    }


def examples() -> dict[str, dict[str, Any]]:
    """Every message's example, keyed like :data:`edge.messaging.schemas.ALL_MESSAGES` (a fresh copy)."""
    return copy.deepcopy(_examples())
