"""Freshness floors on disk: a command runs once, only near its issue time, and a restart forgets nothing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from edge.messaging.floors import COMMAND_WINDOW, Floors

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)


def test_a_command_runs_once_and_only_near_its_issue_time(tmp_path: Path) -> None:
    f = Floors(tmp_path)
    assert f.command("r1", NOW, NOW) is None
    assert f.command("r1", NOW, NOW + timedelta(seconds=5)) == ("replayed", "request r1 was already executed")
    old = f.command("r2", datetime(2001, 9, 1, tzinfo=timezone.utc), NOW)
    assert old is not None and old[0] == "expired"
    ahead = f.command("r3", NOW + COMMAND_WINDOW + timedelta(seconds=1), NOW)
    assert ahead is not None and ahead[0] == "expired"


def test_floors_survive_a_restart(tmp_path: Path) -> None:
    f = Floors(tmp_path)
    f.command("r1", NOW, NOW)
    f.raise_assignment_floor(NOW)
    f.raise_assignment_floor(NOW - timedelta(hours=1))  # never goes back
    again = Floors(tmp_path)
    assert again.assignment_issued_at == NOW
    assert again.command("r1", NOW, NOW + timedelta(seconds=30)) is not None


def test_unreadable_floors_do_not_stop_the_gate(tmp_path: Path) -> None:
    (tmp_path / "floors.json").write_text("{not json")
    f = Floors(tmp_path)
    assert f.assignment_issued_at is None and f.command("r1", NOW, NOW) is None
