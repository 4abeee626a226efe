"""The outbox store on its own: order, sequence numbers across reopen, bound with counted drops."""

from __future__ import annotations

from pathlib import Path

from edge.messaging.outbox import Outbox


def test_rows_come_out_in_order_and_go_only_when_acknowledged(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", max_messages=100)
    seqs = [ob.add("t/events", lambda s: f"e{s}".encode()) for _ in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    due = ob.due(limit=3)
    assert [r.payload for r in due] == [b"e1", b"e2", b"e3"]
    for mid, r in enumerate(due, start=10):
        ob.sent(r.id, mid)
    assert ob.due(limit=3) == []  # window full
    assert ob.acked(11) is not None and ob.acked(11) is None  # second ack of the same mid: no-op
    assert [r.payload for r in ob.due(limit=3)] == [b"e4"]
    assert ob.depth == 4
    ob.close()
    again = Outbox(tmp_path / "o.db", max_messages=100)  # a restart resends everything not acked
    assert [r.payload for r in again.due()] == [b"e1", b"e3", b"e4", b"e5"]
    assert again.add("t/events", b"x") == 6  # numbering continues


def test_a_full_outbox_drops_the_oldest_and_counts_it(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", max_messages=10)
    for _ in range(25):
        ob.add("t/events", lambda s: str(s).encode())
    assert ob.depth == 10 and ob.dropped == 15
    assert [r.payload for r in ob.due()] == [str(s).encode() for s in range(16, 26)]


def test_a_refused_message_is_removed_and_counted(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    ob.add("t/events", b"a", kind="wipe")
    (r,) = ob.due()
    ob.sent(r.id, 1)
    assert ob.acked(1, ok=False) is not None
    assert ob.depth == 0 and ob.refused == 1 and ob.last_seq("wipe") == 1 and ob.last_seq("event") == 0
