"""The gate's link over the shipped broker config (deploy/mosquitto: TLS, client certificates as the
identity, the shipped ACL) on a real Mosquitto. What each identity may and may not do is tested in
tests/security; here, that the link works through it and its own settings fail clearly.

Each refusal is proven by an event, not by a pause: a PUBACK with its reason code, a failed
connection attempt counted by the client, or a marker that arrives after the message that must not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from gate_sim.gallery_service import GalleryService, entries_from_faces
from pydantic import SecretStr
from support import wait_for
from support.keys import signer

from edge.messaging.client import ClientConfigError, MqttClient, OutMessage, PublishRefused
from edge.messaging.link import GalleryReady, GateLink
from edge.messaging.settings import MqttConfig

from .conftest import FACES


def test_a_gate_cannot_publish_as_another_gate(
    secure_cfg: Callable[[str], MqttConfig], link_factory: Callable[..., GateLink]
) -> None:
    link = link_factory(secure_cfg("G1"))
    assert link.client.publish(OutMessage("gate/v1/G1/events", b"{}")).wait(5).ok
    with pytest.raises(PublishRefused) as e:  # the broker's PUBACK says so: 135 not authorised
        link.client.publish(OutMessage("gate/v1/G2/events", b"{}")).wait(5)
    assert e.value.reason_code == 135


def test_a_gallery_reaches_the_gate_through_the_shipped_broker(
    secure_cfg: Callable[[str], MqttConfig], link_factory: Callable[..., GateLink]
) -> None:
    svc = GalleryService(secure_cfg("gallery-service"), entries_from_faces(FACES)[:2],
                         signer=signer("gallery_authority")).start()
    try:
        link = link_factory(secure_cfg("G1"))
        link.request_gallery("LH9")
        got: list[object] = []
        wait_for(lambda: (got.extend(link.poll(0.05)), got)[1], 10, "gallery")
        assert isinstance(got[0], GalleryReady) and len(got[0].gallery) == 2
        got[0].gallery.wipe()
    finally:
        svc.stop()


def test_without_a_client_certificate_nobody_connects_whatever_the_password(
    secure_cfg: Callable[[str], MqttConfig], tmp_path: Path
) -> None:
    good = secure_cfg("G1")
    assert good.tls is not None
    for password in (None, SecretStr("nope")):  # the right one (from its file), and a wrong one
        update: dict[str, object] = {"tls": good.tls.model_copy(update={"cert_file": None, "key_file": None})}
        if password is not None:
            update |= {"password_file": None, "password": password}
        refused_handshake(MqttClient(good.model_copy(update=update), "gate-edge-G1"))


def refused_handshake(c: MqttClient) -> None:
    c.start()
    try:
        wait_for(lambda: c.stats.connect_failures > 0, 10, "a failed TLS handshake")
        assert not c.connected and c.stats.connects == 0
    finally:
        c.stop()


def test_a_missing_password_file_is_a_clear_error(secure_cfg: Callable[[str], MqttConfig], tmp_path: Path) -> None:
    cfg = secure_cfg("G1").model_copy(update={"password_file": tmp_path / "absent"})
    with pytest.raises(ClientConfigError, match="password_file"):
        MqttClient(cfg, "gate-edge-G1").start()
