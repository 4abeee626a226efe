"""sd_notify and the frame-loop watchdog against a fake notify socket (no systemd needed)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from support.notify_socket import NotifySocket  # shared with tests/daemon

import edge.system.systemd as sd


def test_ready_status_stopping_reach_the_socket(notify_socket: NotifySocket) -> None:
    assert sd.ready("models warm,\ncamera 1280x720")
    assert sd.status("matching flight BA117")
    assert sd.stopping("wiping gallery")
    msgs = [notify_socket.wait_for(lambda m, k=k: k in m, 2.0) for k in ("READY", "STATUS", "STOPPING")]
    ready, status, stopping = msgs
    assert ready is not None and ready["READY"] == "1" and ready["MAINPID"] == str(os.getpid())
    assert ready["STATUS"] == "models warm, camera 1280x720"  # newline would start a new field
    assert status is not None
    assert any(m.get("STATUS") == "matching flight BA117" for m in notify_socket.received)
    assert stopping is not None and stopping["STATUS"] == "wiping gallery"


def test_reloading_sends_monotonic_time(notify_socket: NotifySocket) -> None:
    assert sd.reloading()
    msg = notify_socket.wait_for(lambda m: "RELOADING" in m, 2.0)
    assert msg is not None and int(msg["MONOTONIC_USEC"]) > 0


def test_abstract_socket_name(monkeypatch: pytest.MonkeyPatch) -> None:
    ns = NotifySocket(abstract=True)
    try:
        notifier = sd.Notifier({"NOTIFY_SOCKET": ns.address})
        assert ns.address.startswith("@")
        assert notifier.notify("READY=1")
        assert ns.wait_for(lambda m: m.get("READY") == "1", 2.0) is not None
        notifier.close()
    finally:
        ns.close()


def test_noop_without_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setattr(sd, "_default", None)
    assert not sd.ready() and not sd.watchdog() and not sd.status("x") and not sd.stopping()
    assert not sd.Notifier({"NOTIFY_SOCKET": "relative/path"}).enabled


def test_send_to_a_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    notifier = sd.Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert notifier.notify("READY=1") is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "abc"}, None),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "SELF"}, 2.0),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    env = {k: (str(os.getpid()) if v == "SELF" else v) for k, v in env.items()}
    assert sd.watchdog_interval(env) == expected


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_watchdog_pings_only_while_the_heartbeat_is_fresh(notify_socket: NotifySocket) -> None:
    clock = ManualClock()
    dog = sd.Watchdog(stale_after=3.0, clock=clock)
    assert dog.enabled and dog.interval == 10.0
    assert not dog.tick()  # no beat yet: the frame loop has not proved anything
    dog.beat()
    assert dog.tick()  # fresh: ping
    assert not dog.tick()  # too soon for another (every interval/2)
    for _ in range(4):  # the frame loop keeps beating; the main loop ticks every 5 s
        clock.now += 5.0
        dog.beat()
        assert dog.tick()
    clock.now += 5.0  # the frame loop hangs: no beat for 5 s > stale_after
    assert not dog.tick()
    clock.now += 20.0
    assert not dog.tick()
    notify_socket.drain(0.5)
    assert notify_socket.count("WATCHDOG") == 5 == dog.pings
    assert any("stalled" in m.get("STATUS", "") for m in notify_socket.received)
    dog.beat()  # the loop recovers before systemd acted: pings resume
    assert dog.tick()


def test_watchdog_stops_when_a_real_frame_loop_thread_hangs(notify_socket: NotifySocket) -> None:
    """A frame-loop thread beats per frame, then blocks forever (a wedged camera read)."""
    clock = ManualClock()
    dog = sd.Watchdog(stale_after=2.0, interval=2.0, clock=clock)
    frames_done = threading.Semaphore(0)
    proceed = threading.Semaphore(0)
    hang = threading.Event()
    release = threading.Event()

    def frame_loop() -> None:
        while True:
            proceed.acquire()
            if hang.is_set():
                release.wait()  # the hang
                return
            dog.beat()
            frames_done.release()

    thread = threading.Thread(target=frame_loop, daemon=True)
    thread.start()
    pings_while_alive = 0
    for _ in range(5):
        proceed.release()
        assert frames_done.acquire(timeout=5)
        clock.now += 1.0
        pings_while_alive += dog.tick()
    hang.set()
    proceed.release()
    pings_after_hang = 0
    for _ in range(10):
        clock.now += 1.0
        pings_after_hang += dog.tick()
    release.set()
    thread.join(5)
    assert pings_while_alive >= 4
    # At most the one ping while the last beat was still within stale_after.
    assert pings_after_hang <= 1
    notify_socket.drain(0.5)
    assert notify_socket.count("WATCHDOG") == dog.pings == pings_while_alive + pings_after_hang


def test_watchdog_disabled_without_watchdog_usec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ns = NotifySocket(tmp_path)
    try:
        dog = sd.Watchdog(notifier=sd.Notifier(ns.env()), env={})
        dog.beat()
        assert not dog.enabled and not dog.tick()
        assert ns.drain(0.1) == []
    finally:
        ns.close()
