"""Who may tell a gate what to do: the signed envelope opened before anything else is believed.

A message that changes what the gate does (an assignment, a desired config, a command) must come in
an envelope signed by a trusted key of the role that may send it (``SIGNER_OF``); its inner payload
then goes to :func:`edge.messaging.intake.parse` like any other. Gallery chunks are checked against
the manifest the gallery authority signs (edge/messaging/gallery_requests.py), not one by one.
"""

from __future__ import annotations

import dataclasses

from edge.messaging.envelope import EnvelopeRefused, Role, TrustAnchors
from edge.messaging.items import Rejection
from edge.messaging.topics import InboundKind, TopicError, Topics
from edge.messaging.wire import Inbound

SIGNER_OF: dict[InboundKind, Role] = {
    InboundKind.ASSIGNMENT: "departure_control",
    InboundKind.FLEET_CONFIG: "fleet_admin",
    InboundKind.GATE_CONFIG: "fleet_admin",
    InboundKind.COMMAND: "fleet_admin",
}


def authenticate(m: Inbound, topics: Topics, trust: TrustAnchors, max_payload_bytes: int) -> Inbound | Rejection:
    """``m`` with the envelope's inner payload if a trusted key of the topic's role signed it, else a
    Rejection (unsigned, wrong_role, unknown_key, bad_signature). Messages on other topics, and ones
    intake refuses anyway (unknown topic, oversized), pass unchanged for intake to answer."""
    try:
        kind = topics.classify(m.topic).kind
    except TopicError:
        return m
    role = SIGNER_OF.get(kind)
    if role is None or m.oversized_bytes is not None or len(m.payload) > max_payload_bytes:
        return m
    try:
        return dataclasses.replace(m, payload=trust.open(m.payload, role))
    except EnvelopeRefused as exc:
        corr = m.correlation_data.decode("utf-8", "replace")[:128] if m.correlation_data else None
        return Rejection(exc.code, exc.reason, m.topic, kind, m.response_topic, m.correlation_data, corr)
