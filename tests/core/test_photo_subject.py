"""Photos are not live frames: a photo's subject is large and central; enrolment gives a verdict."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.core.analyse import FrameAnalyser
from edge.core.embed import FaceEmbedder
from edge.core.enrol import EnrolVerdict
from edge.core.photo import photo_faces
from edge.core.quality import QualityParams
from edge.core.select import select_subject, select_traveller
from edge.core.types import Face
from edge.core.wipe import wiped

FRONTAL = np.array([[40, 50], [72, 50], [56, 70], [42, 90], [70, 90]], np.float64)


def face_at(x: float, y: float, size: float) -> Face:
    return Face((x, y, size, size), FRONTAL / 112 * size + (x, y), 0.9)


def test_a_large_off_centre_face_is_not_the_subject() -> None:
    big_corner, centred = face_at(0, 0, 260), face_at(250, 170, 140)  # 640x480 photo, centre (320, 240)
    assert select_subject([big_corner, centred], 640, 480) is centred
    assert select_subject([centred, big_corner], 640, 480) is centred
    # A live frame keeps its rule: the largest face in the capture zone is the traveller.
    assert select_traveller([big_corner, centred], (0.0, 0.0, 1.0, 1.0), 640, 480) is big_corner
    assert select_subject([big_corner], 640, 480) is big_corner  # alone, an off-centre face is the subject
    assert select_subject([], 640, 480) is None


def _photo(path: Path, width: int) -> np.ndarray:
    img = cv2.imread(str(path))
    return cv2.resize(img, (width, round(img.shape[0] * width / img.shape[1])), interpolation=cv2.INTER_AREA)


def _template(analyser: FrameAnalyser, image: np.ndarray) -> np.ndarray:
    with wiped() as scratch:
        got = analyser.enrol(image, scratch)
        assert got.template is not None
        return got.template.copy()


def test_enrolment_takes_the_centred_subject_and_says_there_were_two(face_models, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """A gallery photo with a bigger face at the edge (someone behind the traveller, a poster) and the
    traveller in the middle: the template is the traveller's, and the verdict says several faces."""
    analyser = FrameAnalyser(face_models.detector, face_models.embedder, QualityParams())
    traveller = sorted((faces_dir / "deepface_id01").iterdir())
    other = sorted((faces_dir / "deepface_id02").iterdir())
    canvas = np.full((600, 900, 3), 128, np.uint8)
    big = _photo(other[0], 300)[:420]
    canvas[: big.shape[0], : big.shape[1]] = big  # top-left corner, larger
    small = _photo(traveller[0], 220)[:300]
    y, x = 300 - small.shape[0] // 2, 450 - small.shape[1] // 2
    canvas[y:y + small.shape[0], x:x + small.shape[1]] = small  # centred, smaller
    with wiped() as scratch:
        got = analyser.enrol(canvas, scratch)
        assert got.verdict is EnrolVerdict.SEVERAL_FACES
        assert got.template is not None
        t = got.template.copy()
    own = _template(analyser, cv2.imread(str(traveller[1])))
    theirs = _template(analyser, cv2.imread(str(other[1])))
    assert float(t @ own) > float(t @ theirs)
    assert float(t @ own) >= 0.5


def test_enrolment_verdicts(face_models, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    analyser = FrameAnalyser(face_models.detector, face_models.embedder, QualityParams())
    photo = cv2.imread(str(sorted((faces_dir / "deepface_id01").iterdir())[0]))
    with wiped() as scratch:
        assert analyser.enrol(photo, scratch).verdict is EnrolVerdict.OK
        blank = np.full((300, 300, 3), 128, np.uint8)
        none = analyser.enrol(blank, scratch)
        assert none.verdict is EnrolVerdict.NO_FACE and none.template is None
        tiny = np.full((480, 640, 3), 128, np.uint8)
        small = cv2.resize(photo, (70, round(70 * photo.shape[0] / photo.shape[1])), interpolation=cv2.INTER_AREA)
        tiny[200:200 + small.shape[0], 285:355] = small
        got = analyser.enrol(tiny, scratch)
        assert got.verdict in (EnrolVerdict.TOO_SMALL, EnrolVerdict.NO_FACE)
        dark = (photo // 8).astype(np.uint8)
        assert analyser.enrol(dark, scratch).verdict is EnrolVerdict.POOR_QUALITY


def test_flip_tta_template_is_the_mean_of_both_views_and_mirror_invariant(face_models, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    plain = FaceEmbedder(face_models.embedder_model, 128)
    flip = FaceEmbedder(face_models.embedder_model, 128, flip=True)
    photo = cv2.imread(str(sorted((faces_dir / "deepface_id01").iterdir())[0]))
    with wiped() as scratch:
        face = select_subject(face_models.detector.detect(photo, scratch), photo.shape[1], photo.shape[0])
        assert face is not None
        from edge.core.align import align

        crop = align(photo, face.landmarks, scratch)
        mirror = np.ascontiguousarray(crop[:, ::-1])
        a, b = plain.embed(crop), plain.embed(mirror)
        want = (a + b) / np.linalg.norm(a + b)
        got = flip.embed(crop)
        assert np.allclose(got, want, atol=1e-5)
        assert np.allclose(flip.embed(mirror), got, atol=1e-5)  # the mirror gives the same template
        assert not np.allclose(a, b, atol=1e-3)  # while one view alone does not
        assert abs(float(np.linalg.norm(got)) - 1.0) < 1e-5


def test_a_portrait_cropped_to_the_head_is_found_on_a_second_try(face_models, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    """A 92x112 portrait whose head touches the borders (an ORL photo in ../shared/lfw): the detector
    alone finds nothing; the padded second try finds the face, in the photo's own coordinates, and
    the template is the person's."""
    orl = faces_dir.parent / "lfw" / "ORL_s34"
    tight = cv2.imread(str(orl / "4.pgm"))
    assert tight is not None and tight.shape[:2] == (112, 92)
    with wiped() as scratch:
        assert face_models.detector.detect(tight, scratch) == []  # why the second try exists
        subject, faces = photo_faces(face_models.detector, tight, scratch)
        assert subject is not None and len(faces) == 1
        eyes = subject.landmarks[:2]
        assert ((eyes >= 0) & (eyes < (92, 112))).all()  # mapped back from the padded image
        assert eyes[0, 0] < eyes[1, 0]  # right eye (image-left) first
    analyser = FrameAnalyser(face_models.detector, face_models.embedder, QualityParams(), refine=True)
    with wiped() as scratch:
        got = analyser.enrol(tight, scratch)
        assert got.verdict is EnrolVerdict.OK and got.template is not None
        t = got.template.copy()
    same = _template(analyser, cv2.imread(str(orl / "1.pgm")))
    other = _template(analyser, cv2.imread(str(faces_dir.parent / "lfw" / "ORL_s1" / "1.pgm")))
    assert float(t @ same) >= 0.6 > float(t @ other) + 0.3
    # A probe photo goes the same way (gate-edge eval): analysed, not a failure to acquire.
    with wiped() as scratch:
        assert analyser.analyse(tight, None, scratch, photo=True).traveller is not None
        blank = np.full((112, 92, 3), 128, np.uint8)
        assert photo_faces(face_models.detector, blank, scratch) == (None, [])  # nothing twice is nothing
