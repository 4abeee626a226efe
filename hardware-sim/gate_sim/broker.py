"""A private Mosquitto for tests and the demo: free loopback port, own config in a temp dir.

Plain (anonymous) or secured (TLS with client certificates + password file + ACL). Restartable on
the same port, with persistence, so outage tests keep sessions and retained messages.

    with Broker() as b:           # plain
        ...b.port...
    b = Broker(tls=TlsFiles(...), users={"G1": "pw"}, acl=GATE_ACL).start()
    b.restart()                   # same port, same persisted state
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto")

# Per-gate ACL for username == gate id (see deploy/mosquitto/acl for the documented production one).
GATE_ACL = """\
pattern write gate/v1/%u/status
pattern write gate/v1/%u/gallery/request
pattern write gate/v1/%u/events
pattern write gate/v1/%u/wipe
pattern write gate/v1/%u/config/reported
pattern write gate/v1/%u/telemetry
pattern write gate/v1/%u/rejected
pattern write gate/v1/%u/replies/#
pattern write gate/v1/%u/replies
pattern read gate/v1/%u/assignment
pattern read gate/v1/%u/gallery/response
pattern read gate/v1/%u/config/desired
pattern read gate/v1/%u/cmd/+
pattern read fleet/v1/config

user gallery-service
topic read gate/v1/+/gallery/request
topic write gate/v1/+/gallery/response

user dcs
topic write gate/v1/+/assignment

user fleet-admin
topic readwrite fleet/v1/#
topic readwrite gate/v1/#
"""


class BrokerError(RuntimeError):
    """Mosquitto is missing, or did not start; the message includes its log."""


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path
    cert_file: Path  # server
    key_file: Path
    require_client_cert: bool = True


def find_mosquitto() -> str:
    found = shutil.which("mosquitto")
    for c in (found, *MOSQUITTO_CANDIDATES):
        if c and Path(c).exists():
            return c
    raise BrokerError("mosquitto not found: install it (Debian/Ubuntu: apt-get install mosquitto)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def password_line(username: str, password: str, iterations: int = 101) -> str:
    """A Mosquitto 2 password-file line ($7$: PBKDF2-SHA512), without needing mosquitto_passwd."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=64)
    return f"{username}:$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class Broker:
    def __init__(
        self,
        port: int | None = None,
        workdir: Path | None = None,
        *,
        tls: TlsFiles | None = None,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        persistence: bool = True,
        message_size_limit: int = 0,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="gate-broker-"))
        self.tls = tls
        self.users = users
        self.acl = acl
        self.persistence = persistence
        self.message_size_limit = message_size_limit
        self.proc: subprocess.Popen[bytes] | None = None
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self._write_config()

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_timestamp true",
        ]
        # As root, Mosquitto drops to user 'mosquitto', which then cannot read 0600 keys made here.
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            lines.insert(0, "user root")
        if self.message_size_limit:
            lines.append(f"max_packet_size {self.message_size_limit}")
        if self.users is not None:
            pw = self.workdir / "passwd"
            pw.write_text("".join(password_line(u, p) + "\n" for u, p in self.users.items()))
            pw.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl is not None:
            acl = self.workdir / "acl"
            acl.write_text(self.acl)
            lines.append(f"acl_file {acl}")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.cert_file}",
                f"keyfile {self.tls.key_file}",
                f"require_certificate {'true' if self.tls.require_client_cert else 'false'}",
                "tls_version tlsv1.2",
            ]
        self.config_path.write_text("\n".join(lines) + "\n")

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> Broker:
        if self.proc is not None and self.proc.poll() is None:
            return self
        exe = find_mosquitto()
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed on stop
        self._log = log
        self.proc = subprocess.Popen([exe, "-c", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerError(f"mosquitto exited with {self.proc.returncode}:\n{self.log_text()}")
            if self._accepting():
                return self
            time.sleep(0.01)
        self.stop()
        raise BrokerError(f"mosquitto did not accept connections on port {self.port}:\n{self.log_text()}")

    def _accepting(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2) as s:
                if self.tls is not None:
                    # A plain TCP accept happens before the TLS context is ready; a handshake proves it.
                    ctx = ssl.create_default_context(cafile=str(self.tls.ca_file))
                    ctx.check_hostname = False
                    try:
                        with ctx.wrap_socket(s, server_hostname=self.host):
                            pass
                    except ssl.SSLError:
                        return True  # server answered TLS (it wants our client certificate): ready
                return True
        except OSError:
            return False

    def stop(self, timeout: float = 5.0) -> None:
        """Graceful stop (SIGTERM: Mosquitto saves its persistence file)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self._log.close()

    def restart(self) -> Broker:
        self.stop()
        return self.start()

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def main() -> None:
    """``python -m gate_sim.broker [--port N]``: run a plain private broker until Ctrl-C."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--port", type=int, default=None)
    args = ap.parse_args()
    with Broker(args.port) as b:
        print(f"mosquitto on {b.host}:{b.port} (config {b.config_path})", flush=True)
        try:
            while b.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
