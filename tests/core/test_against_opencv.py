"""Our detector decode, alignment and embedding against OpenCV's independent implementation."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.core.align import align
from edge.core.types import faces_to_array


def _photos(faces_dir: Path) -> list[Path]:
    return sorted(p for p in faces_dir.glob("*/*") if p.suffix.lower() in {".jpg", ".png"})[::4]


def _fit(img: np.ndarray, width: int = 640) -> np.ndarray:
    h, w = img.shape[:2]
    return img if w <= width else cv2.resize(img, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)


def test_detector_matches_opencv_boxes_and_landmarks(face_models, faces_dir, model_cache) -> None:  # type: ignore[no-untyped-def]
    compared = 0
    for path in _photos(faces_dir):
        img = _fit(cv2.imread(str(path)))
        h, w = img.shape[:2]
        ref_det = cv2.FaceDetectorYN.create(str(model_cache / "face_detection_yunet_2023mar.onnx"), "", (w, h),
                                            0.6, 0.3, 50)
        _, ref = ref_det.detect(img)
        ours = faces_to_array(face_models.detector.detect_at_input_size(img))
        ref = np.zeros((0, 15), np.float32) if ref is None else ref
        assert ours.shape == ref.shape, path.name
        # OpenCV orders by score after NMS, as we do.
        assert np.abs(ours[:, :14] - ref[:, :14]).max(initial=0) < 1.0, path.name
        assert np.abs(ours[:, 14] - ref[:, 14]).max(initial=0) < 1e-3, path.name
        compared += len(ours)
    assert compared >= 10


def test_downscaled_detection_returns_frame_coordinates(face_models, faces_dir) -> None:  # type: ignore[no-untyped-def]
    img = cv2.imread(str(sorted((faces_dir / "deepface_id00").iterdir())[0]))
    h, w = img.shape[:2]
    params = face_models.detector.params
    face_models.detector.params = type(params)(input_width=640)
    try:
        mapped = face_models.detector.detect(img)
    finally:
        face_models.detector.params = params
    small = cv2.resize(img, (640, round(h * 640 / w)), interpolation=cv2.INTER_AREA)
    direct = face_models.detector.detect_at_input_size(small)
    assert len(mapped) == len(direct) == 1
    sx, sy = w / small.shape[1], h / small.shape[0]
    expected = np.array(direct[0].box) * (sx, sy, sx, sy)
    assert np.abs(np.array(mapped[0].box) - expected).max() < 1e-3
    assert np.abs(mapped[0].landmarks - direct[0].landmarks * (sx, sy)).max() < 1e-3
    # Every landmark of the mapped face lies inside the frame and inside its box (frame coordinates).
    x, y, bw, bh = mapped[0].box
    assert ((mapped[0].landmarks >= (x, y)) & (mapped[0].landmarks <= (x + bw, y + bh))).all()


def test_alignment_and_embedding_match_opencv(face_models, faces_dir, model_cache) -> None:  # type: ignore[no-untyped-def]
    rec = cv2.FaceRecognizerSF.create(str(model_cache / "face_recognition_sface_2021dec.onnx"), "")
    checked = 0
    for path in _photos(faces_dir):
        img = _fit(cv2.imread(str(path)))
        faces = face_models.detector.detect_at_input_size(img)
        if not faces:
            continue
        face = faces[0]
        ours_crop = align(img, face.landmarks)
        ref_crop = rec.alignCrop(img, face.as_opencv_row()[None])
        assert np.abs(ours_crop.astype(int) - ref_crop.astype(int)).max() <= 4
        ours = face_models.embedder.embed(ours_crop)
        ref = rec.feature(ref_crop).reshape(-1)
        ref /= np.linalg.norm(ref)
        assert float(ours @ ref) >= 0.999, path.name
        assert abs(float(np.linalg.norm(ours)) - 1.0) < 1e-5
        checked += 1
    assert checked >= 8


@pytest.mark.parametrize("size", [(320, 180), (640, 360), (1280, 720), (100, 100)])
def test_detector_runs_at_any_size(face_models, size) -> None:  # type: ignore[no-untyped-def]
    frame = np.full((size[1], size[0], 3), 127, np.uint8)
    assert face_models.detector.detect_at_input_size(frame) == []
