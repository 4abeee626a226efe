"""Landmarks at the resolution the face deserves: small images enlarged before detection, and the
traveller's landmarks re-detected on their own region (box and score kept)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from edge.core.analyse import FrameAnalyser
from edge.core.quality import QualityParams
from edge.core.refine import refine_landmarks
from edge.core.select import select_subject
from edge.core.types import Face
from edge.core.wipe import wiped


def _small_photo(faces_dir: Path, person: str, face_px: float, face_models) -> np.ndarray:  # type: ignore[no-untyped-def]
    img = cv2.imread(str(sorted((faces_dir / person).iterdir())[0]))
    face = select_subject(face_models.detector.detect(img), img.shape[1], img.shape[0])
    assert face is not None
    k = face_px / face.box[2]
    return cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)


def test_refined_landmarks_move_a_little_and_keep_the_box(face_models, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    for person in ("deepface_id01", "deepface_id02", "deepface_id05"):
        photo = _small_photo(faces_dir, person, 60.0, face_models)
        with wiped() as scratch:
            face = select_subject(face_models.detector.detect(photo, scratch), photo.shape[1], photo.shape[0])
            assert face is not None
            refined = refine_landmarks(face_models.detector, photo, face, scratch)
        assert refined.box == face.box and refined.score == face.score, person
        moved = np.linalg.norm(refined.landmarks - face.landmarks, axis=1)
        assert moved.max() > 0.0, person  # a second detection really ran on the patch
        assert moved.max() < 0.15 * face.box[2], (person, moved)  # same face, same points


def test_no_face_in_the_region_keeps_the_first_landmarks(face_models) -> None:  # type: ignore[no-untyped-def]
    grey = np.full((480, 640, 3), 128, np.uint8)
    ghost = Face((280.0, 200.0, 80.0, 80.0), np.array([[300, 220], [340, 220], [320, 240], [305, 260], [335, 260]],
                                                       np.float32), 0.9)
    assert refine_landmarks(face_models.detector, grey, ghost) is ghost


def test_the_analyser_refines_only_when_asked(face_models, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    photo = _small_photo(faces_dir, "deepface_id01", 60.0, face_models)
    got = {}
    for refine in (False, True):
        analyser = FrameAnalyser(face_models.detector, face_models.embedder, QualityParams(), refine=refine)
        with wiped() as scratch:
            a = analyser.analyse(photo, None, scratch, embed=True, photo=True)
            assert a.traveller is not None
            got[refine] = (a.traveller.landmarks.copy(), "refine" in a.timings_ms)
    assert got[True][1] and not got[False][1]
    assert not np.array_equal(got[True][0], got[False][0])


def test_images_narrower_than_the_detector_are_enlarged_only_when_asked(face_models, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    det = face_models.detector
    small = _small_photo(faces_dir, "deepface_id01", 60.0, face_models)
    wide = cv2.resize(small, None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
    assert small.shape[1] < det.params.input_width < wide.shape[1]
    before = det.params
    got = {}
    try:
        for enlarge in (False, True):
            det.params = replace(before, enlarge=enlarge)
            got[enlarge] = [select_subject(det.detect(img), img.shape[1], img.shape[0]) for img in (small, wide)]
    finally:
        det.params = before
    off, on = got[False], got[True]
    assert all(f is not None for f in off + on)
    assert not np.array_equal(off[0].landmarks, on[0].landmarks)  # the small photo was seen larger
    assert np.array_equal(off[1].landmarks, on[1].landmarks)  # a wide frame is only ever downscaled
