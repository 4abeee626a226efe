"""A throw-away fleet PKI made with the openssl CLI, and client settings for each identity of the
shipped broker (deploy/mosquitto): gates G1 and G2 and the three services, each a certificate whose
CN is its identity, as the fleet CA would sign them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gate_sim.broker import TlsFiles

from edge.messaging.settings import MqttConfig, TlsConfig
from support import fast_mqtt

GATES = ("G1", "G2")
SERVICES = ("gallery-service", "dcs", "fleet-admin")
# What each would configure as mqtt.password_file. The shipped broker does not use passwords (the
# certificate is the identity); clients still send them, as the daemon does, to show they change nothing.
PASSWORDS = {name: f"pw-{name}" for name in (*GATES, *SERVICES)}


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (CN = name) per identity."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=gate-test-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ["server", *PASSWORDS]:
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=d)
        extra = ["-extfile", "san.cnf"] if name == "server" else []
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-out", f"{name}.crt", *extra, cwd=d)
    return d


def server_files(pki: Path) -> TlsFiles:
    return TlsFiles(pki / "ca.crt", pki / "server.crt", pki / "server.key")


def client_cfg(port: int, pki: Path, pw_dir: Path, cert: str, username: str | None = None,
               password_of: str | None = None) -> MqttConfig:
    """Settings for a client holding ``cert``'s key that says it is ``username`` (default: the same)
    with ``password_of``'s password (default: its own), as the daemon sends them."""
    username = username or cert
    pw = pw_dir / f"{password_of or username}.pw"
    pw.write_text(PASSWORDS[password_of or username] + "\n")
    tls = TlsConfig(ca_file=pki / "ca.crt", cert_file=pki / f"{cert}.crt", key_file=pki / f"{cert}.key")
    return fast_mqtt(port, username=username, password_file=pw, tls=tls)
