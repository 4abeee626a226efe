"""TLS + client certificates + passwords + per-gate ACL on a real Mosquitto."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gate_sim.gallery_service import GalleryService, entries_from_faces
from pydantic import SecretStr

from edge.config.schema import MqttConfig
from edge.messaging.client import ClientConfigError, MqttClient, OutMessage, PublishRefused
from edge.messaging.link import GalleryReady, GateLink

from .conftest import FACES, Watcher, wait_for


def test_a_gate_cannot_publish_as_another_gate(
    secure_cfg: Callable[[str], MqttConfig], link_factory: Callable[..., GateLink]
) -> None:
    link = link_factory(secure_cfg("G1"))
    assert link.client.publish(OutMessage("gate/v1/G1/events", b"{}")).wait(5).ok
    with pytest.raises(PublishRefused) as e:
        link.client.publish(OutMessage("gate/v1/G2/events", b"{}")).wait(5)
    assert e.value.reason_code == 135


def test_a_gate_cannot_read_another_gates_gallery(
    secure_cfg: Callable[[str], MqttConfig],
    link_factory: Callable[..., GateLink],
    watcher_factory: Callable[..., Watcher],
) -> None:
    svc = GalleryService(secure_cfg("gallery-service"), entries_from_faces(FACES)[:2]).start()
    try:
        spy = watcher_factory(secure_cfg("G2"), ["gate/v1/G1/gallery/response", "gate/v1/+/gallery/#"], "spy")
        link = link_factory(secure_cfg("G1"))
        link.request_gallery("LH9")
        got: list[object] = []
        wait_for(lambda: (got.extend(link.poll(0.05)), got)[1], 10, "gallery")
        assert isinstance(got[0], GalleryReady) and len(got[0].gallery) == 2
        time.sleep(0.3)
        assert spy.drain() == []  # G2 subscribed, but the broker delivered nothing of G1's
    finally:
        svc.stop()


def test_wrong_password_or_no_client_certificate_cannot_connect(
    secure_cfg: Callable[[str], MqttConfig], tmp_path: Path
) -> None:
    good = secure_cfg("G1")
    bad_pw = good.model_copy(update={"password_file": None, "password": SecretStr("nope")})
    c = MqttClient(bad_pw, "gate-edge-G1")
    c.start()
    wait_for(lambda: c.stats.connect_failures > 0, 10, "refusal")
    assert not c.connected
    c.stop()
    assert good.tls is not None
    no_cert = good.model_copy(update={"tls": good.tls.model_copy(update={"cert_file": None, "key_file": None})})
    c2 = MqttClient(no_cert, "gate-edge-G1b")
    c2.start()
    time.sleep(1.0)
    assert not c2.connected
    c2.stop()


def test_a_missing_password_file_is_a_clear_error(secure_cfg: Callable[[str], MqttConfig], tmp_path: Path) -> None:
    cfg = secure_cfg("G1").model_copy(update={"password_file": tmp_path / "absent"})
    with pytest.raises(ClientConfigError, match="password_file"):
        MqttClient(cfg, "gate-edge-G1").start()
