"""Identity on the shipped broker is the client certificate: its CN is the username the ACL sees and
the client id. Found before: G2's certificate with G1's password logged in as G1, and G1 using the
client id gate-edge-G2 disconnected G2.

Every refusal is proven by an event: a PUBACK with reason code 135, a refused TLS handshake, or a
marker published after the message that must not arrive, by the same client.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support import Watcher, wait_for

from edge.messaging.client import MqttClient, OutMessage, PublishRefused
from edge.messaging.settings import MqttConfig, TlsConfig

NOT_AUTHORISED = 135


def refused(client: MqttClient, topic: str) -> int:
    """The PUBACK reason code of a QoS 1 publish the broker must refuse."""
    with pytest.raises(PublishRefused) as e:
        client.publish(OutMessage(topic, b'{"forged": true}')).wait(5)
    return e.value.reason_code


def started(cfg: MqttConfig, client_id: str, subscriptions: list[str] | None = None) -> MqttClient:
    """Connected, and its subscriptions acknowledged (granted or not: the ACL filters at delivery)."""
    c = MqttClient(cfg, client_id, subscriptions=subscriptions or [])
    c.start()
    assert c.wait_connected(10), c.stats
    c.wait_subscribed(10)
    return c


def test_another_gates_certificate_with_this_gates_password_is_still_the_other_gate(
    as_identity: Callable[..., MqttConfig], watcher_factory: Callable[..., Watcher]
) -> None:
    dcs = watcher_factory(as_identity("dcs"), [], "dcs")
    dcs.publish("gate/v1/G1/assignment", {"for": "G1"}, retain=True)
    dcs.publish("gate/v1/G2/assignment", {"for": "G2"}, retain=True)
    # Holding G2's key, claiming to be G1 with G1's password and G1's client id.
    thief = started(as_identity("G2", username="G1", password_of="G1"), "gate-edge-G1",
                    ["gate/v1/G1/assignment", "gate/v1/G2/assignment"])
    try:
        assert refused(thief, "gate/v1/G1/events") == NOT_AUTHORISED
        assert refused(thief, "gate/v1/G1/wipe") == NOT_AUTHORISED
        assert thief.publish(OutMessage("gate/v1/G2/events", b"{}")).wait(5).ok  # it is G2, and only G2
        # Retained messages are sent in the order the subscriptions were made: G1's first, had the
        # broker let it through; G2's is the marker that it would have arrived by now.
        got = wait_for(lambda: thief.get(0.05), 10, "G2's retained assignment")
        assert got.topic == "gate/v1/G2/assignment" and json.loads(got.payload) == {"for": "G2"}
        assert thief.get() is None
    finally:
        thief.stop()


def test_a_password_without_a_certificate_logs_nobody_in(as_identity: Callable[..., MqttConfig]) -> None:
    cfg = as_identity("G1")
    assert cfg.tls is not None
    no_cert = cfg.model_copy(update={"tls": TlsConfig(ca_file=cfg.tls.ca_file)})  # G1's username and password
    c = MqttClient(no_cert, "gate-edge-G1")
    c.start()
    try:
        wait_for(lambda: c.stats.connect_failures > 0, 10, "the refused TLS handshake")
        assert c.stats.connects == 0
    finally:
        c.stop()


def test_a_certificate_with_the_gates_name_from_another_ca_is_refused(
    as_identity: Callable[..., MqttConfig], tmp_path: Path
) -> None:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=rogue-ca",
            "-keyout", "rogue.key", "-out", "rogue.crt")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=G1", "-keyout", "g1.key", "-out", "g1.csr")
    openssl("x509", "-req", "-in", "g1.csr", "-CA", "rogue.crt", "-CAkey", "rogue.key", "-CAcreateserial",
            "-days", "1", "-out", "g1.crt")
    cfg = as_identity("G1")
    assert cfg.tls is not None
    tls = TlsConfig(ca_file=cfg.tls.ca_file, cert_file=tmp_path / "g1.crt", key_file=tmp_path / "g1.key")
    c = MqttClient(cfg.model_copy(update={"tls": tls}), "gate-edge-G1")
    c.start()
    try:
        wait_for(lambda: c.stats.connect_failures > 0, 10, "the refused TLS handshake")
        assert c.stats.connects == 0
    finally:
        c.stop()


def test_a_gate_cannot_take_over_another_gates_client_id(as_identity: Callable[..., MqttConfig]) -> None:
    g2 = started(as_identity("G2"), "gate-edge-G2")
    g1 = started(as_identity("G1"), "gate-edge-G2")  # G1 asks for G2's client id
    try:
        # The broker made G1's client id "G1": G2's connection was not taken over. Its next QoS 1
        # publish is acknowledged on the same connection it had before G1 connected.
        assert g2.publish(OutMessage("gate/v1/G2/status", b"{}")).wait(5).ok
        assert g1.publish(OutMessage("gate/v1/G1/status", b"{}")).wait(5).ok
        assert g2.connected and g2.stats.disconnects == 0 and g2.stats.connects == 1
        assert g1.stats.disconnects == 0
    finally:
        g1.stop()
        g2.stop()


def test_the_client_id_is_the_certificate_name_so_a_session_follows_the_gate(
    as_identity: Callable[..., MqttConfig], watcher_factory: Callable[..., Watcher]
) -> None:
    # G1's session, made under one client id, is found again under another: both are "G1" on the broker.
    first = started(as_identity("G1"), "gate-edge-G1", ["gate/v1/G1/cmd/+"])
    first.stop()
    admin = watcher_factory(as_identity("fleet-admin"), [], "admin")
    admin.publish("gate/v1/G1/cmd/pause", {"while": "offline"})  # queued for G1's session (QoS 1)
    again = MqttClient(as_identity("G1"), "something-else", subscriptions=[])
    again.start()
    try:
        got = wait_for(lambda: again.get(0.05), 10, "the command queued while G1 was offline")
        assert got.topic == "gate/v1/G1/cmd/pause"
    finally:
        again.stop()
