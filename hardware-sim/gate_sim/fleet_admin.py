"""The simulated world's fleet admin: a thin layer over the product's own tool, `gate-edge fleet`.

The world (``gate_sim.world``) and its tests use :class:`FleetAdmin` to send signed commands and
desired config as a fleet admin does; it does so with the product's code (:mod:`edge.fleet`), so the
simulator and the field use one implementation. The old command line still works and forwards:

    python -m gate_sim.fleet_admin --port P push-config --signing-key KEY.pem FILE [--gate G] [--version N]
        = gate-edge fleet config push FILE (--gate G | --fleet) --no-wait
    python -m gate_sim.fleet_admin --port P cmd --signing-key KEY.pem GATE NAME [--arg k=v ...] [--timeout 5]
        = gate-edge fleet cmd NAME --gate GATE
    python -m gate_sim.fleet_admin --port P watch GATE [--count N] [--seconds S]
        = gate-edge fleet events --follow --gate GATE (decisions only: no gallery ever reaches the screen)

A simulated world keeps the fleet admin's signing key in ``<workdir>/keys/fleet_admin.pem``. ``--key``
stays the TLS client key. :func:`add_mqtt_args`, :func:`mqtt_config_from` and :func:`add_signing_key`
are shared with the other simulated services' command lines (``gate_sim.dcs``).
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from edge.fleet.commands import CommandOrder, send_and_wait
from edge.fleet.connection import FleetLink
from edge.messaging.client import MqttClient, OutMessage
from edge.messaging.envelope import Role, Signer, load_or_create_private_key
from edge.messaging.schemas import COMMANDS, ConfigDesired
from edge.messaging.settings import MqttConfig, TlsConfig
from edge.messaging.topics import Topics


def add_mqtt_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--username")
    ap.add_argument("--password-file", type=Path)
    ap.add_argument("--password", help="for tests; prefer --password-file")
    ap.add_argument("--ca", type=Path, help="CA file: enables TLS")
    ap.add_argument("--cert", type=Path)
    ap.add_argument("--key", type=Path)


def mqtt_config_from(args: argparse.Namespace) -> MqttConfig:
    tls = TlsConfig(ca_file=args.ca, cert_file=args.cert, key_file=args.key) if args.ca else None
    return MqttConfig(host=args.host, port=args.port, username=args.username, password_file=args.password_file,
                      password=SecretStr(args.password) if args.password else None, tls=tls,
                      reconnect_min_s=1, reconnect_max_s=5)


def signer_for(role: Role) -> Callable[[str], Signer]:
    """An argparse type: the private key file of ``role`` (PEM), read into a Signer. The file must
    exist (load_or_create_private_key would otherwise make a fresh key that no gate trusts)."""

    def read(path: str) -> Signer:
        if not Path(path).is_file():
            raise argparse.ArgumentTypeError(f"{path}: no such key file")
        try:
            return Signer(role, load_or_create_private_key(Path(path)))
        except (ValueError, TypeError, OSError) as exc:  # not PEM, not Ed25519, encrypted, unreadable
            raise argparse.ArgumentTypeError(f"{path}: {exc}") from None

    return read


def add_signing_key(ap: argparse.ArgumentParser, role: Role) -> None:
    """``--signing-key PEM`` (required), read into ``args.signer``."""
    ap.add_argument("--signing-key", type=signer_for(role), required=True, metavar="PEM", dest="signer",
                    help=f"the {role} private key (PEM) that signs; --key is the TLS client key")


def _key_path(path: str) -> str:
    """An argparse type: a readable fleet-admin key file, checked here and passed on by its path."""
    signer_for("fleet_admin")(path)
    return path


class FleetAdmin:
    """Pushes desired config and sends commands, signed with ``signer`` (the fleet admin's key).

    ``start()`` opens a plain connection (``client``) that the world also publishes through as an
    outside party; commands go through the product's tool (:mod:`edge.fleet.commands`), each on a
    connection of its own that is subscribed to its reply topic before the command is sent.
    """

    def __init__(self, mqtt: MqttConfig, client_id: str | None = None, *, signer: Signer | None = None) -> None:
        self.mqtt = mqtt
        self.signer = signer
        self.client_id = client_id or f"fleet-admin-{uuid.uuid4().hex[:8]}"
        self.client: MqttClient | None = None

    def start(self, subscriptions: list[str] | None = None, timeout: float = 5.0) -> FleetAdmin:
        self.client = MqttClient(self.mqtt, self.client_id, subscriptions=subscriptions or [])
        self.client.start()
        if not self.client.wait_connected(timeout):
            raise RuntimeError(f"fleet admin: no broker at {self.mqtt.host}:{self.mqtt.port}")
        return self

    def stop(self) -> None:
        if self.client is not None:
            self.client.stop()

    def push_config(self, config: dict[str, Any], version: int, gate: str | None = None) -> str:
        """Publish a desired config (retained, signed) without waiting for reports; returns the topic."""
        if self.signer is None or self.client is None:
            raise RuntimeError("fleet admin: not started, or no signing key")
        desired = ConfigDesired(version=version, gate=gate, config=config)
        t = Topics.from_config(gate or "fleet", self.mqtt)
        topic = t.config_desired if gate else t.fleet_config
        self.client.publish(OutMessage(topic, self.signer(desired.to_bytes()), retain=True)).wait(5.0)
        return topic

    def command(self, gate: str, name: str, args: dict[str, Any], timeout: float = 5.0) -> dict[str, Any] | None:
        """Send a command and wait for its reply (None on timeout), as `gate-edge fleet cmd` does."""
        order = CommandOrder.to(self.mqtt, gate, name)
        with FleetLink(self.mqtt, [order.reply_topic], signer=self.signer, timeout=timeout, sync=False,
                       client_id=f"{self.client_id}-{order.request_id[:6]}") as link:
            # Not checked here: the world's admin may send a bad command on purpose, for the gate to refuse.
            return send_and_wait(link, [order], args, timeout, check=False)[gate]


def main(argv: list[str] | None = None) -> int:
    from edge.commands import main as gate_edge

    ap = argparse.ArgumentParser(prog="gate_sim.fleet_admin", description="fleet admin for gate-edge "
                                 "(forwards to `gate-edge fleet`)")
    add_mqtt_args(ap)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("push-config", help="publish retained desired config, signed")
    p.add_argument("--signing-key", type=_key_path, required=True, metavar="PEM")
    p.add_argument("file", type=Path)
    p.add_argument("--gate")
    p.add_argument("--version", type=int)
    c = sub.add_parser("cmd", help="send a signed command and print the reply")
    c.add_argument("--signing-key", type=_key_path, required=True, metavar="PEM")
    c.add_argument("gate")
    c.add_argument("name", choices=sorted(COMMANDS))
    c.add_argument("--arg", action="append", default=[])
    c.add_argument("--timeout", type=float, default=5.0)
    w = sub.add_parser("watch", help="print a gate's decisions live")
    w.add_argument("gate")
    w.add_argument("--count", type=int, help="stop after this many events")
    w.add_argument("--seconds", type=float)
    args = ap.parse_args(argv)
    conn = ["--host", args.host, "--port", str(args.port)]
    for flag, value in (("--username", args.username), ("--password-file", args.password_file),
                        ("--ca", args.ca), ("--cert", args.cert), ("--key", args.key)):
        if value is not None:
            conn += [flag, str(value)]
    if args.password:  # a test-only inline password: the product tool reads passwords from files only
        raise SystemExit("gate_sim.fleet_admin: --password is no longer supported; use --password-file")
    if args.what == "push-config":
        target = ["--gate", args.gate] if args.gate else ["--fleet"]
        version = ["--version", str(args.version)] if args.version is not None else []
        return gate_edge(["fleet", "config", "push", str(args.file), *target, *version, "--no-wait", *conn,
                          "--signing-key", args.signing_key])
    if args.what == "cmd":
        extra = [a for kv in args.arg for a in ("--arg", kv)]
        return gate_edge(["fleet", "cmd", args.name, "--gate", args.gate, *extra, "--timeout", str(args.timeout),
                          *conn, "--signing-key", args.signing_key])
    bounds = [a for flag, v in (("--count", args.count), ("--seconds", args.seconds)) if v is not None
              for a in (flag, str(v))]
    return gate_edge(["fleet", "events", "--follow", "--gate", args.gate, *bounds, *conn])


if __name__ == "__main__":
    raise SystemExit(main())
