"""A private Mosquitto for tests and the demo: free loopback port, own config in a temp dir.

Plain (anonymous, or with a password file), or the fleet's own secured broker: the SHIPPED
``deploy/mosquitto/gate-edge.conf`` and ``gate-edge.acl``, with only what a test must change
substituted (the listener's port and address, the certificate files, the ACL's location) and a
main config like Debian's around it (persistence location, logging, ``user root`` when run as
root). Restartable on the same port, with persistence, so outage tests keep sessions and retained
messages.

    with Broker() as b:           # plain
        ...b.port...
    b = Broker(tls=TlsFiles(ca, server_crt, server_key)).start()   # the shipped config and ACL
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

# The broker configuration a fleet installs (this file is hardware-sim/gate_sim/broker.py).
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
SHIPPED_CONF = "gate-edge.conf"
SHIPPED_ACL = "gate-edge.acl"


class BrokerError(RuntimeError):
    """Mosquitto is missing, or did not start; the message includes its log."""


@dataclass(frozen=True)
class TlsFiles:
    """The test PKI's files that replace the shipped config's /etc/mosquitto/certs/ ones."""

    ca_file: Path
    cert_file: Path  # server
    key_file: Path


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


def shipped_config(text: str, *, host: str, port: int, tls: TlsFiles, acl_file: Path) -> str:
    """The shipped conf.d file with only the test's substitutions: the one listener moves to
    ``host:port``, the certificate files and the ACL's path are the test's. Everything else is kept
    as shipped. Raises BrokerError when the file no longer has what is substituted, or names another
    system path a test cannot use, so that the tests never silently run a different configuration."""
    subst = {"cafile": str(tls.ca_file), "certfile": str(tls.cert_file), "keyfile": str(tls.key_file),
             "acl_file": str(acl_file)}
    seen: list[str] = []
    out = []
    for line in text.splitlines():
        words = line.split()
        key = words[0] if words and not words[0].startswith("#") else None
        if key == "listener":
            out.append(f"listener {port} {host}")
            seen.append(key)
        elif key in subst:
            out.append(f"{key} {subst[key]}")
            seen.append(key)
        elif key is not None and any(w.startswith("/") for w in words[1:]):
            raise BrokerError(f"{SHIPPED_CONF} names a path a test cannot use: {line.strip()!r}")
        else:
            out.append(line)
    missing = sorted((set(subst) | {"listener"}) - set(seen))
    if missing or seen.count("listener") != 1:
        expected = f"exactly one listener and {sorted(subst)}"
        raise BrokerError(f"{SHIPPED_CONF} changed: expected {expected}; missing {missing}")
    return "\n".join(out) + "\n"


class Broker:
    """A private Mosquitto. Without ``tls``: a plain listener, anonymous unless ``users`` (name ->
    password) makes a password file. With ``tls``: the shipped fleet config and ACL (see the module
    doc); ``users``, ``persistence`` and ``message_size_limit`` are then the shipped file's business."""

    def __init__(
        self,
        port: int | None = None,
        workdir: Path | None = None,
        *,
        tls: TlsFiles | None = None,
        users: dict[str, str] | None = None,
        persistence: bool = True,
        message_size_limit: int = 0,
        shipped_dir: Path | None = None,
    ) -> None:
        if tls is not None and (users is not None or not persistence or message_size_limit):
            raise ValueError("the shipped config decides users, persistence and packet size: do not override them")
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="gate-broker-"))
        self.tls = tls
        self.users = users
        self.persistence = persistence
        self.message_size_limit = message_size_limit
        self.shipped_dir = shipped_dir or SHIPPED_DIR
        self.proc: subprocess.Popen[bytes] | None = None
        self.config_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self._write_config()

    @property
    def db_path(self) -> Path:
        """Where Mosquitto saves its persistence (on stop, and every autosave_interval)."""
        return self.workdir / "mosquitto.db"

    def _main_lines(self) -> list[str]:
        lines = [
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
        return lines

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = self._main_lines()
        if self.tls is not None:
            # Laid out as on a Debian broker: a main config that includes conf.d/gate-edge.conf.
            conf_d = self.workdir / "conf.d"
            conf_d.mkdir(exist_ok=True)
            text = (self.shipped_dir / SHIPPED_CONF).read_text()
            acl = self.shipped_dir / SHIPPED_ACL
            (conf_d / SHIPPED_CONF).write_text(
                shipped_config(text, host=self.host, port=self.port, tls=self.tls, acl_file=acl)
            )
            lines.append(f"include_dir {conf_d}")
            self.config_path.write_text("\n".join(lines) + "\n")
            return
        lines += [f"listener {self.port} {self.host}", f"persistence {'true' if self.persistence else 'false'}"]
        if self.message_size_limit:
            lines.append(f"max_packet_size {self.message_size_limit}")
        if self.users is not None:
            pw = self.workdir / "passwd"
            pw.write_text("".join(password_line(u, p) + "\n" for u, p in self.users.items()))
            pw.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
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
