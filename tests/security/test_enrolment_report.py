"""The enrolment report reaches the gallery service on the shipped broker (TLS, certificates, the ACL),
signed with the gate's own key: the service can tell a gate's verdicts from a forgery."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support import Watcher
from support.fixtures import EMBEDDER
from support.keys import TRUST, role_key, signer

from edge.messaging.envelope import EnvelopeRefused, TrustAnchors
from edge.messaging.link import GateLink
from edge.messaging.schemas.gallery import enrolment_report
from edge.messaging.settings import MqttConfig

VERDICTS = {"P-0001": "ok", "P-0002": "no_face", "P-0003": "several_faces"}


def test_the_gallery_service_reads_a_gates_signed_enrolment_report(
    as_identity: Callable[..., MqttConfig],
    watcher_factory: Callable[..., Watcher],
    link_factory: Callable[..., GateLink],
) -> None:
    service = watcher_factory(as_identity("gallery-service"), ["gate/v1/+/gallery/enrolment"], "gallery-service")
    link = link_factory(as_identity("G1"), signer=signer("gate"))
    report = enrolment_report("LH9", 3, hashlib.sha256(b"chunks").hexdigest(), VERDICTS)
    assert link.publish_enrolment(report)
    body = service.wait("gate/v1/G1/gallery/enrolment", timeout=10, what="the enrolment report")
    assert {e["id"]: e["verdict"] for e in body["entries"]} == VERDICTS
    (raw,) = service.raw("gate/v1/G1/gallery/enrolment")
    opened = TrustAnchors.of({"gate": [role_key("gate").public_key()]}).open(raw.payload, "gate")
    assert json.loads(opened) == json.loads(report.to_bytes())
    stranger = TrustAnchors.of({"gate": [role_key("fleet_admin").public_key()]})  # another key: refused
    with pytest.raises(EnvelopeRefused):
        stranger.open(raw.payload, "gate")


def test_a_report_made_while_the_link_is_down_is_delivered_when_it_comes_up(
    as_identity: Callable[..., MqttConfig],
    watcher_factory: Callable[..., Watcher],
    tmp_path: Path,
) -> None:
    service = watcher_factory(as_identity("gallery-service"), ["gate/v1/+/gallery/enrolment"], "gallery-service")
    link = GateLink("G1", as_identity("G1"), tmp_path / "state", embedder_id=EMBEDDER[0], embedder_dim=EMBEDDER[1],
                    trust=TRUST, signer=signer("gate"))
    try:
        report = enrolment_report("LH9", 3, hashlib.sha256(b"chunks").hexdigest(), VERDICTS)
        assert link.publish_enrolment(report) == 1  # not connected: stored in the outbox
        assert link.outbox.depth == 1
        link.start()
        assert link.client.wait_connected(10), f"link could not connect: {link.client.stats}"
        link.poll()  # the daemon's loop: pumps the outbox once connected
        body = service.wait("gate/v1/G1/gallery/enrolment", timeout=10, what="the stored enrolment report")
        assert {e["id"]: e["verdict"] for e in body["entries"]} == VERDICTS
    finally:
        link.stop(flush_timeout=0.2)
