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
from edge.core.quality import QualityParams, QualityReport, assess
from edge.core.search import Candidate, GalleryIndex
from edge.core.select import Zone, select_traveller
from edge.core.types import Face
from edge.core.wipe import Scratch


@dataclass
class FrameAnalysis:
    faces: int = 0
    traveller: Face | None = None
    quality: QualityReport | None = None
    candidates: tuple[Candidate, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.quality is not None and self.quality.ok and bool(self.candidates)

    def observation(self, t: float) -> Observation:
        return Observation(t=t, present=self.traveller is not None, usable=self.usable,
                           candidates=self.candidates if self.usable else (),
                           box=self.traveller.box if self.traveller is not None else None)


class FrameAnalyser:
    """Holds the models and the live parameters; ``analyse`` is called once per frame."""

    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder, quality: QualityParams,
                 zone: Zone = (0.0, 0.0, 1.0, 1.0), clock: Callable[[], float] = time.perf_counter) -> None:
        self.detector = detector
        self.embedder = embedder
        self.quality = quality
        self.zone = zone
        self._clock = clock

    def analyse(self, frame: np.ndarray, index: GalleryIndex | None, scratch: Scratch,
                embed: bool = True) -> FrameAnalysis:
        """Analyse ``frame``. With ``embed`` False (or no gallery) stop after detection and quality."""
        clock, out = self._clock, FrameAnalysis()
        t0 = clock()
        faces = self.detector.detect(frame, scratch)
        t1 = clock()
        out.timings_ms["detect"] = (t1 - t0) * 1e3
        out.faces = len(faces)
        h, w = frame.shape[:2]
        out.traveller = select_traveller(faces, self.zone, w, h, self.quality.min_face_px)
        if out.traveller is None or not embed:
            return out
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
        out.timings_ms["search"] = (clock() - t4) * 1e3
        return out

    def enrol(self, image: np.ndarray, scratch: Scratch) -> tuple[np.ndarray, Face] | None:
        """The template of the largest face in a gallery photo (no zone, no quality gate), or None.

        The returned template is tracked by ``scratch``: copy it into the gallery before the scratch
        is wiped.
        """
        faces = self.detector.detect(image, scratch)
        face = max(faces, key=lambda f: f.area, default=None)
        if face is None:
            return None
        crop = align(image, face.landmarks, scratch)
        return self.embedder.embed(crop, scratch), face
