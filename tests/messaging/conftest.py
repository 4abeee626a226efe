"""Fixtures: a real private Mosquitto (plain, or the shipped fleet config: TLS with client
certificates and the shipped ACL, see tests/security), certificates made with the openssl CLI at
test time, GateLink factories and watchers (tests/support)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gate_sim.broker import Broker
from support import fast_mqtt
from support.pki import client_cfg, server_files

from edge.evaluation.data import default_faces
from edge.messaging.settings import MqttConfig

FACES = default_faces()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(workdir=tmp_path / "broker").start()
    yield b
    b.close()


@pytest.fixture
def plain_cfg(broker: Broker) -> MqttConfig:
    return fast_mqtt(broker.port)


@pytest.fixture
def secure_broker(tmp_path: Path, pki: Path) -> Iterator[Broker]:
    """The shipped deploy/mosquitto config and ACL on a test port, with the test's certificates."""
    b = Broker(workdir=tmp_path / "sbroker", tls=server_files(pki)).start()
    yield b
    b.close()


@pytest.fixture
def secure_cfg(secure_broker: Broker, pki: Path, tmp_path: Path) -> Callable[[str], MqttConfig]:
    """MqttConfig for an identity: TLS with its client certificate, its password from a file (sent as
    the daemon sends it; the shipped broker identifies clients by certificate only)."""

    def make(user: str) -> MqttConfig:
        return client_cfg(secure_broker.port, pki, tmp_path, user)

    return make
