"""Bad input on every inbound topic, thrown at the running daemon: each message is refused with a
reason, the daemon keeps deciding, the live gallery and config stay as they were, and a valid flow
afterwards still works.

Two kinds of bad input: messages signed by the topic's own role with its trusted key whose inner
message is wrong (so the refusal is intake's: malformed, wrong schema, wrong gate, invalid, stale),
and well-formed messages that are not signed by a trusted key of the role (unsigned, signed by
another role, by an unknown key, or changed after signing), refused before anything reads them.
Oversized messages are refused before the signature is looked at, so they need no key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from support.keys import stranger, tampered
from support.waiting import wait_for

from edge.inference.onnx_runtime import FaceModels
from edge.messaging.client import MqttClient
from edge.messaging.envelope import Role

from .conftest import FLIGHT, GATE, Bench, decisions, gallery_live

NOW = datetime.now(timezone.utc).isoformat()
COMMAND_NAMES = ("wipe", "opt_out", "pause", "resume", "close_flight")
Case = tuple[str, bytes, str]  # topic, payload, the rejection code expected


def _cases(w: Bench, big: bytes) -> list[Case]:
    """Signed messages whose inner message is wrong, and oversized ones, for every inbound topic."""
    t = w.topics

    def signer(role: Role) -> Callable[[bytes | dict[str, Any]], bytes]:
        return lambda body: w.sign(body, role)

    cases: list[Case] = []
    for topic, schema, good, sign in (
        (t.assignment, "gate-edge/assignment/1", {"gate": GATE, "flight_id": "OTHER1", "issued_at": NOW},
         signer("departure_control")),
        (t.fleet_config, "gate-edge/config-desired/1", {"version": 50, "config": {"decision": {"threshold": 0.9}}},
         signer("fleet_admin")),
        (t.config_desired, "gate-edge/config-desired/1", {"version": 50, "config": {"decision": {"threshold": 0.9}}},
         signer("fleet_admin")),
    ):
        cases += [
            (topic, sign(b'{"schema": "gate-edge/'), "malformed_json"),
            (topic, sign(b"[1, 2, 3]"), "malformed_json"),
            (topic, sign({**good, "schema": schema.replace("/1", "/9")}), "wrong_schema"),
            (topic, sign({**good, "schema": schema, "surprise": 1}), "invalid"),
            (topic, big, "oversized"),
        ]
    cases.append((t.assignment, w.sign({"schema": "gate-edge/assignment/1", "gate": "G8", "flight_id": "OTHER1",
                                        "issued_at": NOW}, "departure_control"), "wrong_gate"))
    for topic in (t.fleet_config, t.config_desired):
        body = {"schema": "gate-edge/config-desired/1", "version": 51, "gate": "G8",
                "config": {"decision": {"threshold": 0.9}}}
        cases.append((topic, w.sign(body, "fleet_admin"), "wrong_gate"))
    admin = signer("fleet_admin")
    for name in COMMAND_NAMES:
        topic = t.command(name)
        good = {"schema": "gate-edge/cmd/1", "request_id": f"bad-{name}", "issued_at": NOW}
        cases += [
            (topic, admin(b"\xff\xfe not json"), "malformed_json"),
            (topic, admin({**good, "schema": "gate-edge/cmd/0"}), "wrong_schema"),
            (topic, admin({**good, "gate": "G8"}), "wrong_gate"),
            (topic, admin({**good, "unexpected": True}), "invalid"),
            (topic, big, "oversized"),
        ]
    # Gallery responses nobody asked for, and garbage on the response topic (galleries are checked
    # against their signed manifest, which only a request's first chunk carries).
    cases += [
        (t.gallery_response, b"{not json", "malformed_json"),
        (t.gallery_response, json.dumps({"schema": "gate-edge/gallery/1"}).encode(), "invalid"),
    ]
    return cases


def _forgeries(w: Bench) -> list[Case]:
    """Messages that would change what the gate does, if believed, with a flaw in who signed them:
    unsigned, signed by another role's trusted key, by a key nobody trusts, changed after signing."""
    t = w.topics
    config = {"schema": "gate-edge/config-desired/1", "version": 60, "config": {"decision": {"threshold": 0.9}}}
    targets: list[tuple[str, Role, Role, dict[str, Any], bytes, bytes]] = [
        # topic, its role, another role, the message, and a change to make after signing
        (t.assignment, "departure_control", "fleet_admin",
         {"schema": "gate-edge/assignment/1", "gate": GATE, "flight_id": "OTHER1", "issued_at": NOW},
         b"OTHER1", b"OTHER2"),
        (t.fleet_config, "fleet_admin", "departure_control", config, b"0.9", b"0.1"),
        (t.config_desired, "fleet_admin", "departure_control", config, b"0.9", b"0.1"),
    ]
    for name in COMMAND_NAMES:
        body = {"schema": "gate-edge/cmd/1", "request_id": f"forged-{name}", "gate": GATE, "issued_at": NOW}
        targets.append((t.command(name), "fleet_admin", "departure_control", body, b"forged-", b"f0rged-"))
    cases: list[Case] = []
    for topic, role, other, body, old, new in targets:
        raw = json.dumps(body).encode()
        cases += [
            (topic, raw, "unsigned"),
            (topic, w.sign(raw, other), "wrong_role"),
            (topic, stranger(role)(raw), "unknown_key"),
            (topic, tampered(w.sign(raw, role), old, new), "bad_signature"),
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
                                              "config": {"decision": {"margin": 0.06}}}, role="fleet_admin")
    world.watcher.wait(world.topics.config_reported, lambda r: r["status"] == "applied" and r["version"] == 20)
    wait_for(lambda: decisions(world), 30, "a first decision")
    gallery, cfg, flight = d.live, d.cfg, d.session.flight
    assert gallery is not None
    entries = gallery.entries

    big = b'{"schema": "x", "pad": "' + b"x" * (world.mqtt.max_payload_bytes + 10) + b'"}'
    cases = _cases(world, big) + _forgeries(world)
    stale = {"schema": "gate-edge/config-desired/1", "version": 19, "config": {"decision": {"threshold": 0.1}}}
    cases.append((world.topics.fleet_config, world.sign(stale, "fleet_admin"), "stale_version"))

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
        commands = sum("/cmd/" in topic for topic, _p, _c in cases)
        assert commands == 45  # five commands: five bad inner messages and four forgeries each
        assert len(cmd_replies) == commands and all(a["result"] == "rejected" and a["reason"] for a in cmd_replies)
        forged = [a for a in cmd_replies if a["reason"].split(":")[0] in ("unsigned", "wrong_role", "unknown_key",
                                                                          "bad_signature")]
        assert len(forged) == 20
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
                                                "config": {"decision": {"threshold": 0.5}}}, role="fleet_admin")
    world.watcher.wait(world.topics.config_reported, lambda r: r["status"] == "applied" and r["version"] == 21)
    assert d.cfg.decision.threshold == 0.5 and d.cfg.decision.margin == 0.06
    run.stop()


def _drain(client: MqttClient) -> list[dict[str, Any]]:
    out = []
    while (m := client.get()) is not None:
        out.append(json.loads(m.payload))
    return out
