"""A gate in the simulated world (``gate_sim.world``: a private Mosquitto, departure control, the
gallery service and the world's keys), run like systemd runs it: from a config file, with the last
known good desired config laid over it (``startup_config``), in a thread whose return value is the
process's exit status. The fleet tool (`gate-edge fleet`) is run in-process through the command line.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from gate_sim.camera import SimulatedCameraDevice
from gate_sim.scenario import Scenario, load_scenario
from gate_sim.world import World, private_world
from support.mqtt import Watcher
from support.scenarios import LOOPING_FLIGHT

from edge.camera.capture import CaptureWorker
from edge.commands import main as gate_edge
from edge.config.store import startup_config
from edge.daemon.gate import GateDaemon
from edge.daemon.wiring import build_gate
from edge.inference.onnx_runtime import FaceModels
from edge.system.systemd import Notifier

GATE = "G7"
FLIGHT = "TST001"
SCENARIO: dict[str, Any] = {**LOOPING_FLIGHT, "name": "fleet-tests"}


class GateRun:
    """One start of the gate, as ``gate-edge run`` does it: ``exit_status`` is what run() returned."""

    def __init__(self, config_file: Path, scenario: Scenario, models: FaceModels) -> None:
        start = startup_config(config_file)
        self.config = start.config
        source = CaptureWorker(SimulatedCameraDevice(scenario, realtime=True, loop=True), start.config.capture)
        self.daemon: GateDaemon = build_gate(start.config, base_raw=start.base, stored=start.stored, source=source,
                                             models=models, notifier=Notifier(env={}))
        self.exit_status: int | None = None
        self.thread = threading.Thread(target=self._run, name="fleet-test-gate", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.exit_status = self.daemon.run()

    def stop(self) -> None:
        self.daemon.stop()
        self.thread.join(30)


@dataclass
class FleetBench:
    world: World
    scenario: Scenario
    config_file: Path
    models: FaceModels
    watcher: Watcher
    runs: list[GateRun] = field(default_factory=list)

    @property
    def conn(self) -> list[str]:
        return ["--host", self.world.mqtt.host, "--port", str(self.world.mqtt.port)]

    @property
    def key(self) -> list[str]:
        return ["--signing-key", str(self.world.key_file("fleet_admin"))]

    def start_gate(self) -> GateRun:
        run = GateRun(self.config_file, self.scenario, self.models)
        self.runs.append(run)
        return run

    def fleet(self, *argv: str) -> tuple[int, str, str]:
        """`gate-edge fleet ARGV` with this world's connection; (exit status, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = gate_edge(["fleet", *argv, *self.conn])
        return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def fleet_world(tmp_path: Path, faces_dir: Path, face_models: FaceModels) -> Iterator[FleetBench]:
    scenario_file = tmp_path / "scenario.yaml"
    scenario_file.write_text(yaml.safe_dump({**SCENARIO, "faces_dir": str(faces_dir)}))
    scenario = load_scenario(scenario_file)
    with private_world(scenario.gallery(), chunk_size=2, photo_max_side=320, workdir=tmp_path,
                       mqtt_options={"keepalive_s": 5}) as world:
        cfg = world.config(GATE, scenario_file, faces_dir=faces_dir)
        config_file = tmp_path / "gate.yaml"  # the gate's own file, as installed
        config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude={"version"})))
        watcher = Watcher(world.mqtt, [f"{world.topics(GATE).base}/#"], "fleet-test-watcher")
        bench = FleetBench(world, scenario, config_file, face_models, watcher)
        try:
            yield bench
        finally:
            for run in bench.runs:  # gates first: they must stop while their broker is still there
                run.stop()
            watcher.close()


def gallery_live(bench: FleetBench, timeout: float = 60.0) -> dict[str, Any]:
    t = bench.world.topics(GATE)
    return bench.watcher.wait_latest(t.status, lambda s: (s.get("gallery") or {}).get("state") == "live",
                                     timeout, "the gallery to go live")


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    return thread, result
