"""Fusing a traveller's usable frames into one piece of evidence (pure numpy, no I/O).

A walk-up gives several usable frames inside the budget; deciding on the first one alone throws the
others away. Each fusion turns the frames seen so far into one candidate list (best first) that the
decision machine judges exactly as it judges a single frame (threshold, margin over the runner-up):

- :class:`TemplateFusion`: the mean of the frames' unit templates, renormalised, searched against
  the gallery again. Noise that differs from frame to frame (blur, light, pose) averages out, while
  the identity does not. Its ranking is the one of score-mean fusion (the mean over frames of each
  entry's cosine is the cosine with the *unnormalised* mean template); renormalising only rescales
  the scores so that one frame's fused score is its plain score.
- :class:`ScoreMaxFusion`: each entry's best score over the frames, from the frames' own candidate
  lists (exact for the best and the runner-up with two candidates a frame). Every frame is another
  chance for an impostor, so its threshold has to rise with the frames allowed.

The fused template is a face template: it lives in buffers owned here, zeroed by :meth:`wipe` when
the transaction ends (the decision machine calls it), never in a temporary that outlives a call.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Callable, Sequence

import numpy as np

from edge.core.search import Candidate

# Searches the gallery with a unit template: (template, k) -> the k best candidates, best first.
SearchFn = Callable[[np.ndarray, int], Sequence[Candidate]]


class Fusion(str, enum.Enum):
    NONE = "none"  # every frame votes alone (``votes_required`` agreeing frames decide)
    TEMPLATE = "template"  # mean of the unit templates, renormalised, searched again
    SCORE_MAX = "score_max"  # each entry's best score over the frames


class TemplateFusion:
    """Running mean of unit templates; :meth:`add` returns the fused template's top two candidates."""

    def __init__(self) -> None:
        self._sum: np.ndarray | None = None  # float64 sum of the unit templates so far
        self._frame: np.ndarray | None = None  # one frame's template while it is normalised
        self._fused: np.ndarray | None = None  # the renormalised mean, float32, handed to the search

    @property
    def buffers(self) -> tuple[np.ndarray, ...]:
        """Every buffer that holds template data (for the wipe's checks)."""
        return tuple(b for b in (self._sum, self._frame, self._fused) if b is not None)

    def add(self, candidates: tuple[Candidate, ...], template: np.ndarray | None,
            search: SearchFn | None) -> tuple[Candidate, ...]:
        """Fuse one usable frame. Without its template (a caller that only searched) or a search,
        the frame's own candidates are the evidence: there is nothing to fuse it with."""
        if template is None or search is None or template.size == 0:
            return candidates
        flat = template.reshape(-1)
        if self._sum is None or self._sum.shape != flat.shape:
            self.wipe()
            self._sum = np.zeros(flat.shape, np.float64)
            self._frame = np.zeros(flat.shape, np.float64)
            self._fused = np.zeros(flat.shape, np.float32)
        assert self._frame is not None and self._fused is not None
        np.copyto(self._frame, flat)  # in place: no temporary copy of the face is left behind
        norm = float(np.linalg.norm(self._frame))
        if not np.isfinite(norm) or norm == 0.0:
            self._frame.fill(0)
            return candidates
        self._frame *= 1.0 / norm
        self._sum += self._frame
        self._frame.fill(0)
        total = float(np.linalg.norm(self._sum))
        if total == 0.0:  # opposite templates cancelled out: no direction to search
            return candidates
        np.multiply(self._sum, 1.0 / total, out=self._fused, casting="same_kind")
        return tuple(search(self._fused, 2))

    def wipe(self) -> None:
        for b in self.buffers:
            b.fill(0)


class ScoreMaxFusion:
    """Per gallery entry, its best score over the frames; :meth:`add` returns the top two."""

    def __init__(self) -> None:
        self._best: dict[str, float] = {}

    @property
    def buffers(self) -> tuple[np.ndarray, ...]:
        return ()  # ids and scores only: nothing to zero

    def add(self, candidates: tuple[Candidate, ...], template: np.ndarray | None,
            search: SearchFn | None) -> tuple[Candidate, ...]:
        for c in candidates:
            if c.score > self._best.get(c.entry_id, -np.inf):
                self._best[c.entry_id] = c.score
        top = heapq.nlargest(2, self._best.items(), key=lambda kv: kv[1])
        return tuple(Candidate(e, s) for e, s in top)

    def wipe(self) -> None:
        self._best.clear()


def make_fusion(kind: Fusion) -> TemplateFusion | ScoreMaxFusion | None:
    """The accumulator for ``kind`` (None: frames are not fused)."""
    if kind is Fusion.TEMPLATE:
        return TemplateFusion()
    if kind is Fusion.SCORE_MAX:
        return ScoreMaxFusion()
    return None
