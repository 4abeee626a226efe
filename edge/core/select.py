"""Picking the traveller among the faces in a frame.

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
