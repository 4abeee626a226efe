"""Shared set-up for the offline tools (eval, calibrate, bench): models, analyser and parameters from
the config schema's defaults, so the tools measure exactly what the daemon runs by default."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.config.schema import DecisionConfig, DetectionConfig, ModelsConfig, QualityConfig
from edge.core.analyse import FrameAnalyser
from edge.core.decide import DecisionParams
from edge.core.detect import DetectorParams
from edge.core.quality import QualityParams
from edge.inference.onnx_runtime import FaceModels, load_face_models


def detector_params(cfg: DetectionConfig | None = None) -> DetectorParams:
    cfg = cfg or DetectionConfig()
    return DetectorParams(cfg.input_width, cfg.score_threshold, cfg.nms_threshold, cfg.top_k)


def quality_params(cfg: QualityConfig | None = None) -> QualityParams:
    cfg = cfg or QualityConfig()
    return QualityParams(**cfg.model_dump())


def decision_params(cfg: DecisionConfig | None = None) -> DecisionParams:
    cfg = cfg or DecisionConfig()
    return DecisionParams(**cfg.model_dump())


# A source checkout's model cache (`make models`); the manifest itself ships in edge/inference.
CHECKOUT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "cache"


def default_models_dir() -> Path:
    """The config's cache dir if it exists from here, else the checkout's models/cache."""
    configured = ModelsConfig().cache_dir
    return configured if configured.is_dir() else CHECKOUT_MODELS_DIR


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="verified model cache (default: models/cache)")
    parser.add_argument("--threads", type=int, default=ModelsConfig().threads,
                        help="onnxruntime intra-op threads per model (default: the config's)")


def load_models(args: argparse.Namespace, frame_size: tuple[int, int] = (1280, 720)) -> FaceModels:
    """Load and verify the models named by the default config (raises ModelError with a clear text)."""
    cfg = ModelsConfig(cache_dir=args.models_dir or default_models_dir(), threads=args.threads)
    return load_face_models(cfg, detector_params(), frame_size=frame_size)


def make_analyser(models: FaceModels, quality: QualityParams | None = None) -> FrameAnalyser:
    zone = DetectionConfig().capture_zone
    return FrameAnalyser(models.detector, models.embedder, quality or quality_params(), zone)
