"""Finding the subject of a photo (a gallery photo, a probe photo), as opposed to a live frame.

A portrait may be cropped tighter than anything the detector was trained on: passport scans and
identity-document photos often show the head filling the image, with no shoulders or background.
YuNet then finds nothing, because it has never seen a face that touches the image's borders. When a
photo yields no face, it is detected once more with a black border around it (``PORTRAIT_PAD`` of
its longer side on every side), and the faces are mapped back to the photo's own coordinates.

Live frames do not get the second try: a camera frame with no face is the normal case, and the next
frame comes 66 ms later.

Measured: the three tightly cropped 92x112 portraits of one identity in ../shared/lfw (ORL_s34) that
gave no face are each found with a score of 0.91 at a pad of 0.4 (0.63-0.81 at 0.15).
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.core.detect import FaceDetector
from edge.core.select import select_subject
from edge.core.types import Face
from edge.core.wipe import Scratch

PORTRAIT_PAD = 0.4  # border on each side, as a share of the photo's longer side


def detect_padded(detector: FaceDetector, image: np.ndarray, scratch: Scratch | None = None,
                  pad_share: float = PORTRAIT_PAD) -> list[Face]:
    """Faces of ``image`` found with a black border around it, in ``image``'s coordinates."""
    h, w = image.shape[:2]
    pad = max(1, round(pad_share * max(h, w)))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    if scratch is not None:
        scratch.track(padded)
    return [Face((f.box[0] - pad, f.box[1] - pad, f.box[2], f.box[3]),
                 (f.landmarks - np.float32(pad)).astype(np.float32), f.score)
            for f in detector.detect(padded, scratch)]


def photo_faces(detector: FaceDetector, image: np.ndarray, scratch: Scratch | None = None
                ) -> tuple[Face | None, list[Face]]:
    """The photo's subject (by :func:`select_subject`) and every face found; the padded second try
    only when the first finds nothing."""
    faces = detector.detect(image, scratch)
    if not faces:
        faces = detect_padded(detector, image, scratch)
    h, w = image.shape[:2]
    return select_subject(faces, w, h), faces
