"""The simulated world around a gate, on a private broker: what the demo, the soak and the tests run.

``private_world(gallery)`` starts a Mosquitto on a free loopback port, the gallery service (serving
``gallery``), departure control and a fleet admin, and stops them again, whatever happens in between.
The :class:`World` it yields builds gate configs for the simulated camera (:meth:`World.config`) and
publishes as an outside party (:meth:`World.publish`); the gate itself is built by the product's
composition root, ``edge.daemon.wiring.build_gate``, like any other gate.

The world has its own small PKI, made in its workdir: an Ed25519 key per role that signs what a gate
acts on (``keys/<role>.pem``), and their public halves as the gates' trust anchors
(``trust/<role>/sim.pub``, which :meth:`World.config` names as ``security.trust_dir``). Departure
control signs its assignments, the gallery service its galleries' manifests, and the fleet admin its
configs and commands with them; a test signs with :meth:`World.signer`, :meth:`World.sign` or
``World.publish(..., role=...)``, and publishes without a role to play an attacker who holds no key.

    with private_world(scenario.gallery(), chunk_size=2, photo_max_side=320) as world:
        cfg = world.config("G7", scenario_path, telemetry=TelemetryConfig(interval_s=60))
        gate = build_gate(cfg, source=CaptureWorker(device, cfg.capture))
        world.board("G7", "TST001")
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from edge.camera.base import FrameSource
from edge.config.schema import (
    CaptureConfig,
    GateConfig,
    ModelsConfig,
    SecurityConfig,
    SimulatedCamera,
    TelemetryConfig,
)
from edge.daemon.wiring import build_gate
from edge.evaluation.setup import default_models_dir
from edge.messaging.client import OutMessage
from edge.messaging.envelope import Role, Signer, load_or_create_private_key, public_pem
from edge.messaging.settings import MqttConfig
from edge.messaging.topics import Topics
from gate_sim.broker import Broker
from gate_sim.dcs import DepartureControl
from gate_sim.fleet_admin import FleetAdmin
from gate_sim.gallery_service import GalleryService

# The roles whose signatures a gate checks (edge/messaging/authenticate.py, and the gallery manifest).
SIGNING_ROLES: tuple[Role, ...] = ("departure_control", "gallery_authority", "fleet_admin")


def key_file(workdir: Path, role: Role) -> Path:
    return workdir / "keys" / f"{role}.pem"


def make_pki(workdir: Path) -> dict[Role, Signer]:
    """A signer per role, its private key in ``<workdir>/keys/<role>.pem`` (kept if already there, so
    that a second world on the same workdir signs as the first), and its public half as the trust
    anchor ``<workdir>/trust/<role>/sim.pub``."""
    signers: dict[Role, Signer] = {}
    for role in SIGNING_ROLES:
        key = load_or_create_private_key(key_file(workdir, role))
        anchor = workdir / "trust" / role / "sim.pub"
        anchor.parent.mkdir(parents=True, exist_ok=True)
        anchor.write_bytes(public_pem(key.public_key()))
        signers[role] = Signer(role, key)
    return signers


def wait_until(cond: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``cond`` (a real condition: a message seen, a thread ended) until true; TimeoutError after."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class World:
    """Everything around the gates under test, on one private broker."""

    broker: Broker  # restartable on the same port with its sessions kept (``broker.restart()``)
    mqtt: MqttConfig  # how gates and tools reach the broker
    gallery_service: GalleryService
    dcs: DepartureControl
    admin: FleetAdmin  # an outside party: commands (``admin.command``), desired config, raw publishes
    workdir: Path  # gate state folders and scenario files live here
    signers: dict[Role, Signer]  # one per role in SIGNING_ROLES, trusted by the gates of this world

    @property
    def trust_dir(self) -> Path:
        """The trust anchors of this world's gates (``<trust_dir>/<role>/sim.pub``)."""
        return self.workdir / "trust"

    def key_file(self, role: Role) -> Path:
        """The private key (PEM) of ``role``: what the command-line tools take as ``--signing-key``."""
        return key_file(self.workdir, role)

    def signer(self, role: Role) -> Signer:
        """Signs as ``role`` with the key this world's gates trust for it."""
        return self.signers[role]

    def sign(self, payload: bytes | dict[str, Any], role: Role) -> bytes:
        """The envelope of ``payload`` (bytes as they are, a dict as JSON) signed as ``role``."""
        return self.signer(role)(payload if isinstance(payload, bytes) else json.dumps(payload).encode())

    def topics(self, gate: str) -> Topics:
        return Topics.from_config(gate, self.mqtt)

    def config(self, gate_id: str, scenario: Path, *, faces_dir: Path | None = None, **overrides: Any) -> GateConfig:
        """A gate on this world's broker watching the simulated camera play ``scenario``.

        Capture reconnects and stall detection are quick (a simulated unplug should show in a second,
        not in the field's minutes); any GateConfig field can be overridden by keyword.
        """
        base: dict[str, Any] = {
            "gate_id": gate_id,
            "state_dir": self.workdir / "state" / gate_id,
            "camera": SimulatedCamera(scenario=scenario, faces_dir=faces_dir),
            "capture": CaptureConfig(stall_timeout_s=1.0, reconnect_min_s=0.2, reconnect_max_s=0.5),
            "mqtt": self.mqtt,
            "models": ModelsConfig(cache_dir=default_models_dir()),  # the checkout's models/cache
            "telemetry": TelemetryConfig(interval_s=60),
            "security": SecurityConfig(trust_dir=self.trust_dir),
        }
        base.update(overrides)
        return GateConfig(**base)

    def publish(self, topic: str, payload: bytes | dict[str, Any], *, retain: bool = False,
                response_topic: str | None = None, correlation: bytes | None = None,
                role: Role | None = None) -> None:
        """Publish as an outside party; waits for the ack. With ``role`` the payload is signed as that
        role (departure control, the fleet admin); without, it goes as it is (an attacker without a
        key, garbage, a forgery made by the caller)."""
        if role is not None:
            body = self.sign(payload, role)
        else:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        assert self.admin.client is not None  # started by private_world
        self.admin.client.publish(OutMessage(topic, body, retain=retain, response_topic=response_topic,
                                             correlation_data=correlation)).wait(5.0)

    def board(self, gate: str, flight: str) -> None:
        """Departure control assigns ``flight`` to ``gate`` (retained): the gate fetches its gallery."""
        self.dcs.assign(gate, flight)


@contextmanager
def private_world(
    gallery: Sequence[tuple[str, Path]],
    *,
    photo_max_side: int | None = 640,
    chunk_size: int = 8,
    ttl: timedelta = timedelta(hours=6),
    mqtt_options: dict[str, Any] | None = None,
    broker_dir: Path | None = None,
    workdir: Path | None = None,
) -> Iterator[World]:
    """Start the world (its keys and trust anchors first); stop every part of it on the way out.

    ``gallery`` is what the gallery service answers for any flight, ``photo_max_side`` how large its
    photos are, in chunks of ``chunk_size`` entries, valid for ``ttl``. ``mqtt_options`` are extra
    MqttConfig fields (e.g. ``max_payload_bytes``, ``keepalive_s``). ``broker_dir`` keeps Mosquitto's
    persistence in a known folder; ``workdir`` (a temporary folder by default) holds gate state.
    """
    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gate-sim-world-")))
        signers = make_pki(workdir)
        broker = stack.enter_context(Broker(workdir=broker_dir))
        # Quick reconnects: a broker restart in a test or a soak should be over in a second.
        options: dict[str, Any] = {"reconnect_min_s": 0.2, "reconnect_max_s": 1.0, **(mqtt_options or {})}
        mqtt = MqttConfig(host=broker.host, port=broker.port, **options)
        service = GalleryService(mqtt, gallery, chunk_size=chunk_size, ttl=ttl, photo_max_side=photo_max_side,
                                 signer=signers["gallery_authority"])
        service.start()
        stack.callback(service.stop)
        dcs = DepartureControl(mqtt, signers["departure_control"]).start()
        stack.callback(dcs.stop)
        admin = FleetAdmin(mqtt, signer=signers["fleet_admin"], client_id="world-admin").start()
        stack.callback(admin.stop)
        yield World(broker, mqtt, service, dcs, admin, workdir, signers)


class RunningGate:
    """A gate built by the product's ``build_gate`` and running in a thread, with the ids of the events
    it handed to its outbox (so that a watcher can wait until each one has arrived)."""

    def __init__(self, cfg: GateConfig, source: FrameSource) -> None:
        self.published: list[str] = []
        self.gate = build_gate(cfg, source=source, on_event=lambda e: self.published.append(str(e.event_id)))
        self.runner = threading.Thread(target=self.gate.run, name="gate-daemon", daemon=True)
        self.runner.start()

    def stop(self, timeout: float) -> None:
        self.gate.stop()
        self.runner.join(timeout)
