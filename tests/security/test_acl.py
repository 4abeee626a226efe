"""Least privilege in the shipped ACL (deploy/mosquitto/gate-edge.acl), on a real Mosquitto started
with the shipped files. Each attacker uses only the rights the ACL gives its own certificate.

Found before: the fleet admin account read every gallery (572,297-character lines of base64
passport photos) and wrote every gate topic, forged events and wipe attestations included.

A refused publish is proven by its PUBACK (reason code 135, not authorised); a message that must not
be delivered, by a marker that the same client published after it and that did arrive.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from gate_sim.gallery_service import GalleryService, entries_from_faces
from support import Watcher, wait_for
from support.keys import signer

from edge.evaluation.data import default_faces
from edge.messaging.client import MqttClient, OutMessage, PublishRefused
from edge.messaging.link import GalleryReady, GateLink, InboundItem
from edge.messaging.settings import MqttConfig

NOT_AUTHORISED = 135
G1 = "gate/v1/G1"
GATE_OUTPUTS = [f"{G1}/{t}" for t in
                ("status", "gallery/request", "gallery/enrolment", "events", "wipe", "config/reported", "telemetry",
                 "rejected", "replies", "replies/some-request")]
GATE_INPUTS = [f"{G1}/{t}" for t in ("assignment", "gallery/response", "config/desired", "cmd/wipe")]
FLEET_CONFIG = "fleet/v1/config"

# identity -> (topics it may publish, topics it may not); the broker's answer is checked for each.
RIGHTS: dict[str, tuple[list[str], list[str]]] = {
    "fleet-admin": (
        [FLEET_CONFIG, f"{G1}/config/desired", f"{G1}/cmd/wipe", f"{G1}/cmd/close_flight"],
        [*GATE_OUTPUTS, f"{G1}/assignment", f"{G1}/gallery/response"],
    ),
    "gallery-service": (
        [f"{G1}/gallery/response"],
        [f"{G1}/assignment", f"{G1}/events", f"{G1}/wipe", f"{G1}/status", f"{G1}/gallery/request",
         f"{G1}/gallery/enrolment", f"{G1}/cmd/wipe", f"{G1}/config/desired", FLEET_CONFIG],
    ),
    "dcs": (
        [f"{G1}/assignment"],
        [f"{G1}/gallery/response", f"{G1}/cmd/wipe", f"{G1}/cmd/pause", f"{G1}/config/desired", FLEET_CONFIG,
         f"{G1}/events", f"{G1}/wipe", f"{G1}/status"],
    ),
    # G2 attacking G1: none of G1's topics, in or out; G2's own outputs are allowed, its inputs are not.
    "G2": (
        [t.replace("/G1/", "/G2/") for t in GATE_OUTPUTS],
        [*GATE_OUTPUTS, *GATE_INPUTS, *(t.replace("/G1/", "/G2/") for t in GATE_INPUTS), FLEET_CONFIG],
    ),
}


def puback(client: MqttClient, topic: str) -> int:
    """The reason code of the broker's PUBACK for a QoS 1 publish (>= 128: refused)."""
    try:
        return client.publish(OutMessage(topic, b'{"forged": true}')).wait(5).reason_code
    except PublishRefused as e:
        return e.reason_code


@pytest.mark.parametrize("identity", RIGHTS)
def test_each_identity_publishes_only_where_the_acl_lets_it(
    identity: str, as_identity: Callable[..., MqttConfig], watcher_factory: Callable[..., Watcher]
) -> None:
    allowed, forbidden = RIGHTS[identity]
    client = watcher_factory(as_identity(identity), [], identity).client
    got = {t: puback(client, t) for t in allowed + forbidden}
    assert {t: c for t, c in got.items() if t in allowed and c >= 128} == {}
    assert {t: c for t, c in got.items() if t in forbidden and c != NOT_AUTHORISED} == {}


def _until_gallery(link: GateLink) -> GalleryReady:
    got: list[InboundItem] = []
    wait_for(lambda: (got.extend(link.poll(0.05)), any(isinstance(i, GalleryReady) for i in got))[1], 20, "gallery")
    ready = next(i for i in got if isinstance(i, GalleryReady))
    return ready


def test_the_fleet_admin_reads_no_gallery_but_what_the_gates_report(
    as_identity: Callable[..., MqttConfig],
    watcher_factory: Callable[..., Watcher],
    link_factory: Callable[..., GateLink],
) -> None:
    admin = watcher_factory(as_identity("fleet-admin"), ["gate/v1/#", "fleet/v1/#"], "fleet-admin")
    svc = GalleryService(as_identity("gallery-service"), entries_from_faces(default_faces())[:2],
                         signer=signer("gallery_authority")).start()
    try:
        link = link_factory(as_identity("G1"))
        link.request_gallery("LH9")
        ready = _until_gallery(link)  # every chunk went through the broker, to every permitted reader
        assert len(ready.gallery) == 2
        ready.gallery.wipe()
    finally:
        svc.stop()
    # G1's marker comes after its request and after the chunks it received: had the broker
    # delivered either to the admin, they would be in before the marker.
    link.client.publish(OutMessage(f"{G1}/telemetry", b'{"marker": true}')).wait(5)
    admin.wait(f"{G1}/telemetry", lambda b: b.get("marker") is True, 10, "the gate's marker")
    topics = {m.topic for m in admin.raw()}
    assert not {t for t in topics if "/gallery/" in t}, topics
    assert f"{G1}/status" in topics  # the gate's birth: the admin does read what gates report
    assert all(len(m.payload) < 10_000 for m in admin.raw())  # nothing photo-sized reached it


def test_a_gate_cannot_read_another_gates_gallery(
    as_identity: Callable[..., MqttConfig],
    watcher_factory: Callable[..., Watcher],
    link_factory: Callable[..., GateLink],
) -> None:
    # G2 asks for G1's gallery by name and by wildcard; the broker may grant the subscriptions
    # (Mosquitto filters at delivery), but must never deliver G1's messages.
    spy = watcher_factory(as_identity("G2"), [f"{G1}/gallery/response", "gate/v1/+/gallery/#"], "G2",
                          require_granted=False)
    svc = GalleryService(as_identity("gallery-service"), entries_from_faces(default_faces())[:2],
                         signer=signer("gallery_authority")).start()
    try:
        link = link_factory(as_identity("G1"))
        link.request_gallery("LH9")
        _until_gallery(link).gallery.wipe()
        # The service's chunks went out; now the same client sends a marker to G2, which G2 may read.
        # The broker delivers one client's messages in order: had G1's chunks been let through,
        # they would be in before it.
        svc.client.publish(OutMessage("gate/v1/G2/gallery/response", b'{"marker": true}')).wait(5)
        spy.wait("gate/v1/G2/gallery/response", lambda b: b.get("marker") is True, 10, "the marker")
        assert {m.topic for m in spy.raw()} == {"gate/v1/G2/gallery/response"}
    finally:
        svc.stop()
