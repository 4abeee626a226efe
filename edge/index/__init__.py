"""Gallery indexes: exact numpy search for flight-sized galleries, hnswlib above a size threshold.

hnswlib is optional at run time: it has no wheel for aarch64, and building it on a Raspberry Pi needs
a C++ compiler. Without it a gallery above ``exact_max_entries`` is searched exactly, with one
WARNING per gallery naming the extra that brings it. Exact search stays correct, only slower: one
matrix-vector product over the whole gallery. Measured with the search bench of
edge/evaluation/bench.py on one x86 core (OMP_NUM_THREADS=1, as the unit runs): at 50,000 entries exact
search takes 1.0 ms (p50; p95 1.1 ms) against 0.08 ms for hnswlib, whose index takes 4.3 s to build;
a frame's detection and embedding cost tens of milliseconds, so the fallback is affordable.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from edge.core.search import ExactIndex, GalleryIndex

log = logging.getLogger(__name__)

# The optional dependency that brings hnswlib (pyproject.toml's [project.optional-dependencies]).
HNSW_EXTRA = "gate-edge[hnsw]"


def hnswlib_missing() -> str | None:
    """Why hnswlib cannot be used here (its ImportError), or None when it can."""
    try:
        import hnswlib  # noqa: F401  (imported for its availability only)
    except ImportError as exc:
        return str(exc) or "hnswlib is not installed"
    return None


def build_index(ids: Sequence[str], templates: np.ndarray, exact_max_entries: int = 5000,
                **hnsw_options: int) -> GalleryIndex:
    """Exact search up to ``exact_max_entries`` entries (faster and exact there), hnswlib above.

    Above the threshold without hnswlib: exact search, and one WARNING for this gallery.
    """
    if len(ids) <= exact_max_entries:
        return ExactIndex(ids, templates)
    missing = hnswlib_missing()
    if missing is not None:
        log.warning("a gallery of %d entries (above gallery.exact_max_entries=%d) is searched exactly, which is "
                    "slower: hnswlib cannot be imported (%s); install the extra %s for approximate search",
                    len(ids), exact_max_entries, missing, HNSW_EXTRA)
        return ExactIndex(ids, templates)
    from edge.index.hnsw import HnswIndex  # hnswlib only where a large gallery needs it

    return HnswIndex(ids, templates, **hnsw_options)
