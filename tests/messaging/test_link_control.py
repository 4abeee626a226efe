"""What the daemon steers on a live link (real Mosquitto): limits changed in flight, a chunk of the
wrong flight, refusing an item after the fact, and subscriptions acknowledged before anything counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from gate_sim.broker import Broker
from gate_sim.gallery_service import GalleryService, entries_from_faces
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from support import Watcher, wait_for
from support.keys import signed, signer

from edge.messaging.client import MqttClient
from edge.messaging.link import (
    AssignmentUpdate,
    CommandItem,
    ConfigUpdate,
    GalleryFailed,
    GalleryReady,
    GateLink,
    InboundItem,
    IntakeLimits,
)
from edge.messaging.settings import MqttConfig

from .conftest import FACES

REJECTED = "gate/v1/G1/rejected"


def next_item(link: GateLink, timeout: float = 10.0) -> InboundItem:
    got: list[InboundItem] = []
    wait_for(lambda: (got.extend(link.poll(0.05)), got)[1], timeout, "an inbound item")
    assert len(got) == 1, got
    return got[0]


def ask(link: GateLink, flight: str = "LH1") -> InboundItem:
    """Request a gallery and wait for how it ended."""
    rid = link.request_gallery(flight)
    item = next_item(link)
    assert isinstance(item, GalleryReady | GalleryFailed) and item.request_id == rid
    return item


def test_new_limits_hold_for_the_next_gallery(
    plain_cfg: MqttConfig, link_factory: Callable[..., GateLink], watcher_factory: Callable[..., Watcher]
) -> None:
    entries = entries_from_faces(FACES)[:3]
    svc = GalleryService(plain_cfg, entries, chunk_size=2, signer=signer("gallery_authority")).start()
    try:
        link = link_factory(plain_cfg)
        w = watcher_factory(plain_cfg, [REJECTED])
        assert isinstance(ask(link), GalleryReady)
        # A config push lowers the limits: the very next gallery is refused by them...
        link.set_limits(IntakeLimits(max_gallery_entries=2), telemetry_expiry_s=7)
        assert link.limits.max_gallery_entries == 2 and link.telemetry_expiry_s == 7
        failed = ask(link)
        assert isinstance(failed, GalleryFailed) and "too_large" in failed.reason
        assert w.wait(REJECTED, lambda r: r["code"] == "too_large")["reason"] == "3 entries exceed 2"
        photo_max = max(len(p.read_bytes()) for _, p in entries)  # the service re-encodes: smaller
        link.set_limits(IntakeLimits(max_photo_bytes=1024), telemetry_expiry_s=7)
        failed = ask(link)
        assert isinstance(failed, GalleryFailed) and "exceeds 1024 bytes" in failed.reason
        # ...and raised again, the next one is accepted.
        link.set_limits(IntakeLimits(max_gallery_entries=3, max_photo_bytes=photo_max), telemetry_expiry_s=7)
        ready = ask(link)
        assert isinstance(ready, GalleryReady) and len(ready.gallery) == 3
        ready.gallery.wipe()
    finally:
        svc.stop()


def test_a_chunk_of_another_flight_fails_the_request_and_says_why(
    plain_cfg: MqttConfig, link_factory: Callable[..., GateLink], watcher_factory: Callable[..., Watcher]
) -> None:
    link = link_factory(plain_cfg)
    w = watcher_factory(plain_cfg, [REJECTED, "svc/replies"])
    rid = link.request_gallery("LH123")
    chunk = {
        "schema": "gate-edge/gallery/1", "gate": "G1", "flight_id": "BA456", "gallery_version": 1,
        "embedding_model": "sface_2021dec", "dim": 128,
        "expires_at": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(), "chunk_index": 0,
        "chunk_count": 2, "total_entries": 0, "entries": [],
    }
    w.publish(link.topics.gallery_response, chunk, response_topic="svc/replies", correlation=rid.encode())
    failed = next_item(link)
    assert isinstance(failed, GalleryFailed) and failed.request_id == rid and failed.flight_id == "LH123"
    notice = w.wait(REJECTED)
    assert notice["code"] == "wrong_flight" and notice["request_id"] == rid
    assert "BA456" in notice["reason"] and "LH123" in notice["reason"]
    assert w.wait("svc/replies")["code"] == "wrong_flight"  # the service hears it on its response topic
    # The request is over: the second chunk is unsolicited, and the daemon is free to ask again.
    w.publish(link.topics.gallery_response, {**chunk, "chunk_index": 1}, correlation=rid.encode())
    wait_for(lambda: (link.poll(0.05), w.count(REJECTED) >= 2)[1], 10, "the second refusal")
    assert w.on(REJECTED)[1]["code"] == "unsolicited"


def test_the_daemon_can_refuse_an_item_it_already_took(
    plain_cfg: MqttConfig, link_factory: Callable[..., GateLink], watcher_factory: Callable[..., Watcher]
) -> None:
    link = link_factory(plain_cfg)
    link.set_expectations(applied_config_version=3)
    w = watcher_factory(plain_cfg, [REJECTED, "dcs/answers", "admin/answers", "gate/v1/G1/config/reported"])
    future = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    assignment = {"schema": "gate-edge/assignment/1", "gate": "G1", "flight_id": "LH1", "issued_at": future}
    w.publish(link.topics.assignment, signed(assignment, "departure_control"), response_topic="dcs/answers",
              correlation=b"a-1")
    a = next_item(link)
    assert isinstance(a, AssignmentUpdate)
    link.reject(a, "clock_skew", "assignment issued 7200 s ahead of the gate's clock")
    notice = w.wait(REJECTED)
    assert (notice["code"], notice["topic"], notice["request_id"]) == ("clock_skew", link.topics.assignment, "a-1")
    assert w.wait("dcs/answers")["code"] == "clock_skew"
    assert w.raw("dcs/answers")[0].correlation_data == b"a-1"

    close = {"schema": "gate-edge/cmd/1", "request_id": "c-9", "issued_at": datetime.now(timezone.utc).isoformat()}
    w.publish(link.topics.command("close_flight"), signed(close, "fleet_admin"), response_topic="admin/answers")
    c = next_item(link)
    assert isinstance(c, CommandItem)
    link.reject(c, "stale_version", "no such flight")
    reply = w.wait("admin/answers")
    assert reply["schema"] == "gate-edge/cmd-reply/1" and reply["result"] == "rejected"
    assert reply["request_id"] == "c-9" and reply["reason"] == "stale_version: no such flight"

    w.publish(link.topics.config_desired,
              signed({"schema": "gate-edge/config-desired/1", "version": 9, "config": {}}, "fleet_admin"))
    cfg = next_item(link)
    assert isinstance(cfg, ConfigUpdate)
    link.reject(cfg, "invalid", "not now")
    report = w.wait("gate/v1/G1/config/reported")
    assert (report["status"], report["version"], report["applied_version"]) == ("rejected", 9, 3)

    link.reject(link.topics.fleet_config, "overloaded", "later", request_id="r-5")  # by topic
    wait_for(lambda: w.count(REJECTED) >= 4, 10, "four notices")
    assert [n["code"] for n in w.on(REJECTED)] == ["clock_skew", "stale_version", "invalid", "overloaded"]
    assert w.on(REJECTED)[3]["request_id"] == "r-5"
    assert link.stats.rejected == {"clock_skew": 1, "stale_version": 1, "invalid": 1, "overloaded": 1}
    assert link.counters()["messages_rejected"] == 4


# --------------------------------------------------------------------------- SUBACK
def test_wait_subscribed_returns_once_the_broker_acknowledged_each_connection(
    broker: Broker, plain_cfg: MqttConfig, watcher_factory: Callable[..., Watcher]
) -> None:
    sender = watcher_factory(plain_cfg, [], "sender")  # no subscriptions: subscribed once connected
    assert sender.client.wait_subscribed(0)
    c = MqttClient(plain_cfg, "subscriber", subscriptions=["t/a", "t/b/#"])
    assert not c.wait_subscribed(0)  # not started: nothing acknowledged
    c.start()
    try:
        assert c.wait_subscribed(10)
        # Published right after the SUBACK, with no pause: delivered (the subscription is in place).
        sender.publish("t/b/1", b"one")
        assert wait_for(lambda: c.get(0.1), 10, "the first message").payload == b"one"
        broker.stop()
        wait_for(lambda: not c.connected, 10, "the disconnect")
        assert not c.wait_subscribed(0)  # the next connection has to be acknowledged anew
        broker.start()
        assert c.wait_subscribed(15)
        wait_for(lambda: sender.client.connected, 15, "the sender back")
        sender.publish("t/a", b"two")
        assert wait_for(lambda: c.get(0.1), 10, "a message after the reconnect").payload == b"two"
    finally:
        c.stop()


def test_a_refused_subscription_is_logged_and_reported(plain_cfg: MqttConfig, caplog: Any) -> None:
    # Mosquitto grants what an ACL forbids and filters at delivery, so the broker's refusal is played
    # to the client's SUBACK handler directly, as paho's network thread would call it.
    c = MqttClient(plain_cfg, "refused", subscriptions=["ok/#", "forbidden/#"])
    c._sub_mid = 7
    granted = ReasonCode(PacketTypes.SUBACK, identifier=1)
    refused = ReasonCode(PacketTypes.SUBACK, "Not authorized")
    c._client.on_subscribe(c._client, None, 7, [granted, refused], None)  # type: ignore[misc]
    assert not c.wait_subscribed(1)
    assert c.stats.subscribe_refused == 1 and "forbidden/#" in caplog.text and "135" in caplog.text
    c._client.on_subscribe(c._client, None, 8, [granted, granted], None)  # type: ignore[misc]
    assert not c.wait_subscribed(0)  # an acknowledgement of another SUBSCRIBE changes nothing


