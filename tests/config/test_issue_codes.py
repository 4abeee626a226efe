"""The codes an issue carries instead of a key or a value: defined once (edge/config/errors.py),
produced by the loaders, and stable, since the config/reported topic and `check --json` carry them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.config.errors import (
    FILE_PATH,
    MISSING,
    REDACTED,
    ROOT_PATH,
    UNKNOWN_KEY,
    UNREADABLE,
    YAML_PATH,
    ConfigError,
    desired_path,
)
from edge.config.load import load_file, merge_desired, parse_yaml, validate

EDGE = Path(__file__).resolve().parents[2] / "edge"
CODES = {ROOT_PATH, YAML_PATH, FILE_PATH, MISSING, REDACTED, UNREADABLE, UNKNOWN_KEY, desired_path("fleet"),
         desired_path("gate")}


def test_the_codes_are_the_published_strings() -> None:
    # Changing one changes what fleet tooling receives: do it on purpose, here.
    assert {"<root>", "<yaml>", "<file>", "<missing>", "<redacted>", "<unreadable>", "<unknown key>", "<fleet>",
            "<gate>"} == CODES


def test_the_loaders_produce_them(tmp_path: Path) -> None:
    def issue(fn: object, *args: object) -> tuple[str, object]:
        with pytest.raises(ConfigError) as info:
            fn(*args)  # type: ignore[operator]
        first = info.value.issues[0]
        return first.path, first.value

    assert issue(load_file, tmp_path / "absent.yaml")[0] == FILE_PATH
    assert issue(parse_yaml, "camera: [1, 2\n")[0] == YAML_PATH
    assert issue(validate, [1, 2])[0] == ROOT_PATH
    assert issue(validate, {"camera": {"backend": "file", "url": "x"}}) == ("gate_id", MISSING)
    assert issue(merge_desired, {}, "not a mapping", None)[0] == desired_path("fleet")
    assert issue(merge_desired, {}, None, {"mqtt": {"password": "x"}}) == ("mqtt.password", REDACTED)
    assert issue(validate, {"gate_id": "G1", "camera": {"backend": "v4l2"}, "mqtt": {"pasword": "x"}}) == (
        "mqtt.pasword", UNKNOWN_KEY)


def test_no_other_module_spells_a_code() -> None:
    # One source of truth: anything else imports the constant.
    spelled = re.compile("|".join(re.escape(f'"{c}"') for c in CODES))
    found = [
        f"{p.relative_to(EDGE.parent)}: {m.group(0)}"
        for p in sorted(EDGE.rglob("*.py"))
        # the wire examples spell what a report carries; tests/contract checks the example is a real report
        if p not in (EDGE / "config" / "errors.py", EDGE / "messaging" / "schemas" / "examples.py")
        for m in spelled.finditer(p.read_text())
    ]
    assert not found, found
