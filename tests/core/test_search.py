"""Exact and approximate gallery search behind one interface; wiping the templates."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.core.search import ExactIndex
from edge.index import build_index
from edge.index.hnsw import HnswIndex


def unit(n: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 40), k=st.integers(1, 50), seed=st.integers(0, 1000))
def test_exact_search_equals_brute_force(n: int, k: int, seed: int) -> None:
    x = unit(n, 16, seed) if n else np.zeros((0, 16), np.float32)
    ids = [f"P-{i}" for i in range(n)]
    idx = ExactIndex(ids, x)
    q = unit(1, 16, seed + 1)[0]
    got = idx.search(q, k)
    assert len(got) == min(k, n)
    brute = sorted(((float(x[i] @ q), ids[i]) for i in range(n)), reverse=True)[: min(k, n)]
    assert [c.score for c in got] == pytest.approx([s for s, _ in brute], abs=1e-5)


def test_build_index_switches_to_hnsw_above_threshold_and_agrees() -> None:
    x = unit(3000)
    ids = [f"P-{i}" for i in range(3000)]
    small, large = build_index(ids, x, exact_max_entries=5000), build_index(ids, x, exact_max_entries=1000)
    assert isinstance(small, ExactIndex) and isinstance(large, HnswIndex)
    rng = np.random.default_rng(1)
    hits = 0
    for i in rng.choice(3000, 100, replace=False):
        q = x[i] + 0.3 * unit(1, seed=int(i))[0]
        q /= np.linalg.norm(q)
        e, a = small.search(q, 2), large.search(q, 2)
        hits += e[0].entry_id == a[0].entry_id
        assert a[0].score == pytest.approx(float(x[int(a[0].entry_id[2:])] @ q), abs=1e-4)
    assert hits >= 99


def test_hnsw_k_larger_than_gallery_does_not_raise() -> None:
    idx = HnswIndex(["P-0"], unit(1))
    assert len(idx.search(unit(1, seed=3)[0], k=5)) == 1
    assert HnswIndex([], np.zeros((0, 128), np.float32)).search(unit(1)[0]) == []


def test_wipe_zeroes_and_empties() -> None:
    x = unit(10)
    idx = ExactIndex([f"P-{i}" for i in range(10)], x)
    matrix = idx._matrix
    idx.wipe()
    assert not matrix.any() and idx.size == 0 and idx.search(x[0]) == []
    h = HnswIndex([f"P-{i}" for i in range(10)], x)
    old = h._index
    h.wipe()
    assert h.size == 0
    # The vectors that hnswlib held were overwritten with zeros before the index was dropped.
    assert not np.asarray(old.get_items(list(range(10)))).any()


def test_mismatched_ids_and_templates_rejected() -> None:
    with pytest.raises(ValueError):
        ExactIndex(["a", "b"], unit(3))


def test_without_hnswlib_a_large_gallery_is_searched_exactly_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "hnswlib", None)  # `import hnswlib` now raises ImportError, as on a Pi
    caplog.set_level(logging.INFO, "edge.index")
    x = unit(300)
    ids = [f"P-{i}" for i in range(300)]
    large = build_index(ids, x, exact_max_entries=100)
    small = build_index(ids[:50], x[:50], exact_max_entries=100)  # below the threshold: nothing to say
    assert isinstance(large, ExactIndex) and isinstance(small, ExactIndex)
    assert large.search(x[7], 2)[0].entry_id == "P-7"
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "300 entries" in message and "gallery.exact_max_entries=100" in message
    assert "install the extra gate-edge[hnsw]" in message
