"""The shipped broker (deploy/mosquitto/gate-edge.conf and gate-edge.acl, started by gate_sim.broker
with only ports, paths and certificates substituted) and a client factory per identity."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gate_sim.broker import Broker
from support.pki import client_cfg, server_files

from edge.messaging.settings import MqttConfig


@pytest.fixture
def shipped_broker(tmp_path: Path, pki: Path) -> Iterator[Broker]:
    b = Broker(workdir=tmp_path / "broker", tls=server_files(pki)).start()
    yield b
    b.close()


@pytest.fixture
def as_identity(shipped_broker: Broker, pki: Path, tmp_path: Path) -> Callable[..., MqttConfig]:
    """``as_identity(cert, username=None, password_of=None)``: settings for a client holding ``cert``."""

    def make(cert: str, username: str | None = None, password_of: str | None = None) -> MqttConfig:
        return client_cfg(shipped_broker.port, pki, tmp_path, cert, username, password_of)

    return make
