"""Commands and gallery lifetimes at daemon level: wipe, pause/resume, opt_out, close_flight, expiry."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from support.mqtt import Watcher
from support.waiting import wait_for

from edge.inference.onnx_runtime import FaceModels

from .conftest import FLIGHT, GATE, Bench, decisions, gallery_live


def command(w: Bench, name: str, **args: Any) -> dict[str, Any]:
    """Send ``cmd/{name}`` as the fleet admin does (signed with its key, issued now) with a response
    topic, and return the gate's reply."""
    rid = uuid.uuid4().hex[:16]
    reply_topic = f"{w.topics.replies}/{rid}"
    replies = Watcher(w.mqtt, [reply_topic], f"cmd-{rid}")  # returns once subscribed: the reply cannot be missed
    try:
        body = {"schema": "gate-edge/cmd/1", "request_id": rid, "gate": GATE,
                "issued_at": datetime.now(timezone.utc).isoformat(), **args}
        w.publish(w.topics.command(name), body, response_topic=reply_topic, correlation=rid.encode(),
                  role="fleet_admin")
        reply = replies.wait(reply_topic, timeout=20, what=f"the reply to {name}")
        assert reply["request_id"] == rid and reply["command"] == name
        return reply
    finally:
        replies.close()


def test_wipe_command_attests_and_removes_the_gallery(world: Bench, face_models: FaceModels) -> None:
    run = world.start_daemon(world.config(), face_models)
    world.board()
    live = gallery_live(world)
    entries = live["gallery"]["entries"]
    assert entries == len(world.scenario.gallery())

    reply = command(world, "wipe")
    assert reply["result"] == "accepted"
    att = world.watcher.wait(world.topics.wipe, lambda a: a["reason"] == "command")
    assert att["entries_wiped"] == entries and att["flight_id"] == FLIGHT
    assert att["received_sha256"] == world.gallery.served[-1].digest  # what the service sent
    assert run.daemon.live is None
    world.watcher.wait_latest(world.topics.status, lambda s: (s["gallery"] or {}).get("state") == "none",
                              what="a status without gallery")
    run.stop()


def test_pause_stops_transactions_and_resume_restarts_them(world: Bench, face_models: FaceModels) -> None:
    run = world.start_daemon(world.config(), face_models)
    world.board()
    gallery_live(world)
    wait_for(lambda: len(decisions(world)) >= 1, 30, "a first decision")

    assert command(world, "pause")["result"] == "accepted"
    world.watcher.wait_latest(world.topics.status, lambda s: s.get("paused") is True, what="paused status")
    d = run.daemon
    tx, frames, events = d.metrics.transactions, d.metrics.frames, len(decisions(world))
    # A full loop of the scenario (three walk-ups) passes in front of the paused gate.
    wait_for(lambda: d.metrics.frames >= frames + 45, 60, "45 frames while paused")
    assert d.metrics.transactions == tx
    assert len(decisions(world)) == events

    assert command(world, "resume")["result"] == "accepted"
    wait_for(lambda: d.metrics.transactions > tx, 30, "a transaction after resume")
    wait_for(lambda: len(decisions(world)) > events, 30, "an event after resume")
    run.stop()


def _utc(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_opt_out_publishes_an_event_and_the_next_traveller_is_not_decided(
    world: Bench, face_models: FaceModels
) -> None:
    run = world.start_daemon(world.config(), face_models)
    world.board()
    gallery_live(world)
    wait_for(lambda: len(decisions(world)) >= 1, 30, "a first decision")

    duration = 20.0
    reply = command(world, "opt_out", duration_s=duration)
    assert reply["result"] == "accepted"
    ev = world.watcher.wait(world.topics.events, lambda e: e["outcome"] == "opt_out")
    assert ev["matched_id"] is None and ev["score"] is None and ev["flight_id"] == FLIGHT
    t0 = _utc(ev["decided_at"])
    # The window covers one walk-up: it closes when the opted-out traveller has left the zone, well
    # before the 20 s bound ...
    wait_for(lambda: run.daemon._opt_out is None, 15, "the opted-out traveller to pass")
    t1 = datetime.now(timezone.utc)
    assert (t1 - t0).total_seconds() < duration - 5
    # ... decisions come back for the travellers after them ...
    wait_for(lambda: any(_utc(e["started_at"]) > t1 for e in decisions(world)), 40, "a decision after the opt-out")
    # ... and no transaction was started inside the window (one already under way at t0 may finish;
    # slack at both ends because started_at is converted from the capture clock).
    inside = [e for e in decisions(world)
              if t0 + timedelta(seconds=0.5) < _utc(e["started_at"]) < t1 - timedelta(seconds=0.5)]
    assert inside == []
    assert run.daemon.metrics.outcomes["opt_out"] == 1
    run.stop()


def test_close_flight_checks_the_flight_id(world: Bench, face_models: FaceModels) -> None:
    run = world.start_daemon(world.config(), face_models)
    world.board()
    gallery_live(world)

    wrong = command(world, "close_flight", flight_id="NOPE99")
    assert wrong["result"] == "rejected" and "NOPE99" in wrong["reason"]
    assert run.daemon.live is not None and run.daemon.live.flight_id == FLIGHT
    assert not [a for a in world.watcher.on(world.topics.wipe) if a["reason"] == "flight_close"]

    right = command(world, "close_flight", flight_id=FLIGHT)
    assert right["result"] == "accepted"
    att = world.watcher.wait(world.topics.wipe, lambda a: a["reason"] == "flight_close")
    assert att["flight_id"] == FLIGHT and att["entries_wiped"] == len(world.scenario.gallery())
    assert run.daemon.live is None
    run.stop()


def test_an_expired_gallery_is_wiped_with_reason_expiry(
    world_factory: Callable[..., Bench], face_models: FaceModels
) -> None:
    w = world_factory(gallery_ttl=timedelta(seconds=8))
    run = w.start_daemon(w.config(), face_models)
    w.board()
    live = gallery_live(w, timeout=8)
    expires = _utc(live["gallery"]["expires_at"])
    att = w.watcher.wait(w.topics.wipe, lambda a: a["reason"] == "expiry", timeout=30)
    assert att["flight_id"] == FLIGHT and att["entries_wiped"] == live["gallery"]["entries"]
    assert _utc(att["wiped_at"]) >= expires
    assert run.daemon.live is None
    assert datetime.now(timezone.utc) >= expires
    run.stop()
