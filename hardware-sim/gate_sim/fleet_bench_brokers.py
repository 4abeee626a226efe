"""The brokers a fleet benchmark runs on: one private Mosquitto, a Mosquitto per site bridged to a
central one, or a broker cluster.

A :class:`Target` gives the addresses gates use (spread over a cluster's nodes or the sites), the
one the back office uses (the centre), the pids whose CPU and memory count as "the broker"
(mosquitto; a cluster's beam.smp processes), and the faults the benchmark injects: a node killed,
the whole broker restarted.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import Any, Protocol

from edge.messaging.settings import MqttConfig
from gate_sim.broker import Broker


class Target(Protocol):
    name: str
    failover: bool  # whether a gate lists the other addresses to fail over to (a cluster's nodes)

    def start(self) -> None: ...
    def centre(self) -> tuple[str, int]: ...
    def close(self) -> None: ...
    def addresses(self) -> list[tuple[str, int]]: ...
    def pids(self) -> list[int]: ...
    def credentials(self) -> dict[str, Any]: ...
    def kill_node(self, index: int) -> str: ...
    def restart(self) -> str: ...


def mqtt_options_for(target: Target, index: int, **options: Any) -> dict[str, Any]:
    """How client number ``index`` reaches the broker (MqttConfig's fields, as plain JSON for a worker
    process): its own node first (gates are spread over the nodes), the others after it when the
    client knows fail-over (``MqttConfig.brokers``)."""
    addrs = target.addresses()
    mine = addrs[index % len(addrs)]
    others = [a for a in addrs if a != mine]
    base: dict[str, Any] = {"host": mine[0], "port": mine[1], **target.credentials(), **options}
    if target.failover and others and "brokers" in MqttConfig.model_fields:
        base["brokers"] = [{"host": h, "port": p} for h, p in [mine, *others]]
    return base


def infra_options(target: Target, **options: Any) -> dict[str, Any]:
    """How the back office (gallery authority, departure control, consumer) reaches the broker."""
    host, port = target.centre()
    return {"host": host, "port": port, **target.credentials(), **options}


class MosquittoTarget:
    """One private Mosquitto with persistence (a restart keeps sessions and retained messages)."""

    name = "mosquitto"
    failover = False

    def __init__(self, workdir: Path) -> None:
        self.broker = Broker(workdir=workdir / "mosquitto")

    def centre(self) -> tuple[str, int]:
        return self.broker.host, self.broker.port

    def start(self) -> None:
        self.broker.start()

    def close(self) -> None:
        self.broker.close()

    def addresses(self) -> list[tuple[str, int]]:
        return [(self.broker.host, self.broker.port)]

    def credentials(self) -> dict[str, Any]:
        return {}  # anonymous on loopback

    def pids(self) -> list[int]:
        proc = self.broker.proc
        return [proc.pid] if proc is not None and proc.poll() is None else []

    def kill_node(self, index: int) -> str:
        return self.crash(self.broker)

    @staticmethod
    def crash(broker: Broker) -> str:
        """A crash (SIGKILL: nothing saved since the last autosave) and a restart, as systemd would."""
        proc = broker.proc
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            proc.wait()
        broker.stop()
        broker.start()
        return "mosquitto killed (SIGKILL) and started again on the same port"

    def restart(self) -> str:
        self.broker.restart()
        return "mosquitto stopped (SIGTERM, persistence saved) and started again on the same port"


class EjabberdTarget:
    """A two-node (``nodes``) ejabberd cluster (gate_sim.ejabberd); gates spread over the nodes.

    ejabberd refuses anonymous MQTT clients: every client here logs in as one registered benchmark
    user (registering a user costs an Erlang VM start, about half a second; a fleet registers one
    per gate once, ahead of time)."""

    name = "ejabberd"
    failover = True
    USER, PASSWORD = "fleetbench", "fleetbench-pw"

    def __init__(self, workdir: Path, nodes: int = 2) -> None:
        from gate_sim.ejabberd import EjabberdCluster

        # Chunks of a photo gallery are ~150 kB; the queue bound covers a consumer offline for a while.
        self.cluster = EjabberdCluster(workdir=workdir / "ejabberd", nodes=nodes, max_payload_size=4 * 1024 * 1024,
                                       mod_mqtt_extra="    max_queue: 100000\n")
        self.killed: list[int] = []

    def start(self) -> None:
        self.cluster.start()
        self.cluster.register(self.USER, self.PASSWORD)

    def close(self) -> None:
        self.cluster.close()

    def credentials(self) -> dict[str, Any]:
        return {"username": self.USER, "password": self.PASSWORD}

    def centre(self) -> tuple[str, int]:
        return self.cluster.addresses[0]  # the node that is never killed

    def addresses(self) -> list[tuple[str, int]]:
        return list(self.cluster.addresses)

    def pids(self) -> list[int]:
        return [p for i in range(self.cluster.n) if (p := self.cluster.pid(i)) is not None]

    def kill_node(self, index: int) -> str:
        self.cluster.kill(index)
        self.killed.append(index)
        return f"node {index} of {self.cluster.n} killed (SIGKILL of its beam.smp), not restarted"

    def restart(self) -> str:
        for i in range(self.cluster.n):
            self.cluster.stop_node(i)
        self.cluster.start()
        return "every node stopped cleanly and the cluster started again"


# What a gate publishes goes to the centre, what it subscribes to comes from it: the topics of
# edge/messaging/topics.py, with the QoS each is published at (gallery chunks at 0: never queued).
BRIDGED_TOPICS = (
    ("gate/v1/+/events", "out", 1), ("gate/v1/+/wipe", "out", 1), ("gate/v1/+/status", "out", 1),
    ("gate/v1/+/telemetry", "out", 0), ("gate/v1/+/rejected", "out", 1), ("gate/v1/+/replies", "out", 1),
    ("gate/v1/+/config/reported", "out", 1), ("gate/v1/+/gallery/request", "out", 1),
    ("gate/v1/+/gallery/enrolment", "out", 1),
    ("gate/v1/+/assignment", "in", 1), ("gate/v1/+/gallery/response", "in", 0), ("gate/v1/+/cmd/+", "in", 1),
    ("gate/v1/+/config/desired", "in", 1), ("fleet/v1/config", "in", 1),
)


def site_bridge_lines(site: str, centre_host: str, centre_port: int) -> list[str]:
    """The bridge section of a site broker's mosquitto.conf (docs/topologies.md shows it with TLS)."""
    return [
        f"connection centre-{site}", f"address {centre_host}:{centre_port}",
        "bridge_protocol_version mqttv50",  # response topic, correlation data and expiry cross the bridge
        "cleansession false", f"local_clientid bridge-{site}", f"remote_clientid bridge-{site}",
        "try_private true", "restart_timeout 1 5",
        *(f"topic {pattern} {direction} {qos}" for pattern, direction, qos in BRIDGED_TOPICS),
    ]


class BridgedTarget:
    """A Mosquitto per site (``sites`` of them), each bridged to a central Mosquitto; gates are spread
    over the sites, the back office is on the centre."""

    name = "bridged"
    failover = False

    def __init__(self, workdir: Path, sites: int = 2) -> None:
        self.centre_broker = Broker(workdir=workdir / "centre")
        self.sites = [Broker(workdir=workdir / f"site{i}") for i in range(sites)]
        for i, site in enumerate(self.sites):
            lines = site_bridge_lines(f"site{i}", self.centre_broker.host, self.centre_broker.port)
            site.config_path.write_text(site.config_path.read_text() + "\n".join(lines) + "\n")

    def start(self) -> None:
        self.centre_broker.start()
        for site in self.sites:
            site.start()

    def close(self) -> None:
        for b in (*self.sites, self.centre_broker):
            b.close()

    def centre(self) -> tuple[str, int]:
        return self.centre_broker.host, self.centre_broker.port

    def addresses(self) -> list[tuple[str, int]]:
        return [(b.host, b.port) for b in self.sites]

    def credentials(self) -> dict[str, Any]:
        return {}

    def pids(self) -> list[int]:
        return [b.proc.pid for b in (self.centre_broker, *self.sites) if b.proc is not None and b.proc.poll() is None]

    def kill_node(self, index: int) -> str:
        return MosquittoTarget.crash(self.sites[-1]) + f" (site {len(self.sites) - 1})"

    def restart(self) -> str:
        self.centre_broker.restart()
        return "the central mosquitto stopped (SIGTERM) and started again; the site bridges reconnect"
