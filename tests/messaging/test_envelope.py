"""Signed envelopes: the right role's trusted key verifies; anything else, and any changed byte, is refused."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.messaging.envelope import (
    EnvelopeRefused,
    TrustAnchors,
    key_id,
    load_or_create_private_key,
    public_pem,
    sign,
)

DCS = Ed25519PrivateKey.generate()
FLEET = Ed25519PrivateKey.generate()
ANCHORS = TrustAnchors.of({"departure_control": [DCS.public_key()], "fleet_admin": [FLEET.public_key()]})
INNER = b'{"schema":"gate-edge/assignment/1","gate":"G1","flight_id":"F1","issued_at":"2026-12-02T08:00:00Z"}'
SIGNED = sign(INNER, "departure_control", DCS)


def refused(data: bytes, role: str = "departure_control") -> str:
    with pytest.raises(EnvelopeRefused) as exc:
        ANCHORS.open(data, role)  # type: ignore[arg-type]
    return exc.value.code


def test_the_right_role_and_key_verify() -> None:
    assert ANCHORS.open(SIGNED, "departure_control") == INNER


def test_unsigned_wrong_role_unknown_key_and_forgery_are_refused() -> None:
    assert refused(INNER) == "unsigned"
    assert refused(b"not json") == "unsigned"
    assert refused(SIGNED, "fleet_admin") == "wrong_role"
    assert refused(sign(INNER, "departure_control", Ed25519PrivateKey.generate())) == "unknown_key"
    # A trusted key of another role signing as departure control: its kid is unknown for that role.
    assert refused(sign(INNER, "departure_control", FLEET)) == "unknown_key"
    env = json.loads(SIGNED)
    other_flight = json.loads(sign(INNER.replace(b"F1", b"F2"), "departure_control", FLEET))["payload"]
    assert refused(json.dumps({**env, "payload": other_flight}).encode()) == "bad_signature"  # DCS's kid and sig
    assert refused(json.dumps({**env, "extra": 1}).encode()) == "unsigned"


def test_a_signature_for_one_role_does_not_verify_as_another() -> None:
    both = TrustAnchors.of({"departure_control": [DCS.public_key()], "fleet_admin": [DCS.public_key()]})
    env = json.loads(SIGNED)
    env["role"] = "fleet_admin"  # same key trusted for both roles: the role is inside what was signed
    with pytest.raises(EnvelopeRefused) as exc:
        both.open(json.dumps(env).encode(), "fleet_admin")
    assert exc.value.code == "bad_signature"


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_any_changed_byte_is_refused(data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(SIGNED) - 1))
    b = data.draw(st.integers(0, 255).filter(lambda v: v != SIGNED[i]))
    changed = SIGNED[:i] + bytes([b]) + SIGNED[i + 1:]
    with pytest.raises(EnvelopeRefused):
        ANCHORS.open(changed, "departure_control")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_only_ever_raises_the_refusal(blob: bytes) -> None:
    with pytest.raises(EnvelopeRefused):
        ANCHORS.open(blob, "departure_control")


def test_anchors_load_from_files_per_role_and_rotate(tmp_path: Path) -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    (tmp_path / "gallery_authority").mkdir()
    (tmp_path / "gallery_authority" / "2026.pub").write_bytes(public_pem(old.public_key()))
    (tmp_path / "gallery_authority" / "2027.pub").write_bytes(public_pem(new.public_key()))
    anchors = TrustAnchors.load(tmp_path)
    assert anchors.count("gallery_authority") == 2 and anchors.count("fleet_admin") == 0
    for key in (old, new):  # both verify during the rotation
        assert anchors.open(sign(b"x", "gallery_authority", key), "gallery_authority") == b"x"
    (tmp_path / "gallery_authority" / "2026.pub").unlink()  # the old key is retired
    with pytest.raises(EnvelopeRefused):
        TrustAnchors.load(tmp_path).open(sign(b"x", "gallery_authority", old), "gallery_authority")
    (tmp_path / "fleet_admin").mkdir()
    (tmp_path / "fleet_admin" / "bad.pub").write_text("not a key")
    with pytest.raises(ValueError, match=r"bad\.pub"):
        TrustAnchors.load(tmp_path)


def test_the_gate_key_is_made_once_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "gate-key.pem"
    key = load_or_create_private_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_or_create_private_key(path)
    assert key_id(again.public_key()) == key_id(key.public_key())
