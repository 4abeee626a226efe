"""The shipped broker (deploy/mosquitto/gate-edge.conf and gate-edge.acl, started by gate_sim.broker
with only ports, paths and certificates substituted) and a client factory per identity."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gate_sim.broker import Broker
from support import Watcher
from support.keys import TRUST

from edge.messaging.link import GateLink
from edge.messaging.settings import MqttConfig

from .pki import client_cfg, make_pki, server_files


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


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


@pytest.fixture
def watcher_factory() -> Iterator[Callable[..., Watcher]]:
    """``make(cfg, filters, client_id, **kw)``: a started :class:`support.Watcher`, closed after. On the
    shipped broker the client id is the certificate's CN: one watcher per identity at a time."""
    made: list[Watcher] = []

    def make(cfg: MqttConfig, filters: list[str], client_id: str, **kw: Any) -> Watcher:
        w = Watcher(cfg, filters, client_id, **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def link_factory(tmp_path: Path) -> Iterator[Callable[..., GateLink]]:
    """``make(cfg, gate="G1")``: the daemon's own link for a gate, started, its subscriptions granted."""
    made: list[GateLink] = []

    def make(cfg: MqttConfig, gate: str = "G1") -> GateLink:
        link = GateLink(gate, cfg, tmp_path / f"state-{gate}", embedder_id="sface_2021dec", embedder_dim=128,
                        trust=TRUST)
        made.append(link)
        link.start()
        assert link.client.wait_connected(10), f"link could not connect: {link.client.stats}"
        assert link.client.wait_subscribed(10), "the link's subscriptions were not granted"
        return link

    yield make
    for link in made:
        with contextlib.suppress(Exception):
            link.stop(flush_timeout=0.2)
