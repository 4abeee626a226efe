"""The gate protocol drawn from a labelled folder: who is enrolled and who probes, reproducibly."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.evaluation.data import DatasetError, build_protocol, list_identities


def _folder(root: Path, counts: list[int]) -> None:
    (root / "manifest.csv").write_text("file,identity\n")
    (root / "README.md").write_text("# not an identity\n")
    for i, n in enumerate(counts):
        d = root / f"id{i:03d}"
        d.mkdir()
        (d / "notes.txt").write_text("not a photo")
        for j in range(n):
            (d / f"p{j:02d}.jpg").write_bytes(b"")


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 6), min_size=1, max_size=25),
       gallery=st.one_of(st.none(), st.integers(0, 30)), impostors=st.one_of(st.none(), st.integers(0, 30)),
       per_id=st.one_of(st.none(), st.integers(0, 6)), seed=st.integers(0, 3))
def test_protocol_invariants(counts: list[int], gallery: int | None, impostors: int | None,
                             per_id: int | None, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _folder(root, counts)
        mated = [f"id{i:03d}" for i, n in enumerate(counts) if n >= 2]
        single = [f"id{i:03d}" for i, n in enumerate(counts) if n == 1]
        if not mated:
            with pytest.raises(DatasetError):
                build_protocol(root, gallery, impostors, per_id, seed)
            return
        p = build_protocol(root, gallery, impostors, per_id, seed)
        assert p == build_protocol(root, gallery, impostors, per_id, seed)  # reproducible
        enrolled = [i for i, _ in p.enrol]
        assert set(enrolled) <= set(mated)
        assert len(enrolled) == (len(mated) if gallery is None else min(gallery, len(mated)))
        for _ident, path in p.enrol:
            assert path.name == "p00.jpg"  # the first photo by name is the one enrolled
        assert {q.identity for q in p.impostors} <= set(single)
        assert len(p.impostors) == (len(single) if impostors is None else min(impostors, len(single)))
        for ident in enrolled:
            probes = [q for q in p.genuine if q.identity == ident]
            available = counts[int(ident[2:])] - 1
            assert len(probes) == (available if per_id is None else min(per_id, available))
            assert all(q.path.name != "p00.jpg" and q.path.suffix == ".jpg" for q in probes)
        assert {q.identity for q in p.genuine} <= set(enrolled)


def test_non_directories_and_non_images_are_ignored(tmp_path: Path) -> None:
    _folder(tmp_path, [2, 1])
    ids = list_identities(tmp_path)
    assert list(ids) == ["id000", "id001"]
    assert all(p.suffix == ".jpg" for paths in ids.values() for p in paths)


def test_missing_folder_and_negative_sizes_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        build_protocol(tmp_path / "nope")
    _folder(tmp_path, [2])
    with pytest.raises(DatasetError, match="gallery_size"):
        build_protocol(tmp_path, gallery_size=-1)
