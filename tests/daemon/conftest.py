"""The whole gate, wired: a real Mosquitto, the simulated gallery service and departure control, the
real models and photos, the simulated camera, and the real :class:`edge.daemon.gate.GateDaemon`.

Most tests run the daemon in a thread of the test process (cheap; they can reach into it for
assertions about state that the wire does not show). The crash test runs it as a subprocess,
because SIGKILL is the point there.
"""

from __future__ import annotations

import contextlib
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
from gate_sim.world import World, private_world
from support.mqtt import Watcher
from support.scenarios import LOOPING_FLIGHT

from edge.camera.base import FrameSource
from edge.camera.capture import CaptureWorker
from edge.config.schema import GateConfig
from edge.daemon.wiring import build_gate
from edge.inference.onnx_runtime import FaceModels
from edge.messaging.envelope import Role
from edge.messaging.settings import MqttConfig
from edge.messaging.topics import Topics
from edge.system.systemd import Notifier

GATE = "G7"
FLIGHT = "TST001"
REPO = Path(__file__).resolve().parents[2]

SCENARIO: dict[str, Any] = {**LOOPING_FLIGHT, "name": "daemon-tests"}




@dataclass
class Bench:
    """One gate under test in the simulated world (``gate_sim.world``: broker, gallery service,
    departure control, admin, and the keys the gate trusts), with its scenario, a watcher on every
    gate topic, and its daemons."""

    sim: World
    scenario_path: Path
    scenario: Scenario
    faces: Path
    watcher: Watcher
    _daemons: list[DaemonRun] = field(default_factory=list)

    @property
    def broker(self) -> Broker:
        return self.sim.broker

    @property
    def mqtt(self) -> MqttConfig:
        return self.sim.mqtt

    @property
    def topics(self) -> Topics:
        return self.sim.topics(GATE)

    @property
    def gallery(self) -> GalleryService:
        return self.sim.gallery_service

    @property
    def dcs(self) -> DepartureControl:
        return self.sim.dcs

    @property
    def tmp(self) -> Path:
        return self.sim.workdir

    def config(self, **overrides: Any) -> GateConfig:
        return self.sim.config(GATE, self.scenario_path, faces_dir=self.faces, **overrides)

    def device(self, **kw: Any) -> SimulatedCameraDevice:
        return SimulatedCameraDevice(self.scenario, realtime=True, loop=True, **kw)

    def source(self, cfg: GateConfig, device: Any | None = None) -> CaptureWorker:
        return CaptureWorker(device if device is not None else self.device(), cfg.capture)

    def publish(self, topic: str, payload: bytes | dict[str, Any], *, retain: bool = False,
                response_topic: str | None = None, correlation: bytes | None = None,
                role: Role | None = None) -> None:
        """Publish as an outside party: signed as ``role`` (departure control, the fleet admin) with the
        key the gate trusts for it, or without a role as it is (an attacker, garbage, a forgery)."""
        self.sim.publish(topic, payload, retain=retain, response_topic=response_topic, correlation=correlation,
                         role=role)

    def sign(self, payload: bytes | dict[str, Any], role: Role) -> bytes:
        """``payload`` in an envelope signed as ``role`` with the key the gate trusts for it."""
        return self.sim.sign(payload, role)

    def start_daemon(self, cfg: GateConfig, models: FaceModels | None, **kw: Any) -> DaemonRun:
        run = DaemonRun(cfg, models, **kw)
        self._daemons.append(run)
        return run.start()

    def board(self, flight: str = FLIGHT) -> None:
        self.sim.board(GATE, flight)


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
def world_factory(tmp_path: Path, faces_dir: Path) -> Iterator[Callable[..., Bench]]:
    with contextlib.ExitStack() as stack:
        made: list[Bench] = []

        def make(gallery_ttl: timedelta = timedelta(hours=2)) -> Bench:
            path = write_scenario(tmp_path, faces_dir)
            scenario = load_scenario(path)
            # Photos (the gate embeds them), small like passport photos, in chunks of two.
            sim = stack.enter_context(private_world(
                scenario.gallery(), chunk_size=2, ttl=gallery_ttl, photo_max_side=320,
                mqtt_options={"keepalive_s": 5, "max_payload_bytes": 256 * 1024},
                broker_dir=tmp_path / "broker", workdir=tmp_path))
            watcher = Watcher(sim.mqtt, [f"{sim.topics(GATE).base}/#"], "test-watcher")
            stack.callback(watcher.close)
            bench = Bench(sim, path, scenario, faces_dir, watcher)
            made.append(bench)
            return bench

        yield make
        for bench in made:  # daemons first: they must stop while their broker is still there
            for d in bench._daemons:
                with contextlib.suppress(Exception):
                    d.stop(timeout=15)


@pytest.fixture
def world(world_factory: Callable[..., Bench]) -> Bench:
    return world_factory()


def gallery_live(w: Bench, timeout: float = 60.0) -> dict[str, Any]:
    """Wait for the retained status to say the flight's gallery is live; returns that status."""
    return w.watcher.wait(w.topics.status, lambda s: (s.get("gallery") or {}).get("state") == "live",
                          timeout, "the gallery to go live")


def decisions(w: Bench) -> list[dict[str, Any]]:
    return [e for e in w.watcher.on(w.topics.events) if e["outcome"] != "opt_out"]

