"""The status a gate exits with on a `restart` command is the one its unit restarts on, and is not
counted as a failure; `gate-edge run` passes the daemon's status through."""

from __future__ import annotations

import re
from pathlib import Path

from edge.commands import run as run_command
from edge.daemon.officer_commands import EXIT_RESTART

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "gate-edge.service"


def _values(key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", UNIT.read_text(), re.MULTILINE)


def test_the_unit_restarts_on_the_restart_status_and_not_on_config_errors() -> None:
    assert _values("RestartForceExitStatus") == [str(EXIT_RESTART)]
    assert _values("SuccessExitStatus") == [str(EXIT_RESTART)]
    assert EXIT_RESTART not in (run_command.EXIT_CONFIG, run_command.EXIT_START)
    assert str(EXIT_RESTART) not in " ".join(_values("RestartPreventExitStatus"))
