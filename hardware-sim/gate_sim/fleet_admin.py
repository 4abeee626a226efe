"""Fleet-admin command line: push desired config, send commands, watch a gate.

    python -m gate_sim.fleet_admin --port P push-config --signing-key KEY.pem FILE [--gate G] [--version N]
    python -m gate_sim.fleet_admin --port P cmd --signing-key KEY.pem GATE NAME [--arg k=v ...] [--timeout 5]
    python -m gate_sim.fleet_admin --port P watch GATE [--count N] [--seconds S]

FILE is YAML or JSON: either ``{version: N, config: {...}}`` or the config mapping itself (then
``--version`` or the current Unix time is the version). Without ``--gate`` the config goes to the
fleet topic. ``cmd`` waits for the reply on a response topic under ``gate/v1/{gate}/replies/``.

Gates act on a desired config or a command only when a trusted fleet-admin key signed it, so both go
out in signed envelopes; KEY.pem is that private key (PEM, PKCS8; a simulated world keeps it in
``<workdir>/keys/fleet_admin.pem``). ``--key`` stays the TLS client key. Every command carries its
``issued_at``: a gate runs a command only within two minutes of it, and each request id once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from edge.messaging.client import MqttClient, OutMessage
from edge.messaging.envelope import Role, Signer, display_json, load_or_create_private_key
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
    return MqttConfig(
        host=args.host,
        port=args.port,
        username=args.username,
        password_file=args.password_file,
        password=SecretStr(args.password) if args.password else None,
        tls=tls,
        reconnect_min_s=1,
        reconnect_max_s=5,
    )


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


class FleetAdmin:
    """Pushes desired config and sends commands, signed with ``signer`` (the fleet admin's key); a
    FleetAdmin without one can only watch."""

    def __init__(self, mqtt: MqttConfig, client_id: str | None = None, *, signer: Signer | None = None) -> None:
        self.mqtt = mqtt
        self.signer = signer
        self._subs: list[str] = []
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

    def _sign(self, body: bytes) -> bytes:
        if self.signer is None:
            raise RuntimeError("fleet admin: no signing key (gates refuse unsigned config and commands)")
        return self.signer(body)

    def push_config(self, config: dict[str, Any], version: int, gate: str | None = None) -> str:
        desired = ConfigDesired(version=version, gate=gate, config=config)
        t = Topics.from_config(gate or "fleet", self.mqtt)
        topic = t.config_desired if gate else t.fleet_config
        assert self.client is not None
        self.client.publish(OutMessage(topic, self._sign(desired.to_bytes()), retain=True)).wait(5.0)
        return topic

    def command(self, gate: str, name: str, args: dict[str, Any], timeout: float = 5.0) -> dict[str, Any] | None:
        """Send a command and wait for its reply (None on timeout). Needs a client subscribed to
        nothing else: it subscribes to its own reply topic for this call."""
        t = Topics.from_config(gate, self.mqtt)
        rid = uuid.uuid4().hex
        reply_topic = f"{t.replies}/{rid}"
        client = MqttClient(self.mqtt, f"{self.client_id}-{rid[:6]}", subscriptions=[reply_topic])
        client.start()
        try:
            if not client.wait_connected(timeout):
                raise RuntimeError("fleet admin: no broker")
            _await_subscription(client, reply_topic, timeout)
            body = {"schema": COMMANDS[name].SCHEMA, "request_id": rid, "gate": gate, **args}
            # Set last, over any --arg: a gate refuses a command issued more than two minutes away.
            body["issued_at"] = datetime.now(timezone.utc).isoformat()
            client.publish(
                OutMessage(
                    t.command(name),
                    self._sign(json.dumps(body).encode()),
                    response_topic=reply_topic,
                    correlation_data=rid.encode(),
                )
            ).wait(timeout)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                msg = client.get(left)
                if msg is not None and msg.payload:  # empty ones are our own late probes
                    return dict(json.loads(msg.payload))
            return None
        finally:
            client.stop()

    def watch(
        self,
        gate: str,
        on_message: Callable[[str, dict[str, Any] | str], None],
        seconds: float | None,
        count: int | None,
    ) -> int:
        t = Topics.from_config(gate, self.mqtt)
        self.start([f"{t.base}/#"])
        assert self.client is not None
        n = 0
        end = time.monotonic() + seconds if seconds else None
        while (end is None or time.monotonic() < end) and (count is None or n < count):
            msg = self.client.get(0.2)
            if msg is None or msg.topic in (t.assignment,) or "/cmd/" in msg.topic:
                continue
            try:
                shown = display_json(msg.payload)  # the gate's events come signed: shown, not verified
                body: dict[str, Any] | str = shown if isinstance(shown, dict) else str(shown)
            except ValueError:
                body = msg.payload.decode(errors="replace")
            on_message(msg.topic[len(t.base) + 1 :], body)
            if msg.topic == t.events:
                n += 1
        return n


def _await_subscription(client: MqttClient, topic: str, timeout: float) -> None:
    """Return once ``client`` receives on ``topic``: an empty probe sent there came back.

    The client subscribes when it connects, and a reply published before the broker has the
    subscription is lost; the probe proves the subscription is in place. Probes are empty, which
    no reply is, so a late one is told apart.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.publish(OutMessage(topic, b"")).wait(timeout)
        if client.get(0.2) is not None:
            return
    raise RuntimeError(f"fleet admin: the subscription to {topic} did not take within {timeout:.0f} s")


def _parse_arg(kv: str) -> tuple[str, Any]:
    k, sep, v = kv.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--arg wants k=v, got {kv!r}")
    try:
        return k, json.loads(v)
    except ValueError:
        return k, v


def _print(sub: str, body: dict[str, Any] | str) -> None:
    if isinstance(body, dict) and sub == "events":
        line = (
            f"#{body.get('seq')} {body.get('outcome'):<18} id={body.get('matched_id')} "
            f"score={body.get('score')} total_ms={body.get('latency_ms', {}).get('total')}"
        )
        print(f"[event] {line}", flush=True)
    else:
        print(f"[{sub}] {json.dumps(body) if isinstance(body, dict) else body}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="gate_sim.fleet_admin", description="fleet admin for gate-edge")
    add_mqtt_args(ap)
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("push-config", help="publish retained desired config, signed")
    add_signing_key(p, "fleet_admin")
    p.add_argument("file", type=Path)
    p.add_argument("--gate")
    p.add_argument("--version", type=int)
    c = sub.add_parser("cmd", help="send a signed command and print the reply")
    add_signing_key(c, "fleet_admin")
    c.add_argument("gate")
    c.add_argument("name", choices=sorted(COMMANDS))
    c.add_argument("--arg", action="append", default=[], type=_parse_arg)
    c.add_argument("--timeout", type=float, default=5.0)
    w = sub.add_parser("watch", help="print a gate's events, status, reports live")
    w.add_argument("gate")
    w.add_argument("--count", type=int, help="stop after this many events")
    w.add_argument("--seconds", type=float)
    args = ap.parse_args(argv)
    admin = FleetAdmin(mqtt_config_from(args), signer=getattr(args, "signer", None))
    try:
        if args.what == "push-config":
            doc = yaml.safe_load(args.file.read_text())
            if not isinstance(doc, dict):
                print(f"{args.file}: expected a mapping", file=sys.stderr)
                return 2
            if "config" in doc and "version" in doc:
                version, config = int(doc["version"]), doc["config"]
            else:
                version, config = args.version if args.version is not None else int(time.time()), doc
            admin.start()
            print(f"pushed version {version} to {admin.push_config(config, version, args.gate)}")
        elif args.what == "cmd":
            admin.start()
            reply = admin.command(args.gate, args.name, dict(args.arg), args.timeout)
            if reply is None:
                print("no reply", file=sys.stderr)
                return 1
            print(json.dumps(reply))
            return 0 if reply.get("result") == "accepted" else 1
        else:
            admin.watch(args.gate, _print, args.seconds, args.count)
    except KeyboardInterrupt:
        pass
    finally:
        admin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
