"""TLS + client certificates + passwords + per-gate ACL on a real Mosquitto.

Each refusal is proven by an event, not by a pause: a PUBACK with its reason code, a failed
connection attempt counted by the client, or a marker that arrives after the message that must not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from gate_sim.gallery_service import GalleryService, entries_from_faces
from pydantic import SecretStr
from support import Watcher, wait_for

from edge.messaging.client import ClientConfigError, MqttClient, OutMessage, PublishRefused
from edge.messaging.link import GalleryReady, GateLink
from edge.messaging.settings import MqttConfig

from .conftest import FACES

G1_GALLERY = "gate/v1/G1/gallery/response"
G2_GALLERY = "gate/v1/G2/gallery/response"


def test_a_gate_cannot_publish_as_another_gate(
    secure_cfg: Callable[[str], MqttConfig], link_factory: Callable[..., GateLink]
) -> None:
    link = link_factory(secure_cfg("G1"))
    assert link.client.publish(OutMessage("gate/v1/G1/events", b"{}")).wait(5).ok
    with pytest.raises(PublishRefused) as e:  # the broker's PUBACK says so: 135 not authorised
        link.client.publish(OutMessage("gate/v1/G2/events", b"{}")).wait(5)
    assert e.value.reason_code == 135


def test_a_gate_cannot_read_another_gates_gallery(
    secure_cfg: Callable[[str], MqttConfig],
    link_factory: Callable[..., GateLink],
    watcher_factory: Callable[..., Watcher],
) -> None:
    svc = GalleryService(secure_cfg("gallery-service"), entries_from_faces(FACES)[:2]).start()
    try:
        # G2 asks for G1's gallery topic, by name and by wildcard. The broker may grant the
        # subscriptions (Mosquitto filters at delivery), but must never deliver G1's messages.
        spy = watcher_factory(secure_cfg("G2"), [G1_GALLERY, "gate/v1/+/gallery/#"], "spy", require_granted=False)
        link = link_factory(secure_cfg("G1"))
        link.request_gallery("LH9")
        got: list[object] = []
        wait_for(lambda: (got.extend(link.poll(0.05)), got)[1], 10, "gallery")
        assert isinstance(got[0], GalleryReady) and len(got[0].gallery) == 2
        # The service's chunks are acknowledged by the broker; now the same client sends a marker to
        # G2, which G2 may read. The broker delivers one client's messages in order, so once the
        # marker is in, G1's chunks would be in too had the broker let them through.
        svc.client.publish(OutMessage(G2_GALLERY, b'{"marker": true}')).wait(5)
        spy.wait(G2_GALLERY, lambda b: b.get("marker") is True, 10, "the marker")
        assert spy.raw(G1_GALLERY) == []
        assert {m.topic for m in spy.raw()} == {G2_GALLERY}
    finally:
        svc.stop()


def test_wrong_password_or_no_client_certificate_cannot_connect(
    secure_cfg: Callable[[str], MqttConfig], tmp_path: Path
) -> None:
    good = secure_cfg("G1")
    bad_pw = good.model_copy(update={"password_file": None, "password": SecretStr("nope")})
    c = MqttClient(bad_pw, "gate-edge-G1")
    c.start()
    wait_for(lambda: c.stats.connect_failures > 0, 10, "the broker's refusal (CONNACK)")
    assert not c.connected and c.stats.connects == 0
    c.stop()
    assert good.tls is not None
    no_cert = good.model_copy(update={"tls": good.tls.model_copy(update={"cert_file": None, "key_file": None})})
    c2 = MqttClient(no_cert, "gate-edge-G1b")
    c2.start()
    wait_for(lambda: c2.stats.connect_failures > 0, 10, "a failed TLS handshake")
    assert not c2.connected and c2.stats.connects == 0
    c2.stop()


def test_a_missing_password_file_is_a_clear_error(secure_cfg: Callable[[str], MqttConfig], tmp_path: Path) -> None:
    cfg = secure_cfg("G1").model_copy(update={"password_file": tmp_path / "absent"})
    with pytest.raises(ClientConfigError, match="password_file"):
        MqttClient(cfg, "gate-edge-G1").start()
