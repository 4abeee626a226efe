"""A gallery photo's template from six views (three landmark scales, each with its mirror)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.core.align import align
from edge.core.analyse import FrameAnalyser
from edge.core.embed import FaceEmbedder
from edge.core.photo import photo_faces
from edge.core.quality import QualityParams
from edge.core.refine import refine_landmarks
from edge.core.views import VIEW_FACE_PX, enrolment_template
from edge.core.wipe import wiped


def _photo(faces_dir: Path, person: str, n: int = 0) -> np.ndarray:
    img = cv2.imread(str(sorted((faces_dir / person).iterdir())[n]))
    assert img is not None
    return img


def test_the_template_is_the_normalised_mean_of_six_unit_views(face_models, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    det = face_models.detector
    plain = FaceEmbedder(face_models.embedder_model, 128)
    photo = _photo(faces_dir, "deepface_id03")
    with wiped() as scratch:
        face, _ = photo_faces(det, photo, scratch)
        assert face is not None
        got = enrolment_template(det, plain, photo, face, scratch).copy()
        views = []
        for px in VIEW_FACE_PX:
            crop = align(photo, refine_landmarks(det, photo, face, scratch, face_px=px).landmarks, scratch)
            views += [plain.embed(crop), plain.embed(np.ascontiguousarray(crop[:, ::-1]))]
    want = np.sum(views, axis=0)
    want /= np.linalg.norm(want)
    assert np.allclose(got, want, atol=1e-5)
    assert abs(float(np.linalg.norm(got)) - 1.0) < 1e-5
    spread = [float(v @ views[0]) for v in views[1:]]
    assert min(spread) < 0.995  # the views really differ (scales and mirrors), else averaging did nothing
    # With the embedder's own flip TTA, each crop already holds its mirror: the same template.
    flip = FaceEmbedder(face_models.embedder_model, 128, flip=True)
    with wiped() as scratch:
        again = enrolment_template(det, flip, photo, face, scratch)
        assert float(again @ got) > 0.999


def test_the_analyser_enrols_with_views_only_when_asked_and_frames_are_unchanged(face_models, faces_dir: Path  # type: ignore[no-untyped-def]
                                                                                 ) -> None:
    one = FrameAnalyser(face_models.detector, face_models.embedder, QualityParams(), refine=True)
    six = FrameAnalyser(face_models.detector, face_models.embedder, QualityParams(), refine=True, enrol_views=True)
    gallery, probe = _photo(faces_dir, "deepface_id01", 0), _photo(faces_dir, "deepface_id01", 1)
    with wiped() as scratch:
        a, b = one.enrol(gallery, scratch), six.enrol(gallery, scratch)
        assert a.verdict == b.verdict and a.template is not None and b.template is not None
        single, multi = a.template.copy(), b.template.copy()
        live_one = one.analyse(probe, None, scratch, photo=True)
        live_six = six.analyse(probe, None, scratch, photo=True)
        assert live_one.traveller is not None and live_six.traveller is not None
        assert np.array_equal(live_one.traveller.landmarks, live_six.traveller.landmarks)
    assert not np.allclose(single, multi, atol=1e-3)
    assert float(single @ multi) > 0.9  # the same face, seen six ways


def test_the_tools_take_the_option_from_the_command_line(face_models) -> None:  # type: ignore[no-untyped-def]
    import argparse

    from edge.evaluation.setup import make_analyser

    assert not make_analyser(face_models).enrol_views  # the config's default: off
    assert make_analyser(face_models, args=argparse.Namespace(enrol_views="on")).enrol_views
    assert not make_analyser(face_models, args=argparse.Namespace(enrol_views="off")).enrol_views
