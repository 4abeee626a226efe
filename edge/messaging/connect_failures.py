"""Why a connection to the broker failed, in plain words, and a log of it an operator can read.

paho hands the client no reason for a failed attempt; the client gives this module the exception
paho caught (or the broker's CONNACK code) and :func:`describe_exception` / :func:`describe_refusal`
turn it into one phrase: name resolution, connection refused, TLS verification, credentials, time-out.
That phrase is what :attr:`ClientStats.last_connect_error` holds and the daemon shows in its status.

:class:`FailureLog` writes the WARNING lines: the first failure of an outage at once, then at most one
line a minute while it keeps failing (paho retries every few seconds: one line per attempt would
flood the journal), and one line when the connection comes back. No paho here.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import time
from collections.abc import Callable

# CONNACK reason codes that mean "who you are" rather than "not now".
_CREDENTIAL_CODES = {134: "bad user name or password", 135: "not authorised", 140: "bad authentication method"}
REPEAT_EVERY_S = 60.0


def describe_exception(exc: BaseException | None, host: str, port: int, tls: bool) -> str:
    """One phrase for the exception a connection attempt ended with.

    None (the library gave no exception): a name that does not resolve is still told, by a probe.
    """
    where = f"{host}:{port}"
    if exc is None:
        return resolution_problem(host, port) or f"cannot connect to {where} (no reason given)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the broker's name {host!r}: {exc.strerror or exc}"
    # OpenSSL fills in reason and verify_message; an SSLError made elsewhere may lack them.
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or str(exc)
        return f"TLS verification of the broker at {where} failed: {detail} (is mqtt.tls.ca_file the broker's CA?)"
    if isinstance(exc, ssl.SSLError):
        detail = getattr(exc, "reason", None) or str(exc)
        upper = str(detail).upper()
        hint = ""
        if "WRONG_VERSION" in upper:
            hint = " (is it a TLS port?)"
        elif any(k in upper for k in ("HANDSHAKE_FAILURE", "CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA")):
            hint = " (does the broker refuse the client certificate, mqtt.tls.cert_file?)"
        return f"TLS handshake with {where} failed: {detail}{hint}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {where} (no broker listening on that port?)"
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        # The TCP connect or the TLS handshake: paho's one connect time-out covers both.
        return f"timed out connecting to {where} (no answer: a firewall dropping packets, or the host down?)"
    if isinstance(exc, ConnectionResetError):
        return f"connection reset by {where}"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"no route to {where}: {exc.strerror}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot connect to {where}: {exc.strerror}"
    return f"cannot connect to {where}: {type(exc).__name__}: {exc}"


def describe_refusal(code: int, name: str) -> str:
    """The broker answered CONNACK with a failure ``code`` (``name``: the reason code's own words)."""
    if code in _CREDENTIAL_CODES:
        return (f"the broker refused the gate's credentials: {_CREDENTIAL_CODES[code]} ({code}); "
                "check mqtt.username and the password or client certificate")
    return f"the broker refused the connection: {name} ({code})"


def describe_early_close(reason: str, tls: bool) -> str:
    """The connection ended before the broker's CONNACK (the broker hung up, or spoke no MQTT)."""
    hint = " (TLS client certificate refused?)" if tls else " (a TLS port, or not an MQTT broker?)"
    return f"the connection closed before the broker accepted it: {reason}{hint}"


def resolution_problem(host: str, port: int) -> str | None:
    """The name-resolution failure for ``host``, if that is what is wrong (a probe when paho gave no reason)."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return describe_exception(exc, host, port, tls=False)
    except (OSError, UnicodeError):
        return None
    return None


class FailureLog:
    """Rate-limited WARNING lines for connection failures, and one when the connection recovers.

    Thread-safe enough for its use: only paho's network thread calls it.
    """

    def __init__(self, logger: logging.Logger, where: str, clock: Callable[[], float] = time.monotonic,
                 every_s: float = REPEAT_EVERY_S) -> None:
        self._log = logger
        self._where = where
        self._clock = clock
        self._every = every_s
        self._failures = 0  # in the current outage
        self._since: float | None = None  # first failure of the current outage
        self._last_line: float | None = None
        self._unlogged = 0  # failures since the last line

    def failed(self, reason: str) -> None:
        now = self._clock()
        self._failures += 1
        self._unlogged += 1
        if self._since is None:
            self._since = now
        if self._last_line is None:
            self._log.warning("MQTT broker %s unreachable: %s; retrying with back-off", self._where, reason)
        elif now - self._last_line >= self._every:
            self._log.warning("MQTT broker %s still unreachable after %d attempts over %.0f s (%d since the last "
                              "report): %s", self._where, self._failures, now - self._since, self._unlogged, reason)
        else:
            return
        self._last_line = now
        self._unlogged = 0

    def connected(self) -> None:
        """The connection is up: a line if an outage was reported, and the next failure is reported at once."""
        if self._since is not None and self._last_line is not None:
            self._log.warning("MQTT broker %s reachable again after %d failed attempts over %.0f s", self._where,
                              self._failures, self._clock() - self._since)
        self._failures, self._since, self._last_line, self._unlogged = 0, None, None, 0
