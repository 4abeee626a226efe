"""Buffers are zero after a frame, whatever the outcome; model files are verified at every load."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.config.schema import ModelsConfig
from edge.core.analyse import FrameAnalyser
from edge.core.embed import FaceEmbedder
from edge.core.quality import QualityParams
from edge.core.wipe import wiped
from edge.index import build_index
from edge.inference import onnx_runtime
from edge.inference.manifest import ModelError, derived_stamp_path, load_manifest, sha256_file, verify_all
from edge.inference.onnx_runtime import available_providers, load_model


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
    if "CUDAExecutionProvider" in available_providers():
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


# --------------------------------------------------------------------------- derived runtime copies
def _cache_with_originals(tmp_path: Path, model_cache: Path) -> Path:
    cache = tmp_path / "cache"
    cache.mkdir()
    for original in model_cache.glob("*.onnx"):
        (cache / original.name).symlink_to(original)  # verified by hash like a copy; nothing large copied
    return cache


def test_a_tampered_runtime_copy_is_never_opened(
    tmp_path: Path, model_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = load_manifest().get("yunet_2023mar")
    cache = _cache_with_originals(tmp_path, model_cache)
    cfg = ModelsConfig(cache_dir=cache)
    load_model(spec, cfg)
    (copy,) = (cache / "derived").glob("*.onnx")
    stamp = json.loads(derived_stamp_path(copy).read_text())
    good = sha256_file(copy)
    assert stamp["sha256"] == good and stamp["source_sha256"] == spec.sha256 and stamp["role"] == "detector"
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the weights: onnxruntime would load it without complaint
    copy.write_bytes(bytes(data))
    tampered = sha256_file(copy)
    caplog.set_level(logging.WARNING, "edge.inference.onnx_runtime")
    model = load_model(spec, cfg)
    (record,) = caplog.records
    message = record.getMessage()
    assert str(copy) in message and good in message and tampered in message and "altered or corrupt" in message
    assert sha256_file(copy) == good  # derived again from the verified original before it was opened
    assert model.providers == ["CPUExecutionProvider"]


def test_a_copy_with_an_older_stamp_or_none_is_derived_again(tmp_path: Path, model_cache: Path) -> None:
    spec = load_manifest().get("yunet_2023mar")
    cache = _cache_with_originals(tmp_path, model_cache)
    load_model(spec, ModelsConfig(cache_dir=cache))
    (copy,) = (cache / "derived").glob("*.onnx")
    copy.write_bytes(b"whatever")
    derived_stamp_path(copy).write_text(sha256_file(copy))  # the bare hash an older version wrote
    load_model(spec, ModelsConfig(cache_dir=cache))
    assert copy.read_bytes() != b"whatever"
    assert json.loads(derived_stamp_path(copy).read_text())["sha256"] == sha256_file(copy)
    derived_stamp_path(copy).unlink()
    load_model(spec, ModelsConfig(cache_dir=cache))
    assert json.loads(derived_stamp_path(copy).read_text())["sha256"] == sha256_file(copy)


def test_a_copy_that_changes_as_it_is_derived_is_refused(
    tmp_path: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_manifest().get("yunet_2023mar")
    cache = _cache_with_originals(tmp_path, model_cache)
    real_run = subprocess.run

    def run_then_alter(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        proc = real_run(cmd, **kw)
        dest = Path(cmd[-1])
        dest.write_bytes(dest.read_bytes() + b"\0")  # someone else writing into the cache meanwhile
        return proc

    monkeypatch.setattr(onnx_runtime.subprocess, "run", run_then_alter)
    with pytest.raises(ModelError, match="differs from what was just derived"):
        load_model(spec, ModelsConfig(cache_dir=cache))


# --------------------------------------------------------------------------- onnxruntime telemetry
_LOAD = """
import sys
from pathlib import Path
from edge.config.schema import ModelsConfig
from edge.inference.onnx_runtime import load_face_models
load_face_models(ModelsConfig(cache_dir=Path(sys.argv[1])), warm_up=False)
"""


def test_loading_the_models_leaves_nothing_in_home(tmp_path: Path, model_cache: Path) -> None:
    cache = _cache_with_originals(tmp_path, model_cache)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORT_", "XDG_"))}

    def files_left(script: str, *args: str) -> list[Path]:
        home = tmp_path / f"home-{len(list(tmp_path.glob('home-*')))}"
        home.mkdir()
        subprocess.run([sys.executable, "-c", script, *args], env={**env, "HOME": str(home)}, check=True,
                       capture_output=True, timeout=120)
        return sorted(home.rglob("*"))

    # Bare onnxruntime, as installed, writes its telemetry files: the check below can see them.
    if not files_left("import onnxruntime"):
        pytest.skip("this onnxruntime build writes no telemetry files")
    assert files_left(_LOAD, str(cache)) == []
