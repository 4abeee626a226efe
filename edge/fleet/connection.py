"""How the fleet tool reaches the broker, and its one connection (:class:`FleetLink`).

The connection settings are the gate's own ``mqtt`` section (:class:`MqttConfig`, with ``tls``), read
from a small YAML file (``--connection FILE``: ``mqtt: {...}`` and optionally ``signing_key: PEM``) and
overridden by flags. The session is not kept after the tool exits (``session_expiry_s`` 0).

The snapshot of retained messages is complete when :meth:`FleetLink.sync` returns: after subscribing,
the tool publishes a marker on its own topic (``fleet/v1/admin/{client id}/sync``) and reads until it
comes back. The broker queues the retained messages for a new subscription, then the marker, for the
same client in that order, so nothing retained can arrive after it; no quiet period is waited for.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edge.config.errors import ConfigError, issues_from_validation
from edge.messaging.client import MqttClient, OutMessage
from edge.messaging.envelope import Signer, display_json, load_or_create_private_key
from edge.messaging.errors import MessagingError
from edge.messaging.settings import MqttConfig
from edge.messaging.topics import FleetTopics


class FleetError(RuntimeError):
    """The tool cannot do what was asked: no broker, refused subscriptions, a bad key or file."""


@dataclass(frozen=True)
class Received:
    """A message the tool received: its topic, the gate it is about, and its JSON body (a signed one
    unwrapped, not verified: the tool only shows it; None when not a JSON object)."""

    topic: str
    gate: str | None
    body: dict[str, Any] | None
    retained: bool


def mqtt_settings(file: Path | None, overrides: Mapping[str, Any]) -> MqttConfig:
    """The ``mqtt`` section of ``file`` (if given) with ``overrides`` (flags that were set) over it."""
    data: dict[str, Any] = {}
    if file is not None:
        data = dict(_read_yaml(file).get("mqtt") or {})
    tls = dict(data.get("tls") or {})
    for key in ("ca_file", "cert_file", "key_file"):
        if overrides.get(key) is not None:
            tls[key] = overrides[key]
    data.update({k: v for k, v in overrides.items() if v is not None and k not in ("ca_file", "cert_file", "key_file")})
    if tls:
        data["tls"] = tls
    data.setdefault("reconnect_min_s", 1)
    data.setdefault("reconnect_max_s", 5)
    data["session_expiry_s"] = 0  # a tool leaves no session behind on the broker
    try:
        return MqttConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(issues_from_validation(exc, MqttConfig), str(file or "the connection flags")) from None


def signing_key_path(file: Path | None) -> Path | None:
    """``signing_key`` of the connection file, if it names one."""
    if file is None:
        return None
    value = _read_yaml(file).get("signing_key")
    return Path(value) if value else None


def _read_yaml(file: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise FleetError(f"{file}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FleetError(f"{file}: expected a mapping with an `mqtt` section")
    return data


def read_signer(path: Path) -> Signer:
    """The fleet admin's private key (PEM, PKCS8 Ed25519). It must exist: a fresh key no gate trusts
    would only get every command refused."""
    if not path.is_file():
        raise FleetError(f"{path}: no such key file")
    try:
        return Signer("fleet_admin", load_or_create_private_key(path))
    except (ValueError, TypeError, OSError) as exc:  # not PEM, not Ed25519, encrypted, unreadable
        raise FleetError(f"{path}: {exc}") from None


class FleetLink:
    """One MQTT connection of the tool, subscribed to ``filters`` (plus its sync topic, unless ``sync``
    is False: a link that reads no retained message needs none, nor the ACL line for it)."""

    def __init__(self, mqtt: MqttConfig, filters: Sequence[str], *, signer: Signer | None = None,
                 client_id: str | None = None, timeout: float = 10.0, sync: bool = True) -> None:
        self.mqtt = mqtt
        self.topics = FleetTopics.from_config(mqtt)
        self.signer = signer
        self.timeout = timeout
        user = "".join(c for c in getpass.getuser() if c.isalnum())[:16] or "admin"
        self.client_id = client_id or f"fleet-{user}-{uuid.uuid4().hex[:8]}"
        self.sync_topic = self.topics.sync(self.client_id)
        self.filters = [*filters, self.sync_topic] if sync else list(filters)
        self.client = MqttClient(mqtt, self.client_id, subscriptions=self.filters, inbound_queue_size=100_000)

    def __enter__(self) -> FleetLink:
        try:
            self.client.start()
        except MessagingError as exc:
            raise FleetError(str(exc)) from None
        where = f"{self.mqtt.host}:{self.mqtt.port}"
        if not self.client.wait_attempt(self.timeout) and not self.client.wait_connected(0.1):
            reason = self.client.stats.last_connect_error or "no answer"
            self.client.stop()
            raise FleetError(f"cannot connect to the broker at {where}: {reason}")
        if not self.client.wait_subscribed(self.timeout):
            self.client.stop()
            raise FleetError(f"the broker at {where} refused a subscription to {', '.join(self.filters)} "
                             "(the fleet-admin ACL must allow reading them)")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.stop()

    def sync(self) -> list[Received]:
        """Every message received until the marker came back: with a new connection, every retained
        message of the subscriptions."""
        nonce = uuid.uuid4().hex.encode()
        try:
            self.client.publish(OutMessage(self.sync_topic, nonce)).wait(self.timeout)
        except MessagingError as exc:
            raise FleetError(f"cannot publish on the tool's own topic {self.sync_topic} ({exc}); the fleet-admin "
                             f"ACL must allow `topic readwrite {self.topics.fleet_prefix}/admin/#`") from None
        seen: list[Received] = []
        while True:
            m = self.client.get(self.timeout)
            if m is None:
                raise FleetError(f"the marker on {self.sync_topic} did not come back within {self.timeout:.0f} s "
                                 f"({len(seen)} retained messages came before it; a broker drops what exceeds "
                                 "its max_queued_messages for one client, the marker included)")
            if m.topic == self.sync_topic:
                if m.payload == nonce:
                    return seen
                continue
            seen.append(self._received(m.topic, m.payload, m.retained))

    def receive(self, timeout: float) -> Received | None:
        """The next message (other than a sync marker), or None after ``timeout`` seconds."""
        m = self.client.get(timeout)
        while m is not None and m.topic == self.sync_topic:
            m = self.client.get(timeout)
        return None if m is None else self._received(m.topic, m.payload, m.retained)

    def _received(self, topic: str, payload: bytes, retained: bool) -> Received:
        try:
            shown = display_json(payload) if payload else None
        except ValueError:
            shown = None
        return Received(topic, self.topics.gate_of(topic), shown if isinstance(shown, dict) else None, retained)

    def publish_signed(self, topic: str, body: bytes, *, retain: bool = False, response_topic: str | None = None,
                       correlation: bytes | None = None) -> None:
        """Publish ``body`` signed with the fleet admin's key; waits for the broker's acknowledgement."""
        if self.signer is None:
            raise FleetError("no signing key: gates refuse unsigned config and commands (--signing-key PEM)")
        msg = OutMessage(topic, self.signer(body), retain=retain, response_topic=response_topic,
                         correlation_data=correlation)
        try:
            self.client.publish(msg).wait(self.timeout)
        except MessagingError as exc:
            raise FleetError(f"cannot publish on {topic}: {exc}") from None
