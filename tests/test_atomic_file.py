"""The one atomic writer (edge/atomic_file.py), shared by the config store and the model files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.atomic_file import PRIVATE, PUBLIC, atomic_write


def test_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "state" / "x.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.json"]
    assert (target.stat().st_mode & 0o777) == PRIVATE == 0o600


def test_public_mode_for_model_files(tmp_path: Path) -> None:
    target = tmp_path / "models" / "m.onnx"
    atomic_write(target, b"weights", PUBLIC)
    assert (target.stat().st_mode & 0o777) == 0o644


def test_a_failed_write_keeps_the_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "x.json"
    atomic_write(target, b"old")

    def no_rename(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]  # the temp file is removed
