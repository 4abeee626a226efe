"""Enrolment of a gallery photo: whose face it is, whether it makes a template, and how good it is.

A gallery photo is a photo, not a live frame: its subject is picked by size and closeness to the
centre (:func:`edge.core.select.select_subject`), with no capture zone. Every entry gets a verdict
for the gallery service (no biometric data in it, only a word):

- ``ok``: one clear subject of fair quality;
- ``several_faces``: enrolled from the picked subject, but another face at least half its width is in
  the photo (the service should check that it sent the right photo);
- ``too_small``: enrolled, but the face is narrower than :data:`ENROL_MIN_FACE_PX` photo pixels;
- ``poor_quality``: enrolled, but blurred, turned away, too dark or too bright by the quality gate;
- ``no_face`` / ``unreadable``: nothing enrolled; the traveller will be sent to an officer.

Only ``no_face`` and ``unreadable`` fail: any other photo still gives the best template the gate can
make, and a weak one is better than none for the traveller, while the verdict lets the service
replace it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from edge.core.quality import QualityReport
from edge.core.types import Face

# Below this face width (photo pixels) a template is unreliable even after enlarging: the detector's
# landmarks and the embedder's 112-px crop are then made of interpolated pixels. An ICAO passport
# photo's face is several hundred pixels wide.
ENROL_MIN_FACE_PX = 40.0
# Another face at least this fraction of the subject's width is a second person, not a background face.
SECOND_FACE_RATIO = 0.5


class EnrolVerdict(str, enum.Enum):
    OK = "ok"
    SEVERAL_FACES = "several_faces"
    TOO_SMALL = "too_small"
    POOR_QUALITY = "poor_quality"
    NO_FACE = "no_face"
    UNREADABLE = "unreadable"

    @property
    def enrolled(self) -> bool:
        return self not in (EnrolVerdict.NO_FACE, EnrolVerdict.UNREADABLE)


@dataclass(frozen=True)
class Enrolment:
    """The outcome for one photo: the template (tracked by the caller's scratch) unless it failed."""

    verdict: EnrolVerdict
    template: np.ndarray | None = None


def verdict_for(subject: Face, others: list[Face], quality: QualityReport) -> EnrolVerdict:
    """The verdict of a photo whose subject was found (the most serious finding first)."""
    if subject.box[2] < ENROL_MIN_FACE_PX:
        return EnrolVerdict.TOO_SMALL
    if any(f.box[2] >= SECOND_FACE_RATIO * subject.box[2] for f in others):
        return EnrolVerdict.SEVERAL_FACES
    if quality.issues:
        return EnrolVerdict.POOR_QUALITY
    return EnrolVerdict.OK
