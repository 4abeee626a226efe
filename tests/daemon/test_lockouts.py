"""Hostile or mistaken inputs that used to lock a gate out, against the real daemon and broker.

Each was found by review: an assignment dated 2999, a close time already past, a gallery chunk for
another flight, an absurd config version, and gallery limits that a push reported 'applied' while
the old ones held. Now each is refused with a reason (and changes nothing), or is in force.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from edge.inference.onnx_runtime import FaceModels
from edge.messaging.schemas import Assignment

from .conftest import FLIGHT, GATE, Bench, gallery_live


def assign(w: Bench, flight: str, issued_at: datetime, close_time: datetime | None = None) -> None:
    """An assignment signed by departure control's trusted key, as a buggy or compromised departure
    control could send it: what is refused is its content, not who sent it."""
    a = Assignment(gate=GATE, flight_id=flight, close_time=close_time, issued_at=issued_at)
    w.publish(w.topics.assignment, a.to_bytes(), retain=True, role="departure_control")


def refused(w: Bench, code: str, what: str) -> dict[str, Any]:
    return w.watcher.wait(w.topics.rejected, lambda r: r["code"] == code, 30, what)


def live_flight(w: Bench, flight: str, timeout: float = 60.0) -> dict[str, Any]:
    return w.watcher.wait_latest(w.topics.status, lambda s: (s.get("gallery") or {}).get("state") == "live"
                                 and s["gallery"]["flight_id"] == flight, timeout, f"flight {flight} live")


def test_an_assignment_from_the_year_2999_is_refused_and_the_next_real_one_applies(
    world: Bench, face_models: FaceModels
) -> None:
    run = world.start_daemon(world.config(), face_models)
    world.board()
    gallery_live(world)
    assign(world, "TST999", datetime(2999, 1, 1, tzinfo=timezone.utc))
    notice = refused(world, "clock_skew", "the far-future assignment refused")
    assert notice["topic"] == world.topics.assignment and "ahead of the gate's clock" in notice["reason"]
    assert run.daemon.session.flight == FLIGHT and run.daemon.live is not None  # nothing changed
    assert not world.watcher.on(world.topics.wipe)
    world.dcs.assign(GATE, "TST002")  # departure control moves the gate on: not locked out
    live_flight(world, "TST002")
    assert [a["reason"] for a in world.watcher.on(world.topics.wipe)] == ["flight_close"]
    run.stop()


def test_a_close_time_already_past_is_refused_and_the_corrected_assignment_applies(
    world: Bench, face_models: FaceModels
) -> None:
    run = world.start_daemon(world.config(), face_models)
    now = datetime.now(timezone.utc)
    assign(world, FLIGHT, now, close_time=now - timedelta(minutes=5))
    notice = refused(world, "expired", "the assignment with a past close time refused")
    assert "close_time" in notice["reason"]
    assert run.daemon.session.flight is None and not world.gallery.served  # no gallery asked for
    world.dcs.assign(GATE, FLIGHT)  # the corrected assignment, issued later
    live_flight(world, FLIGHT)
    run.stop()


def test_a_gallery_chunk_for_another_flight_is_refused_and_the_request_retried(
    world: Bench, face_models: FaceModels
) -> None:
    world.gallery.sabotage = "wrong_flight"
    run = world.start_daemon(world.config(), face_models)
    world.board()
    notice = refused(world, "wrong_flight", "the other flight's gallery refused")
    assert "OTHER01" in notice["reason"] and FLIGHT in notice["reason"]
    live_flight(world, FLIGHT)  # retried after the back-off; the service answers correctly this time
    assert len(world.gallery.served) == 2
    run.stop()


def test_an_absurd_config_version_is_refused_and_later_versions_apply(world: Bench, face_models: FaceModels) -> None:
    run = world.start_daemon(world.config(), face_models)
    body = {"schema": "gate-edge/config-desired/1", "config": {"decision": {"margin": 0.05}}}
    world.publish(world.topics.fleet_config, {**body, "version": 10**30}, retain=True, role="fleet_admin")
    refused(world, "invalid", "the absurd version refused")
    world.publish(world.topics.fleet_config, {**body, "version": 7}, retain=True, role="fleet_admin")
    world.watcher.wait(world.topics.config_reported, lambda r: r["status"] == "applied" and r["version"] == 7)
    assert run.daemon.cfg.version == 7 and run.daemon.cfg.decision.margin == 0.05
    run.stop()


def test_new_gallery_limits_pushed_live_hold_for_the_next_gallery(world: Bench, face_models: FaceModels) -> None:
    run = world.start_daemon(world.config(), face_models)
    world.board()
    entries = gallery_live(world)["gallery"]["entries"]
    assert entries == 3

    def push(version: int, max_entries: int) -> None:
        world.publish(world.topics.fleet_config, {"schema": "gate-edge/config-desired/1", "version": version,
                                                  "config": {"gallery": {"max_entries": max_entries}}},
                      retain=True, role="fleet_admin")
        world.watcher.wait(world.topics.config_reported, lambda r: r["status"] == "applied"
                           and r["version"] == version, what=f"config version {version} applied")

    push(1, entries - 1)
    assert run.daemon.link.limits.max_gallery_entries == entries - 1  # what 'applied' said is what runs
    world.dcs.assign(GATE, "TST002")
    notice = refused(world, "too_large", "the next gallery refused under the new limit")
    assert str(entries - 1) in notice["reason"]
    push(2, 100)
    live_flight(world, "TST002")  # the retry obeys the raised limit
    run.stop()


def test_a_substituted_gallery_entry_is_refused_attested_and_the_genuine_gallery_goes_live(
    world: Bench, face_models: FaceModels
) -> None:
    # An impostor's photo under a listed traveller's id, after the gallery authority signed the manifest.
    world.gallery.sabotage = "substitute"
    run = world.start_daemon(world.config(), face_models)
    world.board()
    notice = refused(world, "bad_signature", "the substituted gallery refused")
    assert "is not the one the gallery authority signed" in notice["reason"]
    attested = world.watcher.wait(world.topics.wipe, lambda a: a["reason"] == "refused")
    assert attested["flight_id"] == FLIGHT and attested["entries_wiped"] == 3
    assert attested["received_sha256"] == world.gallery.served[0].digest  # what the service sent
    live_flight(world, FLIGHT)  # asked again; the genuine gallery goes live
    run.stop()
