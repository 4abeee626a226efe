"""Durable outbox for events and wipe attestations (sqlite3, stdlib).

These messages carry no biometric data, so a small local store is allowed. Each message is
committed (WAL, ``synchronous=FULL``) before it is handed to MQTT, and deleted only when the broker
has acknowledged it, so a broker outage, a daemon restart or ``kill -9`` loses none; order is the
row order, and event ids and per-gate sequence numbers are kept in the stored payload.

The store is bounded: beyond ``max_messages`` the oldest row is dropped and counted (the count is
persisted and reported in telemetry). Use from one thread (the app's loop); acknowledgements from
the network thread arrive through :meth:`acked` after being queued by the caller.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class OutboxError(RuntimeError):
    """The outbox store cannot be opened or written (disk full, permissions, corrupt file)."""


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    payload: bytes
    kind: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    kind TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Outbox:
    def __init__(self, path: Path, max_messages: int = 10_000) -> None:
        self.path = Path(path)
        self.max_messages = max_messages
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise OutboxError(f"cannot open the outbox {self.path}: {e}") from e
        # row id -> monotonic time handed to MQTT (this process only: after a restart all are resent)
        self._in_flight: dict[int, float] = {}
        self._mid_to_row: dict[int, int] = {}

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            raise OutboxError(f"outbox {self.path}: {e}") from e

    def _meta(self, db: sqlite3.Connection, key: str) -> int:
        row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _bump(self, db: sqlite3.Connection, key: str, by: int = 1) -> int:
        value = self._meta(db, key) + by
        db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=?",
            (key, value, value),
        )
        return value

    # ------------------------------------------------------------------ adding
    def add(self, topic: str, payload: bytes | Callable[[int], bytes], kind: str = "event") -> int:
        """Store one message; returns its sequence number for ``kind`` (starting at 1).

        ``payload`` may be a function of that sequence number, so that the number and the row are
        committed together (a crash can neither skip nor repeat a number).
        """
        with self._tx() as db:
            seq = self._bump(db, f"seq:{kind}")
            body = payload(seq) if callable(payload) else payload
            db.execute(
                "INSERT INTO outbox(topic, payload, kind, created) VALUES(?, ?, ?, ?)",
                (topic, body, kind, time.time()),
            )
            over = self._count(db) - self.max_messages
            if over > 0:
                # Bounded: the oldest go first, and the loss is counted, not silent.
                db.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)", (over,))
                self._bump(db, "dropped", over)
                log.warning("outbox full (%d): dropped the %d oldest message(s)", self.max_messages, over)
        return seq

    def _count(self, db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    # ------------------------------------------------------------------ sending
    def due(self, limit: int = 100, resend_after_s: float = 30.0) -> list[OutboxRow]:
        """Rows to hand to MQTT now, oldest first: not in flight, or in flight without an
        acknowledgement for ``resend_after_s`` (paho resends its own in-flight messages after a
        reconnect; this is the safety net). At most ``limit`` in flight at once."""
        now = time.monotonic()
        budget = limit - sum(1 for t in self._in_flight.values() if now - t < resend_after_s)
        if budget <= 0:
            return []
        rows = self._db.execute(
            "SELECT id, topic, payload, kind FROM outbox ORDER BY id LIMIT ?",
            (budget + len(self._in_flight),),
        ).fetchall()
        out = []
        for r in rows:
            t = self._in_flight.get(r[0])
            if t is None or now - t >= resend_after_s:
                out.append(OutboxRow(int(r[0]), r[1], bytes(r[2]), r[3]))
                if len(out) >= budget:
                    break
        return out

    def sent(self, row_id: int, mid: int) -> None:
        self._in_flight[row_id] = time.monotonic()
        self._mid_to_row[mid] = row_id

    def acked(self, mid: int, ok: bool = True) -> OutboxRow | None:
        """The broker acknowledged message ``mid``. A refusal (e.g. not authorised) is final: the
        row is removed and counted as refused, since resending cannot fix it. Returns the row."""
        row_id = self._mid_to_row.pop(mid, None)
        if row_id is None:
            return None
        self._in_flight.pop(row_id, None)
        with self._tx() as db:
            r = db.execute("SELECT id, topic, payload, kind FROM outbox WHERE id=?", (row_id,)).fetchone()
            db.execute("DELETE FROM outbox WHERE id=?", (row_id,))
            if not ok and r is not None:
                self._bump(db, "refused")
        return OutboxRow(int(r[0]), r[1], bytes(r[2]), r[3]) if r else None

    # ------------------------------------------------------------------ figures
    @property
    def depth(self) -> int:
        return self._count(self._db)

    @property
    def dropped(self) -> int:
        return self._meta(self._db, "dropped")

    @property
    def refused(self) -> int:
        return self._meta(self._db, "refused")

    def last_seq(self, kind: str = "event") -> int:
        return self._meta(self._db, f"seq:{kind}")

    def close(self) -> None:
        with suppress(sqlite3.Error):
            self._db.close()
