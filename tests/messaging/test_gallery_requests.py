"""The gallery request's one owner: solicited or not, right flight, assembly, limits, one deadline,
and base64 decoded once into buffers that every refusal wipes."""

from __future__ import annotations

import base64
import json
from typing import Any

import cv2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.core.gallery import Gallery
from edge.messaging import intake
from edge.messaging.envelope import sign
from edge.messaging.gallery_requests import GalleryRequests
from edge.messaging.intake import decode_entries, parse
from edge.messaging.items import GalleryChunkItem, GalleryFailed, GalleryReady, Rejection
from edge.messaging.schemas import GalleryChunk, gallery_digest
from edge.messaging.settings import IntakeLimits

from .chunks import CTX, NOW, PHOTO, TRUST, T, b64, chunk, manifest, msg, tmpl

_TINY = np.random.default_rng(0).integers(0, 256, (12, 10, 3), np.uint8)
PNG = cv2.imencode(".png", _TINY)[1].tobytes()
WEBP = cv2.imencode(".webp", _TINY)[1].tobytes()


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def item(body: dict[str, Any], corr: bytes | None = b"req1") -> GalleryChunkItem:
    r = parse(msg(T.gallery_response, body, corr=corr), CTX, NOW)
    assert isinstance(r, GalleryChunkItem), r
    return r


def owner(limits: IntakeLimits | None = None, clock: Clock | None = None, flight: str = "LH123") -> GalleryRequests:
    g = GalleryRequests(limits or IntakeLimits(), TRUST, clock or Clock())
    g.opened("req1", flight)
    return g


def codes(results: list[Any]) -> list[str]:
    return [r.code if isinstance(r, Rejection) else type(r).__name__ for r in results]


def held_templates(g: GalleryRequests) -> list[np.ndarray]:
    """The buffers of the partial gallery (reached through the private request, to prove they get wiped)."""
    r = g._request
    assert r is not None
    return [it.template for c in r.chunks.values() for it in c.items if it.template is not None]


# --------------------------------------------------------------------------- assembly
def test_the_gallery_comes_out_only_when_every_chunk_is_in_whatever_the_order() -> None:
    g = owner()
    bodies = [chunk(i, 3) for i in range(3)]
    assert g.add(item(bodies[2])) == []
    assert g.add(item(bodies[0])) == []
    assert g.add(item(bodies[0])) == []  # a QoS 1 redelivery: ignored
    p = g.progress
    assert p is not None and (p.request_id, p.flight_id, p.chunks_received, p.chunk_count) == ("req1", "LH123", 2, 3)
    (ready,) = g.add(item(bodies[1]))
    assert isinstance(ready, GalleryReady) and ready.request_id == "req1" and ready.flight_id == "LH123"
    gal = ready.gallery
    assert isinstance(gal, Gallery) and len(gal) == 6 and gal.version == 7 and gal.correlation_id == "req1"
    assert [i.id for i in gal.items] == ["P0a", "P0b", "P1a", "P1b", "P2a", "P2b"]
    # The one digest function, over what was sent, equals what the gate computed from what it received.
    assert gal.sha256 == gallery_digest(json.dumps(b).encode() for b in bodies)
    first = gal.items[0].template
    assert first is not None and first.dtype == np.float32 and first.shape == (128,)
    assert first.tobytes() == base64.b64decode(tmpl(0))
    templates = [i.template for i in gal.items]
    assert gal.wipe() == 6 and all(t is not None and not t.any() for t in templates)
    assert g.progress is None  # done: a late duplicate is now unsolicited
    assert codes(g.add(item(bodies[0]))) == ["unsolicited"]


@pytest.mark.parametrize("corr", [b"someone-else", None])
def test_a_chunk_nobody_asked_for_is_refused_and_fails_nothing(corr: bytes | None) -> None:
    g = owner()
    (r,) = g.add(item(chunk(), corr=corr))
    assert isinstance(r, Rejection) and r.code == "unsolicited" and r.topic == T.gallery_response
    assert g.progress is not None  # the outstanding request is untouched
    assert codes(GalleryRequests(IntakeLimits(), TRUST).add(item(chunk()))) == ["unsolicited"]  # nothing outstanding


def test_a_chunk_of_another_flight_is_refused_with_both_flights_named_and_the_request_fails() -> None:
    g = owner(flight="LH123")
    assert g.add(item(chunk(0, 2))) == []
    held = held_templates(g)
    rejection, failed = g.add(item(chunk(1, 2, flight_id="BA456")))
    assert isinstance(rejection, Rejection) and rejection.code == "wrong_flight"
    assert "BA456" in rejection.reason and "LH123" in rejection.reason and rejection.request_id == "req1"
    assert isinstance(failed, GalleryFailed) and failed.request_id == "req1" and failed.flight_id == "LH123"
    assert "wrong_flight" in failed.reason
    assert held and not any(t.any() for t in held)  # the partial gallery is wiped
    assert g.progress is None  # the daemon retries; nothing is left 'loading'
    # ...also when the very first chunk is the wrong flight's
    g2 = owner(flight="LH999")
    assert codes(g2.add(item(chunk()))) == ["wrong_flight", "GalleryFailed"]


def test_inconsistent_chunks_fail_the_request_and_wipe_the_partial() -> None:
    g = owner()
    assert g.add(item(chunk(0, 2))) == []
    held = held_templates(g)
    assert codes(g.add(item(chunk(1, 2, gallery_version=8)))) == ["invalid", "GalleryFailed"]
    assert not any(t.any() for t in held)
    g = owner()
    assert g.add(item(chunk(0, 2))) == []
    dup = chunk(1, 2, entries=[{"id": "P0a", "template": tmpl(5)}, {"id": "Q", "template": tmpl(6)}])
    assert codes(g.add(item(dup))) == ["duplicate_id", "GalleryFailed"]
    g = owner()
    assert g.add(item(chunk(0, 2))) == []
    changed = chunk(0, 2, entries=[{"id": "P0a", "template": tmpl(7)}, {"id": "P0b", "template": tmpl(8)}])
    assert codes(g.add(item(changed))) == ["invalid", "GalleryFailed"]  # same index, other content
    g = owner()
    assert codes(g.add(item(chunk(total_entries=1)))) == ["invalid", "GalleryFailed"]


def test_a_refused_chunk_of_the_outstanding_request_fails_it() -> None:
    g = owner()
    assert g.add(item(chunk(0, 2))) == []
    bad = parse(msg(T.gallery_response, b"{oops"), CTX, NOW)
    assert isinstance(bad, Rejection)
    failed = g.refused(bad)
    assert isinstance(failed, GalleryFailed) and failed.reason.startswith("malformed_json")
    assert g.progress is None
    other = parse(msg(T.gallery_response, b"{oops", corr=b"other"), CTX, NOW)
    assert isinstance(other, Rejection) and owner().refused(other) is None


# --------------------------------------------------------------------------- limits and the deadline
def test_limits_are_read_at_every_check() -> None:
    g = owner(IntakeLimits(max_gallery_entries=3))
    assert codes(g.add(item(chunk(0, 2)))) == ["too_large", "GalleryFailed"]  # 4 entries > 3
    g.opened("req1", "LH123")
    g.limits = IntakeLimits(max_gallery_entries=4)  # a live config change: the next chunk obeys it
    assert g.add(item(chunk(0, 2))) == []
    photo = chunk(entries=[{"id": "p", "photo": b64(PHOTO)}], total_entries=1)
    g.opened("req1", "LH123")
    g.limits = IntakeLimits(max_photo_bytes=len(PHOTO) - 1)
    assert codes(g.add(item(photo))) == ["too_large", "GalleryFailed"]
    g.opened("req1", "LH123")
    g.limits = IntakeLimits(max_photo_bytes=len(PHOTO))
    (ready,) = g.add(item(photo))
    assert isinstance(ready, GalleryReady)
    got = ready.gallery.items[0].photo
    assert got is not None and got.dtype == np.uint8 and got.tobytes() == PHOTO


def test_one_deadline_from_sending_the_request_to_its_last_chunk() -> None:
    clock = Clock()
    g = owner(IntakeLimits(gallery_timeout_s=10), clock)
    clock.t += 6
    assert g.add(item(chunk(0, 2))) == [] and g.expire() == []
    held = held_templates(g)
    clock.t += 4.5  # 10.5 s after sending, although only 4.5 s after the first chunk
    (failed,) = g.expire()
    assert isinstance(failed, GalleryFailed) and failed.request_id == "req1" and "1/2 chunks" in failed.reason
    assert not any(t.any() for t in held) and g.progress is None and g.expire() == []
    g.opened("req2", "LH123")  # no chunk at all
    g.limits = IntakeLimits(gallery_timeout_s=1)  # the live limit applies to the request already out
    clock.t += 1.5
    (failed,) = g.expire()
    assert "no chunk" in failed.reason


def test_cancel_and_a_newer_request_wipe_the_partial_gallery() -> None:
    g = owner()
    assert g.add(item(chunk(0, 2))) == []
    held = held_templates(g)
    g.cancel()
    assert g.progress is None and not any(t.any() for t in held)
    g.opened("req1", "LH123")
    assert g.add(item(chunk(0, 2))) == []
    held = held_templates(g)
    g.opened("req2", "LH123")
    assert not any(t.any() for t in held)
    assert codes(g.add(item(chunk(1, 2)))) == ["unsolicited"]  # a chunk of the replaced request


# --------------------------------------------------------------------------- decoding, once
def entries_of(*entries: dict[str, Any], dim: int = 128) -> GalleryChunk:
    return GalleryChunk.model_validate(chunk(entries=list(entries), dim=dim, total_entries=len(entries)))


BAD = [
    ("invalid", {"id": "x", "template": tmpl(1, 127)}),  # wrong length
    ("invalid", {"id": "x", "template": "@" * len(tmpl(1))}),  # right length, not base64
    ("invalid", {"id": "x", "template": base64.b64encode(b"\0" * 511 + b"\1" * 3).decode()}),  # 514 bytes
    ("bad_template", {"id": "x", "template": b64(np.full(128, np.nan, "<f4").tobytes())}),
    ("bad_template", {"id": "x", "template": b64(np.full(128, np.inf, "<f4").tobytes())}),
    ("bad_template", {"id": "x", "template": b64(np.zeros(128, "<f4").tobytes())}),
    ("invalid", {"id": "x", "photo": b64(b"GIF89a" + b"\0" * 20)}),
    ("invalid", {"id": "x", "photo": b64(b"\xff\xd8\xff" + b"\0" * 40)}),  # JPEG magic, no frame header
    ("too_large", {"id": "x", "photo": b64(PNG)}),  # 120 pixels declared, more than the 100 allowed here
    ("invalid", {"id": "x", "photo": "not base64!"}),
    ("invalid", {"id": "x", "photo": b64(b"\xff\xd8\xff" + b"\1" * 40)[:-1]}),  # cut short
    ("too_large", {"id": "x", "photo": b64(b"\xff\xd8\xff" + b"\0" * 2000)}),
]


@pytest.mark.parametrize(("expected", "entry"), BAD)
def test_decoded_entries_are_checked_and_refusals_leave_nothing_behind(
    expected: str, entry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[np.ndarray] = []

    def spy(text: str) -> np.ndarray:
        out = intake_b64decode(text)
        decoded.append(out)
        return out

    intake_b64decode = intake.b64decode
    monkeypatch.setattr(intake, "b64decode", spy)
    good = {"id": "ok", "template": tmpl(3)}
    got = decode_entries(entries_of(good, entry), max_photo_bytes=1024, max_photo_pixels=100)
    assert isinstance(got, tuple) and got[0] == expected and "x" in got[1]
    assert decoded and all(not d.any() for d in decoded)  # the good entry before it is wiped too


def test_photos_of_each_type_decode_into_wipeable_arrays() -> None:
    got = decode_entries(entries_of({"id": "j", "photo": b64(PHOTO)}, {"id": "p", "photo": b64(PNG)},
                                    {"id": "w", "photo": b64(WEBP)}), max_photo_bytes=len(PHOTO),
                         max_photo_pixels=10**8)
    assert isinstance(got, list) and [i.id for i in got] == ["j", "p", "w"]
    assert [i.photo.tobytes() for i in got if i.photo is not None] == [PHOTO, PNG, WEBP]
    for i in got:
        i.wipe()
        assert i.photo is not None and not i.photo.any()


# --------------------------------------------------------------------------- the signed manifest
def test_a_gallery_without_the_authoritys_signed_manifest_is_refused() -> None:
    assert codes(owner().add(item(chunk(manifest=None)))) == ["unsigned", "GalleryFailed"]
    forged = chunk()
    other = Ed25519PrivateKey.generate()  # not a trust anchor: someone with publish rights, not the authority
    env = json.loads(forged["manifest"])
    forged["manifest"] = sign(base64.b64decode(env["payload"]), "gallery_authority", other).decode()
    assert codes(owner().add(item(forged))) == ["unknown_key", "GalleryFailed"]


def test_a_manifest_signed_for_another_request_is_a_replay() -> None:
    old = chunk()
    old["manifest"] = manifest(old, old["entries"], request_id="an-earlier-request")
    results = owner().add(item(old))
    assert codes(results) == ["replayed", "GalleryFailed"] and "an-earlier-request" in results[0].reason


def test_an_entry_swapped_after_signing_is_refused_and_nothing_is_kept() -> None:
    body = chunk()
    body["entries"][0]["template"] = tmpl(999)  # an impostor's template under a listed id
    g = owner()
    results = g.add(item(body))
    assert codes(results) == ["bad_signature", "GalleryFailed"] and "P0a" in results[0].reason
    assert g._request is None  # the request failed and its buffers were wiped


# --------------------------------------------------------------------------- a lost connection
def test_a_request_cut_off_by_a_lost_connection_fails_at_once_when_the_connection_is_back() -> None:
    # Chunks travel at QoS 0: those sent while the gate was away (or to the node it was on, before a
    # fail-over) never come. Waiting out the time-out would keep the flight without a gallery for
    # gallery_timeout_s; the request fails as soon as the connection is back, with an attestation's
    # figures for what had arrived, and the daemon asks again.
    clock = Clock()
    g = owner(clock=clock)
    g.add(item(chunk(0, 3)))
    held = held_templates(g)
    g.connection(False)
    assert g.expire() == []  # still away: asking again now would go nowhere
    g.connection(True)
    (failed,) = g.expire()
    assert isinstance(failed, GalleryFailed) and failed.request_id == "req1" and "connection" in failed.reason
    assert failed.entries_received == 2 and failed.received_sha256 is not None
    assert all(not t.any() for t in held) and g.progress is None


def test_a_connection_that_comes_up_with_nothing_cut_off_fails_nothing() -> None:
    g = owner()
    g.connection(True)  # e.g. the first connection, or a reconnect before the request was sent
    assert g.expire() == []
    g.opened("req2", "LH123")
    g.connection(False)
    g.opened("req3", "LH123")  # a new request sent after the drop is not cut off by it
    g.connection(True)
    assert g.expire() == [] and g.progress is not None and g.progress.request_id == "req3"
