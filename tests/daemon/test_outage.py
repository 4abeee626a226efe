"""A flight boarded through a broker restart and a `kill -9` of the daemon (`gate-edge run` as a real
subprocess): every event reaches the consumer exactly once by event id, in seq order, none lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from support.mqtt import Watcher
from support.waiting import wait_for

from .conftest import GATE, REPO, Bench

START_TIMEOUT = 90.0  # a cold process loads and warms the models, then embeds the gallery


class Consumer:
    """An events consumer with a persistent session (QoS 1 may hand it duplicates: it dedups)."""

    def __init__(self, w: Bench) -> None:
        self.topic = w.topics.events
        self.watcher = Watcher(w.mqtt, [self.topic], "events-consumer")
        self.wire = self.watcher.on  # everything delivered, duplicates included

    def unique(self) -> list[dict[str, Any]]:
        seen: set[str] = set()
        out = []
        for e in self.watcher.on(self.topic):
            if e["event_id"] not in seen:
                seen.add(e["event_id"])
                out.append(e)
        return out


def decided_so_far(state_dir: Path) -> int:
    """The last event sequence number the gate's outbox handed out (read from its sqlite, as it stands)."""
    db = sqlite3.connect(f"file:{state_dir / 'outbox.sqlite3'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'seq:event'").fetchone()
        return int(row[0]) if row else 0
    finally:
        db.close()


def start_gate(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config)],
                                cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)


def test_events_survive_a_broker_restart_and_a_kill_9_exactly_once_in_order(world: Bench, tmp_path: Path) -> None:
    doc = world.config().model_dump(mode="json", exclude={"version"})
    doc["mqtt"] = {"host": "127.0.0.1", "port": world.broker.port, "reconnect_min_s": 0.2,
                   "reconnect_max_s": 1.0, "keepalive_s": 5}
    doc["models"]["cache_dir"] = str(REPO / "models" / "cache")
    doc["logging"] = {"level": "INFO", "journald": False}
    config = tmp_path / "gate.yaml"
    config.write_text(yaml.safe_dump(doc))
    log = tmp_path / "gate.log"
    state_dir = Path(doc["state_dir"])
    consumer = Consumer(world)
    world.board()

    def received(n: int, what: str, timeout: float = 60.0) -> None:
        wait_for(lambda: len(consumer.unique()) >= n, timeout, f"{what} ({log.read_text()[-3000:]})")

    gate = start_gate(config, log)
    try:
        received(2, "first events", START_TIMEOUT)

        # The broker goes away for a while; the gate keeps deciding into its outbox.
        n = len(consumer.unique())
        down = datetime.now(timezone.utc)
        world.broker.stop()
        # The outage lasts until the gate has decided two travellers into its outbox with no broker.
        stored = decided_so_far(state_dir)
        wait_for(lambda: decided_so_far(state_dir) >= stored + 2, 60, "decisions while the broker is down")
        up = datetime.now(timezone.utc)
        world.broker.start()
        received(n + 3, "events after the broker came back")

        # kill -9: whatever was stored but not acknowledged is resent by the next process.
        os.kill(gate.pid, signal.SIGKILL)
        gate.wait(10)
        n = len(consumer.unique())
        gate = start_gate(config, log)
        received(n + 3, "events from the restarted gate", START_TIMEOUT)

        gate.send_signal(signal.SIGTERM)
        assert gate.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if gate.poll() is None:
            gate.kill()
            gate.wait(10)
    last = decided_so_far(state_dir)
    wait_for(lambda: len(consumer.unique()) >= last, 20, f"all {last} events at the consumer")
    events = consumer.unique()
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), seqs  # strictly increasing, no gaps, from 1
    assert all(e["gate"] == GATE for e in events)
    assert len(consumer.wire(consumer.topic)) >= len(events)
    # Some of them were decided while the broker was down: the outbox carried them over.
    decided = [datetime.fromisoformat(e["decided_at"].replace("Z", "+00:00")) for e in events]
    assert any(down < t < up for t in decided)
    text = log.read_text()
    assert text.count("starting for gate G7") == 2
    consumer.watcher.close()
