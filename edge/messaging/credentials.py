"""The files an MQTT connection needs: the password file and the TLS files, read in one place.

:func:`preflight` checks them before anything else starts (``gate-edge run`` exits 2 on a problem,
which the unit does not restart on: a missing credential does not come back by retrying; ``gate-edge
check`` shows each problem as a failed row). The client builds its password and TLS context with
:func:`read_password` and :func:`tls_context`, so the preflight and the connection read the files the
same way and a file that passed the preflight cannot fail differently at connect.

Each problem is one line naming the setting, the file and what the file is for. No paho here.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from edge.messaging.errors import ClientConfigError
from edge.messaging.settings import MqttConfig, TlsConfig

# What each file is for, as an operator reads it in the journal.
PURPOSE = {
    "mqtt.password_file": "the MQTT password",
    "mqtt.tls.ca_file": "the CA certificate that verifies the broker",
    "mqtt.tls.cert_file": "the gate's TLS client certificate",
    "mqtt.tls.key_file": "the gate's TLS client key",
}


def _unreadable(setting: str, path: Path, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    line = f"cannot read {setting} {path} ({PURPOSE[setting]}): {why}"
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and path.parent == Path(creds):
        # systemd copies it there from the credential store (LoadCredential=): that is where it is missing.
        line += f"; it is the systemd credential {path.name}: is /etc/credstore/{path.name} there?"
    return line


def read_password(cfg: MqttConfig) -> str | None:
    """The password from ``password_file`` (trailing newline dropped) or inline; ClientConfigError if unreadable."""
    if cfg.password_file is not None:
        path = Path(cfg.password_file)
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ClientConfigError(_unreadable("mqtt.password_file", path, exc)) from None
        except UnicodeDecodeError:
            raise ClientConfigError(
                f"cannot use mqtt.password_file {path} ({PURPOSE['mqtt.password_file']}): not UTF-8 text"
            ) from None
    if cfg.password is not None:
        return cfg.password.get_secret_value()
    return None


def _tls_files(tls: TlsConfig) -> list[tuple[str, Path]]:
    files = [("mqtt.tls.ca_file", Path(tls.ca_file))]
    if tls.cert_file is not None:
        files.append(("mqtt.tls.cert_file", Path(tls.cert_file)))
    if tls.key_file is not None:
        files.append(("mqtt.tls.key_file", Path(tls.key_file)))
    return files


def _check_readable(setting: str, path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as exc:
        return _unreadable(setting, path, exc)
    return None


def tls_context(tls: TlsConfig) -> ssl.SSLContext:
    """The client's TLS context: the CA, the client certificate and key, verification on.

    ClientConfigError names the file that cannot be read or used. ``insecure_skip_verify`` turns off
    the host name check only (the certificate chain is still verified against the CA).
    """
    problems = [p for setting, path in _tls_files(tls) if (p := _check_readable(setting, path))]
    if problems:
        raise ClientConfigError("; ".join(problems))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name by default
    try:
        ctx.load_verify_locations(cafile=str(tls.ca_file))
    except (ssl.SSLError, ValueError) as exc:
        raise ClientConfigError(
            f"cannot use mqtt.tls.ca_file {tls.ca_file} ({PURPOSE['mqtt.tls.ca_file']}): not a PEM certificate ({exc})"
        ) from None
    if tls.cert_file is not None:
        try:
            ctx.load_cert_chain(certfile=str(tls.cert_file), keyfile=str(tls.key_file) if tls.key_file else None)
        except (ssl.SSLError, ValueError) as exc:
            raise ClientConfigError(
                f"cannot use mqtt.tls.cert_file {tls.cert_file} with mqtt.tls.key_file {tls.key_file} "
                f"(the gate's TLS client certificate and key): not a matching PEM pair ({exc})"
            ) from None
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
    return ctx


def preflight(cfg: MqttConfig) -> list[str]:
    """Every problem with the files the connection needs, one line each; empty when all can be used.

    Reads the password file and loads the TLS files as the client will, without connecting.
    """
    problems: list[str] = []
    try:
        read_password(cfg)
    except ClientConfigError as exc:
        problems.append(str(exc))
    if cfg.tls is not None:
        unreadable = [p for setting, path in _tls_files(cfg.tls) if (p := _check_readable(setting, path))]
        if unreadable:
            problems += unreadable
        else:
            try:
                tls_context(cfg.tls)
            except ClientConfigError as exc:
                problems.append(str(exc))
    return problems


def describe_files(cfg: MqttConfig) -> str:
    """What the connection reads, for a passing check: "password from /x; TLS: CA /y, client certificate /z"."""
    parts: list[str] = []
    if cfg.password_file is not None:
        parts.append(f"password from {cfg.password_file}")
    elif cfg.password is not None:
        parts.append("password inline in the config")
    if cfg.tls is not None:
        tls = f"TLS: CA {cfg.tls.ca_file}"
        if cfg.tls.cert_file is not None:
            tls += f", client certificate {cfg.tls.cert_file}, key {cfg.tls.key_file}"
        parts.append(tls)
    return "; ".join(parts)
