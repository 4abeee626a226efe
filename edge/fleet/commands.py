"""`gate-edge fleet cmd NAME`: a signed command to each targeted gate, and each gate's reply awaited.

Each command carries a fresh request id and its issue time (a gate runs it only within minutes of
that, and once) and a response topic under the gate's ``replies/`` subtree, where the gate answers
with a :class:`~edge.messaging.schemas.CommandReply`, or a rejection notice when it refused the message
itself (unsigned, replayed, stale, invalid). After an accepted ``restart`` the tool can also wait for
the gate to come back: a new retained status, online, on a new connection.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from edge.fleet.connection import FleetLink
from edge.messaging.schemas import COMMANDS
from edge.messaging.settings import MqttConfig
from edge.messaging.topics import Topics


@dataclass(frozen=True)
class CommandOrder:
    """One command to one gate: where it goes and where its reply will come."""

    gate: str
    name: str
    request_id: str
    topic: str
    reply_topic: str

    @classmethod
    def to(cls, mqtt: MqttConfig, gate: str, name: str) -> CommandOrder:
        t = Topics.from_config(gate, mqtt)
        rid = uuid.uuid4().hex
        return cls(gate, name, rid, t.command(name), f"{t.replies}/{rid}")


def command_body(order: CommandOrder, args: Mapping[str, Any], check: bool = True) -> bytes:
    """The command's JSON, validated against its schema unless ``check`` is False (a bad argument is
    then refused by the gate, with its reason, instead of here)."""
    body = {"schema": COMMANDS[order.name].SCHEMA, "request_id": order.request_id, "gate": order.gate, **args,
            # Set last, over any argument: a gate refuses a command issued more than two minutes away.
            "issued_at": datetime.now(timezone.utc).isoformat()}
    if check:
        COMMANDS[order.name].model_validate(body)
    return json.dumps(body).encode()


def send_and_wait(link: FleetLink, orders: Sequence[CommandOrder], args: Mapping[str, Any],
                  timeout: float, check: bool = True) -> dict[str, dict[str, Any] | None]:
    """Send every order, then wait up to ``timeout`` seconds for their replies; gate -> reply (None when
    none came). ``link`` must be subscribed to every order's reply topic."""
    bodies = {o.gate: command_body(o, args, check) for o in orders}  # every argument checked before anything is sent
    for o in orders:
        link.publish_signed(o.topic, bodies[o.gate], response_topic=o.reply_topic,
                            correlation=o.request_id.encode())
    replies: dict[str, dict[str, Any] | None] = {o.gate: None for o in orders}
    by_topic = {o.reply_topic: o.gate for o in orders}
    deadline = time.monotonic() + timeout
    while any(r is None for r in replies.values()) and (left := deadline - time.monotonic()) > 0:
        m = link.receive(left)
        if m is None:
            break
        gate = by_topic.get(m.topic)
        if gate is not None and m.body is not None:
            replies[gate] = m.body
    return replies


def accepted(reply: Mapping[str, Any] | None) -> bool:
    return reply is not None and reply.get("result") == "accepted"


def wait_back(link: FleetLink, gates: Sequence[str], before: Mapping[str, Mapping[str, Any]],
              timeout: float) -> dict[str, dict[str, Any] | None]:
    """After a restart: each gate's first online status on a connection other than the one in ``before``
    (its status when the command was sent), or None when it did not come back within ``timeout``."""
    back: dict[str, dict[str, Any] | None] = {g: None for g in gates}
    deadline = time.monotonic() + timeout
    while any(b is None for b in back.values()) and (left := deadline - time.monotonic()) > 0:
        m = link.receive(left)
        if m is None:
            break
        if m.gate in back and m.body is not None and m.topic.endswith("/status") and m.body.get("online"):
            since = m.body.get("online_since")
            if since and since != (before.get(m.gate) or {}).get("online_since"):
                back[m.gate] = m.body
    return back
