"""Every MQTT topic string of gate-edge, in one place.

Topics are built from the gate id and the two prefixes of :class:`edge.messaging.settings.MqttConfig`;
:meth:`Topics.classify` maps an inbound topic back to its kind and rejects topics of other gates.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from edge.messaging.ids import GATE_ID_PATTERN
from edge.messaging.schemas import COMMANDS
from edge.messaging.settings import MqttConfig

# The command schemas name the commands; topics follow them.
COMMAND_NAMES = tuple(COMMANDS)
_GATE_RE = re.compile(GATE_ID_PATTERN)


class InboundKind(str, enum.Enum):
    ASSIGNMENT = "assignment"
    GALLERY_RESPONSE = "gallery_response"
    FLEET_CONFIG = "fleet_config"
    GATE_CONFIG = "gate_config"
    COMMAND = "command"


class TopicError(ValueError):
    """An inbound topic that is not ours: another gate, or an unknown kind."""


class Direction(str, enum.Enum):
    """Which way a channel goes, from the gate's point of view (AsyncAPI operation actions)."""

    SEND = "send"
    RECEIVE = "receive"


@dataclass(frozen=True)
class ChannelSpec:
    """One channel of the topic tree: its path, which way it goes and how it is published.

    ``path`` is under the gate's base (``{gate_prefix}/{gate_id}``), or under the fleet prefix when
    ``fleet``. ``qos`` is what the gate publishes with (send) or subscribes with (receive); ``retain``
    is whether the gate publishes retained (send) or the sender must (receive). ``messages`` are keys of
    :data:`edge.messaging.schemas.ALL_MESSAGES` (``{command}`` is the command name).
    """

    name: str
    path: str
    direction: Direction
    messages: tuple[str, ...]
    summary: str
    retain: bool = False
    qos: int = 1
    fleet: bool = False
    kind: InboundKind | None = None  # receive channels: what intake makes of a message
    expiry: str | None = None  # MQTT v5 message expiry, when the gate sets one
    reply_on: str | None = None  # the channel the answer comes on (MQTT v5 response topic)


_OUT, _IN = Direction.SEND, Direction.RECEIVE
# The topic tree, in one place: Topics builds every address from these rows, and
# `gate-edge schema --asyncapi` documents them (edge/contract).
CHANNELS: dict[str, ChannelSpec] = {
    c.name: c
    for c in (
        ChannelSpec("status", "status", _OUT, ("status",), retain=True,
                    summary="The gate's state: the birth message after every connect, and the last will (offline)."),
        ChannelSpec("gallery_request", "gallery/request", _OUT, ("gallery_request",), reply_on="gallery_response",
                    summary="Asks for the flight's gallery, with a response topic and the request id as "
                            "correlation data."),
        ChannelSpec("events", "events", _OUT, ("event",),
                    summary="One decision per transaction, through the durable outbox, signed by the gate's own key."),
        ChannelSpec("wipe", "wipe", _OUT, ("wipe_attestation",),
                    summary="Proof that a gallery was deleted, through the durable outbox, signed by the gate's "
                            "own key."),
        ChannelSpec("gallery_enrolment", "gallery/enrolment", _OUT, ("enrolment_report",),
                    summary="How each photo of a gallery enrolled (ids and verdict words, nothing biometric), "
                            "once per gallery built, through the durable outbox, signed by the gate's own key: the "
                            "gallery service asks for better photos."),
        ChannelSpec("config_reported", "config/reported", _OUT, ("config_reported",), retain=True,
                    summary="What the gate made of the desired config: applied, rejected with every error, or "
                            "restart required."),
        ChannelSpec("telemetry", "telemetry", _OUT, ("telemetry",), expiry="two telemetry intervals",
                    summary="Counters since start and decision latency, every telemetry interval."),
        ChannelSpec("rejected", "rejected", _OUT, ("rejection",),
                    summary="Every inbound message the gate refused, with a code and the reason."),
        ChannelSpec("replies", "replies", _OUT, ("command_reply",),
                    summary="Command replies, when the command carried no MQTT v5 response topic."),
        ChannelSpec("assignment", "assignment", _IN, ("assignment",), retain=True, kind=InboundKind.ASSIGNMENT,
                    summary="The flight now boarding at this gate (departure control)."),
        ChannelSpec("gallery_response", "gallery/response", _IN, ("gallery_chunk",), qos=0,
                    kind=InboundKind.GALLERY_RESPONSE,
                    summary="The gallery, in chunks correlated to the request; chunk 0 carries the signed "
                            "manifest. QoS 0: never queued for an offline gate."),
        ChannelSpec("fleet_config", "config", _IN, ("config_desired",), retain=True, fleet=True,
                    kind=InboundKind.FLEET_CONFIG, summary="Desired config for every gate of the fleet."),
        ChannelSpec("config_desired", "config/desired", _IN, ("config_desired",), retain=True,
                    kind=InboundKind.GATE_CONFIG, summary="Desired config override for this gate."),
        ChannelSpec("command", "cmd/{command}", _IN, ("cmd_{command}",), kind=InboundKind.COMMAND,
                    reply_on="replies",
                    summary="An officer's or admin's command; the reply goes to the MQTT v5 response topic, "
                            "or to replies."),
    )
}
_COMMAND_HEAD = CHANNELS["command"].path.partition("{")[0]  # "cmd/"
_INBOUND_PATHS = {
    c.path: c.kind for c in CHANNELS.values() if c.kind is not None and not c.fleet and "{" not in c.path
}


def channel_address(spec: ChannelSpec, gate_prefix: str = "gate/v1", fleet_prefix: str = "fleet/v1") -> str:
    """The channel's address with its parameters left as ``{gate_id}`` (and ``{command}``)."""
    return f"{fleet_prefix if spec.fleet else gate_prefix + '/{gate_id}'}/{spec.path}"


@dataclass(frozen=True)
class Route:
    kind: InboundKind
    command: str | None = None  # set for InboundKind.COMMAND


@dataclass(frozen=True)
class Topics:
    gate_id: str
    gate_prefix: str = "gate/v1"
    fleet_prefix: str = "fleet/v1"

    def __post_init__(self) -> None:
        if not _GATE_RE.match(self.gate_id):
            raise TopicError(f"gate id {self.gate_id!r} does not match {GATE_ID_PATTERN}")
        for p in (self.gate_prefix, self.fleet_prefix):
            if not p or "#" in p or "+" in p or p.endswith("/"):
                raise TopicError(f"bad topic prefix {p!r}")

    @property
    def base(self) -> str:
        return f"{self.gate_prefix}/{self.gate_id}"

    def _at(self, channel: str, **params: str) -> str:
        spec = CHANNELS[channel]
        return f"{self.fleet_prefix if spec.fleet else self.base}/{spec.path.format(**params)}"

    # ---- outbound
    @property
    def status(self) -> str:
        return self._at("status")

    @property
    def gallery_request(self) -> str:
        return self._at("gallery_request")

    @property
    def events(self) -> str:
        return self._at("events")

    @property
    def wipe(self) -> str:
        return self._at("wipe")

    @property
    def gallery_enrolment(self) -> str:
        return self._at("gallery_enrolment")

    @property
    def config_reported(self) -> str:
        return self._at("config_reported")

    @property
    def telemetry(self) -> str:
        return self._at("telemetry")

    @property
    def rejected(self) -> str:
        """Every rejected inbound message, with its reason, so that integrators can watch what the
        gate refused even when no response topic was set."""
        return self._at("rejected")

    @property
    def replies(self) -> str:
        """Command replies when the command carried no MQTT v5 response topic."""
        return self._at("replies")

    # ---- inbound
    @property
    def assignment(self) -> str:
        return self._at("assignment")

    @property
    def gallery_response(self) -> str:
        return self._at("gallery_response")

    @property
    def fleet_config(self) -> str:
        return self._at("fleet_config")

    @property
    def config_desired(self) -> str:
        return self._at("config_desired")

    def command(self, name: str) -> str:
        return self._at("command", command=name)

    @property
    def command_filter(self) -> str:
        return self._at("command", command="+")

    def subscriptions(self) -> list[str]:
        """Filters the device subscribes to."""
        return [
            self.assignment,
            self.gallery_response,
            self.fleet_config,
            self.config_desired,
            self.command_filter,
        ]

    def classify(self, topic: str) -> Route:
        """Map an inbound topic to its kind. Raises :class:`TopicError` for anything not ours."""
        if topic == self.fleet_config:
            return Route(InboundKind.FLEET_CONFIG)
        head = f"{self.gate_prefix}/"
        if not topic.startswith(head):
            raise TopicError(f"topic {topic!r} is outside {self.gate_prefix!r}")
        gate, _, rest = topic[len(head) :].partition("/")
        if gate != self.gate_id:
            raise TopicError(f"topic {topic!r} is for gate {gate!r}, this is {self.gate_id!r}")
        kind = _INBOUND_PATHS.get(rest)
        if kind is not None:
            return Route(kind)
        if rest.startswith(_COMMAND_HEAD):
            name = rest[len(_COMMAND_HEAD) :]
            if name not in COMMAND_NAMES:
                raise TopicError(f"unknown command {name!r}; expected one of {', '.join(COMMAND_NAMES)}")
            return Route(InboundKind.COMMAND, name)
        raise TopicError(f"topic {topic!r} is not an inbound topic")

    @classmethod
    def from_config(cls, gate_id: str, mqtt: MqttConfig) -> Topics:
        return cls(gate_id, mqtt.gate_prefix, mqtt.fleet_prefix)


@dataclass(frozen=True)
class FleetTopics:
    """The topics a fleet tool reads across every gate (``+`` for the gate id), and its own sync topic."""

    gate_prefix: str = "gate/v1"
    fleet_prefix: str = "fleet/v1"

    def every_gate(self, channel: str) -> str:
        """A filter for ``channel`` (e.g. ``"status"``) of every gate."""
        address: str = getattr(Topics("any", self.gate_prefix, self.fleet_prefix), channel)
        return address.replace(f"{self.gate_prefix}/any/", f"{self.gate_prefix}/+/", 1)

    def gate_of(self, topic: str) -> str | None:
        """The gate id in a gate topic, or None for a topic outside the gate prefix."""
        head = f"{self.gate_prefix}/"
        return topic[len(head):].partition("/")[0] or None if topic.startswith(head) else None

    def sync(self, client_id: str) -> str:
        """A fleet tool's private topic: a marker it publishes there after subscribing comes back after
        every retained message of its subscriptions (the broker queues both for it in order), so the
        snapshot of retained statuses is complete when it arrives, without waiting for a quiet spell."""
        return f"{self.fleet_prefix}/admin/{client_id}/sync"

    @classmethod
    def from_config(cls, mqtt: MqttConfig) -> FleetTopics:
        return cls(mqtt.gate_prefix, mqtt.fleet_prefix)
