"""The messaging layer's settings: how to reach the broker (:class:`MqttConfig`, :class:`TlsConfig`)
and what a gallery may be (:class:`IntakeLimits`).

:mod:`edge.config.schema` embeds these in the daemon's configuration (``mqtt`` section) and takes the
``gallery`` section's defaults from :class:`IntakeLimits`, so each default is written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

# A broker's host: a name or an address, not a URL (no scheme, path or blanks).
_HOST = r"^[^\s/]+$"
MAX_BROKERS = 16


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Settings):
    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self


class BrokerAddress(_Settings):
    """One broker (or one node of a clustered broker) the gate may connect to."""

    host: str = Field(min_length=1, max_length=253, pattern=_HOST)
    port: int = Field(1883, ge=1, le=65535)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class MqttConfig(_Settings):
    """The broker connection. Changing any of it needs a restart (it is not a live section).

    One broker is ``host`` and ``port``. Several (the nodes of a cluster, or brokers that share the
    gates' state) are ``brokers``, in the order to try them: the client connects to the first and, when
    a connection is lost or an attempt fails, moves on to the next (:mod:`edge.messaging.failover`).
    With ``brokers``, ``host`` and ``port`` are the first one's (they may be left out; given, they must
    agree), so that whatever reads them names a broker the gate really uses. One TLS setting serves
    every broker: each one's certificate must be valid for its host as listed.
    """

    host: str = Field("127.0.0.1", min_length=1, max_length=253, pattern=_HOST)
    port: int = Field(1883, ge=1, le=65535)
    brokers: tuple[BrokerAddress, ...] = Field((), max_length=MAX_BROKERS)
    username: str | None = None
    # Read from a file (systemd credentials: $CREDENTIALS_DIRECTORY/mqtt-password), never inline in
    # a config that may be pushed over the fleet topic.
    password_file: Path | None = None
    password: SecretStr | None = Field(None, description="for tests; prefer password_file")
    tls: TlsConfig | None = None
    gate_prefix: str = Field("gate/v1", pattern=r"^[^#+]+$")
    fleet_prefix: str = Field("fleet/v1", pattern=r"^[^#+]+$")
    keepalive_s: int = Field(30, ge=5, le=3600)
    session_expiry_s: int = Field(3600, ge=0, le=7 * 24 * 3600)
    reconnect_min_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=600)
    # Enforced by the client before a payload is queued: a property of the connection, not of a gallery.
    max_payload_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)

    @model_validator(mode="before")
    @classmethod
    def _first_broker(cls, data: Any) -> Any:
        """With ``brokers``, ``host``/``port`` default to the first one (checked to agree below)."""
        brokers = data.get("brokers") if isinstance(data, dict) else None
        if isinstance(brokers, (list, tuple)) and brokers:
            first = brokers[0]  # anything else than an address is the field validation's to refuse
            if isinstance(first, BrokerAddress):
                data = {"host": first.host, "port": first.port, **data}
            elif isinstance(first, dict) and "host" in first:
                data = {"host": first["host"], "port": first.get("port", 1883), **data}
        return data

    @model_validator(mode="after")
    def _brokers_agree(self) -> MqttConfig:
        if self.brokers:
            first = self.brokers[0]
            if (self.host, self.port) != (first.host, first.port):
                raise ValueError(f"host/port ({self.host}:{self.port}) disagree with the first of brokers ({first}): "
                                 "give one broker as host and port, or several as brokers")
            seen = [str(b) for b in self.brokers]
            dup = sorted({b for b in seen if seen.count(b) > 1})
            if dup:
                raise ValueError(f"brokers lists {', '.join(dup)} more than once")
        return self

    @property
    def addresses(self) -> tuple[BrokerAddress, ...]:
        """Every broker to try, in order (one: ``host`` and ``port``)."""
        return self.brokers or (BrokerAddress(host=self.host, port=self.port),)


@dataclass(frozen=True)
class IntakeLimits:
    """What the gate accepts as a gallery. Live: :meth:`edge.messaging.link.GateLink.set_limits`
    replaces them and every later check reads the new values.

    These defaults are the project's defaults (the config's ``gallery`` section takes them from here).
    """

    max_gallery_entries: int = 100_000
    max_photo_bytes: int = 2 * 1024 * 1024  # one decoded photo
    gallery_timeout_s: float = 30.0  # from sending a request to its last chunk
    # Declared by a photo's header, checked before anything decodes it: decoding allocates what the
    # header declares, about 3 bytes a pixel, so a small file must not declare a huge image. A
    # passport photo is well under 1 megapixel; camera photos used as test galleries reach about 13.
    max_photo_pixels: int = 24_000_000
    max_gallery_bytes: int = 256 * 1024 * 1024  # the decoded photos of one gallery, together

    def __post_init__(self) -> None:
        positive = (self.max_gallery_entries, self.max_photo_bytes, self.max_photo_pixels, self.max_gallery_bytes)
        if min(positive) < 1 or not self.gallery_timeout_s > 0:
            raise ValueError(f"intake limits must be positive: {self}")
