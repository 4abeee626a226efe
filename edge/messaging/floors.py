"""Freshness floors kept on disk, so that a replayed message is refused after a restart too.

A valid signature says who sent a message, not when: anyone who recorded a signed ``pause`` or an
old assignment could send it again. So the gate keeps, in ``floors.json`` in its state directory
(written atomically; no biometric data):

- the ``issued_at`` of the newest assignment it applied: an older one is never applied again;
- the commands it executed in the last :data:`COMMAND_WINDOW` (request id and issue time): a command
  must be issued within the window of the gate's clock, and a request id is executed once.

Config versions have their own floors (the last known good config, ``edge.config.store``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from edge.atomic_file import atomic_write
from edge.messaging.schemas import RejectionCode

log = logging.getLogger(__name__)

FLOORS_FILE: Final = "floors.json"
COMMAND_WINDOW: Final = timedelta(minutes=2)  # a command older (or newer) than this is refused
MAX_REMEMBERED: Final = 10_000  # executed commands kept; far more than two minutes can bring


class Floors:
    """The floors, loaded at start and saved on every change. Not thread-safe: the daemon loop's."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FLOORS_FILE
        self.assignment_issued_at: datetime | None = None
        self._commands: dict[str, datetime] = {}
        self._load()

    def _load(self) -> None:
        try:
            doc = json.loads(self.path.read_text())
            at = doc.get("assignment_issued_at")
            self.assignment_issued_at = datetime.fromisoformat(at) if at else None
            self._commands = {k: datetime.fromisoformat(v) for k, v in dict(doc.get("commands", {})).items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            # Unreadable floors must not stop the gate; without them only replays older than its
            # other checks (clock window, close times, versions) could get through, so say so loudly.
            log.error("freshness floors in %s unreadable (%s): starting without them", self.path, exc)

    def _save(self) -> None:
        doc = {
            "assignment_issued_at": self.assignment_issued_at.isoformat() if self.assignment_issued_at else None,
            "commands": {k: v.isoformat() for k, v in self._commands.items()},
        }
        atomic_write(self.path, json.dumps(doc, indent=1).encode())

    def raise_assignment_floor(self, issued_at: datetime) -> None:
        if self.assignment_issued_at is None or issued_at > self.assignment_issued_at:
            self.assignment_issued_at = issued_at
            self._save()

    def command(self, request_id: str, issued_at: datetime, now: datetime) -> tuple[RejectionCode, str] | None:
        """Record a command about to be executed; returns why it must be refused instead (or None)."""
        if abs(now - issued_at) > COMMAND_WINDOW:
            return "expired", (f"issued at {issued_at.isoformat()}, {abs((now - issued_at).total_seconds()):.0f} s "
                               f"from the gate's clock (at most {COMMAND_WINDOW.total_seconds():.0f} s)")
        if request_id in self._commands:
            return "replayed", f"request {request_id} was already executed"
        horizon = now - COMMAND_WINDOW * 2
        self._commands = {k: v for k, v in self._commands.items() if v >= horizon}
        if len(self._commands) >= MAX_REMEMBERED:
            return "overloaded", "too many commands in the replay window"
        self._commands[request_id] = issued_at
        self._save()
        return None
