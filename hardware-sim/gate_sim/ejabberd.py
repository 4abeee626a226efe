"""A private ejabberd MQTT cluster for tests and benchmarks: N nodes on loopback, own everything.

ejabberd's MQTT broker (mod_mqtt, MQTT 5) clusters its nodes over Erlang distribution. Each node
here runs from its own config, spool (Mnesia) and log directories under ``workdir``, with free
MQTT ports, a private epmd port (``ERL_EPMD_PORT``) and a random cookie, so that several clusters
(and a system ejabberd on 1883) never see each other. Nodes run in the foreground of a process
this module started (``erl -noinput``, as ejabberdctl's ``foreground`` does): :meth:`kill` is a real
node crash (SIGKILL of the beam process), :meth:`start` with an index brings that node back, and it
rejoins the cluster from its own spool. Commands (``register``, ``join_cluster``...) go through
``ejabberd_ctl`` exactly as ejabberdctl sends them.

    with EjabberdCluster(nodes=2) as c:
        c.register("gate-G1", "pw")             # logs in as user "gate-G1" (or "gate-G1@localhost")
        host, port = c.addresses[0]
        c.kill(0)                               # node 0 crashes; node 1 keeps serving
        c.start(0)                              # node 0 is back in the cluster

Needs Debian's ``ejabberd`` package (bookworm: 23.01); its system service is not used.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from gate_sim.broker import free_port

EJABBERDCTL = "/usr/sbin/ejabberdctl"
ERL = "/usr/bin/erl"
EPMD = "/usr/bin/epmd"
MQTT_HOST = "localhost"  # the XMPP virtual host the MQTT users belong to
STARTED = re.compile(r"ejabberd \S+ is started in the node")


class EjabberdError(RuntimeError):
    """ejabberd is missing, a node did not start, or a command failed; the message has the log."""


def ejabberd_available() -> bool:
    return Path(EJABBERDCTL).exists() and Path(ERL).exists()


def _erl_libs() -> str:
    """Where Debian put ejabberd's Erlang applications (ejabberdctl names it; it is per architecture)."""
    try:
        m = re.search(r"^ERL_LIBS='?([^'\n]+)'?", Path(EJABBERDCTL).read_text(), re.M)
    except OSError as e:
        raise EjabberdError(f"ejabberd is not installed ({EJABBERDCTL}: {e}); apt-get install ejabberd") from e
    if m is None:
        raise EjabberdError(f"cannot find ERL_LIBS in {EJABBERDCTL}")
    return m.group(1)


def _yaml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def node_config(mqtt_port: int, *, log_level: str = "info", max_payload_size: int | None = None,
                mod_mqtt_extra: str = "", listener_extra: str = "") -> str:
    """A minimal ejabberd.yml: one virtual host, internal users, only the MQTT listener (loopback).

    ``mod_mqtt_extra`` / ``listener_extra`` are YAML lines (already indented by 4 / 4 spaces) added to
    the ``mod_mqtt`` module options / the listener, for the feature checks (e.g. ``access_publish``).
    """
    payload = f"    max_payload_size: {max_payload_size}\n" if max_payload_size is not None else ""
    return (
        f"loglevel: {log_level}\n"
        "log_rotate_count: 0\n"
        f"hosts:\n  - {MQTT_HOST}\n"
        "auth_method: internal\n"
        "auth_password_format: plain\n"
        "listen:\n"
        f"  -\n    port: {mqtt_port}\n    ip: \"127.0.0.1\"\n    module: mod_mqtt\n    backlog: 1000\n"
        f"{payload}{listener_extra}"
        "acl:\n  local:\n    user_regexp: \"\"\n"
        "access_rules:\n  local:\n    allow: local\n"
        "api_permissions:\n"
        "  \"console commands\":\n    from:\n      - ejabberd_ctl\n    who: all\n    what: \"*\"\n"
        "modules:\n"
        "  mod_mqtt:\n"
        "    session_expiry: 3600\n"
        f"{mod_mqtt_extra}"
    )


class EjabberdCluster:
    """``nodes`` ejabberd nodes joined into one cluster; every node serves MQTT on its own port.

    ``addresses[i]`` is node i's MQTT ``(host, port)``; the ports stay the same across
    :meth:`kill` / :meth:`start`. ``config`` (the result of :func:`node_config` for a port, as a
    callable ``port -> yaml``) replaces the default configuration.
    """

    def __init__(self, workdir: Path | None = None, nodes: int = 2, *, max_payload_size: int | None = None,
                 mod_mqtt_extra: str = "", listener_extra: str = "", start_timeout: float = 120.0) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        if not ejabberd_available():
            raise EjabberdError("ejabberd is not installed: apt-get install ejabberd (Debian 12 has 23.01)")
        self._own_dir = workdir is None
        # Not under pytest's tmp_path: when run as root, the beam runs as root too, but keep the
        # tree world-traversable so a non-root ejabberd user could read it if ever needed.
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="gate-ejabberd-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.n = nodes
        self.start_timeout = start_timeout
        self.tag = secrets.token_hex(3)
        self.cookie = secrets.token_hex(16)
        self.epmd_port = free_port()
        self.names = [f"gate{i + 1}_{self.tag}@localhost" for i in range(nodes)]
        self.ports = [free_port() for _ in range(nodes)]
        self.host = "127.0.0.1"
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * nodes
        self._logs: list[object] = [None] * nodes
        self._joined = [False] * nodes
        (self.workdir / "inetrc").write_text('{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n')
        for i in range(nodes):
            d = self.node_dir(i)
            for sub in ("conf", "db", "log"):
                (d / sub).mkdir(parents=True, exist_ok=True)
            (d / "conf" / "ejabberd.yml").write_text(node_config(
                self.ports[i], max_payload_size=max_payload_size, mod_mqtt_extra=mod_mqtt_extra,
                listener_extra=listener_extra))
        self._env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ERL", "EJABBERD"))},
            "ERL_LIBS": _erl_libs(),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_INETRC": str(self.workdir / "inetrc"),
            "ERL_CRASH_DUMP_BYTES": "0",
            "HOME": str(self.workdir),  # erl may write a cookie file there; ours is given on the command line
        }

    # ------------------------------------------------------------------ layout
    def node_dir(self, i: int) -> Path:
        return self.workdir / f"node{i + 1}"

    def log_path(self, i: int) -> Path:
        return self.node_dir(i) / "log" / "ejabberd.log"

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [(self.host, p) for p in self.ports]

    def running(self, i: int) -> bool:
        p = self.procs[i]
        return p is not None and p.poll() is None

    def pid(self, i: int) -> int | None:
        """The beam process of node ``i`` (erl execs erlexec, which execs beam.smp: the same pid)."""
        p = self.procs[i]
        return p.pid if p is not None and p.poll() is None else None

    # ------------------------------------------------------------------ lifecycle
    def start(self, i: int | None = None) -> EjabberdCluster:
        """Without ``i``: start every node and join them into one cluster (node 0 first). With ``i``:
        bring back that one node (after :meth:`kill`); a node that was joined rejoins from its spool."""
        if i is not None:
            self._boot(i)
            if not self._joined[i]:
                self._join(i)
            return self
        try:
            for k in range(self.n):
                self._boot(k)
            self._joined[0] = True
            for k in range(1, self.n):
                self._join(k)
        except BaseException:
            self.stop()
            raise
        return self

    def _boot(self, i: int) -> None:
        if self.running(i):
            return
        d = self.node_dir(i)
        log_path = self.log_path(i)
        offset = log_path.stat().st_size if log_path.exists() else 0
        env = {**self._env,
               "EJABBERD_CONFIG_PATH": str(d / "conf" / "ejabberd.yml"),
               "EJABBERD_LOG_PATH": str(log_path),
               "ERL_CRASH_DUMP": str(d / "log" / "erl_crash.dump")}
        out = open(d / "log" / "console.log", "ab")  # noqa: SIM115 - the node's stdout, closed on stop
        self._logs[i] = out
        cmd = [ERL, "-sname", self.names[i], "-setcookie", self.cookie, "-noinput", "+K", "true",
               "+P", "250000", "-mnesia", "dir", f'"{d / "db"}"', "-s", "ejabberd"]
        self.procs[i] = subprocess.Popen(cmd, cwd=d / "db", env=env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_started(i, offset)

    def _wait_started(self, i: int, offset: int) -> None:
        """Wait for the node's own 'is started' log line, then for its MQTT listener to accept."""
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            p = self.procs[i]
            if p is None or p.poll() is not None:
                raise EjabberdError(f"ejabberd node {i} exited ({p.returncode if p else None}):\n{self.log_text(i)}")
            if STARTED.search(self._log_since(i, offset)) and self._accepting(i):
                return
            time.sleep(0.05)
        raise EjabberdError(f"ejabberd node {i} did not start within {self.start_timeout} s:\n{self.log_text(i)}")

    def _log_since(self, i: int, offset: int) -> str:
        try:
            with open(self.log_path(i), "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _accepting(self, i: int) -> bool:
        try:
            with socket.create_connection((self.host, self.ports[i]), timeout=0.2):
                return True
        except OSError:
            return False

    def _join(self, i: int) -> None:
        # join_cluster restarts ejabberd on the joining node and returns when it runs again.
        self.ctl(i, "join_cluster", self.names[0])
        self._joined[i] = True

    def kill(self, i: int) -> None:
        """A node crash: SIGKILL its beam process (no clean leave; its MQTT sessions die with it)."""
        p = self.procs[i]
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait()
        self.procs[i] = None
        self._close_log(i)

    def stop_node(self, i: int, timeout: float = 30.0) -> None:
        """A clean stop of node ``i`` (``ejabberdctl stop``), killed if it does not end in time."""
        p = self.procs[i]
        if p is None:
            return
        if p.poll() is None:
            try:
                self.ctl(i, "stop", timeout=timeout)
                p.wait(timeout)
            except (EjabberdError, subprocess.TimeoutExpired):
                p.kill()
                p.wait()
        self.procs[i] = None
        self._close_log(i)

    def _close_log(self, i: int) -> None:
        f = self._logs[i]
        if f is not None:
            f.close()  # type: ignore[attr-defined]
            self._logs[i] = None

    def stop(self) -> None:
        """Stop every node (last joined first), then this cluster's private epmd."""
        for i in reversed(range(self.n)):
            self.stop_node(i)
        subprocess.run([EPMD, "-port", str(self.epmd_port), "-kill"], env=self._env, capture_output=True,
                       timeout=10, check=False)

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> EjabberdCluster:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ commands
    def ctl(self, i: int, *args: str, timeout: float = 60.0) -> str:
        """An ejabberdctl command on node ``i`` (through ejabberd_ctl, as ejabberdctl sends it)."""
        name = f"ctl{secrets.token_hex(3)}_{self.tag}@localhost"
        cmd = [ERL, "-sname", name, "-setcookie", self.cookie, "-hidden", "-noinput", "-s", "ejabberd_ctl",
               "-extra", self.names[i], *args]
        try:
            r = subprocess.run(cmd, env=self._env, capture_output=True, timeout=timeout, check=False,
                               cwd=self.workdir)
        except subprocess.TimeoutExpired as e:
            raise EjabberdError(f"ejabberdctl {' '.join(args)} on node {i}: no answer in {timeout} s") from e
        out = (r.stdout + r.stderr).decode(errors="replace")
        if r.returncode != 0:
            raise EjabberdError(f"ejabberdctl {' '.join(args)} on node {i} failed ({r.returncode}): {out.strip()}")
        return out

    def register(self, user: str, password: str) -> None:
        """A user of the cluster (stored in Mnesia, replicated to every node): MQTT username ``user``."""
        node = next(k for k in range(self.n) if self.running(k))
        self.ctl(node, "register", user, MQTT_HOST, password)

    def cluster_nodes(self, i: int = 0) -> list[str]:
        """The nodes that node ``i`` sees in its cluster (``list_cluster``)."""
        return [w.strip("'") for w in self.ctl(i, "list_cluster").split()]

    def log_text(self, i: int) -> str:
        parts = []
        for name in ("ejabberd.log", "error.log", "console.log"):
            with contextlib.suppress(OSError):
                parts.append((self.node_dir(i) / "log" / name).read_text(errors="replace")[-3000:])
        return "\n".join(parts)


def main() -> None:
    """``python -m gate_sim.ejabberd [--nodes N]``: run a private cluster until Ctrl-C."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--nodes", type=int, default=2)
    args = ap.parse_args()
    with EjabberdCluster(nodes=args.nodes) as c:
        print(f"ejabberd cluster {c.names} on MQTT {c.addresses} (workdir {c.workdir})", flush=True)
        try:
            while all(c.running(i) for i in range(c.n)):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
