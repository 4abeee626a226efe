"""No secret is ever echoed in a config error, whatever the key is called and wherever the error comes from.

A misspelt key once leaked its value (``mqtt.pasword: found 'hunter3'``) because redaction looked for
"pass" in the key's name. Now a SecretStr field is redacted by its type, an unknown key's value is
never shown, and neither is what was found where a section holding a secret was expected, the text
of a broken YAML line, or a value holding an unset ``${...}`` reference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config.errors import UNKNOWN_KEY, ConfigError
from edge.config.load import load_file, merge_desired, parse_yaml, validate

SECRET = "hunter3-Zq7"
BASE: dict[str, Any] = {"gate_id": "G1", "camera": {"backend": "file", "url": "/clips/clip.avi"}}


def _refused(fn: Any, *args: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        fn(*args)
    return info.value


def _texts(exc: ConfigError) -> str:
    """Everything a person or a consumer of config/reported could see."""
    return str(exc) + json.dumps([i.to_dict() for i in exc.issues]) + "".join(i.message() for i in exc.issues)


def test_a_misspelt_key_says_unknown_key_and_suggests_never_echoes() -> None:
    exc = _refused(validate, {**BASE, "mqtt": {"pasword": SECRET}})
    (issue,) = exc.issues
    assert issue.path == "mqtt.pasword" and issue.value == UNKNOWN_KEY and issue.suggestion == "password"
    assert issue.message() == "mqtt.pasword: unknown key, expected a known key (did you mean 'password'?)"
    assert SECRET not in _texts(exc)


@pytest.mark.parametrize(
    "doc",
    [
        {"mqtt": {"pasword": SECRET}},
        {"mqtt": {"credentials": {"user": SECRET}}},
        {"mqtt": {"tls": {"ca_file": "/ca", "secret": SECRET}}},
        {"mqt": {"password": SECRET}},
        {"decision": {"thresh": SECRET}},
        {"token": SECRET},
        {"mqtt": {"password": [SECRET]}},
        {"mqtt": {"password": {"value": SECRET}}},
        {"mqtt": {"password": 12345}, "x": SECRET},
        {"mqtt": [SECRET]},
        {"mqtt": SECRET},
        {"mqtt": {"tls": SECRET}},
    ],
    ids=lambda d: json.dumps(d)[:50],
)
def test_secrets_are_never_shown(doc: dict[str, Any]) -> None:
    exc = _refused(validate, {**BASE, **doc})
    assert SECRET not in _texts(exc)


def test_a_secret_field_is_redacted_by_its_type_whatever_its_name() -> None:
    # mqtt.password is a SecretStr: its value is never shown, even the wrong type of value.
    exc = _refused(validate, {**BASE, "mqtt": {"password": ["not", SECRET]}})
    assert [i.path for i in exc.issues] == ["mqtt.password"] and SECRET not in _texts(exc)


def test_a_broken_yaml_line_is_not_repeated() -> None:
    for text in (f'mqtt:\n  password: "{SECRET}\n', f"mqtt:\n  password: *{SECRET}\n",
                 f"mqtt:\n  password: {SECRET}: x\n", f"mqtt: {{password: {SECRET}\n"):
        exc = _refused(parse_yaml, text, "gate.yaml")
        assert exc.issues[0].line is not None
        assert SECRET not in _texts(exc), text


def test_an_unset_reference_does_not_show_the_rest_of_the_value(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    password = "${CREDENTIALS_DIRECTORY}" + SECRET
    path.write_text(f"gate_id: G1\ncamera: {{backend: v4l2}}\nmqtt: {{password: '{password}'}}\n")
    exc = _refused(load_file, path, {})
    assert exc.issues[0].path == "mqtt.password" and "${CREDENTIALS_DIRECTORY}" in str(exc)
    assert SECRET not in _texts(exc)


def test_a_file_or_desired_config_that_is_not_a_mapping_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(f"- {SECRET}\n")
    assert SECRET not in _texts(_refused(load_file, path, {}))
    assert SECRET not in _texts(_refused(merge_desired, BASE, [SECRET], None))
    assert SECRET not in _texts(_refused(merge_desired, BASE, None, SECRET))


def test_local_only_values_are_not_echoed() -> None:
    exc = _refused(merge_desired, BASE, {"mqtt": {"pasword": SECRET}, "camera": {"url": f"rtsp://u:{SECRET}@h"}}, None)
    assert SECRET not in _texts(exc)


# --------------------------------------------------------------------------- property
KNOWN_KEYS = ["mqtt", "decision", "camera", "tls", "password", "host", "port", "threshold", "url", "backend"]
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=8))
plain = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["file", "v4l2", "x", "0.5"]))


@st.composite
def documents_with_a_secret(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A config-like document with a secret where one could sit: a SecretStr field (under any wrapper)
    or the value of an unknown key at any depth."""
    secret = "S3cr" + draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=12))
    wrap = draw(st.sampled_from(["plain", "list", "dict", "int_and_str"]))
    value: Any = {"plain": secret, "list": [secret], "dict": {"v": secret}, "int_and_str": [1, secret]}[wrap]
    doc: dict[str, Any] = draw(st.dictionaries(keys, st.one_of(plain, st.dictionaries(keys, plain, max_size=3)),
                                               max_size=4))
    place = draw(st.sampled_from(["password", "unknown_top", "unknown_mqtt", "unknown_deep", "unknown_tls"]))
    unknown = "zz" + draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8))
    mqtt = doc.get("mqtt") if isinstance(doc.get("mqtt"), dict) else {}
    if place == "password":
        doc["mqtt"] = {**mqtt, "password": value}
    elif place == "unknown_top":
        doc[unknown] = value
    elif place == "unknown_mqtt":
        doc["mqtt"] = {**mqtt, unknown: value}
    elif place == "unknown_tls":
        doc["mqtt"] = {**mqtt, "tls": {"ca_file": "/ca", unknown: value}}
    else:
        doc["decision"] = {"threshold": 0.5, unknown: {"inner": value}}
    return doc, secret


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents_with_a_secret(), st.sampled_from(["file", "validate", "fleet", "gate"]))
def test_no_secret_value_ever_appears_in_an_error(case: tuple[dict[str, Any], str], route: str) -> None:
    doc, secret = case
    try:
        if route == "validate":
            validate({**BASE, **doc})
        elif route == "file":
            validate(parse_yaml(json.dumps({**BASE, **doc})).data)  # JSON is YAML
        else:
            fleet, gate = (doc, None) if route == "fleet" else (None, doc)
            validate(merge_desired(BASE, fleet, gate))
    except ConfigError as exc:
        assert secret not in _texts(exc)
    # (Accepted: only a well-formed mqtt.password, which is a SecretStr in the config.)
