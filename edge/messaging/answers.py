"""How the gate answers a message it refuses: always a RejectionNotice on ``gate/v1/{gate}/rejected``
and, where someone is waiting, an answer in the form they expect.

- a command: a ``CommandReply`` (result ``rejected``) on its response topic;
- a desired config: a retained ``ConfigReported`` (status ``rejected``) on ``config/reported``
  (a retained config has nobody waiting on a response topic);
- anything else with a response topic: the RejectionNotice there too, with its correlation data.

Used by :class:`edge.messaging.link.GateLink` for what validation refuses and for what the daemon
refuses after the fact (:meth:`edge.messaging.link.GateLink.reject`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from edge.messaging.intake import correlation_text
from edge.messaging.items import (
    AssignmentUpdate,
    CommandItem,
    ConfigUpdate,
    GalleryFailed,
    GalleryReady,
    InboundItem,
    Rejection,
)
from edge.messaging.schemas import CommandReply, ConfigIssue, ConfigReported, RejectionCode, RejectionNotice
from edge.messaging.topics import InboundKind, TopicError, Topics
from edge.messaging.wire import OutMessage

log = logging.getLogger(__name__)


class Answerer:
    """Publishes the answers to rejections through ``send`` (best effort) and ``report_config``."""

    def __init__(
        self,
        topics: Topics,
        send: Callable[[OutMessage], bool],
        report_config: Callable[[ConfigReported], bool],
    ) -> None:
        self.topics = topics
        self._send = send
        self._report_config = report_config
        self.applied_config_version = 0  # named in config refusals as the version still running

    def rejection_for(self, item_or_topic: InboundItem | str, code: RejectionCode, reason: str) -> Rejection:
        """The Rejection of an already-parsed item (or of a message on a topic), with where it came from."""
        t = self.topics
        if isinstance(item_or_topic, str):
            try:
                kind: InboundKind | None = t.classify(item_or_topic).kind
            except TopicError:
                kind = None
            return Rejection(code, reason, item_or_topic, kind)
        item = item_or_topic
        if isinstance(item, AssignmentUpdate):
            return Rejection(code, reason, t.assignment, InboundKind.ASSIGNMENT, item.reply_topic,
                             item.correlation_data, correlation_text(item.correlation_data))
        if isinstance(item, ConfigUpdate):
            fleet = item.source == "fleet"
            topic, kind = (t.fleet_config, InboundKind.FLEET_CONFIG) if fleet else (t.config_desired,
                                                                                     InboundKind.GATE_CONFIG)
            return Rejection(code, reason, topic, kind, item.reply_topic, item.correlation_data,
                             correlation_text(item.correlation_data), version=item.desired.version)
        if isinstance(item, CommandItem):
            return Rejection(code, reason, t.command(item.name), InboundKind.COMMAND, item.reply_topic,
                             item.correlation_data, item.request.request_id)
        assert isinstance(item, GalleryReady | GalleryFailed)
        return Rejection(code, reason, t.gallery_response, InboundKind.GALLERY_RESPONSE, None,
                         item.request_id.encode(), item.request_id)

    def answer(self, r: Rejection) -> None:
        if not r.report:
            log.debug("ignored %s on %s: %s", r.code, r.topic, r.reason)
            return
        log.warning("rejected message on %s: %s: %s", r.topic, r.code, r.reason)
        gate = self.topics.gate_id
        notice = RejectionNotice(gate=gate, topic=r.topic, code=r.code, reason=r.reason, request_id=r.request_id)
        self._send(OutMessage(self.topics.rejected, notice.to_bytes()))
        if r.kind in (InboundKind.FLEET_CONFIG, InboundKind.GATE_CONFIG):
            applied = self.applied_config_version
            self._report_config(
                ConfigReported(
                    gate=gate,
                    status="rejected",
                    version=r.version if r.version is not None else applied,
                    applied_version=applied,
                    errors=[ConfigIssue(path="(message)", value=r.code, expected=r.reason)],
                )
            )
        elif r.reply_topic:
            if r.kind is InboundKind.COMMAND:
                body = CommandReply(
                    gate=gate,
                    command=r.topic.rsplit("/", 1)[-1],
                    request_id=r.request_id,
                    result="rejected",
                    reason=f"{r.code}: {r.reason}",
                ).to_bytes()
            else:
                body = notice.to_bytes()
            self._send(OutMessage(r.reply_topic, body, correlation_data=r.correlation_data))
