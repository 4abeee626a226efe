"""`gate-edge fleet` without a gate: reading desired config files, the gate's own validation, the
connection settings, the tables (rich on a terminal, plain when piped), and the gates table built from
whatever the broker holds (bodies are shown unverified, so any JSON must be survivable)."""

from __future__ import annotations

import io
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.commands import main as gate_edge
from edge.config.errors import ConfigError
from edge.fleet.connection import FleetError, mqtt_settings
from edge.fleet.gates import rows
from edge.fleet.push import check_locally, read_desired
from edge.fleet.render import Table


def test_a_desired_file_is_the_config_or_version_and_config(tmp_path: Path) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text("decision: {margin: 0.05}\n")
    assert read_desired(bare, 7).version == 7 and read_desired(bare, 7).config == {"decision": {"margin": 0.05}}
    wrapped = tmp_path / "wrapped.yaml"
    wrapped.write_text("version: 12\nconfig: {telemetry: {interval_s: 30}}\n")
    assert read_desired(wrapped).version == 12
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(FleetError, match="expected a mapping"):
        read_desired(listed)


def test_the_local_check_is_the_gates_own(tmp_path: Path) -> None:
    doc = tmp_path / "d.yaml"
    doc.write_text("decision: {treshold: 0.5, margin: 0.05}\n")
    (issue,) = check_locally(read_desired(doc, 3), per_gate=True)
    assert issue.path == "decision.treshold" and issue.suggestion == "threshold"
    doc.write_text("mqtt: {host: evil.example}\n")  # local only: a gate never takes it from the fleet
    (issue,) = check_locally(read_desired(doc, 3), per_gate=True)
    assert issue.path == "mqtt.host" and "local file only" in issue.expected
    doc.write_text("decision: {threshold: 0.0}\n")  # under the safety envelope's floor
    assert [i.path for i in check_locally(read_desired(doc, 3), per_gate=False)] == ["decision.threshold"]
    doc.write_text("decision: {margin: 0.05}\nquality: {min_face_px: 30}\n")
    assert check_locally(read_desired(doc, 3), per_gate=False) == []


def test_an_invalid_file_is_refused_before_anything_connects(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "d.yaml"
    doc.write_text("qualty: {min_face_px: 30}\n")
    # Port 9 (discard) on loopback: nothing listens; the tool must not even try.
    assert gate_edge(["fleet", "config", "push", str(doc), "--gate", "G1", "--port", "9"]) == 2
    err = capsys.readouterr().err
    assert "qualty: unknown key" in err and "did you mean 'quality'" in err and "nothing was sent" in err


def test_no_broker_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a free port, closed again: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert gate_edge(["fleet", "gates", "--port", str(port), "--connect-timeout", "5"]) == 2
    assert f"cannot connect to the broker at 127.0.0.1:{port}" in capsys.readouterr().err


def test_commands_need_the_signing_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert gate_edge(["fleet", "cmd", "pause", "--gate", "G1", "--port", "9",
                      "--signing-key", str(tmp_path / "none.pem")]) == 2
    assert "none.pem: no such key file" in capsys.readouterr().err


def test_connection_file_and_flags(tmp_path: Path) -> None:
    conn = tmp_path / "fleet.yaml"
    conn.write_text("mqtt: {host: broker.example, port: 8883, username: fleet-admin, tls: {ca_file: /ca.crt}}\n"
                    "signing_key: /keys/fleet_admin.pem\n")
    cfg = mqtt_settings(conn, {"port": 1884, "cert_file": Path("/a.crt"), "key_file": Path("/a.key")})
    assert (cfg.host, cfg.port, cfg.username) == ("broker.example", 1884, "fleet-admin")
    assert cfg.tls is not None and cfg.tls.ca_file == Path("/ca.crt") and cfg.tls.key_file == Path("/a.key")
    assert cfg.session_expiry_s == 0  # no session left on the broker
    with pytest.raises(ConfigError, match="port"):
        mqtt_settings(conn, {"port": 70000})


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tables_are_rich_on_a_terminal_and_plain_when_piped() -> None:
    data = [["G1", True, 0.5, None], ["G22", False, 1, "x"]]
    piped = io.StringIO()
    Table(["gate", "online", "score", "note"], out=piped).print_all(data)
    assert piped.getvalue().splitlines() == ["gate  online  score  note",
                                             "G1    yes     0.500  -",
                                             "G22   no      1      x"]
    tty = _Terminal()
    Table(["gate", "online", "score", "note"], out=tty).print_all(data)
    assert "━" in tty.getvalue() or "─" in tty.getvalue()  # drawn by rich
    assert "G22" in tty.getvalue()


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                     max_leaves=8)
_status_keys = st.sampled_from(["online", "online_since", "sent_at", "software_version", "gallery", "config_version",
                                "camera", "broker", "outbox_depth", "last_event_at", "last_outcome", "x"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=5), st.dictionaries(_status_keys, _json, max_size=8),
                       max_size=4),
       st.dictionaries(st.text(min_size=1, max_size=5),
                       st.dictionaries(st.sampled_from(["status", "version", "errors"]), _json), max_size=3))
def test_any_retained_json_makes_a_table(statuses: dict[str, dict[str, Any]],
                                         reports: dict[str, dict[str, Any]]) -> None:
    table = rows(statuses, reports)
    assert [r.gate for r in table] == sorted(set(statuses) | set(reports))


def test_a_bad_command_argument_is_refused_here(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from edge.messaging.envelope import load_or_create_private_key

    key = tmp_path / "admin.pem"
    load_or_create_private_key(key)
    with socket.socket() as s:  # a free port, closed again: the argument must be refused before connecting
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert gate_edge(["fleet", "cmd", "opt_out", "--gate", "G1", "--arg", "duration_s=-5", "--port", str(port),
                      "--signing-key", str(key)]) == 2
    err = capsys.readouterr().err
    assert "duration_s: Input should be greater than 0" in err and "nothing was sent" in err
