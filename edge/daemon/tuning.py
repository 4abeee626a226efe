"""The config's live sections turned into the running parts' parameters, and put in force.

The one place that knows which part reads which section, so that a section reported ``applied`` is
what the running code reads: the detector, the quality gate and capture zone, the decision machine,
the gallery intake limits and the log level. (The gallery loader reads ``gallery.exact_max_entries``
from the config in force each time it builds; opt-out reads its default duration when asked.)
"""

from __future__ import annotations

from edge.config.schema import GateConfig
from edge.core.analyse import FrameAnalyser
from edge.core.decide import DecisionMachine, DecisionParams
from edge.core.detect import DetectorParams
from edge.core.quality import QualityParams
from edge.inference.onnx_runtime import FaceModels
from edge.messaging.link import GateLink
from edge.messaging.settings import IntakeLimits
from edge.system.logsetup import setup_logging


def detector_params(cfg: GateConfig) -> DetectorParams:
    d = cfg.detection
    return DetectorParams(d.input_width, d.score_threshold, d.nms_threshold, d.top_k, d.enlarge)


def quality_params(cfg: GateConfig) -> QualityParams:
    return QualityParams(**cfg.quality.model_dump())


def decision_params(cfg: GateConfig) -> DecisionParams:
    return DecisionParams(**cfg.decision.model_dump())


def intake_limits(cfg: GateConfig) -> IntakeLimits:
    g = cfg.gallery
    return IntakeLimits(max_gallery_entries=g.max_entries, max_photo_bytes=g.max_photo_bytes,
                        gallery_timeout_s=g.request_timeout_s, max_photo_pixels=g.max_photo_pixels,
                        max_gallery_bytes=g.max_gallery_bytes)


def telemetry_expiry_s(cfg: GateConfig) -> int:
    """Telemetry older than two intervals is of no use to anyone: let the broker drop it."""
    return int(cfg.telemetry.interval_s * 2) + 1


def apply_live(old: GateConfig, new: GateConfig, models: FaceModels, analyser: FrameAnalyser,
               machine: DecisionMachine, link: GateLink) -> None:
    """Put ``new``'s live sections in force (``old`` is what was in force; used to skip no-ops)."""
    models.detector.params = detector_params(new)
    analyser.quality = quality_params(new)
    analyser.zone = new.detection.capture_zone
    analyser.refine = new.detection.refine_landmarks
    analyser.enrol_views = new.detection.enrol_views  # the next gallery built
    machine.params = decision_params(new)
    link.set_limits(intake_limits(new), telemetry_expiry_s(new))
    if new.logging != old.logging:
        setup_logging(new.logging)
