"""Scenarios the tests share."""

from __future__ import annotations

from typing import Any

# A small looping flight: two enrolled travellers walk up, then an impostor, again and again. 320x240
# at 10 fps keeps two cores well ahead of the camera, so decisions keep coming at the scenario's pace.
LOOPING_FLIGHT: dict[str, Any] = {
    "name": "looping-flight",
    "seed": 5,
    "camera": {"width": 320, "height": 240, "fps": 10},
    "conditions": {"start_size": 0.55, "end_size": 0.9, "noise": 2},
    "walk_duration_s": 0.7,
    "gap_s": 0.4,
    "loop": True,
    "manifest": ["deepface_id00", "deepface_id01", "deepface_id06"],
    "walkups": [{"identity": "deepface_id00"}, {"identity": "deepface_id06"}, {"identity": "solvay_02"}],
}
