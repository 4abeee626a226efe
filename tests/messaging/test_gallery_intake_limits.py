"""A gallery that cannot be weaponised: every photo's declared size is read from its header and
refused over the limit BEFORE anything decodes it; a photo without a readable header, an empty
gallery and a gallery over its byte budget are refused too. Each refusal fails the request with what
the daemon needs to attest the wipe of what it had received, and to ask again.

Found before: an 875 KB PNG declaring 30000x30000 pixels got the daemon OOM-killed (no rejection,
no attestation), and again after every restart; an empty gallery and an undecodable photo were
accepted quietly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from gate_sim.gallery_service import GalleryService
from security.bomb import png_bomb
from support import Watcher, wait_for
from support.keys import signer

from edge.core.image_header import read_header
from edge.messaging import intake
from edge.messaging.gallery_requests import GalleryRequests
from edge.messaging.items import GalleryFailed, GalleryReady, InboundItem, Rejection
from edge.messaging.link import GateLink
from edge.messaging.schemas import gallery_digest
from edge.messaging.settings import IntakeLimits, MqttConfig

from .chunks import PHOTO, TRUST, b64, chunk, manifest, tmpl
from .test_gallery_requests import Clock, codes, item, owner


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any image decode in this process fails the test: refusals must come from headers alone."""

    def imdecode(*_args: Any) -> None:
        raise AssertionError("cv2.imdecode was called on a gallery photo")

    monkeypatch.setattr(cv2, "imdecode", imdecode)


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Every buffer the intake decodes base64 into, to prove what was decoded and that it was wiped."""
    out: list[np.ndarray] = []
    real = intake.b64decode

    def spy(text: str) -> np.ndarray:
        out.append(real(text))
        return out[-1]

    monkeypatch.setattr(intake, "b64decode", spy)
    return out


def payload(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()  # what item() sends, so its sha256 is what the request holds


def failed_of(results: list[Any]) -> GalleryFailed:
    (f,) = [r for r in results if isinstance(r, GalleryFailed)]
    return f


def test_a_photo_declaring_900_megapixels_is_refused_from_its_header_alone(
    no_decoding: None, decoded: list[np.ndarray]
) -> None:
    bomb = png_bomb()
    assert len(bomb) < 900_000  # small on the wire; 900 MB (2.7 GB in colour) once decoded
    body = chunk(entries=[{"id": "ok", "template": tmpl(1)}, {"id": "P-bomb", "photo": b64(bomb)}])
    g = owner()
    results = g.add(item(body))
    assert codes(results) == ["too_large", "GalleryFailed"]
    reason = results[0].reason
    assert "'P-bomb'" in reason and "30000x30000" in reason and "900000000" in reason
    f = failed_of(results)
    assert (f.request_id, f.flight_id, f.gallery_version, f.entries_received) == ("req1", "LH123", 7, 2)
    assert f.received_sha256 == gallery_digest([payload(body)])
    assert "too_large" in f.reason and g.progress is None  # the daemon attests, then may ask again
    assert len(decoded) == 2 and not any(d.any() for d in decoded)  # the template and the PNG, wiped


def test_a_photo_whose_header_cannot_be_read_is_refused(no_decoding: None, decoded: list[np.ndarray]) -> None:
    for photo in (b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\0" * 40, PHOTO[:200], b"GIF89a" + b"\0" * 40):
        results = owner().add(item(chunk(entries=[{"id": "P1", "photo": b64(photo)}], total_entries=1)))
        assert codes(results) == ["invalid", "GalleryFailed"]
        assert "'P1'" in results[0].reason and "header" in results[0].reason
    assert not any(d.any() for d in decoded)


def test_an_empty_gallery_is_refused() -> None:
    empty = chunk(entries=[], total_entries=0)
    results = owner().add(item(empty))
    assert codes(results) == ["invalid", "GalleryFailed"] and "empty gallery" in results[0].reason
    f = failed_of(results)
    assert (f.entries_received, f.gallery_version, f.received_sha256) == (0, 7, gallery_digest([payload(empty)]))
    # ...and so is a chunk with nothing in it, even where total_entries promises more
    assert codes(owner().add(item(chunk(0, 2, entries=[], total_entries=2)))) == ["invalid", "GalleryFailed"]


def test_the_gallery_byte_budget_is_checked_before_a_chunk_is_decoded(decoded: list[np.ndarray]) -> None:
    bodies = [chunk(i, 2, entries=[{"id": f"P{i}", "photo": b64(PHOTO)}], total_entries=2) for i in range(2)]
    bodies[0]["manifest"] = manifest(bodies[0], bodies[0]["entries"] + bodies[1]["entries"])
    g = owner(IntakeLimits(max_gallery_bytes=len(PHOTO) + 1))
    assert g.add(item(bodies[0])) == []
    results = g.add(item(bodies[1]))
    assert codes(results) == ["too_large", "GalleryFailed"]
    assert f"{2 * len(PHOTO)} bytes" in results[0].reason and str(len(PHOTO) + 1) in results[0].reason
    assert len(decoded) == 1 and not decoded[0].any()  # the second photo never decoded; the first wiped
    f = failed_of(results)
    assert (f.entries_received, f.gallery_version) == (2, 7)
    assert f.received_sha256 == gallery_digest(payload(b) for b in bodies)
    g = owner(IntakeLimits(max_gallery_bytes=2 * len(PHOTO)))  # exactly the budget: accepted
    assert g.add(item(bodies[0])) == []
    (ready,) = g.add(item(bodies[1]))
    assert isinstance(ready, GalleryReady)
    ready.gallery.wipe()


def test_the_pixel_limit_is_the_declared_size_and_live() -> None:
    pixels = read_header(PHOTO).pixels
    body = chunk(entries=[{"id": "P1", "photo": b64(PHOTO)}], total_entries=1)
    g = owner(IntakeLimits(max_photo_pixels=pixels - 1))
    assert codes(g.add(item(body))) == ["too_large", "GalleryFailed"]
    g.opened("req1", "LH123")
    g.limits = IntakeLimits(max_photo_pixels=pixels)
    (ready,) = g.add(item(body))
    assert isinstance(ready, GalleryReady)
    ready.gallery.wipe()


def test_a_failed_request_says_what_it_had_received() -> None:
    clock = Clock()
    g = owner(IntakeLimits(gallery_timeout_s=5), clock)
    first = chunk(0, 3)
    assert g.add(item(first)) == []
    clock.t += 6
    (f,) = g.expire()
    assert (f.entries_received, f.gallery_version, f.received_sha256) == (2, 7, gallery_digest([payload(first)]))
    # A chunk of another flight is not part of the gallery asked for: nothing of it is counted.
    (_, f2) = owner().add(item(chunk(flight_id="BA456", gallery_version=3)))
    assert isinstance(f2, GalleryFailed)
    assert (f2.entries_received, f2.gallery_version, f2.received_sha256) == (0, None, None)
    # Nor is anything without a request
    assert codes(GalleryRequests(IntakeLimits(), TRUST).add(item(first))) == ["unsolicited"]


def test_the_gate_refuses_the_bomb_over_mqtt_and_says_so(
    no_decoding: None,
    tmp_path: Path,
    plain_cfg: MqttConfig,
    link_factory: Callable[..., GateLink],
    watcher_factory: Callable[..., Watcher],
) -> None:
    (tmp_path / "bomb.png").write_bytes(png_bomb())
    # Sent as it is (no re-encoding by the service), as a hostile or broken gallery service would.
    svc = GalleryService(plain_cfg, [("P-bomb", tmp_path / "bomb.png")], photo_max_side=None,
                         signer=signer("gallery_authority")).start()
    try:
        link = link_factory(plain_cfg)
        w = watcher_factory(plain_cfg, ["gate/v1/G1/rejected"])
        rid = link.request_gallery("LH1")
        got: list[InboundItem] = []
        wait_for(lambda: (got.extend(link.poll(0.05)), got)[1], 20, "the outcome of the request")
        (f,) = got
        assert isinstance(f, GalleryFailed) and f.request_id == rid and f.entries_received == 1
        assert f.received_sha256 == svc.served[0].digest  # what the service sent is what the gate attests
        notice = w.wait("gate/v1/G1/rejected", lambda r: r["code"] == "too_large")
        assert notice["request_id"] == rid and "30000x30000" in notice["reason"]
    finally:
        svc.stop()


def test_rejections_never_carry_photo_bytes() -> None:
    results = owner(IntakeLimits(max_photo_pixels=1)).add(
        item(chunk(entries=[{"id": "P1", "photo": b64(PHOTO)}], total_entries=1))
    )
    rejection = results[0]
    assert isinstance(rejection, Rejection) and len(rejection.reason) < 200
    assert b64(PHOTO)[:16] not in rejection.reason


def test_limits_must_be_positive() -> None:
    for field in ("max_photo_pixels", "max_gallery_bytes"):
        with pytest.raises(ValueError, match="positive"):
            IntakeLimits(**{field: 0})
