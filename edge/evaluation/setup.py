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


def detector_params(cfg: DetectionConfig | None = None, enlarge: bool | None = None) -> DetectorParams:
    cfg = cfg or DetectionConfig()
    return DetectorParams(cfg.input_width, cfg.score_threshold, cfg.nms_threshold, cfg.top_k,
                          cfg.enlarge if enlarge is None else enlarge)


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
    on_off = {"choices": ("on", "off"), "default": None}
    parser.add_argument("--enlarge", **on_off, help="enlarge images narrower than the detector's width "  # type: ignore[arg-type]
                        f"(default: the config's, {'on' if DetectionConfig().enlarge else 'off'})")
    parser.add_argument("--refine", **on_off, help="re-detect landmarks on the face's region "  # type: ignore[arg-type]
                        f"(default: the config's, {'on' if DetectionConfig().refine_landmarks else 'off'})")
    parser.add_argument("--enrol-views", **on_off, help="gallery templates from six views of each photo "  # type: ignore[arg-type]
                        f"(default: the config's, {'on' if DetectionConfig().enrol_views else 'off'})")
    parser.add_argument("--flip-tta", **on_off, help="average the crop's and its mirror's embeddings "  # type: ignore[arg-type]
                        f"(default: the config's, {'on' if ModelsConfig().flip_tta else 'off'})")
    parser.add_argument("--precision", choices=("fp32", "int8"), default=None,
                        help=f"embedder precision (default: the config's, {ModelsConfig().embedder_precision})")


def _flag(value: str | None, default: bool) -> bool:
    return default if value is None else value == "on"


def models_config(args: argparse.Namespace) -> ModelsConfig:
    """The default models section with the command line's model options applied."""
    base = ModelsConfig()
    return ModelsConfig(cache_dir=getattr(args, "models_dir", None) or default_models_dir(),
                        threads=getattr(args, "threads", base.threads),
                        flip_tta=_flag(getattr(args, "flip_tta", None), base.flip_tta),
                        embedder_precision=getattr(args, "precision", None) or base.embedder_precision)


def load_models(args: argparse.Namespace, frame_size: tuple[int, int] = (1280, 720)) -> FaceModels:
    """Load and verify the models named by the default config (raises ModelError with a clear text)."""
    enlarge = _flag(getattr(args, "enlarge", None), DetectionConfig().enlarge)
    return load_face_models(models_config(args), detector_params(enlarge=enlarge), frame_size=frame_size)


def make_analyser(models: FaceModels, quality: QualityParams | None = None,
                  args: argparse.Namespace | None = None) -> FrameAnalyser:
    """The analyser the daemon builds from the default config (``args``: the command line's options)."""
    cfg = DetectionConfig()
    refine = _flag(getattr(args, "refine", None), cfg.refine_landmarks)
    views = _flag(getattr(args, "enrol_views", None), cfg.enrol_views)
    return FrameAnalyser(models.detector, models.embedder, quality or quality_params(), cfg.capture_zone,
                         refine=refine, enrol_views=views)
