"""The daemon and systemd's notify protocol, through a fake NOTIFY_SOCKET: READY only when the models
are warm and the camera delivers, STATUS in words, WATCHDOG only while the frame loop runs,
STOPPING then the shutdown wipe."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.notify_socket import NotifySocket
from support.waiting import wait_for

from edge.camera.base import Frame, Health, SourceStats
from edge.camera.capture import CaptureWorker
from edge.inference.onnx_runtime import FaceModels
from edge.system.systemd import Notifier

from .conftest import Bench, gallery_live

# What a person reads in `systemctl status`: words, not reprs, enums or dicts.
HUMAN = re.compile(r"^[A-Za-z][A-Za-z0-9 ,.:;()'/_-]*$")


@pytest.fixture
def ns(tmp_path: Path) -> Any:
    sock = NotifySocket(tmp_path)
    yield sock
    sock.close()


class HeldDevice:
    """A camera that delivers nothing until ``release`` is set (a slow sensor, a late USB enumerate)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.release = threading.Event()
        self.delivered = 0

    def open(self) -> None:
        self.inner.open()

    def read(self) -> np.ndarray:
        self.release.wait()
        self.delivered += 1
        return self.inner.read()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.inner.close()


class HangingSource:
    """A frame source whose ``latest()`` never returns after ``n`` frames: the frame loop hangs."""

    def __init__(self, inner: CaptureWorker, n: int) -> None:
        self.inner = inner
        self.n = n
        self.delivered = 0
        self.hung = threading.Event()
        self.release = threading.Event()

    def start(self) -> None:
        self.inner.start()

    def stop(self) -> None:
        self.inner.stop()

    def latest(self, timeout: float) -> Frame | None:
        if self.delivered >= self.n:
            self.hung.set()
            self.release.wait()  # the test releases it at the end so that the daemon can stop
            return None
        frame = self.inner.latest(timeout)
        if frame is not None:
            self.delivered += 1
        return frame

    @property
    def health(self) -> Health:
        return self.inner.health

    @property
    def stats(self) -> SourceStats:
        return self.inner.stats


def statuses(ns: NotifySocket) -> list[str]:
    return [m["STATUS"] for m in ns.received if "STATUS" in m]


def test_ready_once_models_are_warm_even_with_no_camera_frames(world: Bench, ns: NotifySocket) -> None:
    cfg = world.config()
    held = HeldDevice(world.device())  # the camera never delivers until released
    # models=None: the daemon loads and warms the real models itself, as `gate-edge run` does.
    run = world.start_daemon(cfg, None, source=CaptureWorker(held, cfg.capture), notifier=Notifier(env=ns.env()))
    ready = ns.wait_for(lambda m: m.get("READY") == "1", 60)
    assert ready is not None, statuses(ns)
    loading = [i for i, m in enumerate(ns.received) if "loading and warming up" in m.get("STATUS", "")]
    extend = [i for i, m in enumerate(ns.received) if "EXTEND_TIMEOUT_USEC" in m]
    assert loading and extend and loading[0] < extend[0] < ns.received.index(ready)  # models first, then READY
    assert int(ns.received[extend[0]]["EXTEND_TIMEOUT_USEC"]) >= 30_000_000
    assert "camera" in ready["STATUS"] and "broker" in ready["STATUS"]
    assert held.delivered == 0  # no frame was needed for READY
    # With no frames the gate is degraded, not dead: the watchdog-fed loop keeps running and says so.
    ns.wait_for(lambda m: "camera degraded" in m.get("STATUS", ""), 30)
    held.release.set()
    ns.wait_for(lambda m: "camera ok" in m.get("STATUS", ""), 30)
    assert ns.count("READY") == 1
    run.stop()
    ns.drain(0.5)
    for text in statuses(ns):
        assert HUMAN.match(text), text


def test_watchdog_pings_while_the_loop_runs_and_stop_when_it_hangs(
    world: Bench, face_models: FaceModels, ns: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # WatchdogSec=1: a ping every 0.5 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    cfg = world.config()
    source = HangingSource(world.source(cfg), n=40)
    run = world.start_daemon(cfg, face_models, source=source, notifier=Notifier(env=ns.env()))
    try:
        assert ns.wait_for(lambda m: m.get("READY") == "1", 30)
        wait_for(lambda: (ns.drain(0.1), ns.count("WATCHDOG") >= 3)[1], 30, "three watchdog pings")
        assert source.hung.wait(30), "the source never hung"
        ns.drain(1.0)  # a ping already on its way may still land
        before = ns.count("WATCHDOG")
        ns.drain(3.0)  # six ping intervals with the loop stuck
        assert ns.count("WATCHDOG") == before
        assert run.alive  # hung, not dead: systemd's watchdog is what ends it
    finally:
        source.release.set()
        run.stop()


def test_stopping_comes_first_then_the_shutdown_wipe_is_attested(
    world: Bench, face_models: FaceModels, ns: NotifySocket
) -> None:
    timeline: list[str] = []

    class Recording(Notifier):
        def notify(self, *assignments: str) -> bool:
            timeline.extend(a for a in assignments if a.startswith(("READY", "STOPPING")))
            return super().notify(*assignments)

    run = world.start_daemon(world.config(), face_models, notifier=Recording(env=ns.env()))
    real_publish_wipe = run.daemon.link.publish_wipe

    def publish_wipe(att: Any) -> None:
        timeline.append(f"wipe:{att.reason}")
        real_publish_wipe(att)

    run.daemon.link.publish_wipe = publish_wipe  # type: ignore[method-assign]
    world.board()
    live = gallery_live(world)
    run.stop()
    assert timeline == ["READY=1", "STOPPING=1", "wipe:shutdown"]
    att = world.watcher.wait(world.topics.wipe, lambda a: a["reason"] == "shutdown", 10)
    assert att["entries_wiped"] == live["gallery"]["entries"] > 0
    ns.drain(0.5)
    stopping = ns.wait_for(lambda m: m.get("STOPPING") == "1", 1)
    assert stopping is not None and "wiping" in stopping["STATUS"]
    offline = world.watcher.wait_latest(world.topics.status, lambda s: s["online"] is False, 10, "offline status")
    assert offline["gate"] == "G7"
    for text in statuses(ns):
        assert HUMAN.match(text), text
