"""Gallery search: one interface, exact numpy search for flight-sized galleries.

A flight's gallery (a few hundred templates) is searched exactly: one matrix-vector product, ~50 us
for 500x128. Approximate search (hnswlib, in ``edge.index``) only pays off above a few thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float  # cosine similarity


class GalleryIndex(Protocol):
    """Searches unit-length templates by cosine similarity."""

    @property
    def size(self) -> int: ...

    def search(self, query: np.ndarray, k: int = 2) -> list[Candidate]:
        """The k most similar entries, best first (fewer when the gallery is smaller)."""

    def wipe(self) -> None:
        """Zero the templates held by the index and empty it."""


class ExactIndex:
    def __init__(self, ids: Sequence[str], templates: np.ndarray) -> None:
        if templates.ndim != 2 or templates.shape[0] != len(ids):
            raise ValueError(f"{len(ids)} ids but templates of shape {templates.shape}")
        self._ids = list(ids)
        # Own copy, contiguous float32: the caller's buffer is wiped independently.
        self._matrix = np.ascontiguousarray(templates, dtype=np.float32).copy()

    @property
    def size(self) -> int:
        return len(self._ids)

    def search(self, query: np.ndarray, k: int = 2) -> list[Candidate]:
        n = len(self._ids)
        if n == 0:
            return []
        k = min(k, n)
        scores = self._matrix @ np.asarray(query, np.float32).reshape(-1)
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")]
        result = [Candidate(self._ids[i], float(scores[i])) for i in top]
        scores.fill(0)
        return result

    def wipe(self) -> None:
        self._matrix.fill(0)
        self._matrix = np.zeros((0, self._matrix.shape[1]), np.float32)
        self._ids = []
