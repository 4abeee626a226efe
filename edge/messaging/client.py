"""The only module that imports paho-mqtt: :class:`MqttClient`, a small MQTT v5 client.

What it guarantees on top of paho:
- paho callbacks only enqueue (an :class:`~edge.messaging.wire.Inbound` into a bounded queue, an
  acknowledgement into a dict); an exception in one is logged and never ends the network thread
  (every callback is wrapped, and ``suppress_exceptions`` is set as well).
- oversized payloads never enter the queue: they become an empty ``Inbound`` marked with their size,
  counted, so that the app can still answer them.
- the retained birth message is published and the subscriptions are made after every (re)connect;
  a retained last will marks the client offline if it dies. :meth:`MqttClient.wait_subscribed`
  returns once the broker granted them (its SUBACK), so nobody has to sleep and hope.
- QoS 1 acknowledgements are tracked per message id with their PUBACK reason code
  (e.g. 135 "not authorized" from a broker ACL); :meth:`PublishHandle.wait` surfaces them.
- paho's error codes and exceptions become this project's :class:`MessagingError` family.
- a failed connection attempt has a reason in plain words (``stats.last_connect_error``: name
  resolution, refused, TLS verification, credentials, time-out; :mod:`edge.messaging.connect_failures`),
  logged at WARNING when an outage starts, at most once a minute while it lasts, and when it ends.
- with several brokers (``mqtt.brokers``) a lost connection or a failed attempt moves to the next
  one (:mod:`edge.messaging.failover`: the connection's state, paho-free); :attr:`MqttClient.broker`
  names the one in use.
- the password and TLS files are read by :mod:`edge.messaging.credentials`, whose :func:`preflight`
  lets a command check them before it starts anything.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.messaging.credentials import preflight, read_password, tls_context
from edge.messaging.errors import (
    NOT_AUTHORIZED,
    ClientConfigError,
    MessagingError,
    NotConnected,
    PublishRefused,
    PublishTimeout,
)
from edge.messaging.failover import Address, Connection
from edge.messaging.settings import MqttConfig
from edge.messaging.wire import Ack, ClientStats, Inbound, OutMessage

# The errors and the records of wire.py are part of the client's interface: importable from here too.
__all__ = [
    "NOT_AUTHORIZED", "Ack", "ClientConfigError", "ClientStats", "MessagingError", "MqttClient", "NotConnected",
    "OutMessage", "PublishHandle", "PublishRefused", "PublishTimeout", "preflight",
]

log = logging.getLogger(__name__)


class PublishHandle:
    """A QoS>0 publish whose acknowledgement can be awaited."""

    def __init__(self, client: MqttClient, mid: int, topic: str) -> None:
        self._client = client
        self.mid = mid
        self.topic = topic

    def wait(self, timeout: float) -> Ack:
        """Block until the broker acknowledged; raise PublishRefused / PublishTimeout otherwise."""
        ack = self._client._wait_ack(self.mid, timeout)
        if ack is None:
            raise PublishTimeout(f"no acknowledgement for {self.topic!r} within {timeout} s")
        if not ack.ok:
            raise PublishRefused(self.topic, ack.reason_code, ack.reason)
        return ack


def _props(msg: OutMessage) -> Properties | None:
    if not (msg.response_topic or msg.correlation_data or msg.message_expiry_s or msg.user_properties):
        return None
    p = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if msg.response_topic:
        p.ResponseTopic = msg.response_topic
    if msg.correlation_data:
        p.CorrelationData = msg.correlation_data
    if msg.message_expiry_s:
        p.MessageExpiryInterval = int(msg.message_expiry_s)
    if msg.user_properties:
        p.UserProperty = list(msg.user_properties)
    return p


def _rc_int(rc: Any) -> int:
    if isinstance(rc, ReasonCode):
        return int(rc.value)
    return int(rc)


class MqttClient:
    """One MQTT v5 connection with persistent session, back-off reconnect, birth and last will.

    ``birth`` is called after every connect (from paho's thread: keep it cheap; it should return
    pre-built bytes) and published retained on ``status_topic``; ``will`` is the retained payload
    the broker publishes there if the connection dies. ``on_ack`` and ``on_connection`` are called
    from paho's thread and must only enqueue.
    """

    def __init__(
        self,
        cfg: MqttConfig,
        client_id: str,
        *,
        subscriptions: Sequence[str] = (),
        qos0: Sequence[str] = (),
        status_topic: str | None = None,
        birth: Callable[[], bytes] | None = None,
        will: bytes | None = None,
        inbound_queue_size: int = 1000,
        on_ack: Callable[[Ack], None] | None = None,
        on_connection: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        # Subscriptions kept at QoS 0: the broker never queues (nor persists) their messages for this
        # client while it is offline. Gallery responses carry passport photos.
        self._qos0 = frozenset(qos0)
        self.status_topic = status_topic
        self._birth = birth
        self._on_ack = on_ack
        self._on_connection = on_connection
        self.stats = ClientStats()
        self.inbound: queue.Queue[Inbound] = queue.Queue(maxsize=inbound_queue_size)
        self._acks: dict[int, Ack] = {}
        self._ack_cv = threading.Condition()
        # The SUBSCRIBE of the current connection: its message id, then the broker's reason codes.
        self._sub_cv = threading.Condition()
        self._sub_mid: int | None = None
        self._sub_codes: list[int] | None = None
        self._conn = Connection(cfg, self.stats, log, clock)
        self._started = False
        self._client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5,
        )
        self._client.suppress_exceptions = True
        self._client.reconnect_delay_set(
            min_delay=max(1, round(cfg.reconnect_min_s)), max_delay=max(1, round(cfg.reconnect_max_s))
        )
        self._client.max_queued_messages_set(0)
        self._client.on_connect = self._guard(self._handle_connect)
        self._client.on_disconnect = self._guard(self._handle_disconnect)
        self._client.on_connect_fail = self._guard(self._handle_connect_fail)
        self._client.on_message = self._guard(self._handle_message)
        self._client.on_publish = self._guard(self._handle_publish)
        self._client.on_subscribe = self._guard(self._handle_subscribe)
        if status_topic is not None and will is not None:
            self._client.will_set(status_topic, will, qos=1, retain=True)

    # ------------------------------------------------------------------ lifecycle
    def _configure_auth(self) -> None:
        # The same reading as preflight(): a file that passed it is used exactly as checked.
        password = read_password(self.cfg)
        if self.cfg.username is not None or password is not None:
            self._client.username_pw_set(self.cfg.username, password)
        if self.cfg.tls is not None:
            self._client.tls_set_context(tls_context(self.cfg.tls))

    def start(self) -> None:
        """Connect in the background (the broker may be down: paho retries with back-off).

        Raises ClientConfigError, naming the file, when a password or TLS file cannot be used (call
        :func:`preflight` first to report every such problem before starting anything else).
        """
        if self._started:
            return
        self._configure_auth()
        try:
            self._target(self._conn.current)
        except (OSError, ValueError) as e:
            raise MessagingError(f"cannot connect to {self._conn.broker}: {e}") from e
        if self._client.loop_start() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MessagingError("could not start the MQTT network thread")
        self._started = True

    def stop(self, offline_payload: bytes | None = None, timeout: float = 2.0) -> None:
        """Publish ``offline_payload`` retained on the status topic (a clean stop sends no will), then
        disconnect and stop the network thread."""
        if not self._started:
            return
        try:
            if offline_payload is not None and self.status_topic and self.connected:
                h = self.publish(OutMessage(self.status_topic, offline_payload, qos=1, retain=True))
                h.wait(timeout)
        except MessagingError as e:
            log.warning("offline status not acknowledged: %s", e)
        self._conn.stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self._started = False

    def _target(self, address: Address) -> None:
        """Point paho at ``address`` for its next attempt. connect_async only records where and how
        (paho's network thread, already looping, makes the attempt): it is how paho 2 lets a client
        change host, also from a callback after a connection ended."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        host, port = address
        self._client.connect_async(host, port, keepalive=self.cfg.keepalive_s, clean_start=False, properties=props)

    @property
    def connected(self) -> bool:
        return self._conn.connected

    @property
    def broker(self) -> str:
        """``host:port`` of the broker this client is connected to (or trying now)."""
        return self._conn.broker

    @property
    def failovers(self) -> int:
        """How many times the client moved on to another broker."""
        return self._conn.failovers

    def wait_connected(self, timeout: float) -> bool:
        return self._conn.wait_connected(timeout)

    def wait_attempt(self, timeout: float) -> bool:
        """Wait until the first connection attempt has ended; True if connected, else see ``stats``.

        For a one-shot probe (`gate-edge check`): a failure is known with its reason at once, without
        waiting out the whole time-out for a connection that the retries might still make.
        """
        return self._conn.wait_attempt(timeout)

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the broker acknowledged (SUBACK) the subscriptions of the current connection.

        True when every one was granted (also when there are none, once connected); False after
        ``timeout``, or when the broker refused one (reason code >= 128, logged as a warning).
        Messages published after this returned True are delivered to this client.
        """
        with self._sub_cv:
            if not self._sub_cv.wait_for(lambda: self._sub_codes is not None, timeout):
                return False
            codes = self._sub_codes
            assert codes is not None
            # One code per filter; a short answer leaves some unacknowledged: not subscribed.
            return len(codes) == len(self.subscriptions) and all(code < 128 for code in codes)

    # ------------------------------------------------------------------ publishing
    def publish(self, msg: OutMessage) -> PublishHandle:
        """Hand a message to paho. Raises NotConnected when offline (nothing is queued then: the
        outbox, not paho's memory, is what survives outages and restarts)."""
        if not self.connected:
            raise NotConnected(f"not connected to {self._conn.broker}")
        try:
            info = self._client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain, properties=_props(msg))
        except (ValueError, TypeError, OSError) as e:
            raise MessagingError(f"cannot publish to {msg.topic!r}: {e}") from e
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            raise NotConnected(f"not connected to {self._conn.broker}")
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE):
            raise MessagingError(f"publish to {msg.topic!r} failed: {paho.error_string(info.rc)}")
        self.stats.published += 1
        return PublishHandle(self, info.mid, msg.topic)

    def _wait_ack(self, mid: int, timeout: float) -> Ack | None:
        with self._ack_cv:
            self._ack_cv.wait_for(lambda: mid in self._acks, timeout)
            return self._acks.pop(mid, None)

    def get(self, timeout: float | None = None) -> Inbound | None:
        try:
            return self.inbound.get(timeout=timeout) if timeout else self.inbound.get_nowait()
        except queue.Empty:
            return None

    # ------------------------------------------------------------------ paho callbacks (enqueue only)
    def _guard(self, fn: Callable[..., None]) -> Callable[..., None]:
        def wrapped(*args: Any) -> None:
            try:
                fn(*args)
            except Exception:  # an exception here would end paho's network thread
                self.stats.callback_errors += 1
                log.exception("error in MQTT callback %s (ignored, loop keeps running)", fn.__name__)

        return wrapped

    def _retarget(self, address: Address | None) -> None:
        if address is not None:
            self._target(address)

    def _handle_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        code = _rc_int(rc)
        if code >= 128:
            self._conn.refused(code, str(rc))  # the disconnect that follows is not another failure
            return
        self._conn.up(getattr(flags, "session_present", None))
        with self._sub_cv:
            self._sub_mid, self._sub_codes = None, None
            if self.subscriptions:
                # Called from paho's thread, which also delivers the SUBACK: it cannot come before mid is set.
                _, self._sub_mid = client.subscribe([(t, 0 if t in self._qos0 else 1) for t in self.subscriptions])
            else:
                self._sub_codes = []
                self._sub_cv.notify_all()
        if self._birth is not None and self.status_topic is not None:
            client.publish(self.status_topic, self._birth(), qos=1, retain=True)
        if self._on_connection is not None:
            self._on_connection(True)

    def _handle_disconnect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        with self._sub_cv:  # the next connection subscribes anew
            self._sub_mid, self._sub_codes = None, None
        lost, nxt = self._conn.down(str(rc))
        self._retarget(nxt)
        if lost and self._on_connection is not None:
            self._on_connection(False)

    def _handle_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        # paho passes no reason, but calls this from the `except OSError` around its connection
        # attempt: the exception being handled is the reason (DNS, refused, TLS, time-out).
        self._retarget(self._conn.attempt_failed(sys.exc_info()[1]))

    def _handle_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.stats.received += 1
        props = getattr(message, "properties", None)
        size = len(message.payload)
        oversized = size if size > self.cfg.max_payload_bytes else None
        if oversized is not None:
            self.stats.inbound_oversized += 1
        item = Inbound(
            topic=message.topic,
            payload=b"" if oversized is not None else bytes(message.payload),
            response_topic=getattr(props, "ResponseTopic", None),
            correlation_data=getattr(props, "CorrelationData", None),
            user_properties=tuple(tuple(p) for p in getattr(props, "UserProperty", []) or []),
            retained=bool(message.retain),
            oversized_bytes=oversized,
        )
        try:
            self.inbound.put_nowait(item)
        except queue.Full:
            self.stats.inbound_dropped += 1
            log.warning("inbound queue full: dropped a message on %s", message.topic)

    def _handle_subscribe(self, client: paho.Client, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        granted = [_rc_int(c) for c in codes]
        for topic, code in zip(self.subscriptions, granted, strict=False):  # a short answer: see wait_subscribed
            if code >= 128:
                self.stats.subscribe_refused += 1
                log.warning("MQTT broker refused the subscription to %r: reason code %d", topic, code)
        with self._sub_cv:
            if mid == self._sub_mid:
                self._sub_codes = granted
                self._sub_cv.notify_all()

    def _handle_publish(self, client: paho.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        code = _rc_int(rc)
        ack = Ack(mid, code, str(rc))
        if not ack.ok:
            self.stats.publish_refused += 1
        with self._ack_cv:
            self._acks[mid] = ack
            if len(self._acks) > 10_000:  # nobody waits for these (outbox uses on_ack): keep bounded
                for k in list(self._acks)[:5000]:
                    del self._acks[k]
            self._ack_cv.notify_all()
        if self._on_ack is not None:
            self._on_ack(ack)
