"""One frame through the core: detect, pick the traveller, align, gate on quality, embed, search.

Every intermediate buffer holding a face is tracked by the caller's :class:`Scratch` and zeroed when
the frame is done, whatever happens. Only non-biometric results leave: boxes, quality figures,
candidate ids and scores, and per-stage timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge.core.align import align
from edge.core.decide import Observation
from edge.core.detect import FaceDetector
from edge.core.embed import FaceEmbedder
from edge.core.enrol import Enrolment, EnrolVerdict, verdict_for
from edge.core.photo import photo_faces
from edge.core.quality import QualityParams, QualityReport, assess
from edge.core.refine import refine_landmarks
from edge.core.search import Candidate, GalleryIndex
from edge.core.select import Zone, select_traveller
from edge.core.types import Face
from edge.core.views import enrolment_template
from edge.core.wipe import Scratch


@dataclass
class FrameAnalysis:
    faces: int = 0
    traveller: Face | None = None
    quality: QualityReport | None = None
    candidates: tuple[Candidate, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    # The traveller's template (tracked by the frame's scratch) and the index it was searched in:
    # passed on to the decision machine for template fusion. Never printed.
    template: np.ndarray | None = field(default=None, repr=False)
    index: GalleryIndex | None = field(default=None, repr=False)

    @property
    def usable(self) -> bool:
        return self.quality is not None and self.quality.ok and bool(self.candidates)

    def observation(self, t: float) -> Observation:
        usable = self.usable
        return Observation(t=t, present=self.traveller is not None, usable=usable,
                           candidates=self.candidates if usable else (),
                           box=self.traveller.box if self.traveller is not None else None,
                           template=self.template if usable else None,
                           search=self.index.search if usable and self.index is not None else None)


class FrameAnalyser:
    """Holds the models and the live parameters; ``analyse`` is called once per frame.

    ``refine``: re-detect the traveller's landmarks on their own region of the full-resolution image
    (:mod:`edge.core.refine`) before aligning. ``enrol_views``: a gallery photo's template is the mean
    of several views of it (:mod:`edge.core.views`); live frames are not affected.
    """

    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder, quality: QualityParams,
                 zone: Zone = (0.0, 0.0, 1.0, 1.0), clock: Callable[[], float] = time.perf_counter,
                 refine: bool = False, enrol_views: bool = False) -> None:
        self.detector = detector
        self.embedder = embedder
        self.quality = quality
        self.zone = zone
        self.refine = refine
        self.enrol_views = enrol_views
        self._clock = clock

    def analyse(self, frame: np.ndarray, index: GalleryIndex | None, scratch: Scratch,
                embed: bool = True, photo: bool = False) -> FrameAnalysis:
        """Analyse ``frame``. With ``embed`` False (or no gallery) stop after detection and quality.

        A live frame's traveller is picked by the capture-zone rule; with ``photo`` (a probe photo in
        an evaluation) the photo's subject is picked instead, by size and closeness to the centre.
        """
        clock, out = self._clock, FrameAnalysis()
        t0 = clock()
        h, w = frame.shape[:2]
        if photo:
            out.traveller, faces = photo_faces(self.detector, frame, scratch)
        else:
            faces = self.detector.detect(frame, scratch)
            out.traveller = select_traveller(faces, self.zone, w, h, self.quality.min_face_px)
        t1 = clock()
        out.timings_ms["detect"] = (t1 - t0) * 1e3
        out.faces = len(faces)
        if out.traveller is None or not embed:
            return out
        if self.refine:
            out.traveller = refine_landmarks(self.detector, frame, out.traveller, scratch)
            t = clock()
            out.timings_ms["refine"] = (t - t1) * 1e3
            t1 = t  # align is timed from here
        crop = align(frame, out.traveller.landmarks, scratch)
        t2 = clock()
        out.timings_ms["align"] = (t2 - t1) * 1e3
        out.quality = assess(out.traveller, crop, self.quality)
        t3 = clock()
        out.timings_ms["quality"] = (t3 - t2) * 1e3
        if not out.quality.ok or index is None:
            return out
        template = self.embedder.embed(crop, scratch)
        t4 = clock()
        out.timings_ms["embed"] = (t4 - t3) * 1e3
        out.candidates = tuple(index.search(template, k=2))
        out.template, out.index = template, index
        out.timings_ms["search"] = (clock() - t4) * 1e3
        return out

    def enrol(self, image: np.ndarray, scratch: Scratch) -> Enrolment:
        """Enrol a gallery photo: its subject's template and a verdict (see :mod:`edge.core.enrol`).

        No zone and no quality gate refuse a photo that has a face: the verdict says what is wrong
        with it. The template is tracked by ``scratch``: copy it into the gallery before the scratch
        is wiped.
        """
        found, faces = photo_faces(self.detector, image, scratch)
        if found is None:
            return Enrolment(EnrolVerdict.NO_FACE)
        face = refine_landmarks(self.detector, image, found, scratch) if self.refine else found
        crop = align(image, face.landmarks, scratch)
        verdict = verdict_for(face, [f for f in faces if f.box != face.box], assess(face, crop, self.quality))
        if self.enrol_views:
            return Enrolment(verdict, enrolment_template(self.detector, self.embedder, image, found, scratch))
        return Enrolment(verdict, self.embedder.embed(crop, scratch))
