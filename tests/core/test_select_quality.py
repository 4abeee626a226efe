"""Traveller selection and the quality gate."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge.core.quality import QualityIssue, QualityParams, assess, pose
from edge.core.select import select_traveller
from edge.core.types import Face

FRONTAL = np.array([[40, 50], [72, 50], [56, 70], [42, 90], [70, 90]], np.float64)


def face_at(x: float, y: float, size: float) -> Face:
    lm = FRONTAL / 112 * size + (x, y)
    return Face((x, y, size, size), lm, 0.9)


def test_largest_face_in_zone_is_the_traveller() -> None:
    near, queue = face_at(500, 200, 300), face_at(900, 100, 120)
    outside = face_at(0, 0, 400)  # bigger, but centred outside the zone
    zone = (0.25, 0.0, 0.75, 1.0)
    assert select_traveller([queue, near, outside], zone, 1280, 720) is near
    assert select_traveller([outside], zone, 1280, 720) is None
    assert select_traveller([], zone, 1280, 720) is None


def test_pose_frontal_and_turned() -> None:
    yaw, roll = pose(FRONTAL)
    assert yaw < 0.05 and abs(roll) < 1
    turned = FRONTAL.copy()
    turned[2, 0] += 20  # nose far to one side: head turned
    assert pose(turned)[0] > 0.45
    angle = np.radians(40)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    assert abs(pose(FRONTAL @ rot.T)[1] - 40) < 1


@given(st.floats(-1000, 1000), st.floats(-1000, 1000), st.floats(1, 500))
def test_pose_is_translation_and_scale_invariant(dx: float, dy: float, s: float) -> None:
    a = pose(FRONTAL)
    b = pose(FRONTAL * s / 56 + (dx, dy))
    assert abs(a[0] - b[0]) < 1e-6 and abs(a[1] - b[1]) < 1e-6


def _textured(brightness: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(brightness, 30, (112, 112, 3)), 0, 255).astype(np.uint8)
    return img


def test_quality_issues() -> None:
    p = QualityParams()
    good = assess(face_at(0, 0, 200), _textured(128), p)
    assert good.ok, good
    assert QualityIssue.TOO_SMALL in assess(face_at(0, 0, 20), _textured(128), p).issues
    blurred = cv2.GaussianBlur(_textured(128), (0, 0), 6)
    assert QualityIssue.BLURRED in assess(face_at(0, 0, 200), blurred, p).issues
    assert QualityIssue.TOO_DARK in assess(face_at(0, 0, 200), _textured(10), p).issues
    assert QualityIssue.TOO_BRIGHT in assess(face_at(0, 0, 200), _textured(250), p).issues
