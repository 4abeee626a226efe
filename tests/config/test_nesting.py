"""Deep nesting is refused with a report at the path where it got too deep, never a RecursionError.

A 900-level desired config once raised RecursionError with no report at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config.errors import ConfigError
from edge.config.guards import MAX_DEPTH, nesting_issue, yaml_nesting_issue
from edge.config.load import load_file, merge_desired, parse_yaml, validate
from edge.config.store import FILENAME, LastKnownGood

BASE: dict[str, Any] = {"gate_id": "G1", "camera": {"backend": "file", "url": "/clips/clip.avi"}}


def _nested(levels: int, leaf: Any = 1, key: str = "a") -> Any:
    doc: Any = leaf
    for _ in range(levels):
        doc = {key: doc}
    return doc


def _only_issue(exc: ConfigError) -> str:
    (issue,) = exc.issues
    assert f"at most {MAX_DEPTH} levels" in issue.expected
    return issue.path


def test_a_900_level_desired_config_is_refused_with_a_report() -> None:
    for fleet, gate in (({"decision": _nested(900)}, None), (None, {"decision": _nested(900)})):
        with pytest.raises(ConfigError) as info:
            merge_desired(BASE, fleet, gate)
        assert _only_issue(info.value) == "decision" + ".a" * (MAX_DEPTH - 1)
    with pytest.raises(ConfigError) as info:
        validate({**BASE, "decision": _nested(900)})
    assert _only_issue(info.value) == "decision" + ".a" * (MAX_DEPTH - 1)


def test_lists_count_as_levels_too() -> None:
    doc: Any = 1
    for _ in range(900):
        doc = [doc]
    with pytest.raises(ConfigError) as info:
        validate({**BASE, "detection": {"capture_zone": doc}})
    assert _only_issue(info.value) == "detection.capture_zone" + "[0]" * (MAX_DEPTH - 2)


def test_the_bound_is_exact() -> None:
    # The root mapping is level 1: MAX_DEPTH levels pass the nesting check, one more is refused.
    assert nesting_issue(_nested(MAX_DEPTH)) is None
    issue = nesting_issue(_nested(MAX_DEPTH + 1))
    assert issue is not None and issue.path == ".".join(["a"] * MAX_DEPTH)
    assert yaml_nesting_issue(json.dumps(_nested(MAX_DEPTH))) is None
    assert yaml_nesting_issue(json.dumps(_nested(MAX_DEPTH + 1))) is not None


def test_a_mapping_that_contains_itself_gets_a_report() -> None:
    loop: dict[str, Any] = {}
    loop["a"] = loop
    issue = nesting_issue(loop)
    assert issue is not None and issue.path.startswith("a.a")
    with pytest.raises(ConfigError):
        validate({**BASE, "decision": loop})


def test_a_900_level_yaml_file_is_refused_with_path_and_line(tmp_path: Path) -> None:
    body = "".join("  " * i + "a:\n" for i in range(1, 901)) + "  " * 901 + "1\n"
    path = tmp_path / "gate.yaml"
    path.write_text("gate_id: G1\ncamera: {backend: v4l2}\ndecision:\n" + body)
    with pytest.raises(ConfigError) as info:
        load_file(path, env={})
    assert _only_issue(info.value) == "decision" + ".a" * (MAX_DEPTH - 1)
    assert info.value.issues[0].line == 3 + MAX_DEPTH  # the line of the first mapping too deep


def test_flow_style_and_sequences_in_yaml() -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml("gate_id: G1\ndecision: " + "[" * 900 + "]" * 900 + "\n")
    assert _only_issue(info.value) == "decision" + "[0]" * (MAX_DEPTH - 1)
    with pytest.raises(ConfigError) as info:
        parse_yaml("x: " + "{a: " * 900 + "1" + "}" * 900 + "\n")
    assert _only_issue(info.value) == "x" + ".a" * (MAX_DEPTH - 1)


def test_aliases_cannot_build_depth_the_text_does_not_show() -> None:
    # Each anchor nests the previous one: 40 short lines, 40 levels once composed.
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 40)]
    with pytest.raises(ConfigError) as info:
        parse_yaml("\n".join(lines) + "\n")
    assert f"at most {MAX_DEPTH} levels" in info.value.issues[0].expected
    # An anchor that contains itself.
    with pytest.raises(ConfigError):
        parse_yaml("a: &x [*x]\n")


def test_a_deep_stored_document_is_ignored(tmp_path: Path) -> None:
    import hashlib

    body = {"format": "gate-edge/config-lkg/1", "saved_at": 1.0, "version": 3,
            "fleet": {"decision": _nested(200)}, "gate": None}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    (tmp_path / FILENAME).write_text(json.dumps({**body, "sha256": digest}))
    assert LastKnownGood(tmp_path).load() is None
    (tmp_path / FILENAME).write_text('{"fleet": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert LastKnownGood(tmp_path).load() is None  # json's own recursion limit: ignored, not raised
    with pytest.raises(ConfigError):
        LastKnownGood(tmp_path).save({"decision": _nested(100)}, None, version=4)


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(1, 400), as_list=st.booleans(), where=st.sampled_from(["fleet", "gate", "file", "yaml"]))
def test_no_depth_ever_raises_anything_but_config_error(depth: int, as_list: bool, where: str) -> None:
    doc: Any = 1
    for _ in range(depth):
        doc = [doc] if as_list else {"k": doc}
    try:
        if where == "fleet":
            validate(merge_desired(BASE, {"decision": doc}, None))
        elif where == "gate":
            validate(merge_desired(BASE, None, {"decision": doc}))
        elif where == "file":
            validate({**BASE, "decision": doc})
        else:
            issue = yaml_nesting_issue(json.dumps({"decision": doc}))
            assert (issue is None) == (depth < MAX_DEPTH)
            validate(parse_yaml(json.dumps({**BASE, "decision": doc})).data)
    except ConfigError as exc:
        assert exc.issues and all(i.path for i in exc.issues)
