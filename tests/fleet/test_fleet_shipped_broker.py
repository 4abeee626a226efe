"""`gate-edge fleet` on the shipped broker (deploy/mosquitto: TLS, client certificates, the ACL) with
the fleet-admin certificate: the gates table (its marker topic must be allowed by the ACL) and a
command answered by a gate's own link, each within the rights the ACL gives the fleet admin."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from security.conftest import as_identity, shipped_broker  # noqa: F401 - fixtures, used by name
from support.keys import role_key
from support.waiting import wait_for

from edge.commands import main as gate_edge
from edge.messaging.envelope import private_pem
from edge.messaging.link import CommandItem, GateLink
from edge.messaging.schemas import CommandReply
from edge.messaging.settings import MqttConfig


def _flags(cfg: MqttConfig) -> list[str]:
    assert cfg.tls is not None and cfg.tls.cert_file and cfg.tls.key_file and cfg.password_file
    return ["--host", cfg.host, "--port", str(cfg.port), "--username", str(cfg.username),
            "--password-file", str(cfg.password_file), "--ca", str(cfg.tls.ca_file), "--cert", str(cfg.tls.cert_file),
            "--key", str(cfg.tls.key_file)]


def _fleet(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = gate_edge(["fleet", *argv])
    return rc, out.getvalue(), err.getvalue()


def test_the_fleet_admin_certificate_lists_gates_and_commands_them(
    as_identity: Callable[..., MqttConfig],  # noqa: F811 - the fixture
    link_factory: Callable[..., GateLink], tmp_path: Path,
) -> None:
    gate = link_factory(as_identity("G1"))  # connected: its birth status is retained
    conn = _flags(as_identity("fleet-admin"))
    rc, out, err = _fleet("gates", "--json", *conn)
    assert rc == 0, err
    (row,) = json.loads(out)
    assert row["gate"] == "G1" and row["online"] is True

    key = tmp_path / "fleet_admin.pem"
    key.write_bytes(private_pem(role_key("fleet_admin")))
    result: list[Any] = []
    tool = threading.Thread(target=lambda: result.append(_fleet("cmd", "pause", "--gate", "G1", "--signing-key",
                                                                str(key), *conn)))
    tool.start()
    got: list[Any] = []
    wait_for(lambda: (got.extend(gate.poll(0.1)), any(isinstance(i, CommandItem) for i in got))[1], 20,
             "the command at the gate")
    (item,) = [i for i in got if isinstance(i, CommandItem)]
    gate.reply(item, CommandReply(gate="G1", command="pause", request_id=item.request.request_id, result="accepted"))
    tool.join(20)
    rc, out, err = result[0]
    assert rc == 0 and "G1: pause accepted" in out, out + err
