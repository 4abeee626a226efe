"""Signed envelopes: who said it, checked before anything else is believed. The only module that
imports ``cryptography``.

Everything that changes what a gate does (an assignment, a gallery manifest, a command, a desired
config) travels inside an envelope signed with Ed25519 by the key of one role, and so does what a
gate attests (its events and wipe attestations, signed with the gate's own key):

    {"schema": "gate-edge/signed/1", "role": "departure_control", "kid": "<16 hex>",
     "payload": "<base64 of the inner message's exact bytes>", "sig": "<base64 of 64 bytes>"}

The signature covers ``schema``, ``role`` and the payload's exact bytes (no JSON canonicalisation to
get wrong), so a message signed for one role cannot be replayed as another's. ``kid`` (the first 16
hex digits of the sha256 of the raw public key) only selects the key: several keys per role may be
trusted at once, which is how a key is rotated (install the new anchor, move the signer, remove the
old one). Trust anchors are files installed with the unit (``<trust_dir>/<role>/*.pub``, PEM);
nothing received over MQTT can add or change one.

Freshness (issue times, versions, nonces) is the inner message's business and is checked after the
signature, by whoever knows the floors; this module answers only "signed by a trusted key of this
role, and unchanged".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNED_SCHEMA: Final = "gate-edge/signed/1"
Role = Literal["departure_control", "gallery_authority", "fleet_admin", "gate"]
ROLES: Final[tuple[Role, ...]] = ("departure_control", "gallery_authority", "fleet_admin", "gate")
RefusalCode = Literal["unsigned", "wrong_role", "unknown_key", "bad_signature"]
_SIG_BYTES: Final = 64
PublicKey = Ed25519PublicKey  # for callers that hold keys without importing cryptography themselves


class EnvelopeRefused(ValueError):
    """The envelope is missing, malformed, from another role, by an unknown key, or does not verify."""

    def __init__(self, code: RefusalCode, reason: str) -> None:
        super().__init__(reason)
        self.code: RefusalCode = code
        self.reason = reason


def _signed_bytes(role: str, payload: bytes) -> bytes:
    return SIGNED_SCHEMA.encode() + b"\n" + role.encode() + b"\n" + payload


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_bytes(key)).hexdigest()[:16]


def sign(payload: bytes, role: Role, key: Ed25519PrivateKey) -> bytes:
    """The envelope (JSON bytes) for ``payload`` (the inner message's exact bytes), signed as ``role``."""
    envelope = {
        "schema": SIGNED_SCHEMA,
        "role": role,
        "kid": key_id(key.public_key()),
        "payload": base64.b64encode(payload).decode(),
        "sig": base64.b64encode(key.sign(_signed_bytes(role, payload))).decode(),
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


@dataclass(frozen=True)
class TrustAnchors:
    """The public keys trusted for each role: ``{role: {kid: key}}``. Immutable once loaded."""

    keys: Mapping[str, Mapping[str, Ed25519PublicKey]] = field(default_factory=dict)

    @classmethod
    def of(cls, anchors: Mapping[str, Iterable[Ed25519PublicKey]]) -> TrustAnchors:
        return cls({role: {key_id(k): k for k in keys} for role, keys in anchors.items()})

    @classmethod
    def load(cls, trust_dir: Path) -> TrustAnchors:
        """Every ``<trust_dir>/<role>/*.pub`` (PEM Ed25519 public key). A missing folder trusts no one
        for that role; an unreadable or non-Ed25519 file is an error naming the file."""
        found: dict[str, list[Ed25519PublicKey]] = {}
        for role in ROLES:
            folder = Path(trust_dir) / role
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.pub")):
                found.setdefault(role, []).append(read_public_key(path))
        return cls.of(found)

    def count(self, role: str) -> int:
        return len(self.keys.get(role, {}))

    def open(self, data: bytes, role: Role) -> bytes:
        """The inner payload if ``data`` is an envelope from ``role`` signed by a trusted key of it."""
        env = _parse(data)
        if env["role"] != role:
            raise EnvelopeRefused("wrong_role", f"signed as {env['role'][:40]!r}, expected {role!r}")
        key = self.keys.get(role, {}).get(env["kid"])
        if key is None:
            raise EnvelopeRefused("unknown_key", f"key {env['kid'][:32]!r} is not a trusted {role} key")
        payload, sig = _b64(env["payload"], "payload"), _b64(env["sig"], "sig")
        if len(sig) != _SIG_BYTES:
            raise EnvelopeRefused("bad_signature", "the signature is not 64 bytes")
        try:
            key.verify(sig, _signed_bytes(role, payload))
        except InvalidSignature:
            raise EnvelopeRefused("bad_signature", f"the signature does not verify with {role} key "
                                                   f"{env['kid']}") from None
        return payload


def _parse(data: bytes) -> dict[str, str]:
    try:
        env = json.loads(data)
    except (ValueError, RecursionError):
        raise EnvelopeRefused("unsigned", "not a signed envelope (not JSON)") from None
    if not isinstance(env, dict) or env.get("schema") != SIGNED_SCHEMA:
        raise EnvelopeRefused("unsigned", f"not a signed envelope (schema must be {SIGNED_SCHEMA!r})")
    fields = ("role", "kid", "payload", "sig")
    if set(env) != {"schema", *fields} or not all(isinstance(env[f], str) for f in fields):
        raise EnvelopeRefused("unsigned", "a signed envelope has exactly the string fields schema, "
                                          + ", ".join(fields))
    return env


def _b64(text: str, what: str) -> bytes:
    """Strict and canonical: "QQ==" and "QR==" both decode to b"A", so only the canonical spelling is
    accepted and no byte of an envelope can change without it being refused."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeRefused("bad_signature", f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode() != text:
        raise EnvelopeRefused("bad_signature", f"{what} is not canonical base64")
    return raw


def unverified_payload(data: bytes) -> bytes:
    """The inner payload of an envelope WITHOUT checking the signature: for displays and watchers
    that only show what went by. Anything that acts on a message uses :meth:`TrustAnchors.open`."""
    return _b64(_parse(data)["payload"], "payload")


def display_json(data: bytes) -> object:
    """A message as JSON for watchers and displays: a signed one is unwrapped (not verified).
    Raises ValueError for anything that is not JSON."""
    body = json.loads(data)
    if isinstance(body, dict) and body.get("schema") == SIGNED_SCHEMA:
        try:
            return json.loads(unverified_payload(data))
        except EnvelopeRefused as exc:
            raise ValueError(str(exc)) from None
    return body


class Signer:
    """Signs as one role with one private key (the gate signs its events and attestations)."""

    def __init__(self, role: Role, key: Ed25519PrivateKey) -> None:
        self.role: Role = role
        self._key = key
        self.key_id = key_id(key.public_key())
        self.public_pem = public_pem(key.public_key()).decode()

    def __call__(self, payload: bytes) -> bytes:
        return sign(payload, self.role, self._key)


# ----------------------------------------------------------------------------- key files
def public_key_from_pem(pem: bytes, where: str = "public key") -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ValueError(f"{where}: cannot read an Ed25519 public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{where}: not an Ed25519 public key")
    return key


def read_public_key(path: Path) -> Ed25519PublicKey:
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"trust anchor {path}: cannot read it ({exc})") from exc
    return public_key_from_pem(pem, f"trust anchor {path}")


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """The key in ``path`` (PEM, PKCS8); made there at first use, readable by its owner only."""
    path = Path(path)
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, even briefly
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem(key))
        fh.flush()
        os.fsync(fh.fileno())
    return key
