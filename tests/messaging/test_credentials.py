"""The preflight of the files a connection needs: each problem one line naming the setting, the file
and what it is for; the client reads the files exactly as the preflight does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr

from edge.messaging.client import ClientConfigError, MqttClient, preflight
from edge.messaging.credentials import describe_files, read_password, tls_context
from edge.messaging.settings import MqttConfig, TlsConfig


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, and a client certificate and key it signed; a second, unrelated key."""
    d = tmp_path_factory.mktemp("certs")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=G1", "-keyout", "g1.key", "-out", "g1.csr", cwd=d)
    _openssl("x509", "-req", "-in", "g1.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
             "-out", "g1.crt", cwd=d)
    _openssl("genrsa", "-out", "other.key", "2048", cwd=d)
    return d


def test_usable_files_have_no_problem(certs: Path, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    tls = TlsConfig(ca_file=certs / "ca.crt", cert_file=certs / "g1.crt", key_file=certs / "g1.key")
    cfg = MqttConfig(username="G1", password_file=pw, tls=tls)
    assert preflight(cfg) == []
    assert read_password(cfg) == "secret"  # the newline an editor adds is not part of it
    assert tls_context(tls).check_hostname  # verification stays on
    assert str(pw) in describe_files(cfg) and str(certs / "g1.crt") in describe_files(cfg)
    assert preflight(MqttConfig()) == [] and describe_files(MqttConfig()) == ""
    assert read_password(MqttConfig(password=SecretStr("inline"))) == "inline"


def test_a_missing_password_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "gate-edge.mqtt-password"
    (problem,) = preflight(MqttConfig(username="G1", password_file=missing))
    assert problem == (f"cannot read mqtt.password_file {missing} (the MQTT password): No such file or directory")
    assert "\n" not in problem


def test_a_missing_systemd_credential_says_where_it_comes_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    (problem,) = preflight(MqttConfig(password_file=tmp_path / "gate-edge.mqtt-password"))
    assert problem.endswith("is /etc/credstore/gate-edge.mqtt-password there?")


def test_every_missing_tls_file_is_named_with_its_purpose(tmp_path: Path) -> None:
    tls = TlsConfig(ca_file=tmp_path / "ca.crt", cert_file=tmp_path / "g1.crt", key_file=tmp_path / "g1.key")
    problems = preflight(MqttConfig(tls=tls, password_file=tmp_path / "pw"))
    assert len(problems) == 4
    assert problems[1] == (f"cannot read mqtt.tls.ca_file {tmp_path / 'ca.crt'} (the CA certificate that verifies "
                           "the broker): No such file or directory")
    assert "mqtt.tls.cert_file" in problems[2] and "the gate's TLS client certificate" in problems[2]
    assert "mqtt.tls.key_file" in problems[3] and "the gate's TLS client key" in problems[3]


def test_files_that_are_there_but_unusable(certs: Path, tmp_path: Path) -> None:
    junk = tmp_path / "ca.crt"
    junk.write_text("not a certificate\n")
    (problem,) = preflight(MqttConfig(tls=TlsConfig(ca_file=junk)))
    assert problem.startswith(f"cannot use mqtt.tls.ca_file {junk}") and "not a PEM certificate" in problem
    mismatched = TlsConfig(ca_file=certs / "ca.crt", cert_file=certs / "g1.crt", key_file=certs / "other.key")
    (problem,) = preflight(MqttConfig(tls=mismatched))
    assert "mqtt.tls.cert_file" in problem and "mqtt.tls.key_file" in problem and "not a matching" in problem


def test_the_client_refuses_to_start_with_the_same_line(tmp_path: Path) -> None:
    cfg = MqttConfig(password_file=tmp_path / "absent")
    with pytest.raises(ClientConfigError) as err:
        MqttClient(cfg, "gate-edge-G1").start()
    assert str(err.value) == preflight(cfg)[0]
