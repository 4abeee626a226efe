"""Gallery indexes: exact numpy search for flight-sized galleries, hnswlib above a size threshold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.core.search import ExactIndex, GalleryIndex


def build_index(ids: Sequence[str], templates: np.ndarray, exact_max_entries: int = 5000,
                **hnsw_options: int) -> GalleryIndex:
    """Exact search up to ``exact_max_entries`` entries (faster and exact there), hnswlib above."""
    if len(ids) <= exact_max_entries:
        return ExactIndex(ids, templates)
    from edge.index.hnsw import HnswIndex  # hnswlib only where a large gallery needs it

    return HnswIndex(ids, templates, **hnsw_options)
