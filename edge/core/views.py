"""A gallery photo's template from several views of it: the frame path is not slowed, the gallery is.

A live frame gets one embedding (its budget is milliseconds, and the decision fuses several frames).
A gallery photo is enrolled once per flight, off the frame loop, so it can afford more: with
``detection.enrol_views`` its template is the normalised mean of the unit embeddings of six views, the
face aligned from landmarks refined with the face :data:`VIEW_FACE_PX` wide (landmark error differs
with scale), each with its mirror image.

Measured on ../shared/lfw, flights of 420 enrolled, 420 impostors, 3 probes per identity
(`gate-edge eval --faces ../shared/lfw --gallery-size 420 --impostors 420 --probes-per-identity 3
--seeds 1,2,3,4,5,6,7,8,9 --enrol-views off|on`), FNIR at each flight's own FPIR-0.003 threshold:

    seed      1     2     3     4     5     6     7      8     9     rank-1 mean
    1 view    3.66  2.45  7.80  5.13  4.21  2.69  16.22  4.78  3.29  99.00%
    6 views   3.54  2.45  8.05  3.91  3.61  2.69  20.70  3.71  3.17  99.20%

Better or equal on every flight whose most similar "impostors" are strangers; worse on seeds 3 and 7,
whose threshold is set by an "impostor" who is an enrolled traveller under another name (John and Jon
Gruden; Mireya Moscoso and Mireya Elisa Moscoso Rodriguez): a better template matches that same person
better. It also raises a look-alike's score: seed 3's Mary Lou Markakis against the enrolled Sheila
Wellstone went from 0.492 to 0.536. The gate runs one default threshold, which must hold FPIR 0.003 on
every flight: with six views that is 0.52 instead of 0.49, and the walk-ups' per-transaction FNIR there
(template fusion, seeds 1-3: 5.0, 5.5, 5.5%) is worse than one view's at 0.49 (4.1, 4.5, 4.8%). So the
option is off by default; it is for a gallery service that sets its own threshold per flight.
Cost: two more landmark detections and five more embedder runs per gallery photo.
"""

from __future__ import annotations

import numpy as np

from edge.core.align import align
from edge.core.detect import FaceDetector
from edge.core.embed import FaceEmbedder, l2_normalise
from edge.core.refine import refine_landmarks
from edge.core.types import Face
from edge.core.wipe import Scratch

VIEW_FACE_PX = (160.0, 192.0, 224.0)  # face widths for the landmark refinement of each view


def enrolment_template(detector: FaceDetector, embedder: FaceEmbedder, image: np.ndarray, face: Face,
                       scratch: Scratch) -> np.ndarray:
    """The unit template of ``face`` in ``image`` from :data:`VIEW_FACE_PX` x (crop, mirror) views.

    With the embedder's own flip TTA on, ``embed`` already averages each crop with its mirror. Every
    buffer, the running sum included, is tracked by ``scratch``.
    """
    total = scratch.track(np.zeros(embedder.dim, np.float64))
    for px in VIEW_FACE_PX:
        crop = align(image, refine_landmarks(detector, image, face, scratch, face_px=px).landmarks, scratch)
        views = [crop] if embedder.flip else [crop, scratch.track(np.ascontiguousarray(crop[:, ::-1]))]
        for view in views:
            total += embedder.embed(view, scratch)  # unit length: each view weighs the same
    return scratch.track(l2_normalise(total))
