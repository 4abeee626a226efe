"""Approximate search with hnswlib for large (multi-flight, airport-wide) galleries.

The only module that imports hnswlib. Cosine similarity on unit vectors = inner product; hnswlib's
'ip' space returns 1 - dot, converted back here so both indexes report the same scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import hnswlib
import numpy as np

from edge.core.search import Candidate


class HnswIndex:
    def __init__(self, ids: Sequence[str], templates: np.ndarray, m: int = 16, ef_construction: int = 200,
                 ef_search: int = 64, threads: int = 1) -> None:
        if templates.ndim != 2 or templates.shape[0] != len(ids):
            raise ValueError(f"{len(ids)} ids but templates of shape {templates.shape}")
        self._ids = list(ids)
        self._dim = templates.shape[1]
        self._index = hnswlib.Index(space="ip", dim=self._dim)
        self._index.init_index(max_elements=max(1, len(ids)), ef_construction=ef_construction, M=m)
        self._index.set_num_threads(threads)
        if ids:
            self._index.add_items(np.ascontiguousarray(templates, np.float32), np.arange(len(ids)))
        self._index.set_ef(max(ef_search, 2))

    @property
    def size(self) -> int:
        return len(self._ids)

    def search(self, query: np.ndarray, k: int = 2) -> list[Candidate]:
        # hnswlib raises when k exceeds the number of live elements.
        k = min(k, len(self._ids))
        if k == 0:
            return []
        labels, distances = self._index.knn_query(np.asarray(query, np.float32).reshape(1, -1), k=k)
        return [Candidate(self._ids[int(i)], float(1.0 - d)) for i, d in zip(labels[0], distances[0], strict=True)]

    def wipe(self) -> None:
        """Overwrite every stored vector with zeros, then drop the index.

        hnswlib keeps its own copy of the vectors; replacing each element's data with zeros is the
        only way the library offers to clear that memory before it is freed.
        """
        n = len(self._ids)
        if n:
            zeros = np.zeros((n, self._dim), np.float32)
            self._index.add_items(zeros, np.arange(n), replace_deleted=False)
        self._ids = []
        self._index = hnswlib.Index(space="ip", dim=self._dim)
        self._index.init_index(max_elements=1)
