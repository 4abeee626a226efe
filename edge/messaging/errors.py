"""The messaging layer's errors (no paho here: the daemon catches these without knowing the client)."""

from __future__ import annotations

NOT_AUTHORIZED = 135


class MessagingError(RuntimeError):
    """Base of the messaging layer's errors."""


class NotConnected(MessagingError):
    """The broker is not reachable right now (the client keeps reconnecting)."""


class PublishRefused(MessagingError):
    """The broker acknowledged a publish with a failure reason code (e.g. 135 not authorised)."""

    def __init__(self, topic: str, reason_code: int, reason: str) -> None:
        super().__init__(f"publish to {topic!r} refused by the broker: {reason} ({reason_code})")
        self.topic = topic
        self.reason_code = reason_code
        self.reason = reason


class PublishTimeout(MessagingError):
    """No acknowledgement within the time asked for."""


class ClientConfigError(MessagingError):
    """The MQTT settings cannot be used (unreadable password file, bad TLS files)."""
