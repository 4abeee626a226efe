"""The messaging layer's settings: how to reach the broker (:class:`MqttConfig`, :class:`TlsConfig`)
and what a gallery may be (:class:`IntakeLimits`).

:mod:`edge.config.schema` embeds these in the daemon's configuration (``mqtt`` section) and takes the
``gallery`` section's defaults from :class:`IntakeLimits`, so each default is written once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


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


class MqttConfig(_Settings):
    """The broker connection. Changing any of it needs a restart (it is not a live section)."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
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
