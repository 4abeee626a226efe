"""Bad input on every inbound topic, thrown at the running daemon: each message is refused with a
reason, the daemon keeps deciding, the live gallery and config stay as they were, and a valid flow
afterwards still works."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from support.waiting import wait_for

from edge.inference.onnx_runtime import FaceModels
from edge.messaging.client import MqttClient

from .conftest import FLIGHT, GATE, Bench, decisions, gallery_live

NOW = datetime.now(timezone.utc).isoformat()


def _cases(w: Bench, big: bytes) -> list[tuple[str, bytes, str]]:
    """(topic, payload, expected rejection code) for every inbound topic."""
    t = w.topics
    cases: list[tuple[str, bytes, str]] = []
    for topic, schema, good in (
        (t.assignment, "gate-edge/assignment/1", {"gate": GATE, "flight_id": "OTHER1", "issued_at": NOW}),
        (t.fleet_config, "gate-edge/config-desired/1", {"version": 50, "config": {"decision": {"threshold": 0.9}}}),
        (t.config_desired, "gate-edge/config-desired/1", {"version": 50, "config": {"decision": {"threshold": 0.9}}}),
    ):
        cases += [
            (topic, b'{"schema": "gate-edge/', "malformed_json"),
            (topic, b"[1, 2, 3]", "malformed_json"),
            (topic, json.dumps({**good, "schema": schema.replace("/1", "/9")}).encode(), "wrong_schema"),
            (topic, json.dumps({**good, "schema": schema, "surprise": 1}).encode(), "invalid"),
            (topic, big, "oversized"),
        ]
    cases.append((t.assignment, json.dumps({"schema": "gate-edge/assignment/1", "gate": "G8", "flight_id": "OTHER1",
                                            "issued_at": NOW}).encode(), "wrong_gate"))
    for topic in (t.fleet_config, t.config_desired):
        body = {"schema": "gate-edge/config-desired/1", "version": 51, "gate": "G8",
                "config": {"decision": {"threshold": 0.9}}}
        cases.append((topic, json.dumps(body).encode(), "wrong_gate"))
    for name in ("wipe", "opt_out", "pause", "resume", "close_flight"):
        topic = t.command(name)
        good = {"schema": "gate-edge/cmd/1", "request_id": f"bad-{name}", "issued_at": NOW}
        cases += [
            (topic, b"\xff\xfe not json", "malformed_json"),
            (topic, json.dumps({**good, "schema": "gate-edge/cmd/0"}).encode(), "wrong_schema"),
            (topic, json.dumps({**good, "gate": "G8"}).encode(), "wrong_gate"),
            (topic, json.dumps({**good, "unexpected": True}).encode(), "invalid"),
            (topic, big, "oversized"),
        ]
    # Gallery responses nobody asked for, and garbage on the response topic.
    cases += [
        (t.gallery_response, b"{not json", "malformed_json"),
        (t.gallery_response, json.dumps({"schema": "gate-edge/gallery/1"}).encode(), "invalid"),
    ]
    return cases


def test_bad_input_on_every_inbound_topic_is_refused_and_changes_nothing(
    world: Bench, face_models: FaceModels
) -> None:
    # The first gallery the service sends has already expired: refused, then the gate retries.
    world.gallery.sabotage = "expired"
    run = world.start_daemon(world.config(), face_models)
    d = run.daemon
    world.board()
    refused = world.watcher.wait(world.topics.rejected, lambda r: r["code"] == "expired", 30, "expired gallery refused")
    assert "expired" in refused["reason"] and refused["topic"] == world.topics.gallery_response
    gallery_live(world)
    assert len(world.gallery.served) == 2  # the retry got the good one

    # A valid fleet config first, so that an older version is stale.
    world.publish(world.topics.fleet_config, {"schema": "gate-edge/config-desired/1", "version": 20,
                                              "config": {"decision": {"margin": 0.06}}})
    world.watcher.wait(world.topics.config_reported, lambda r: r["status"] == "applied" and r["version"] == 20)
    wait_for(lambda: decisions(world), 30, "a first decision")
    gallery, cfg, flight = d.live, d.cfg, d.session.flight
    assert gallery is not None
    entries = gallery.entries

    big = b'{"schema": "x", "pad": "' + b"x" * (world.mqtt.max_payload_bytes + 10) + b'"}'
    cases = _cases(world, big)
    stale = {"schema": "gate-edge/config-desired/1", "version": 19, "config": {"decision": {"threshold": 0.1}}}
    cases.append((world.topics.fleet_config, json.dumps(stale).encode(), "stale_version"))

    # (The expired gallery's second chunk arrived after its request was dropped: unsolicited.)
    earlier = len(world.watcher.on(world.topics.rejected))
    reply_topic = f"{world.topics.replies}/bad-input"
    replies = MqttClient(world.mqtt, "bad-input-replies", subscriptions=[reply_topic])
    replies.start()
    assert replies.wait_connected(10) and replies.wait_subscribed(10)
    try:
        for topic, payload, _code in cases:
            world.publish(topic, payload, response_topic=reply_topic, correlation=uuid.uuid4().hex.encode())

        def notices() -> list[dict[str, Any]]:
            return world.watcher.on(world.topics.rejected)[earlier:]

        want = [(topic, code) for topic, _p, code in cases]
        wait_for(lambda: len(notices()) >= len(want), 30, f"{len(want)} rejection notices")
        got = [(n["topic"], n["code"]) for n in notices()]
        assert sorted(got) == sorted(want)
        assert all(n["reason"] for n in notices())

        # Every message that carried a response topic got an answer there too (config refusals are
        # answered on config/reported instead: a retained desired config has no one waiting).
        config_topics = (world.topics.fleet_config, world.topics.config_desired)
        expected = sum(topic not in config_topics for topic, _p, _c in cases)
        answers: list[dict[str, Any]] = []
        wait_for(lambda: (answers.extend(_drain(replies)), len(answers) >= expected)[1], 20, "replies")
        assert len(answers) == expected
        cmd_replies = [a for a in answers if a["schema"] == "gate-edge/cmd-reply/1"]
        assert len(cmd_replies) == 25 and all(a["result"] == "rejected" and a["reason"] for a in cmd_replies)
    finally:
        replies.stop()

    # Config refusals are reported on config/reported too, with the running version unchanged.
    reports = [r for r in world.watcher.on(world.topics.config_reported) if r["status"] == "rejected"]
    assert reports and all(r["applied_version"] == 20 and r["errors"] for r in reports)

    # Nothing changed, nothing stopped.
    assert run.alive
    assert d.live is gallery and d.live.entries == entries and d.session.flight == flight == FLIGHT
    assert d.cfg is cfg and d.cfg.version == 20 and not d._paused
    assert not [a for a in world.watcher.on(world.topics.wipe) if a["reason"] != "replaced"]
    assert not [e for e in world.watcher.on(world.topics.events) if e["outcome"] == "opt_out"]

    # And a valid flow still works: decisions keep coming, a live config change applies.
    n = len(decisions(world))
    wait_for(lambda: len(decisions(world)) > n, 30, "a decision after the bad input")
    world.publish(world.topics.config_desired, {"schema": "gate-edge/config-desired/1", "version": 21,
                                                "config": {"decision": {"threshold": 0.5}}})
    world.watcher.wait(world.topics.config_reported, lambda r: r["status"] == "applied" and r["version"] == 21)
    assert d.cfg.decision.threshold == 0.5 and d.cfg.decision.margin == 0.06
    run.stop()


def _drain(client: MqttClient) -> list[dict[str, Any]]:
    out = []
    while (m := client.get()) is not None:
        out.append(json.loads(m.payload))
    return out
