"""A fixed test PKI for link-level tests: one Ed25519 key per signing role, and the anchors that trust them.

Gates act on an assignment, a desired config or a command only when it comes signed by a trusted key
of its role (edge/messaging/authenticate.py). Tests that drive a :class:`GateLink` directly sign what
they publish with :func:`signed` (or a :func:`signer`) and give the link :data:`TRUST`. The keys are
derived from fixed seeds, so a failing test signs the same bytes on every run; they are test keys and
trust nothing outside the tests. Daemon tests use the simulated world's own keys instead
(``gate_sim.world``), which its gates trust through ``security.trust_dir``.

Forgeries for the refusal tests: :func:`stranger` (a key nobody trusts), :func:`tampered` (the
inner message changed after signing, the signature kept).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.messaging.envelope import Role, Signer, TrustAnchors

SIGNING_ROLES: tuple[Role, ...] = ("departure_control", "gallery_authority", "fleet_admin")


def role_key(role: Role) -> Ed25519PrivateKey:
    """The fixed test key of ``role`` (from a seed named after it)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"gate-edge test key: {role}".encode()).digest())


# Every signing role's test key, trusted for that role only.
TRUST = TrustAnchors.of({role: [role_key(role).public_key()] for role in SIGNING_ROLES})


def signer(role: Role) -> Signer:
    """Signs as ``role`` with its trusted test key."""
    return Signer(role, role_key(role))


def _bytes(payload: bytes | Mapping[str, Any]) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def signed(payload: bytes | Mapping[str, Any], role: Role) -> bytes:
    """The envelope of ``payload`` (bytes as they are, a mapping as JSON) signed as ``role``."""
    return signer(role)(_bytes(payload))


def stranger(role: Role) -> Signer:
    """Signs as ``role`` with a fresh key that no anchor trusts (refused as ``unknown_key``)."""
    return Signer(role, Ed25519PrivateKey.generate())


def tampered(envelope: bytes, old: bytes, new: bytes) -> bytes:
    """``envelope`` with ``old`` replaced by ``new`` (once) in its inner message, the signature kept:
    what an attacker who edits a recorded message sends (refused as ``bad_signature``)."""
    env = json.loads(envelope)
    inner = base64.b64decode(env["payload"])
    assert inner.count(old) == 1, f"{old!r} is not in the signed message exactly once"
    env["payload"] = base64.b64encode(inner.replace(old, new)).decode()
    return json.dumps(env, separators=(",", ":")).encode()

