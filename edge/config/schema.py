"""The daemon's configuration: one pydantic model per section, unknown keys rejected.

Sections are small so that each adapter and each piece of the core gets only its own part.
``LIVE_SECTIONS`` can change between transactions; any other change needs a restart
(the device answers ``restart_required`` for it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.core.decide import DecisionParams
from edge.core.detect import DetectorParams
from edge.core.quality import QualityParams
from edge.messaging.ids import GATE_ID_PATTERN
from edge.messaging.settings import IntakeLimits, MqttConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- camera
class V4l2Camera(_Section):
    backend: Literal["v4l2"] = "v4l2"
    device: str | int = Field("/dev/video0", description="device path or index")
    width: int = Field(1280, ge=160, le=4096)
    height: int = Field(720, ge=120, le=4096)
    fps: float = Field(30, gt=0, le=120)
    fourcc: str = Field("MJPG", min_length=4, max_length=4)


class Picamera2Camera(_Section):
    backend: Literal["picamera2"] = "picamera2"
    camera_index: int = Field(0, ge=0)
    width: int = Field(1280, ge=160, le=4608)
    height: int = Field(720, ge=120, le=3496)
    fps: float = Field(30, gt=0, le=120)


class GstreamerCamera(_Section):
    """Jetson CSI through nvarguscamerasrc, or any pipeline ending in an appsink."""

    backend: Literal["gstreamer"] = "gstreamer"
    sensor_id: int = Field(0, ge=0)
    width: int = Field(1280, ge=160, le=4096)
    height: int = Field(720, ge=120, le=4096)
    fps: float = Field(30, gt=0, le=120)
    flip_method: int = Field(0, ge=0, le=7)
    pipeline: str | None = Field(None, description="a full pipeline to use instead of the nvargus one")


class FileCamera(_Section):
    """A video file or an RTSP/HTTP URL, for replay during development."""

    backend: Literal["file"] = "file"
    url: str = Field(..., min_length=1)
    loop: bool = True
    realtime: bool = True


class SimulatedCamera(_Section):
    backend: Literal["simulated"] = "simulated"
    scenario: Path
    faces_dir: Path | None = Field(None, description="overrides the scenario's faces folder")
    realtime: bool = True
    seed: int | None = None


CameraConfig = Annotated[
    V4l2Camera | Picamera2Camera | GstreamerCamera | FileCamera | SimulatedCamera,
    Field(discriminator="backend"),
]


class CaptureConfig(_Section):
    stall_timeout_s: float = Field(2.0, gt=0, le=60, description="no frame for this long -> degraded")
    reconnect_min_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _backoff_order(self) -> CaptureConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


# --------------------------------------------------------------------------- mqtt
# The ``mqtt`` section is the messaging layer's own settings model, edge.messaging.settings.MqttConfig.


# --------------------------------------------------------------------------- models / inference
class ModelsConfig(_Section):
    cache_dir: Path = Path("models/cache")
    manifest: Path | None = Field(None, description="defaults to the manifest shipped with the package")
    detector: str = "yunet_2023mar"
    embedder: str = "sface_2021dec"
    threads: int = Field(1, ge=1, le=64)
    providers: list[Literal["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]] = [
        "CPUExecutionProvider"
    ]
    require_providers: bool = Field(True, description="fail at load if a requested provider is not active")
    trt_fp16: bool = True


# --------------------------------------------------------------------------- core parameters (live)
# The core's parameter objects hold the defaults (one place); these sections add bounds and docs.
_DET, _QUAL, _DEC = DetectorParams(), QualityParams(), DecisionParams()

class DetectionConfig(_Section):
    input_width: int = Field(_DET.input_width, ge=96, le=1920, description="frames are downscaled to this width")
    score_threshold: float = Field(_DET.score_threshold, gt=0, lt=1)
    nms_threshold: float = Field(_DET.nms_threshold, gt=0, lt=1)
    top_k: int = Field(_DET.top_k, ge=1, le=1000)
    # Capture zone in normalised frame coordinates (x0, y0, x1, y1): faces whose centre is outside
    # are bystanders in the queue or passing by.
    capture_zone: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)

    @field_validator("capture_zone")
    @classmethod
    def _zone(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = v
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise ValueError("capture_zone must be 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
        return v


class QualityConfig(_Section):
    min_face_px: int = Field(_QUAL.min_face_px, ge=8, le=2000, description="minimum face box width in frame pixels")
    min_sharpness: float = Field(_QUAL.min_sharpness, ge=0, description="variance of the Laplacian on the aligned crop")
    max_yaw: float = Field(_QUAL.max_yaw, gt=0, le=1, description="nose offset from the eye midline / eye distance")
    max_roll_deg: float = Field(_QUAL.max_roll_deg, gt=0, le=90)
    min_brightness: float = Field(_QUAL.min_brightness, ge=0, le=255)
    max_brightness: float = Field(_QUAL.max_brightness, ge=0, le=255)


class DecisionConfig(_Section):
    # Default threshold, margin and quality gates: calibrated, see DecisionParams.
    threshold: float = Field(_DEC.threshold, ge=-1, le=1, description="cosine similarity to accept a match")
    margin: float = Field(_DEC.margin, ge=0, le=2, description="best must beat the runner-up by this much")
    votes_required: int = Field(_DEC.votes_required, ge=1, le=10, description="agreeing frames needed for a decision")
    max_frames: int = Field(_DEC.max_frames, ge=1, le=100, description="usable frames after which no-match is final")
    budget_s: float = Field(_DEC.budget_s, gt=0, le=30, description="from first usable frame to the event")
    acquire_timeout_s: float = Field(_DEC.acquire_timeout_s, gt=0, le=60, description="face present but never usable")
    absent_frames_to_reset: int = Field(
        _DEC.absent_frames_to_reset, ge=1, le=300, description="frames without the traveller that end a walk-up"
    )


# The messaging layer's intake limits hold the gallery defaults (one place); this section adds bounds.
_LIM = IntakeLimits()


class GalleryConfig(_Section):
    exact_max_entries: int = Field(5000, ge=1, description="above this, search with hnswlib")
    max_entries: int = Field(_LIM.max_gallery_entries, ge=1, le=10_000_000)
    max_photo_bytes: int = Field(_LIM.max_photo_bytes, ge=1024, description="one decoded gallery photo")
    request_timeout_s: float = Field(
        _LIM.gallery_timeout_s, gt=0, le=600, description="from a gallery request to its last chunk"
    )


class OptOutConfig(_Section):
    duration_s: float = Field(20.0, gt=0, le=600)


class TelemetryConfig(_Section):
    interval_s: float = Field(30.0, ge=1, le=3600)


class OutboxConfig(_Section):
    max_events: int = Field(10_000, ge=10, le=10_000_000)


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    journald: bool | None = Field(None, description="None: use journald when running under systemd")


class GateConfig(BaseModel):
    """The whole daemon configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gate_id: str = Field(..., pattern=GATE_ID_PATTERN)
    version: int = Field(0, ge=0, description="config version; set by the fleet's desired config")
    state_dir: Path = Path("var/state")  # outbox, last known good config (no biometric data)
    camera: CameraConfig
    capture: CaptureConfig = CaptureConfig()
    mqtt: MqttConfig = MqttConfig()
    models: ModelsConfig = ModelsConfig()
    detection: DetectionConfig = DetectionConfig()
    quality: QualityConfig = QualityConfig()
    decision: DecisionConfig = DecisionConfig()
    gallery: GalleryConfig = GalleryConfig()
    opt_out: OptOutConfig = OptOutConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    outbox: OutboxConfig = OutboxConfig()
    logging: LoggingConfig = LoggingConfig()


# Changes to these sections are applied between transactions; anything else answers restart_required.
LIVE_SECTIONS = frozenset(
    {"version", "detection", "quality", "decision", "gallery", "opt_out", "telemetry", "logging"}
)


def sanitize_gate_id(value: str) -> str:
    """A gate id usable in topics and client ids (used by tools that derive ids from host names)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", value)[:64] or "gate"
