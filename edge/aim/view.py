"""What the aiming view says about one frame: every detected face, its width and its quality verdict.

The gate's own rules, applied to every face rather than to the traveller only: the capture zone and
the traveller choice of edge/core/select.py, and the quality gate of edge/core/quality.py with the
config's thresholds. No gallery, no embedding, no search: detection and quality only. The aligned
crops are zeroed with the frame (the caller's :class:`Scratch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.core.align import align
from edge.core.detect import FaceDetector
from edge.core.quality import QualityIssue, QualityParams, assess
from edge.core.select import Zone, in_zone, select_traveller
from edge.core.wipe import Scratch

# What an installer reads next to each box: what to change, in plain words.
ADVICE = {
    QualityIssue.TOO_SMALL: "too small",
    QualityIssue.BLURRED: "blurred",
    QualityIssue.POSE: "turned away",
    QualityIssue.TOO_DARK: "too dark",
    QualityIssue.TOO_BRIGHT: "too bright",
}
OUTSIDE_ZONE = "outside the capture zone"


@dataclass(frozen=True)
class FaceVerdict:
    box: tuple[int, int, int, int]  # x, y, w, h in frame pixels
    score: float  # the detector's confidence
    in_zone: bool
    traveller: bool  # the face the gate would take as the traveller in this frame
    issues: tuple[str, ...]  # QualityIssue values; empty when the face passes the gate's quality rules
    sharpness: float
    brightness: float

    @property
    def width_px(self) -> int:
        return self.box[2]

    @property
    def ok(self) -> bool:
        return self.in_zone and not self.issues

    def verdict(self, quality: QualityParams) -> str:
        """``ok``, or what is wrong, e.g. ``too small (41 px < 60 px), blurred``."""
        words = [OUTSIDE_ZONE] if not self.in_zone else []
        for issue in self.issues:
            text = ADVICE[QualityIssue(issue)]
            if issue == QualityIssue.TOO_SMALL.value:
                text += f" ({self.width_px} px < {quality.min_face_px} px)"
            words.append(text)
        return ", ".join(words) or "ok"

    def as_json(self, quality: QualityParams) -> dict[str, Any]:
        return {"box": list(self.box), "width_px": self.width_px, "score": round(self.score, 3),
                "in_zone": self.in_zone, "traveller": self.traveller, "issues": list(self.issues),
                "verdict": self.verdict(quality), "ok": self.ok, "sharpness": round(self.sharpness, 1),
                "brightness": round(self.brightness, 1)}


class AimAnalyser:
    """Detection and the quality verdict for every face of a frame, with the gate's parameters."""

    def __init__(self, detector: FaceDetector, quality: QualityParams, zone: Zone) -> None:
        self.detector, self.quality, self.zone = detector, quality, zone

    def zone_px(self, width: int, height: int) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = self.zone
        return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)

    def analyse(self, frame: np.ndarray, scratch: Scratch) -> list[FaceVerdict]:
        h, w = frame.shape[:2]
        faces = self.detector.detect(frame, scratch)
        traveller = select_traveller(faces, self.zone, w, h, self.quality.min_face_px)
        out = []
        for face in sorted(faces, key=lambda f: -f.area):
            crop = align(frame, face.landmarks, scratch)
            report = assess(face, crop, self.quality)
            x, y, bw, bh = (round(v) for v in face.box)
            out.append(FaceVerdict((x, y, bw, bh), face.score, in_zone(face, self.zone, w, h), face is traveller,
                                   tuple(i.value for i in report.issues), report.sharpness, report.brightness))
        return out
