"""onnxruntime sessions for the face models: the only module that imports onnxruntime.

Sessions are opened from the derived copies of the verified model files (see
:mod:`edge.inference.derive` for what is patched and why it happens in a separate process).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge.config.schema import ModelsConfig
from edge.core.detect import DetectorParams, FaceDetector
from edge.core.embed import FaceEmbedder
from edge.inference.manifest import Manifest, ModelError, ModelSpec, load_manifest, sha256_file, verify

log = logging.getLogger(__name__)


@dataclass
class OnnxModel:
    spec: ModelSpec
    session: ort.InferenceSession
    input_name: str
    output_names: tuple[str, ...]

    def __call__(self, blob: np.ndarray) -> Sequence[np.ndarray]:
        return self.session.run(None, {self.input_name: blob})  # type: ignore[no-any-return]

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())


def derived_model(spec: ModelSpec, source: Path, cache_dir: Path) -> Path:
    """The runtime copy of a verified model, derived once (in a child process) and re-checked each load.

    It is named after the original's sha256, so a new model never meets an old copy; its own hash is
    stored beside it and a copy that no longer matches (a torn write, corruption) is derived again.
    """
    dest = cache_dir / "derived" / f"{source.stem}.{spec.sha256[:16]}.onnx"
    stamp = dest.with_suffix(".sha256")
    if dest.is_file() and stamp.is_file() and sha256_file(dest) == stamp.read_text().strip():
        return dest
    proc = subprocess.run([sys.executable, "-m", "edge.inference.derive", spec.role, str(source), str(dest)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ModelError(f"cannot prepare {source} for onnxruntime: {proc.stderr.strip()[-500:]}")
    return dest


def session_options(threads: int) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Spinning worker threads compete with the camera and MQTT threads for the CPU: on a 2-core
    # device they made tail latency ~3x worse (measured).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def _providers(cfg: ModelsConfig, cache_dir: Path) -> list[str | tuple[str, dict[str, object]]]:
    out: list[str | tuple[str, dict[str, object]]] = []
    for name in cfg.providers:
        if name == "TensorrtExecutionProvider":
            out.append((name, {"trt_fp16_enable": cfg.trt_fp16, "trt_engine_cache_enable": True,
                               "trt_engine_cache_path": str(cache_dir / "trt")}))
        else:
            out.append(name)
    if "CPUExecutionProvider" not in cfg.providers:
        out.append("CPUExecutionProvider")  # always a fallback for operators the GPU EPs lack
    return out


def load_model(spec: ModelSpec, cfg: ModelsConfig, cache_dir: Path | None = None) -> OnnxModel:
    """Verify, derive the runtime copy and open one model; checks the requested providers are really active."""
    cache_dir = Path(cache_dir or cfg.cache_dir)
    path = verify(spec, cache_dir)
    runtime_copy = derived_model(spec, path, cache_dir)
    try:
        session = ort.InferenceSession(str(runtime_copy), sess_options=session_options(cfg.threads),
                                       providers=_providers(cfg, cache_dir))
    except Exception as exc:
        raise ModelError(f"onnxruntime cannot load {path}: {exc}") from None
    active = session.get_providers()
    missing = [p for p in cfg.providers if p not in active]
    if missing:
        msg = (f"{spec.name}: requested execution providers {missing} are not active "
               f"(active: {active}; available in this onnxruntime: {ort.get_available_providers()})")
        if cfg.require_providers:
            raise ModelError(msg)
        log.warning(msg)
    inp = session.get_inputs()[0]
    return OnnxModel(spec, session, inp.name, tuple(o.name for o in session.get_outputs()))


@dataclass
class FaceModels:
    detector_model: OnnxModel
    embedder_model: OnnxModel
    detector: FaceDetector
    embedder: FaceEmbedder

    @property
    def embedder_id(self) -> str:
        return self.embedder_model.spec.name

    @property
    def embedding_dim(self) -> int:
        return self.embedder.dim

    @property
    def providers(self) -> dict[str, list[str]]:
        return {m.spec.name: m.providers for m in (self.detector_model, self.embedder_model)}


def load_face_models(cfg: ModelsConfig, detector_params: DetectorParams | None = None,
                     manifest: Manifest | None = None, warm_up: bool = True,
                     frame_size: tuple[int, int] = (1280, 720)) -> FaceModels:
    """Load, verify and warm up the detector and the embedder named in the config."""
    manifest = manifest or load_manifest(cfg.manifest)
    det = load_model(manifest.get(cfg.detector), cfg)
    emb_spec = manifest.get(cfg.embedder)
    emb = load_model(emb_spec, cfg)
    models = FaceModels(det, emb, FaceDetector(det, det.output_names, detector_params),
                        FaceEmbedder(emb, emb_spec.embedding_dim or 128))
    if warm_up:
        # First runs allocate arenas and pick kernels: pay that before READY, not on a traveller.
        w, h = frame_size
        frame = np.zeros((h, w, 3), np.uint8)
        for _ in range(2):
            models.detector.detect(frame)
            models.embedder.embed(np.zeros((112, 112, 3), np.uint8))
    return models
