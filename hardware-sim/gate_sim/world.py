"""The simulated world around one gate, on a private broker: what the demo and the soak both run.

``private_world(gallery)`` starts a Mosquitto on a free loopback port, the gallery service (serving
``gallery``) and departure control, and stops them again, whatever happens in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from edge.config.schema import MqttConfig
from gate_sim.broker import Broker
from gate_sim.dcs import DepartureControl
from gate_sim.gallery_service import GalleryService

REPO = Path(__file__).resolve().parents[2]


def wait_until(cond: Callable[[], object], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class World:
    broker: Broker
    mqtt: MqttConfig  # how the gate and the tools reach the broker
    gallery_service: GalleryService
    dcs: DepartureControl


@contextmanager
def private_world(gallery: Sequence[tuple[str, Path]], photo_max_side: int | None = 640) -> Iterator[World]:
    with ExitStack() as stack:
        broker = stack.enter_context(Broker())
        mqtt = MqttConfig(host=broker.host, port=broker.port, reconnect_min_s=0.2, reconnect_max_s=2)
        service = GalleryService(mqtt, gallery, photo_max_side=photo_max_side).start()
        stack.callback(service.stop)
        dcs = DepartureControl(mqtt).start()
        stack.callback(dcs.stop)
        yield World(broker, mqtt, service, dcs)
