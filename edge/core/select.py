"""Picking the traveller among the faces in a frame, and the subject of a photo.

At a gate the traveller stands closest to the camera inside the capture zone; faces outside the zone
(the queue behind, people walking past) and smaller faces inside it are bystanders and are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.core.types import Face

Zone = tuple[float, float, float, float]  # normalised x0, y0, x1, y1


def in_zone(face: Face, zone: Zone, width: int, height: int) -> bool:
    cx, cy = face.centre
    x0, y0, x1, y1 = zone
    return x0 * width <= cx <= x1 * width and y0 * height <= cy <= y1 * height


def select_traveller(faces: Sequence[Face], zone: Zone, width: int, height: int, min_px: float = 0.0) -> Face | None:
    """The largest face whose centre lies in the capture zone and is at least ``min_px`` wide, or None.

    Smaller faces are people further back than the capture distance: they neither start nor hold
    a transaction.
    """
    candidates = [f for f in faces if f.box[2] >= min_px and in_zone(f, zone, width, height)]
    return max(candidates, key=lambda f: f.area, default=None)


# How strongly distance from the photo's centre counts against a face's area (InsightFace's
# ``area - 2 * offset**2`` in pixels): a passport-style photo centres its subject, while a larger
# face off to one side is someone else (a poster, a neighbour in a cropped news photo).
CENTRE_WEIGHT = 2.0


def subject_score(face: Face, width: int, height: int) -> float:
    """Box area minus ``CENTRE_WEIGHT`` times the squared distance (px) of its centre from the image's."""
    cx, cy = face.centre
    offset_sq = (cx - width / 2) ** 2 + (cy - height / 2) ** 2
    return face.area - CENTRE_WEIGHT * offset_sq


def select_subject(faces: Sequence[Face], width: int, height: int) -> Face | None:
    """The subject of a photo (gallery photo, probe photo): the face with the best :func:`subject_score`.

    Photos and live frames differ: a live frame has a capture zone and the traveller nearest the
    camera (:func:`select_traveller`); a photo has no zone, and its subject is large *and* central.
    """
    return max(faces, key=lambda f: subject_score(f, width, height), default=None)
