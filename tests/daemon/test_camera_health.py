"""A camera that stops delivering (simulated unplug) shows as degraded in the gate's status and comes
back to ok when frames return, with no process restart and the gate still deciding afterwards."""

from __future__ import annotations

from support.waiting import wait_for

from edge.inference.onnx_runtime import FaceModels

from .conftest import Bench, decisions, gallery_live


def test_unplugged_camera_degrades_the_status_and_recovers(world: Bench, face_models: FaceModels) -> None:
    cfg = world.config()
    device = world.device()
    source = world.source(cfg, device)
    run = world.start_daemon(cfg, face_models, source=source)
    world.board()
    gallery_live(world)
    world.watcher.wait_latest(world.topics.status, lambda s: s["camera"] == "ok", what="camera ok")
    seen = len(world.watcher.on(world.topics.status))

    for round_no in range(2):  # twice: recovery must not be a one-off
        device.unplug(2.0)
        world.watcher.wait(world.topics.status, lambda s: s["camera"] == "degraded", 20, "camera degraded")
        want = round_no + 1
        wait_for(lambda: source.stats.reconnects >= want, 20, "the capture to reopen the camera")  # noqa: B023
        world.watcher.wait_latest(world.topics.status, lambda s: s["camera"] == "ok", 20, "camera ok again")
        later = world.watcher.on(world.topics.status)[seen:]
        cams = [s["camera"] for s in later]
        assert "degraded" in cams and cams[-1] == "ok"
        assert all(s["online"] for s in later)
        seen = len(world.watcher.on(world.topics.status))

    assert run.alive and source.stats.errors >= 2
    n = len(decisions(world))
    wait_for(lambda: len(decisions(world)) > n, 30, "a decision after the camera came back")
    run.stop()


def test_the_retained_status_and_the_systemd_line_say_what_the_gate_saw_of_the_broker(
    world: Bench, face_models: FaceModels
) -> None:
    run = world.start_daemon(world.config(), face_models)
    status = world.watcher.wait_latest(world.topics.status, lambda s: s.get("broker") == "connected",
                                       what="broker connected")
    assert status["broker_address"] == f"{world.mqtt.host}:{world.mqtt.port}"  # which broker, among several
    world.broker.stop()
    wait_for(lambda: "unreachable" in run.daemon._broker_state(), 30, "the gate to see the broker gone")
    assert "refused" in run.daemon._broker_state() or "closed" in run.daemon._broker_state()
    world.broker.start()
    # Back online, the gate's status names the outage it saw until the next change, then connected.
    world.watcher.wait_latest(world.topics.status, lambda s: s.get("broker") == "connected", 30,
                              "the status after reconnecting")
    run.stop()
