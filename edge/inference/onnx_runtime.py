"""onnxruntime sessions for the face models: the only module that imports onnxruntime.

Sessions are opened from the derived copies of the verified model files (see
:mod:`edge.inference.derive` for what is patched and why it happens in a separate process).
onnxruntime's telemetry is off (the package's ``__init__`` sets ``ORT_DISABLE_TELEMETRY`` before the
import below; see there).
"""

from __future__ import annotations

import json
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
from edge.inference.manifest import (
    DERIVED_STAMP_FORMAT,
    Manifest,
    ModelError,
    ModelSpec,
    derived_stamp_path,
    load_manifest,
    sha256_file,
    verify,
)

log = logging.getLogger(__name__)

# Also the events the API can still suppress, in case onnxruntime was imported before this package.
ort.disable_telemetry_events()


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


def _recorded_hash(stamp: Path, spec: ModelSpec, role: str | None = None) -> str | None:
    """The derived copy's sha256 recorded when it was made from this very original, or None."""
    try:
        doc = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent, torn, or the bare hash an older version wrote: derive again
    if not isinstance(doc, dict) or doc.get("format") != DERIVED_STAMP_FORMAT:
        return None
    if doc.get("source_sha256") != spec.sha256 or doc.get("role") != (role or spec.role):
        return None
    digest = doc.get("sha256")
    return digest if isinstance(digest, str) else None


def _derive(spec: ModelSpec, source: Path, dest: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "edge.inference.derive", spec.role, str(source), str(dest)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ModelError(f"cannot prepare {source} for onnxruntime: {proc.stderr.strip()[-500:]}")
    try:
        made = json.loads(proc.stdout.strip().splitlines()[-1])
        made_from, digest = str(made["source_sha256"]), str(made["sha256"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise ModelError(f"cannot prepare {source} for onnxruntime: the deriver gave no stamp") from None
    if made_from != spec.sha256:  # the original changed between its check and the derivation
        raise ModelError(f"model file {source} changed while its runtime copy was made: expected sha256 "
                         f"{spec.sha256}, the deriver read {made_from}; run `gate-edge models fetch`")
    found = sha256_file(dest)
    if found != digest:
        raise ModelError(f"runtime copy {dest} differs from what was just derived: expected sha256 {digest}, "
                         f"found {found}; something else writes to {dest.parent}")


def derived_model(spec: ModelSpec, source: Path, cache_dir: Path) -> Path:
    """The runtime copy of a verified model, derived once (in a child process) and verified at every load.

    It is named after the original's sha256, so a new model never meets an old copy. Its own sha256 is
    recorded beside it when it is made (a stamp that also names the original's hash and the role), and
    re-computed at every load: a copy that no longer matches (tampering, corruption, a torn write) is
    never opened; it is reported and derived again from the verified original.
    """
    dest = cache_dir / "derived" / f"{source.stem}.{spec.sha256[:16]}.onnx"
    recorded = _recorded_hash(derived_stamp_path(dest), spec)
    if recorded is not None and dest.is_file():
        found = sha256_file(dest)
        if found == recorded:
            return dest
        log.warning("runtime copy %s of %s is altered or corrupt: expected sha256 %s (recorded when it was "
                    "derived), found %s; deriving it again from the verified original", dest, spec.name,
                    recorded, found)
    _derive(spec, source, dest)
    return dest


def available_providers() -> list[str]:
    """The execution providers this onnxruntime offers (whether a session gets them is another matter)."""
    return list(ort.get_available_providers())


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


INT8_ROLE = "embedder-int8"  # the stamp's role of a quantised embedder (edge.inference.quantise)


def int8_path(spec: ModelSpec, cache_dir: Path) -> Path:
    """Where an embedder's int8 copy lives: named after the original's hash, like derived copies."""
    return cache_dir / "derived" / f"{Path(spec.file).stem}.{spec.sha256[:16]}.int8.onnx"


def int8_model(spec: ModelSpec, cache_dir: Path) -> Path:
    """The verified int8 copy of an embedder, made by `gate-edge models quantise`; ModelError if absent
    or if it no longer matches the hash recorded when it was made (it is never re-made silently:
    quantisation needs calibration photos)."""
    dest = int8_path(spec, cache_dir)
    recorded = _recorded_hash(derived_stamp_path(dest), spec, INT8_ROLE)
    if recorded is None or not dest.is_file():
        raise ModelError(f"no int8 copy of {spec.name} in {dest.parent}: run `gate-edge models quantise` "
                         "(it needs the 'quantise' extra), or set models.embedder_precision to fp32")
    found = sha256_file(dest)
    if found != recorded:
        raise ModelError(f"int8 copy {dest} is altered or corrupt: expected sha256 {recorded} (recorded when "
                         f"it was made), found {found}; run `gate-edge models quantise` again")
    return dest


def load_model(spec: ModelSpec, cfg: ModelsConfig, cache_dir: Path | None = None, int8: bool = False
               ) -> OnnxModel:
    """Verify, derive the runtime copy and open one model; checks the requested providers are really active.

    ``int8``: open the embedder's quantised copy instead (see :func:`int8_model`).
    """
    cache_dir = Path(cache_dir or cfg.cache_dir)
    path = verify(spec, cache_dir)
    runtime_copy = int8_model(spec, cache_dir) if int8 else derived_model(spec, path, cache_dir)
    try:
        session = ort.InferenceSession(str(runtime_copy), sess_options=session_options(cfg.threads),
                                       providers=_providers(cfg, cache_dir))
    except Exception as exc:
        raise ModelError(f"onnxruntime cannot load {path}: {exc}") from None
    active = session.get_providers()
    missing = [p for p in cfg.providers if p not in active]
    if missing:
        msg = (f"{spec.name}: requested execution providers {missing} are not active "
               f"(active: {active}; available in this onnxruntime: {available_providers()})")
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
    emb = load_model(emb_spec, cfg, int8=cfg.embedder_precision == "int8")
    models = FaceModels(det, emb, FaceDetector(det, det.output_names, detector_params),
                        FaceEmbedder(emb, emb_spec.embedding_dim or 128, flip=cfg.flip_tta))
    if warm_up:
        # First runs allocate arenas and pick kernels: pay that before READY, not on a traveller.
        w, h = frame_size
        frame = np.zeros((h, w, 3), np.uint8)
        for _ in range(2):
            models.detector.detect(frame)
            models.embedder.embed(np.zeros((112, 112, 3), np.uint8))
    return models
