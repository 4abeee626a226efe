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

    # ---- outbound
    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def gallery_request(self) -> str:
        return f"{self.base}/gallery/request"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def wipe(self) -> str:
        return f"{self.base}/wipe"

    @property
    def config_reported(self) -> str:
        return f"{self.base}/config/reported"

    @property
    def telemetry(self) -> str:
        return f"{self.base}/telemetry"

    @property
    def rejected(self) -> str:
        """Every rejected inbound message, with its reason, so that integrators can watch what the
        gate refused even when no response topic was set."""
        return f"{self.base}/rejected"

    @property
    def replies(self) -> str:
        """Command replies when the command carried no MQTT v5 response topic."""
        return f"{self.base}/replies"

    # ---- inbound
    @property
    def assignment(self) -> str:
        return f"{self.base}/assignment"

    @property
    def gallery_response(self) -> str:
        return f"{self.base}/gallery/response"

    @property
    def fleet_config(self) -> str:
        return f"{self.fleet_prefix}/config"

    @property
    def config_desired(self) -> str:
        return f"{self.base}/config/desired"

    def command(self, name: str) -> str:
        return f"{self.base}/cmd/{name}"

    @property
    def command_filter(self) -> str:
        return f"{self.base}/cmd/+"

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
        if rest == "assignment":
            return Route(InboundKind.ASSIGNMENT)
        if rest == "gallery/response":
            return Route(InboundKind.GALLERY_RESPONSE)
        if rest == "config/desired":
            return Route(InboundKind.GATE_CONFIG)
        if rest.startswith("cmd/"):
            name = rest[4:]
            if name not in COMMAND_NAMES:
                raise TopicError(f"unknown command {name!r}; expected one of {', '.join(COMMAND_NAMES)}")
            return Route(InboundKind.COMMAND, name)
        raise TopicError(f"topic {topic!r} is not an inbound topic")

    @classmethod
    def from_config(cls, gate_id: str, mqtt: MqttConfig) -> Topics:
        return cls(gate_id, mqtt.gate_prefix, mqtt.fleet_prefix)
