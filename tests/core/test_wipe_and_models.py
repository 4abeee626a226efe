"""Buffers are zero after a frame, whatever the outcome; model files are verified at every load."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config.schema import ModelsConfig
from edge.core.analyse import FrameAnalyser
from edge.core.embed import FaceEmbedder
from edge.core.quality import QualityParams
from edge.core.wipe import wiped
from edge.index import build_index
from edge.inference.manifest import ModelError, load_manifest, verify_all
from edge.inference.onnx_runtime import load_model


def _frame_with_face(faces_dir: Path) -> np.ndarray:
    photo = cv2.imread(str(sorted((faces_dir / "deepface_id01").iterdir())[0]))
    frame = np.full((720, 1280, 3), 90, np.uint8)
    face = cv2.resize(photo, (300, round(photo.shape[0] * 300 / photo.shape[1])))[:500]
    frame[100 : 100 + face.shape[0], 490:790] = face
    return frame


def test_all_buffers_zero_after_a_frame(face_models, faces_dir) -> None:  # type: ignore[no-untyped-def]
    analyser = FrameAnalyser(face_models.detector, face_models.embedder, QualityParams())
    frame = _frame_with_face(faces_dir)
    index = build_index(["P-1", "P-2"], np.eye(2, 128, dtype=np.float32))
    with wiped() as scratch:
        scratch.track(frame)
        result = analyser.analyse(frame, index, scratch)
        tracked = scratch.buffers
    assert result.usable and result.candidates, "the test frame must go all the way to search"
    assert len(tracked) >= 5  # frame, resized frame, detector blob, crop, embedder blob, embedding
    assert all(not b.any() for b in tracked)
    assert not frame.any()


def test_buffers_zero_when_the_embedder_fails(face_models, faces_dir) -> None:  # type: ignore[no-untyped-def]
    seen: list[np.ndarray] = []

    def broken(blob: np.ndarray) -> list[np.ndarray]:
        seen.append(blob)
        raise RuntimeError("inference failed")

    analyser = FrameAnalyser(face_models.detector, FaceEmbedder(broken), QualityParams())
    frame = _frame_with_face(faces_dir)
    index = build_index(["P-1"], np.eye(1, 128, dtype=np.float32))
    with pytest.raises(RuntimeError), wiped() as scratch:
        scratch.track(frame)
        analyser.analyse(frame, index, scratch)
    assert seen and not seen[0].any()  # the embedder's input blob (the face) was zeroed
    assert all(not b.any() for b in scratch.buffers) and not frame.any()


def test_missing_model_names_file_and_hash(tmp_path: Path) -> None:
    spec = load_manifest().get("yunet_2023mar")
    with pytest.raises(ModelError) as err:
        load_model(spec, ModelsConfig(cache_dir=tmp_path))
    assert str(tmp_path / spec.file) in str(err.value) and spec.sha256 in str(err.value)
    assert "gate-edge models fetch" in str(err.value)


def test_altered_model_names_expected_and_found_hash(tmp_path: Path, model_cache: Path) -> None:
    spec = load_manifest().get("yunet_2023mar")
    data = bytearray((model_cache / spec.file).read_bytes())
    data[1000] ^= 0xFF
    (tmp_path / spec.file).write_bytes(bytes(data))
    with pytest.raises(ModelError) as err:
        load_model(spec, ModelsConfig(cache_dir=tmp_path))
    msg = str(err.value)
    assert spec.sha256 in msg and "found" in msg and spec.file in msg


def test_verify_all_reports_each_model(tmp_path: Path, model_cache: Path) -> None:
    shutil.copy(model_cache / "face_detection_yunet_2023mar.onnx", tmp_path)
    (tmp_path / "face_recognition_sface_2021dec.onnx").write_bytes(b"not a model")
    checks = {c.name: c for c in verify_all(tmp_path)}
    assert checks["yunet_2023mar"].ok and not checks["sface_2021dec"].ok


@pytest.mark.filterwarnings("ignore:Specified provider:UserWarning")  # onnxruntime's own, expected here
def test_unavailable_provider_is_refused(model_cache: Path) -> None:
    spec = load_manifest().get("yunet_2023mar")
    cfg = ModelsConfig(cache_dir=model_cache, providers=["CUDAExecutionProvider"])
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelError, match="not active"):
        load_model(spec, cfg)
    # Allowed to fall back when the operator says so.
    model = load_model(spec, cfg.model_copy(update={"require_providers": False}))
    assert model.providers == ["CPUExecutionProvider"]


def test_malformed_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="malformed"):
        load_manifest(bad)
    with pytest.raises(ModelError, match="not found"):
        load_manifest(tmp_path / "nope.json")
