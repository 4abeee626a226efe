"""Nothing biometric on the broker's disk, measured on the shipped broker config.

Found before: galleries went out at QoS 1 without expiry, gates keep a persistent session, the
broker persists; with the gate offline while its gallery was sent, mosquitto.db held the base64
JPEGs. The design: the shipped config keeps persistence (retained assignments and config, sessions)
and never queues QoS 0 for an offline session (queue_qos0_messages false); galleries go out at QoS 0
with a short expiry, so one sent to an offline gate is dropped, never queued, and the gate asks again.

The gate also subscribes to gallery responses at QoS 0, so even a service publishing at QoS 1 gets
nothing queued for an offline gate.

The measurement: the gate's session subscribes and goes offline, a gallery is sent, the service
disconnects cleanly (the broker has handled everything it sent), departure control queues a QoS 1
canary for the gate (so the session and its queue are on disk), the broker stops (it writes
mosquitto.db), and the file is searched for image magic and for the photos' base64.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from gate_sim.broker import Broker
from gate_sim.gallery_service import GalleryService, entries_from_faces, passport_jpeg
from support import wait_for

from edge.evaluation.data import default_faces
from edge.messaging.client import MqttClient, OutMessage
from edge.messaging.link import GateLink
from edge.messaging.settings import MqttConfig

RESPONSE = "gate/v1/G1/gallery/response"
ASSIGNMENT = "gate/v1/G1/assignment"
CANARY = b"canary: queued at QoS 1 for the offline gate, after its gallery"
MAGIC = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG", "base64 JPEG": b"/9j/", "base64 PNG": b"iVBORw0KGgo"}


def photo_fragments(entries: list[tuple[str, Path]], max_side: int | None) -> list[bytes]:
    """Pieces of each photo's base64 as the gallery service sends it (the whole text is too long to
    matter: any 64 characters of it on disk would be a leak)."""
    out = []
    for _, path in entries:
        text = base64.b64encode(passport_jpeg(path.read_bytes(), max_side))
        out += [text[i : i + 64] for i in range(0, len(text) - 64, max(64, len(text) // 8))]
    return out


def offline_session(link_factory: Callable[..., GateLink], cfg: MqttConfig) -> GateLink:
    """G1's daemon link: connected and subscribed with its persistent session, then offline."""
    link = link_factory(cfg)
    link.stop(flush_timeout=0.2)
    return link


def leaks(db: bytes, fragments: list[bytes]) -> list[str]:
    found = [name for name, magic in MAGIC.items() if magic in db]
    return found + [f"photo base64 {f[:12]!r}..." for f in fragments if f in db]


def saved_db(broker: Broker, svc: GalleryService, dcs: MqttConfig) -> bytes:
    svc.stop()  # a clean DISCONNECT: the broker has handled every gallery message sent before it
    canary = MqttClient(dcs, "canary")
    canary.start()
    try:
        assert canary.wait_connected(10)
        assert canary.publish(OutMessage(ASSIGNMENT, CANARY, qos=1)).wait(5).ok  # queued for the offline gate
    finally:
        canary.stop()
    broker.stop()  # SIGTERM: Mosquitto writes mosquitto.db
    db = broker.db_path.read_bytes()
    assert CANARY in db, "the offline session's queue is not on disk: the measurement would prove nothing"
    return db


def test_a_gallery_the_service_sends_while_its_gate_is_offline_never_reaches_the_broker_disk(
    shipped_broker: Broker, as_identity: Callable[..., MqttConfig], link_factory: Callable[..., GateLink]
) -> None:
    entries = entries_from_faces(default_faces())[:3]
    svc = GalleryService(as_identity("gallery-service"), entries)
    svc.client.start()  # receives requests; it answers them once started below
    assert svc.client.wait_connected(10) and svc.client.wait_subscribed(10)
    link = link_factory(as_identity("G1"))
    link.request_gallery("LH9")
    link.stop(flush_timeout=0.2)  # the gate goes offline; its session (and subscriptions) stay
    svc.start()
    wait_for(lambda: svc.served, 20, "the gallery service's answer")
    assert svc.served[0].entries == 3
    db = saved_db(shipped_broker, svc, as_identity("dcs"))
    assert leaks(db, photo_fragments(entries, svc.photo_max_side)) == []


@pytest.mark.parametrize(
    ("sub_qos", "qos", "expiry_s", "on_disk"),
    [(1, 0, 30, False), (1, 0, None, False), (1, 1, None, True), (1, 1, 30, True), (0, 1, None, False)],
    ids=["qos0-expiry", "qos0", "qos1-was-the-leak", "qos1-expiry-alone-is-not-enough", "gate-subscribes-qos0"],
)
def test_only_qos0_keeps_a_gallery_for_an_offline_gate_off_the_broker_disk(
    sub_qos: int, qos: int, expiry_s: int | None, on_disk: bool,
    shipped_broker: Broker, as_identity: Callable[..., MqttConfig],
) -> None:
    gate = MqttClient(as_identity("G1"), "gate-edge-G1", subscriptions=[RESPONSE, ASSIGNMENT],
                      qos0=[RESPONSE] if sub_qos == 0 else [])
    gate.start()
    assert gate.wait_connected(10) and gate.wait_subscribed(10)
    gate.stop()  # offline; its persistent session and subscriptions stay on the broker
    entries = entries_from_faces(default_faces())[:2]
    svc = GalleryService(as_identity("gallery-service"), entries).start()
    for payload in svc.build("G1", "LH9"):
        msg = OutMessage(RESPONSE, payload, qos=qos, message_expiry_s=expiry_s, correlation_data=b"r1")
        assert svc.client.publish(msg).wait(5).ok
    db = saved_db(shipped_broker, svc, as_identity("dcs"))
    assert bool(leaks(db, photo_fragments(entries, svc.photo_max_side))) is on_disk
