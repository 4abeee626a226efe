"""GateLink against a real Mosquitto: gallery, commands, config, rejections, birth/LWT, outages, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from gate_sim.broker import Broker
from gate_sim.dcs import DepartureControl
from gate_sim.fleet_admin import FleetAdmin
from gate_sim.gallery_service import GalleryService, entries_from_faces
from support import Watcher, wait_for
from support.keys import signed, signer

from edge.messaging.link import (
    AssignmentUpdate,
    CommandItem,
    ConfigUpdate,
    GalleryFailed,
    GalleryReady,
    GateLink,
    InboundItem,
)
from edge.messaging.schemas import CommandReply, ConfigReported, Event, Status, WipeAttestation
from edge.messaging.settings import MqttConfig

from .conftest import FACES

GATE_PROC = Path(__file__).with_name("gate_proc.py")


def poll_until(link: GateLink, pred: Callable[[list[InboundItem]], bool], timeout: float = 10.0) -> list[InboundItem]:
    got: list[InboundItem] = []

    def step() -> bool:
        got.extend(link.poll(0.05))
        return pred(got)

    wait_for(step, timeout, "inbound items")
    return got


def event(link: GateLink, i: int) -> Event:
    now = datetime.now(timezone.utc)
    return Event(
        gate=link.topics.gate_id,
        transaction_id=f"t{i}",
        outcome="no_match",
        started_at=now,
        decided_at=now,
        config_version=1,
    )


def test_assignment_then_gallery_in_chunks_then_wipe_attested(
    plain_cfg: MqttConfig, link_factory: Callable[..., GateLink], watcher_factory: Callable[..., Watcher]
) -> None:
    entries = entries_from_faces(FACES)
    svc = GalleryService(plain_cfg, lambda flight: entries, chunk_size=4, signer=signer("gallery_authority")).start()
    dcs = DepartureControl(plain_cfg, signer("departure_control")).start()
    try:
        dcs.assign("G1", "LH123")  # retained before the gate connects
        link = link_factory(plain_cfg)
        w = watcher_factory(plain_cfg, ["gate/v1/G1/wipe"])
        (a,) = poll_until(link, lambda got: len(got) >= 1)
        assert isinstance(a, AssignmentUpdate) and a.assignment.flight_id == "LH123" and a.retained
        rid = link.request_gallery("LH123")
        (ready,) = poll_until(link, lambda got: len(got) >= 1)
        assert isinstance(ready, GalleryReady) and ready.request_id == rid and ready.flight_id == "LH123"
        g = ready.gallery
        assert len(g) == len(entries) and all(i.photo is not None for i in g.items)
        assert [i.id for i in g.items] == [gid for gid, _ in entries]
        assert g.sha256 == svc.served[-1].digest  # the digest covers exactly what was sent
        n = g.wipe()
        link.publish_wipe(
            WipeAttestation(
                gate="G1",
                flight_id=g.flight_id,
                gallery_version=g.version,
                entries_wiped=n,
                reason="flight_close",
                received_sha256=g.sha256,
            )
        )
        att = w.wait("gate/v1/G1/wipe")
        assert att["entries_wiped"] == len(entries) and att["received_sha256"] == svc.served[-1].digest
        assert "photo" not in json.dumps(att) and "template" not in json.dumps(att)
    finally:
        svc.stop()
        dcs.stop()


def test_commands_are_answered_on_their_response_topic(
    plain_cfg: MqttConfig, link_factory: Callable[..., GateLink]
) -> None:
    link = link_factory(plain_cfg)
    admin = FleetAdmin(plain_cfg, signer=signer("fleet_admin")).start()
    replies: dict[str, dict | None] = {}

    def ask(name: str, args: dict) -> None:
        replies[name] = admin.command("G1", name, args, timeout=5)

    t = threading.Thread(target=ask, args=("opt_out", {"duration_s": 12}))
    t.start()
    (item,) = poll_until(link, lambda got: len(got) >= 1)
    assert isinstance(item, CommandItem) and item.name == "opt_out" and item.request.duration_s == 12  # type: ignore[attr-defined]
    link.reply(item, CommandReply(gate="G1", command="opt_out", request_id=item.request.request_id, result="accepted"))
    t.join(6)
    assert replies["opt_out"] is not None and replies["opt_out"]["result"] == "accepted"
    # A bad command never reaches the app and is answered by the link itself.
    t = threading.Thread(target=ask, args=("opt_out", {"duration_s": -5}))
    t.start()
    got: list[InboundItem] = []
    wait_for(lambda: (got.extend(link.poll(0.05)), not t.is_alive())[1], 8, "reply")
    assert got == []
    r = replies["opt_out"]
    assert r is not None and r["result"] == "rejected" and "duration_s" in r["reason"]
    admin.stop()


def test_bad_input_on_every_inbound_topic_is_answered_and_changes_nothing(
    plain_cfg: MqttConfig, link_factory: Callable[..., GateLink], watcher_factory: Callable[..., Watcher]
) -> None:
    link = link_factory(plain_cfg)
    link.set_expectations(fleet_config_version=5, gate_config_version=5, applied_config_version=5)
    w = watcher_factory(plain_cfg, ["gate/v1/G1/rejected", "gate/v1/G1/config/reported", "reply/#"])
    sender = watcher_factory(plain_cfg, [], client_id="sender")
    chunk = {
        "schema": "gate-edge/gallery/1", "gate": "G1", "flight_id": "LH1", "gallery_version": 1,
        "embedding_model": "sface_2021dec", "dim": 128, "expires_at": "2100-01-01T00:00:00Z", "chunk_index": 0,
        "chunk_count": 1, "total_entries": 0, "entries": [],
    }
    assignment = {"schema": "gate-edge/assignment/1", "gate": "G2", "flight_id": "F", "issued_at": "2030-01-01T00:00Z"}
    # Signed by the right role, so that what is refused is the inner message itself; one unsigned
    # assignment is refused before anything reads it.
    bad = [
        ("gate/v1/G1/assignment", signed(b"{oops", "departure_control"), "malformed_json"),
        ("gate/v1/G1/assignment", signed({"schema": "x/1", "gate": "G1"}, "departure_control"), "wrong_schema"),
        ("gate/v1/G1/assignment", signed(assignment, "departure_control"), "wrong_gate"),
        ("gate/v1/G1/assignment", json.dumps({**assignment, "gate": "G1"}).encode(), "unsigned"),
        (
            "fleet/v1/config",
            signed({"schema": "gate-edge/config-desired/1", "version": 4, "config": {}}, "fleet_admin"),
            "stale_version",
        ),
        ("gate/v1/G1/config/desired", signed(b"[]", "fleet_admin"), "malformed_json"),
        ("gate/v1/G1/cmd/pause", b"x" * (plain_cfg.max_payload_bytes + 1), "oversized"),
        ("gate/v1/G1/gallery/response", b"{}", "wrong_schema"),
        ("gate/v1/G1/gallery/response", json.dumps(chunk).encode(), "unsolicited"),
    ]
    for topic, payload, _ in bad:
        sender.publish(topic, payload, response_topic="reply/x", correlation=b"c")
    items: list[InboundItem] = []
    wait_for(lambda: (items.extend(link.poll(0.05)), w.count("gate/v1/G1/rejected") >= len(bad))[1], 10, "rejections")
    assert items == []  # nothing reached the app: no state can have changed
    codes = [r["code"] for r in w.on("gate/v1/G1/rejected")]
    assert sorted(codes) == sorted(c for _, _, c in bad)
    reports = w.on("gate/v1/G1/config/reported")
    assert reports and all(r["status"] == "rejected" and r["applied_version"] == 5 for r in reports)
    wait_for(lambda: w.count("reply/x") >= 7, 10, "answers on the response topic")  # all but the 2 config ones
    assert sum(link.stats.rejected.values()) == len(bad)
    # ...and the link still works afterwards
    fleet = {"schema": "gate-edge/config-desired/1", "version": 6, "config": {"decision": {}}}
    sender.publish("fleet/v1/config", signed(fleet, "fleet_admin"), retain=True)
    (c,) = poll_until(link, lambda got: len(got) >= 1)
    assert isinstance(c, ConfigUpdate) and c.desired.version == 6
    link.report_config(ConfigReported(gate="G1", status="applied", version=6, applied_version=6))
    w.wait("gate/v1/G1/config/reported", lambda r: r["status"] == "applied")


def test_birth_is_retained_and_the_last_will_marks_a_killed_gate_offline(
    broker: Broker, plain_cfg: MqttConfig, tmp_path: Path, watcher_factory: Callable[..., Watcher]
) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(GATE_PROC), str(broker.port), str(tmp_path / "s"), "1", "0", "--linger"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        w = watcher_factory(plain_cfg, ["gate/v1/G1/status"])  # subscribes after the birth: retained
        birth = w.wait("gate/v1/G1/status")
        assert birth["online"] is True and w.raw("gate/v1/G1/status")[0].retained
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        offline = w.wait("gate/v1/G1/status", lambda s: s["online"] is False)
        Status.model_validate(offline)
    finally:
        proc.kill()
        proc.wait()


def _received_in_order(w: Watcher) -> list[int]:
    """Dedup by event id (QoS 1 may duplicate on the wire), then the seqs in arrival order."""
    seen: set[str] = set()
    seqs = []
    for e in w.on("gate/v1/G1/events"):
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            seqs.append(e["seq"])
    return seqs


def test_events_published_during_a_broker_restart_arrive_once_in_order(
    broker: Broker,
    plain_cfg: MqttConfig,
    link_factory: Callable[..., GateLink],
    watcher_factory: Callable[..., Watcher],
) -> None:
    # A persistent watcher session: the broker keeps its subscription (and queue) across the restart.
    w = watcher_factory(plain_cfg, ["gate/v1/G1/events"], client_id="consumer")
    link = link_factory(plain_cfg)
    for i in range(5):
        link.publish_event(event(link, i))
    broker.stop()
    for i in range(5, 15):
        link.publish_event(event(link, i))  # stored; nobody to send to
        link.poll(0.01)
    assert link.outbox.depth >= 10
    broker.start()
    assert link.flush(15), link.client.stats
    wait_for(lambda: len(_received_in_order(w)) >= 15, 15, "15 events")
    assert _received_in_order(w) == list(range(1, 16))
    assert link.outbox.depth == 0 and link.stats.events_published >= 15


def test_a_gate_killed_mid_flight_and_restarted_loses_no_event(
    broker: Broker, plain_cfg: MqttConfig, tmp_path: Path, watcher_factory: Callable[..., Watcher]
) -> None:
    w = watcher_factory(plain_cfg, ["gate/v1/G1/events"], client_id="consumer")
    total = 40
    args = [sys.executable, str(GATE_PROC), str(broker.port), str(tmp_path / "s"), str(total), "0.01"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:  # kill it once it has stored some events, some unsent or unacknowledged
        if line.startswith("stored") and int(line.split()[1]) >= 15:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = len(_received_in_order(w))
    assert first < total
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert "done" in out.stdout, out.stderr[-2000:]
    wait_for(lambda: len(_received_in_order(w)) >= total, 15, "all events")
    assert _received_in_order(w) == list(range(1, total + 1))


def test_gallery_request_that_gets_a_bad_gallery_fails_cleanly(
    plain_cfg: MqttConfig, link_factory: Callable[..., GateLink]
) -> None:
    entries = entries_from_faces(FACES)[:3]
    svc = GalleryService(plain_cfg, entries, chunk_size=2, signer=signer("gallery_authority")).start()
    try:
        link = link_factory(plain_cfg)
        for sabotage in ("wrong_model", "expired", "duplicate_id", "bad_template", "malformed"):
            svc.sabotage = sabotage  # type: ignore[assignment]
            rid = link.request_gallery("LH1")
            got = poll_until(link, lambda g: any(isinstance(i, GalleryFailed) for i in g), 10)
            (failed,) = got
            assert isinstance(failed, GalleryFailed) and failed.request_id == rid and failed.flight_id == "LH1"
            assert link.stats.rejected.total() > 0, sabotage
            link.stats.rejected.clear()
        link.request_gallery("LH1")  # the service recovered: a good one goes live
        assert any(isinstance(i, GalleryReady) for i in poll_until(link, lambda g: len(g) >= 1))
    finally:
        svc.stop()
