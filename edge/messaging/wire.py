"""The plain records that cross the boundary between paho and the rest of the messaging layer.

:class:`Inbound` is what the client's callback queues; :class:`OutMessage` is what gets published;
:class:`Ack` is the broker's acknowledgement of one; :class:`ClientStats` are the client's counters.
No paho, no pydantic here, so that validation (:mod:`edge.messaging.intake`) and the client
(:mod:`edge.messaging.client`) share them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Inbound:
    """What the MQTT client's callback hands over: raw bytes plus the MQTT v5 properties we use.

    ``oversized_bytes`` is set (and ``payload`` empty) when the payload exceeded the limit: the
    client drops the bytes before queueing but keeps the fact, so that it can be answered.
    """

    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation_data: bytes | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    retained: bool = False
    oversized_bytes: int | None = None


@dataclass(frozen=True)
class OutMessage:
    """An outbound message with the MQTT v5 properties this project uses."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    response_topic: str | None = None
    correlation_data: bytes | None = None
    message_expiry_s: int | None = None
    user_properties: tuple[tuple[str, str], ...] = ()


@dataclass
class ClientStats:
    connects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    last_connect_error: str | None = None
    received: int = 0
    inbound_oversized: int = 0
    inbound_dropped: int = 0  # queue full
    published: int = 0
    publish_refused: int = 0
    subscribe_refused: int = 0
    callback_errors: int = 0


@dataclass(frozen=True)
class Ack:
    mid: int
    reason_code: int
    reason: str

    @property
    def ok(self) -> bool:
        return self.reason_code < 128
