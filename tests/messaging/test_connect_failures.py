"""Broker failures in plain words, at WARNING, rate-limited: against real sockets and a real Mosquitto.

Every wait is on the client's own failure count (the reason and the log line are written before the
count moves), never on a pause; the minute between repeated lines runs on a fake clock.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_sim.broker import Broker, free_port
from pydantic import SecretStr
from support import fast_mqtt, wait_for

from edge.messaging.client import MqttClient
from edge.messaging.connect_failures import FailureLog, describe_exception, describe_refusal
from edge.messaging.settings import MqttConfig, TlsConfig

LOGGER = "edge.messaging.client"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


@pytest.fixture
def started() -> Iterator[list[MqttClient]]:
    clients: list[MqttClient] = []
    yield clients
    for c in clients:
        c.stop()


def _start(clients: list[MqttClient], cfg: MqttConfig, clock: FakeClock | None = None) -> MqttClient:
    c = MqttClient(cfg, "gate-edge-G1", clock=clock or FakeClock())
    clients.append(c)
    c.start()
    return c


def test_an_unresolvable_broker_is_a_warning_with_the_name(
    started: list[MqttClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    c = _start(started, fast_mqtt(1883, host="no-such-broker.invalid"))
    wait_for(lambda: c.stats.connect_failures >= 1, 20, "a failed name resolution")
    reason = c.stats.last_connect_error
    assert reason is not None and reason.startswith("cannot resolve the broker's name 'no-such-broker.invalid'")
    (line,) = _warnings(caplog)
    assert line == f"MQTT broker no-such-broker.invalid:1883 unreachable: {reason}; retrying with back-off"


def test_a_closed_port_is_reported_once_a_minute_and_its_recovery_once(
    started: list[MqttClient], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    port, clock = free_port(), FakeClock()
    c = _start(started, fast_mqtt(port), clock)
    wait_for(lambda: c.stats.connect_failures >= 3, 20, "three refused attempts")
    assert c.stats.last_connect_error == f"connection refused by 127.0.0.1:{port} (no broker listening on that port?)"
    assert len(_warnings(caplog)) == 1  # three failures within the minute: one line
    clock.now += 61
    seen = c.stats.connect_failures
    wait_for(lambda: c.stats.connect_failures > seen, 20, "an attempt after a minute")
    first, again = _warnings(caplog)
    assert "unreachable: connection refused" in first
    assert again.startswith(f"MQTT broker 127.0.0.1:{port} still unreachable after ") and "over 61 s" in again
    with Broker(port=port, workdir=tmp_path / "broker"):
        assert c.wait_connected(20), c.stats
        assert c.stats.last_connect_error is None
        *_, back = _warnings(caplog)
        assert back.startswith(f"MQTT broker 127.0.0.1:{port} reachable again after ")
        assert len(_warnings(caplog)) == 3


def test_bad_credentials_say_so(started: list[MqttClient], caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    with Broker(workdir=tmp_path / "broker", users={"G1": "right"}) as b:
        c = _start(started, fast_mqtt(b.port, username="G1", password=SecretStr("wrong")))
        wait_for(lambda: c.stats.connect_failures >= 1, 20, "the broker's refusal")
    reason = c.stats.last_connect_error
    assert reason is not None and reason.startswith("the broker refused the gate's credentials: ")
    assert "(135)" in reason or "(134)" in reason
    (line,) = _warnings(caplog)
    assert reason in line


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A TLS listener with a self-signed certificate, and a CA file that did not sign it."""
    for name in ("server", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
                 "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", f"{name}.key", "-out", f"{name}.crt",
                 cwd=tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(5)
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except OSError:
                pass  # the client gave up on our certificate: what the test wants

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], tmp_path / "other-ca.crt"
    stop.set()
    listener.close()
    thread.join(5)


def test_a_broker_certificate_the_ca_did_not_sign_is_a_tls_verification_failure(
    started: list[MqttClient], caplog: pytest.LogCaptureFixture, tls_server: tuple[int, Path]
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    port, wrong_ca = tls_server
    c = _start(started, fast_mqtt(port, tls=TlsConfig(ca_file=wrong_ca)))
    wait_for(lambda: c.stats.connect_failures >= 1, 20, "a failed TLS verification")
    reason = c.stats.last_connect_error
    assert reason is not None and reason.startswith(f"TLS verification of the broker at 127.0.0.1:{port} failed: ")
    assert "mqtt.tls.ca_file" in reason
    (line,) = _warnings(caplog)
    assert reason in line


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (socket.gaierror(-2, "Name or service not known"), "cannot resolve the broker's name 'b.example'"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connection refused by b.example:8883"),
        (TimeoutError("timed out"), "timed out connecting to b.example:8883 (no answer"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "no route to b.example:8883: No route to host"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "TLS handshake with b.example:8883"),
    ],
)
def test_each_kind_of_failure_in_plain_words(exc: BaseException, expected: str) -> None:
    assert describe_exception(exc, "b.example", 8883, tls=True).startswith(expected)


def test_without_an_exception_a_name_that_does_not_resolve_is_still_told() -> None:
    assert describe_exception(None, "no-such-broker.invalid", 1883, tls=False).startswith("cannot resolve")
    unknown = describe_exception(None, "127.0.0.1", 1883, tls=False)
    assert unknown == "cannot connect to 127.0.0.1:1883 (no reason given)"


def test_refusals_that_are_about_credentials_say_so() -> None:
    assert describe_refusal(135, "Not authorized").startswith("the broker refused the gate's credentials: not auth")
    assert describe_refusal(134, "Bad user name or password").startswith("the broker refused the gate's credentials")
    assert describe_refusal(137, "Server busy") == "the broker refused the connection: Server busy (137)"


def test_the_failure_log_reports_an_outage_start_at_most_once_a_minute_and_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "t")
    clock = FakeClock()
    flog = FailureLog(logging.getLogger("t"), "b:1883", clock)
    for _ in range(5):
        flog.failed("connection refused")
        clock.now += 10
    flog.failed("cannot resolve")  # 50 s after the first line: still within the minute
    clock.now += 11
    flog.failed("cannot resolve")  # 61 s: one more line, with the latest reason
    flog.connected()
    flog.connected()  # no outage: nothing
    flog.failed("again")  # a new outage is reported at once
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "MQTT broker b:1883 unreachable: connection refused; retrying with back-off",
        "MQTT broker b:1883 still unreachable after 7 attempts over 61 s (6 since the last report): cannot resolve",
        "MQTT broker b:1883 reachable again after 7 failed attempts over 61 s",
        "MQTT broker b:1883 unreachable: again; retrying with back-off",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)
