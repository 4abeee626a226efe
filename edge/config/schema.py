"""The daemon's configuration: one pydantic model per section, unknown keys rejected.

Sections are small so that each adapter and each piece of the core gets only its own part.
``LIVE_SECTIONS`` can change between transactions; any other change needs a restart
(the device answers ``restart_required`` for it).

The bounds below are a safety envelope: they hold for the local file and for every desired config
pushed over MQTT alike (both are validated by this schema), so no config can make the gate accept
impostors or refuse every traveller. Non-finite numbers are refused everywhere (``allow_inf_nan``).
Relative paths in a config *file* are resolved against the file's folder (:mod:`edge.config.paths`).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.core.decide import DecisionParams
from edge.core.detect import DetectorParams
from edge.core.fusion import Fusion
from edge.core.quality import QualityParams
from edge.messaging.ids import GATE_ID_PATTERN
from edge.messaging.schemas import MAX_CONFIG_VERSION
from edge.messaging.settings import IntakeLimits, MqttConfig

# Where the systemd unit's StateDirectory= and CacheDirectory= put them (deploy/gate-edge.service),
# and where the installers fetch the models to (deploy/lib.sh): a config that names neither works.
DEFAULT_STATE_DIR = Path("/var/lib/gate-edge")
DEFAULT_CACHE_DIR = Path("/var/cache/gate-edge")
DEFAULT_TRUST_DIR = Path("/etc/gate-edge/trust")


class FileOrUrl:
    """Marks a text field that names a file unless it is a URL (``rtsp://...``): in a config file, a
    relative file name resolves against the file's folder like every ``Path`` field."""


FILE_OR_URL = FileOrUrl()


class _Section(BaseModel):
    # allow_inf_nan=False: an infinite or NaN bound compares false both ways and disables the check.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
    url: Annotated[str, FILE_OR_URL] = Field(..., min_length=1, description="a video file or an rtsp/http URL")
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
    cache_dir: Path = DEFAULT_CACHE_DIR
    manifest: Path | None = Field(None, description="defaults to the manifest shipped with the package")
    detector: str = "yunet_2023mar"
    embedder: str = "sface_2021dec"
    threads: int = Field(1, ge=1, le=64)
    providers: list[Literal["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]] = [
        "CPUExecutionProvider"
    ]
    require_providers: bool = Field(True, description="fail at load if a requested provider is not active")
    trt_fp16: bool = True
    # Both measured by `gate-edge eval` (accuracy) and `gate-edge bench` (speed); see docs/architecture.md.
    flip_tta: bool = Field(False, description="template = mean of the crop's and its mirror's embeddings")
    embedder_precision: Literal["fp32", "int8"] = Field(
        "fp32", description="int8: the embedder quantised by `gate-edge models quantise`")


# --------------------------------------------------------------------------- core parameters (live)
# The core's parameter objects hold the defaults (one place); these sections add bounds and docs.
_DET, _QUAL, _DEC = DetectorParams(), QualityParams(), DecisionParams()

# The safety envelope (see the module docstring). Each bound is the loosest value that still makes sense;
# a config may always be stricter within it.
#
# THRESHOLD_FLOOR: below it more than 1 in 100 impostors is accepted as someone on the flight. Measured
# with the weakest margin a config may set (MARGIN_FLOOR, 0), so the floor holds whatever the margin,
# with the default pipeline (photo subject picker with its padded second try, enlarged photos, refined
# landmarks, one view per gallery photo):
#   gate-edge eval --faces ../shared/lfw --gallery-size 420 --impostors 420 --probes-per-identity 3
#                  --seed 1 --margin 0 --threshold T --json
#   (420 enrolled, 819 genuine and 420 impostor probes; FPIR = impostors matched / 420)
#   T            0.30    0.34    0.38    0.40    0.42    0.43    0.44    0.45    0.46    0.47
#   matched      379     254     87      43      21      12      10      3       2       0
#   FPIR         0.9024  0.6048  0.2071  0.1024  0.0500  0.0286  0.0238  0.0071  0.0048  0.0000
#   FNIR         0.0098  0.0110  0.0134  0.0159  0.0232  0.0269  0.0305  0.0330  0.0366  0.0379
# FPIR first falls to 1% (at most 4 of 420) at 0.45 here; the floor stays at 0.46, where the previous
# measurement put it and where it is with `detection.enrol_views` (3 of 420 at 0.46, 5 at 0.45): a
# floor that a config option could undercut would not be a floor.
# (Before the picker, enlarging and refinement it was 0.43: better landmarks raise impostors' best
# scores as well as travellers'.) It belongs to the embedder (sface_2021dec) and this pipeline: another
# model or pipeline needs a new measurement.
THRESHOLD_FLOOR = 0.46
# The same runs' mated scores (a traveller against their own photo) have p95 0.8646: above this ceiling
# 19 in 20 travellers would fall short and go to an officer.
THRESHOLD_CEILING = 0.85
MARGIN_FLOOR = 0.0  # the threshold floor was measured with no margin; any margin only rejects more
MARGIN_CEILING = 0.2  # runner-ups closer than this are look-alikes; a wider margin refuses most matches
MIN_BRIGHTNESS_GAP = 64.0  # grey levels between the dark and bright limits: a lit face fits in between
MIN_ZONE_SIDE = 0.2  # of the frame's width and height: a narrower capture zone holds no face centre


class DetectionConfig(_Section):
    input_width: int = Field(_DET.input_width, ge=96, le=1920, description="frames are downscaled to this width")
    # Above 0.95 YuNet misses most real faces: every walk-up would go undetected.
    score_threshold: float = Field(_DET.score_threshold, gt=0, le=0.95)
    nms_threshold: float = Field(_DET.nms_threshold, gt=0, lt=1)
    top_k: int = Field(_DET.top_k, ge=1, le=1000)
    enlarge: bool = Field(_DET.enlarge, description="enlarge images narrower than input_width to it")
    refine_landmarks: bool = Field(
        True, description="detect again on the traveller's region at full resolution for precise landmarks")
    enrol_views: bool = Field(
        False, description="a gallery photo's template is the mean of six views of it (three landmark scales, "
                          "each with its mirror); slower enrolment, the frame path unchanged")
    # Capture zone in normalised frame coordinates (x0, y0, x1, y1): faces whose centre is outside
    # are bystanders in the queue or passing by.
    capture_zone: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)

    @field_validator("capture_zone")
    @classmethod
    def _zone(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = v
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise ValueError("capture_zone must be 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
        if x1 - x0 < MIN_ZONE_SIDE or y1 - y0 < MIN_ZONE_SIDE:
            raise ValueError(f"capture_zone must be at least {MIN_ZONE_SIDE} of the frame wide and high")
        return v


class QualityConfig(_Section):
    # A face wider than 512 px fills a 720p frame: a larger minimum refuses every traveller.
    min_face_px: int = Field(_QUAL.min_face_px, ge=8, le=512, description="minimum face box width in frame pixels")
    # 100: ten times the calibrated default and well above the calibration grid's strictest (40).
    min_sharpness: float = Field(
        _QUAL.min_sharpness, ge=0, le=100, description="variance of the Laplacian on the aligned crop"
    )
    max_yaw: float = Field(
        _QUAL.max_yaw, ge=0.2, le=1, description="nose offset from the eye midline / eye distance"
    )
    max_roll_deg: float = Field(_QUAL.max_roll_deg, ge=10, le=90)
    min_brightness: float = Field(_QUAL.min_brightness, ge=0, le=120)
    max_brightness: float = Field(_QUAL.max_brightness, ge=136, le=255)

    @model_validator(mode="after")
    def _brightness_window(self) -> QualityConfig:
        if self.max_brightness - self.min_brightness < MIN_BRIGHTNESS_GAP:
            raise ValueError(f"max_brightness must exceed min_brightness by at least {MIN_BRIGHTNESS_GAP:g}")
        return self


class DecisionConfig(_Section):
    # Default threshold, margin and quality gates: calibrated, see DecisionParams.
    threshold: float = Field(
        _DEC.threshold, ge=THRESHOLD_FLOOR, le=THRESHOLD_CEILING, description="cosine similarity to accept a match"
    )
    margin: float = Field(
        _DEC.margin, ge=MARGIN_FLOOR, le=MARGIN_CEILING, description="best must beat the runner-up by this much"
    )
    votes_required: int = Field(_DEC.votes_required, ge=1, le=10,
                                description="agreeing frames needed for a decision (fusion none only)")
    max_frames: int = Field(_DEC.max_frames, ge=1, le=50, description="usable frames after which no-match is final")
    # The threshold is per transaction: a fusion kind needs its own calibration (`gate-edge eval --walkup`).
    fusion: Fusion = Field(_DEC.fusion, description="how a walk-up's usable frames are combined: "
                           "template (mean template), score_max (best score per entry) or none (per-frame votes)")
    # Half a second is two or three frames on the slowest gate; beyond ten the queue stops.
    budget_s: float = Field(_DEC.budget_s, ge=0.5, le=10, description="from first usable frame to the event")
    acquire_timeout_s: float = Field(
        _DEC.acquire_timeout_s, ge=0.5, le=30, description="face present but never usable"
    )
    absent_frames_to_reset: int = Field(
        _DEC.absent_frames_to_reset, ge=1, le=300, description="frames without the traveller that end a walk-up"
    )

    @model_validator(mode="after")
    def _votes_reachable(self) -> DecisionConfig:
        # max_frames usable frames end the walk-up with no_match: more votes than that never match anyone.
        if self.votes_required > self.max_frames:
            raise ValueError("votes_required must be <= max_frames")
        return self


# The messaging layer's intake limits hold the gallery defaults (one place); this section adds bounds.
_LIM = IntakeLimits()


class GalleryConfig(_Section):
    exact_max_entries: int = Field(5000, ge=1, description="above this, search with hnswlib")
    max_entries: int = Field(_LIM.max_gallery_entries, ge=1, le=10_000_000)
    max_photo_bytes: int = Field(_LIM.max_photo_bytes, ge=1024, description="one decoded gallery photo")
    request_timeout_s: float = Field(
        _LIM.gallery_timeout_s, gt=0, le=600, description="from a gallery request to its last chunk"
    )
    max_photo_pixels: int = Field(_LIM.max_photo_pixels, ge=10_000, le=100_000_000,
                                  description="a photo declaring more pixels is refused before it is decoded")
    max_gallery_bytes: int = Field(_LIM.max_gallery_bytes, ge=1024 * 1024, le=2 * 1024**3,
                                   description="the decoded photos of one gallery, together")


class OptOutConfig(_Section):
    duration_s: float = Field(20.0, gt=0, le=600)


class TelemetryConfig(_Section):
    interval_s: float = Field(30.0, ge=1, le=3600)


class MetricsConfig(_Section):
    """The Prometheus endpoint (edge/system/prometheus.py). Local only: a pushed config can neither turn
    it on nor move it off the loopback interface."""

    enabled: bool = False
    port: int = Field(9464, ge=1, le=65535)
    address: str = Field("127.0.0.1", description="an IP address to bind; anything but loopback exposes the "
                                                   "gate's figures to the network, so only if set here on purpose")

    @field_validator("address")
    @classmethod
    def _ip(cls, v: str) -> str:
        try:
            ipaddress.ip_address(v)
        except ValueError:
            raise ValueError("address must be an IP address, e.g. 127.0.0.1 or ::1") from None
        return v


class OutboxConfig(_Section):
    max_events: int = Field(10_000, ge=10, le=10_000_000)


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    journald: bool | None = Field(None, description="None: use journald when running under systemd")


class SecurityConfig(_Section):
    """Local only: nothing received over MQTT may change what the gate trusts."""

    trust_dir: Path = Field(DEFAULT_TRUST_DIR, description="trust anchors that verify signed messages")


class GateConfig(BaseModel):
    """The whole daemon configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    gate_id: str = Field(..., pattern=GATE_ID_PATTERN)
    # Bounded like the desired config's version: an absurd one would lock out every later push.
    version: int = Field(
        0, ge=0, le=MAX_CONFIG_VERSION, description="config version; set by the fleet's desired config"
    )
    state_dir: Path = DEFAULT_STATE_DIR  # outbox, last known good config (no biometric data)
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
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()
    security: SecurityConfig = SecurityConfig()


# Changes to these sections are applied between transactions; anything else answers restart_required.
LIVE_SECTIONS = frozenset(
    {"version", "detection", "quality", "decision", "gallery", "opt_out", "telemetry", "logging"}
)

# Sections only the local file may set: they say who the gate is, where it keeps its state, what it
# trusts, where its frames, models and broker connection come from, and whether it opens a port (the
# metrics endpoint). A desired config (which anyone with publish rights on a config topic can send)
# touching any of them is refused whole, and none of them is ever stored in the last known good config.
# Every Path field of the schema lies under one.
LOCAL_ONLY_SECTIONS = frozenset({"gate_id", "state_dir", "camera", "mqtt", "models", "security", "metrics"})


def sanitize_gate_id(value: str) -> str:
    """A gate id usable in topics and client ids (used by tools that derive ids from host names)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", value)[:64] or "gate"
