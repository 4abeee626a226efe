"""The whole gate, wired: a real Mosquitto, the simulated gallery service and departure control, the
real models and photos, the simulated camera, and the real :class:`edge.daemon.gate.GateDaemon`.

Most tests run the daemon in a thread of the test process (cheap; they can reach into it for
assertions about state that the wire does not show). The crash test runs it as a subprocess,
because SIGKILL is the point there.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from gate_sim.broker import Broker
from gate_sim.camera import SimulatedCameraDevice
from gate_sim.dcs import DepartureControl
from gate_sim.gallery_service import GalleryService
from gate_sim.scenario import Scenario, load_scenario
from support.mqtt import Watcher, fast_mqtt

from edge.camera.base import FrameSource
from edge.camera.capture import CaptureWorker
from edge.config.schema import CaptureConfig, GateConfig, MqttConfig, SimulatedCamera, TelemetryConfig
from edge.daemon.wiring import build_gate
from edge.inference.onnx_runtime import FaceModels
from edge.messaging.client import MqttClient, OutMessage
from edge.messaging.topics import Topics
from edge.system.systemd import Notifier

GATE = "G7"
FLIGHT = "TST001"
REPO = Path(__file__).resolve().parents[2]

# A small looping flight: two enrolled travellers walk up, then an impostor. 320x240 at 10 fps keeps
# two cores well ahead of the camera, so decisions keep coming at the scenario's pace.
SCENARIO: dict[str, Any] = {
    "name": "daemon-tests",
    "seed": 5,
    "camera": {"width": 320, "height": 240, "fps": 10},
    "conditions": {"start_size": 0.55, "end_size": 0.9, "noise": 2},
    "walk_duration_s": 0.7,
    "gap_s": 0.4,
    "loop": True,
    "manifest": ["deepface_id00", "deepface_id01", "deepface_id06"],
    "walkups": [{"identity": "deepface_id00"}, {"identity": "deepface_id06"}, {"identity": "solvay_02"}],
}




@dataclass
class World:
    """Everything around the gate device, on one private broker."""

    broker: Broker
    mqtt: MqttConfig
    topics: Topics
    scenario_path: Path
    scenario: Scenario
    faces: Path
    gallery: GalleryService
    dcs: DepartureControl
    watcher: Watcher
    tmp: Path
    admin: MqttClient
    _daemons: list[DaemonRun] = field(default_factory=list)

    def config(self, **overrides: Any) -> GateConfig:
        base: dict[str, Any] = dict(
            gate_id=GATE, state_dir=self.tmp / "state",
            camera=SimulatedCamera(scenario=self.scenario_path, faces_dir=self.faces),
            capture=CaptureConfig(stall_timeout_s=1.0, reconnect_min_s=0.2, reconnect_max_s=0.5),
            mqtt=self.mqtt, telemetry=TelemetryConfig(interval_s=60),
        )
        base.update(overrides)
        return GateConfig(**base)

    def device(self, **kw: Any) -> SimulatedCameraDevice:
        return SimulatedCameraDevice(self.scenario, realtime=True, loop=True, **kw)

    def source(self, cfg: GateConfig, device: Any | None = None) -> CaptureWorker:
        return CaptureWorker(device if device is not None else self.device(), cfg.capture)

    def publish(self, topic: str, payload: bytes | dict[str, Any], *, retain: bool = False,
                response_topic: str | None = None, correlation: bytes | None = None) -> None:
        """Publish as an outside party (fleet admin, attacker, confused integrator)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.admin.publish(OutMessage(topic, body, retain=retain, response_topic=response_topic,
                                      correlation_data=correlation)).wait(5.0)

    def start_daemon(self, cfg: GateConfig, models: FaceModels | None, **kw: Any) -> DaemonRun:
        run = DaemonRun(cfg, models, **kw)
        self._daemons.append(run)
        return run.start()

    def board(self, flight: str = FLIGHT) -> None:
        self.dcs.assign(GATE, flight)


class DaemonRun:
    """A GateDaemon running in a thread; ``stop()`` joins it (and is safe to call twice)."""

    def __init__(self, cfg: GateConfig, models: FaceModels | None, *, source: FrameSource | None = None,
                 notifier: Notifier | None = None, base_raw: dict[str, Any] | None = None,
                 stored: Any = None) -> None:
        # Shared models get this config's detector parameters from build_gate (a previous test's live
        # config must not leak into this one).
        self.daemon = build_gate(cfg, base_raw=base_raw, stored=stored, source=source, models=models,
                                 notifier=notifier or Notifier(env={}))
        self.result: list[int] = []
        self.error: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="gate-daemon-under-test", daemon=True)

    def _run(self) -> None:
        try:
            self.result.append(self.daemon.run())
        except BaseException as exc:  # surfaced by the test, not lost in a thread
            self.error.append(exc)

    def start(self) -> DaemonRun:
        self.thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        self.daemon.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the daemon did not stop"
        assert not self.error, f"the daemon raised: {self.error!r}"


def write_scenario(tmp: Path, faces: Path, **overrides: Any) -> Path:
    path = tmp / "scenario.yaml"
    path.write_text(yaml.safe_dump({**SCENARIO, "faces_dir": str(faces), **overrides}))
    return path


@pytest.fixture
def world_factory(tmp_path: Path, faces_dir: Path) -> Iterator[Callable[..., World]]:
    made: list[World] = []

    def make(gallery_ttl: timedelta = timedelta(hours=2)) -> World:
        broker = Broker(workdir=tmp_path / "broker").start()
        mqtt = fast_mqtt(broker.port, max_payload_bytes=256 * 1024)
        topics = Topics.from_config(GATE, mqtt)
        path = write_scenario(tmp_path, faces_dir)
        scenario = load_scenario(path)
        # Photos (the gate embeds them), small like passport photos, in chunks of two.
        gallery = GalleryService(mqtt, scenario.gallery(), chunk_size=2, ttl=gallery_ttl, photo_max_side=320)
        gallery.start()
        dcs = DepartureControl(mqtt).start()
        admin = MqttClient(mqtt, "test-admin")
        admin.start()
        assert admin.wait_connected(10)
        w = World(broker, mqtt, topics, path, scenario, faces_dir, gallery, dcs,
                  Watcher(mqtt, [f"{topics.base}/#"], "test-watcher"), tmp_path, admin)
        made.append(w)
        return w

    yield make
    for w in made:
        for d in w._daemons:
            with contextlib.suppress(Exception):
                d.stop(timeout=15)
        for closer in (w.watcher.close, w.admin.stop, w.dcs.stop, w.gallery.stop, w.broker.close):
            with contextlib.suppress(Exception):
                closer()


@pytest.fixture
def world(world_factory: Callable[..., World]) -> World:
    return world_factory()


def gallery_live(w: World, timeout: float = 60.0) -> dict[str, Any]:
    """Wait for the retained status to say the flight's gallery is live; returns that status."""
    return w.watcher.wait(w.topics.status, lambda s: (s.get("gallery") or {}).get("state") == "live",
                          timeout, "the gallery to go live")


def decisions(w: World) -> list[dict[str, Any]]:
    return [e for e in w.watcher.on(w.topics.events) if e["outcome"] != "opt_out"]

