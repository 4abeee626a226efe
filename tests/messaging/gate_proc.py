"""A gate process for the crash tests: publishes events ``seq`` 1..N through a GateLink, slowly.

    python gate_proc.py PORT STATE_DIR TOTAL DELAY_S

After a restart it continues from the outbox's last sequence number (what was stored is resent by
the outbox itself). Prints ``up`` once connected and ``done`` when the outbox is empty.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from edge.messaging.envelope import TrustAnchors
from edge.messaging.link import GateLink
from edge.messaging.schemas import Event, Status
from edge.messaging.settings import MqttConfig
from edge.messaging.wire import OutMessage


def main() -> None:
    port, state, total, delay = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    cfg = MqttConfig(port=port, reconnect_min_s=0.2, reconnect_max_s=1.0, keepalive_s=5)
    # It only publishes (events, its status): trusting no key, it would refuse anything sent to it.
    link = GateLink("G1", cfg, state, embedder_id="sface_2021dec", embedder_dim=128, trust=TrustAnchors())
    link.start()
    link.client.wait_connected(5)
    # "up" means the retained online status is stored: the birth is sent again and acknowledged.
    birth = Status(gate="G1", online=True, software_version=link.software_version)
    link.client.publish(OutMessage(link.topics.status, birth.to_bytes(), retain=True)).wait(5)
    print("up", flush=True)
    while link.outbox.last_seq() < total:
        now = datetime.now(timezone.utc)
        e = link.publish_event(
            Event(
                gate="G1",
                transaction_id=f"t{link.outbox.last_seq() + 1}",
                outcome="no_match",
                started_at=now,
                decided_at=now,
                config_version=1,
            )
        )
        print("stored", e.seq, flush=True)
        link.poll(delay)
    link.flush(20)
    print("done", flush=True)
    time.sleep(30 if "--linger" in sys.argv else 0)
    link.stop()


if __name__ == "__main__":
    main()
