"""Forged, replayed and unsafe instructions, thrown at the real daemon on a real broker.

The broker is not trusted with decisions (docs/security.md): anyone who can publish on a gate's
topics can send anything, and anyone who recorded a signed message can send it again. Each attack
here must be refused with its code and reason on ``gate/v1/{gate}/rejected`` (or, for a config the
safety envelope refuses, on ``config/reported``), and must change nothing: the flight, the live
gallery, the config and its version, the paused flag, and decisions keep coming.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from support.keys import tampered
from support.mqtt import Watcher
from support.waiting import wait_for

from edge.daemon.gate import GateDaemon
from edge.inference.onnx_runtime import FaceModels
from edge.messaging.envelope import Role, Signer, load_or_create_private_key
from edge.messaging.schemas import Assignment

from .conftest import FLIGHT, GATE, Bench, DaemonRun, decisions, gallery_live

CONFIG_SCHEMA = "gate-edge/config-desired/1"


@dataclass(frozen=True, eq=False)
class State:
    """What an attack must not change (the gallery and config objects themselves, not copies: a
    swapped-in lookalike would be a change too)."""

    flight: str | None
    live: object
    entries: int | None
    cfg: object
    version: int
    paused: bool
    galleries_served: int
    wipes: int
    assignment_floor: datetime | None

    @classmethod
    def of(cls, w: Bench, d: GateDaemon) -> State:
        return cls(d.session.flight, d.live, d.live.entries if d.live is not None else None, d.cfg, d.cfg.version,
                   d._paused, len(w.gallery.served), len(w.watcher.on(w.topics.wipe)),
                   d.link.floors.assignment_issued_at)

    def changes(self, now: State) -> list[str]:
        same = {"live": self.live is now.live, "cfg": self.cfg is now.cfg}
        for name in ("flight", "entries", "version", "paused", "galleries_served", "wipes", "assignment_floor"):
            same[name] = getattr(self, name) == getattr(now, name)
        return [name for name, ok in same.items() if not ok]


def unchanged(w: Bench, d: GateDaemon, before: State) -> None:
    """Nothing the attacks could have changed did, and the gate still decides."""
    assert before.changes(State.of(w, d)) == []
    n = len(decisions(w))
    wait_for(lambda: len(decisions(w)) > n, 30, "a decision after the attacks")


def refusal(w: Bench, code: str, topic: str, since: int) -> dict[str, Any]:
    """The first notice on ``rejected`` after the ``since`` first ones with ``code`` about ``topic``."""
    return wait_for(lambda: next((n for n in w.watcher.on(w.topics.rejected)[since:]
                                  if n["code"] == code and n["topic"] == topic), None), 30, f"a {code} notice")


def notices(w: Bench) -> int:
    return len(w.watcher.on(w.topics.rejected))


def deciding(w: Bench, face_models: FaceModels) -> DaemonRun:
    """A daemon boarding the flight, its gallery live and a first decision made."""
    run = w.start_daemon(w.config(), face_models)
    w.board()
    gallery_live(w)
    wait_for(lambda: decisions(w), 30, "a first decision")
    return run


# --------------------------------------------------------------------------- assignments
def test_forged_assignments_are_refused_and_the_flight_stays(world: Bench, face_models: FaceModels) -> None:
    run = deciding(world, face_models)
    d = run.daemon
    before = State.of(world, d)
    topic = world.topics.assignment

    def attack(payload: bytes, code: str) -> dict[str, Any]:
        # Retained, as an attacker would: it replaces departure control's message on the broker.
        since = notices(world)
        world.publish(topic, payload, retain=True)
        return refusal(world, code, topic, since)

    def body(flight: str) -> bytes:
        return Assignment(gate=GATE, flight_id=flight, issued_at=datetime.now(timezone.utc)).to_bytes()

    # 1. Unsigned, naming another flight.
    n = attack(body("EVIL01"), "unsigned")
    assert "not a signed envelope" in n["reason"]
    # 2. Signed with the fleet admin's trusted key, as the fleet admin: the wrong role for assignments.
    n = attack(world.sign(body("EVIL02"), "fleet_admin"), "wrong_role")
    assert "'fleet_admin'" in n["reason"] and "expected 'departure_control'" in n["reason"]
    # 3. The fleet admin's key claiming to be departure control: not a departure-control key.
    admin_key = load_or_create_private_key(world.sim.key_file("fleet_admin"))  # the existing key, read
    n = attack(Signer("departure_control", admin_key)(body("EVIL03")), "unknown_key")
    assert world.sim.signer("fleet_admin").key_id in n["reason"] and "departure_control" in n["reason"]
    # 4. Departure control's genuine signature, one byte of the flight changed afterwards.
    n = attack(tampered(world.sign(body("EVIL04"), "departure_control"), b"EVIL04", b"EVIL05"), "bad_signature")
    assert "does not verify" in n["reason"]

    unchanged(world, d, before)
    assert not [r for r in world.watcher.on(world.topics.rejected) if r["topic"] == topic
                and r["code"] not in ("unsigned", "wrong_role", "unknown_key", "bad_signature")]
    # Departure control's next genuine assignment still applies: the forgeries locked nothing.
    world.dcs.assign(GATE, "TST002")
    world.watcher.wait_latest(world.topics.status, lambda s: (s.get("gallery") or {}).get("state") == "live"
                              and s["gallery"]["flight_id"] == "TST002", 60, "flight TST002 live")
    run.stop()


# --------------------------------------------------------------------------- commands
def command(w: Bench, name: str, envelope: bytes, rid: str) -> dict[str, Any]:
    """Publish a signed command (already made) with a response topic; the gate's reply."""
    reply_topic = f"{w.topics.replies}/{uuid.uuid4().hex[:12]}"
    replies = Watcher(w.mqtt, [reply_topic], f"cmd-{uuid.uuid4().hex[:8]}")  # subscribed: no reply missed
    try:
        w.publish(w.topics.command(name), envelope, response_topic=reply_topic, correlation=rid.encode())
        reply = replies.wait(reply_topic, timeout=20, what=f"the reply to {name}")
        assert reply["request_id"] == rid and reply["command"] == name
        return reply
    finally:
        replies.close()


def signed_command(w: Bench, name: str, rid: str, issued_at: datetime) -> bytes:
    body = {"schema": "gate-edge/cmd/1", "request_id": rid, "gate": GATE, "issued_at": issued_at.isoformat()}
    return w.sign(body, "fleet_admin")


def test_an_old_command_and_a_replayed_one_are_refused_even_after_a_restart(
    world: Bench, face_models: FaceModels
) -> None:
    run = deciding(world, face_models)
    d = run.daemon
    pause_topic = world.topics.command("pause")

    # 1. A pause genuinely signed by the fleet admin, but issued in 2001.
    before = State.of(world, d)
    since = notices(world)
    old = signed_command(world, "pause", "pause-2001", datetime(2001, 9, 1, tzinfo=timezone.utc))
    reply = command(world, "pause", old, "pause-2001")
    assert reply["result"] == "rejected" and reply["reason"].startswith("expired: ")
    n = refusal(world, "expired", pause_topic, since)
    assert n["request_id"] == "pause-2001" and "2001-09-01" in n["reason"]
    unchanged(world, d, before)

    # 2. A pause issued now runs once; a resume undoes it; the same pause sent again is refused.
    pause = signed_command(world, "pause", "pause-once", datetime.now(timezone.utc))
    assert command(world, "pause", pause, "pause-once")["result"] == "accepted"
    assert d._paused
    resume = signed_command(world, "resume", "resume-once", datetime.now(timezone.utc))
    assert command(world, "resume", resume, "resume-once")["result"] == "accepted"
    before = State.of(world, d)
    assert not before.paused
    since = notices(world)
    reply = command(world, "pause", pause, "pause-once")
    assert reply["result"] == "rejected" and reply["reason"].startswith("replayed: ")
    n = refusal(world, "replayed", pause_topic, since)
    assert n["request_id"] == "pause-once" and "pause-once" in n["reason"]
    unchanged(world, d, before)

    # 3. After a restart (the executed request ids are on disk in the state dir) the same copy is
    # still refused: a replay is not a matter of the gate's memory. Sent as soon as the new daemon is
    # subscribed, well inside the two minutes in which the pause would otherwise be fresh.
    run.stop()
    run = world.start_daemon(world.config(), face_models)
    d = run.daemon
    wait_for(lambda: d.link.connected and d.link.client.wait_subscribed(0), 60, "the restarted daemon subscribed")
    since = notices(world)
    reply = command(world, "pause", pause, "pause-once")
    assert reply["result"] == "rejected" and reply["reason"].startswith("replayed: ")
    assert refusal(world, "replayed", pause_topic, since)["request_id"] == "pause-once"
    assert not d._paused
    gallery_live_again = world.watcher.wait_latest(
        world.topics.status, lambda s: (s.get("gallery") or {}).get("state") == "live" and s["paused"] is False,
        60, "the restarted gate live and not paused")
    assert gallery_live_again["gallery"]["flight_id"] == FLIGHT
    n = len(decisions(world))
    wait_for(lambda: len(decisions(world)) > n, 30, "decisions from the restarted gate")
    assert not d._paused
    run.stop()


# --------------------------------------------------------------------------- desired config
def test_forged_and_unsafe_configs_are_refused_and_the_config_stays(world: Bench, face_models: FaceModels) -> None:
    run = deciding(world, face_models)
    d = run.daemon

    def push(topic: str, version: int, config: dict[str, Any], role: Role = "fleet_admin") -> dict[str, Any]:
        """Retained desired config signed as ``role``; the gate's report on that version."""
        body = {"schema": CONFIG_SCHEMA, "version": version, "config": config}
        world.publish(topic, body, retain=True, role=role)
        return world.watcher.wait(world.topics.config_reported, lambda r: r["version"] == version, 20,
                                  f"the report on version {version}")

    assert push(world.topics.fleet_config, 10, {"decision": {"margin": 0.06}})["status"] == "applied"
    before = State.of(world, d)
    threshold = d.cfg.decision.threshold

    # 1. A desired config signed by departure control's trusted key: the wrong role for config.
    since = notices(world)
    world.publish(world.topics.config_desired, {"schema": CONFIG_SCHEMA, "version": 11,
                                                "config": {"decision": {"threshold": 0.9}}},
                  retain=True, role="departure_control")
    n = refusal(world, "wrong_role", world.topics.config_desired, since)
    assert "'departure_control'" in n["reason"] and "expected 'fleet_admin'" in n["reason"]
    report = world.watcher.wait_latest(world.topics.config_reported, lambda r: r["status"] == "rejected",
                                       what="the wrong-role config reported rejected")
    assert report["applied_version"] == 10 and report["errors"][0]["value"] == "wrong_role"

    # 2. Signed by the fleet admin, but below the safety envelope's threshold floor.
    r = push(world.topics.config_desired, 12, {"decision": {"threshold": 0}})
    assert r["status"] == "rejected" and r["applied_version"] == 10
    assert [e["path"] for e in r["errors"]] == ["decision.threshold"]

    # 3. Signed by the fleet admin, pointing the gate at another broker and other trust anchors:
    # local only, refused whole, the values never echoed.
    r = push(world.topics.fleet_config, 13, {"decision": {"threshold": 0.5}, "mqtt": {"host": "broker.evil.example"},
                                             "security": {"trust_dir": "/tmp/evil-anchors"}})
    assert r["status"] == "rejected" and r["applied_version"] == 10
    assert {e["path"] for e in r["errors"]} == {"mqtt.host", "security.trust_dir"}
    assert all(e["value"] == "<redacted>" for e in r["errors"]) and "evil" not in str(r)

    unchanged(world, d, before)
    assert d.cfg.decision.threshold == threshold and d.machine.params.threshold == threshold
    assert d.cfg.mqtt.host == world.mqtt.host and d.cfg.security.trust_dir == world.sim.trust_dir
    # The refusals locked nothing: the fleet admin's next sound config applies.
    assert push(world.topics.fleet_config, 14, {"decision": {"threshold": 0.5}})["status"] == "applied"
    assert d.cfg.decision.threshold == 0.5 and d.cfg.version == 14 and d.session.flight == FLIGHT
    run.stop()
