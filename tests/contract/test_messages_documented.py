"""Every message is documented: each field has a description, each message a realistic example that its
own model and its own JSON Schema (as `gate-edge schema` prints it) both accept."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from edge.commands import main
from edge.messaging.envelope import SIGNED_SCHEMA, unverified_payload
from edge.messaging.schemas import ALL_MESSAGES, GalleryChunk, GalleryManifest, gallery_digest, json_schemas
from edge.messaging.schemas.examples import SIGNED, examples

NAMES = sorted(ALL_MESSAGES)


def _fields(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, property schema) for every property of the message and of every model it nests."""
    for owner, node in [(schema.get("title", "?"), schema), *schema.get("$defs", {}).items()]:
        for name, prop in node.get("properties", {}).items():
            yield f"{owner}.{name}", prop


@pytest.mark.parametrize("name", NAMES)
def test_every_field_has_a_description(name: str) -> None:
    missing = [where for where, prop in _fields(json_schemas()[name]) if not prop.get("description", "").strip()]
    assert not missing, f"{name}: fields without a description: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_every_message_has_an_example_its_model_and_schema_accept(name: str) -> None:
    schema = json_schemas()[name]
    assert len(schema["examples"]) == 1
    example = schema["examples"][0]
    ALL_MESSAGES[name].model_validate_json(json.dumps(example))  # as the gate parses it off the wire
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    errors = [e.message for e in jsonschema.Draft202012Validator(schema, format_checker=checker).iter_errors(example)]
    assert not errors, f"{name}: its example does not fit its JSON Schema: {errors}"


def test_an_example_that_does_not_fit_is_caught() -> None:
    # the check above can fail: a wrong type, a missing required field, an unknown key
    schema = json_schemas()["event"]
    validator = jsonschema.Draft202012Validator(schema)
    good = examples()["event"]
    for bad in ({**good, "score": "high"}, {k: v for k, v in good.items() if k != "gate"}, {**good, "photo": "..."}):
        assert list(validator.iter_errors(bad))


def test_the_examples_tell_one_consistent_story() -> None:
    ex = examples()
    assert SIGNED == SIGNED_SCHEMA
    chunk = GalleryChunk.model_validate(ex["gallery_chunk"])
    assert chunk.manifest is not None
    manifest = GalleryManifest.model_validate_json(unverified_payload(chunk.manifest.encode()))
    assert manifest.to_dict() == GalleryManifest.model_validate(ex["gallery_manifest"]).to_dict()
    template = base64.b64decode(chunk.entries[0].template or "")
    assert len(template) == 4 * chunk.dim
    assert manifest.entries[0].sha256 == hashlib.sha256(template).hexdigest()
    chunk_bytes = json.dumps(ex["gallery_chunk"], separators=(",", ":")).encode()
    assert ex["wipe_attestation"]["received_sha256"] == gallery_digest([chunk_bytes])
    assert ex["event"]["matched_id"] == chunk.entries[0].id
    assert ex["gallery_request"]["request_id"] == manifest.request_id


def test_the_schema_command_prints_examples_and_the_desired_config_body(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == set(ALL_MESSAGES) | {"desired_config"}
    assert all(printed[name]["examples"] for name in ALL_MESSAGES)
    assert main(["schema", "desired_config"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert "mqtt" not in body["properties"] and "decision" in body["properties"]


def test_the_rejection_example_is_what_the_config_code_reports() -> None:
    # The example spells a config issue code (messaging may not import config): it must be the real one,
    # suggestion included, as a gate refusing this misspelt key would report it.
    from edge.config.errors import ConfigError
    from edge.config.load import merge_desired, validate

    base = {"gate_id": "G1", "camera": {"backend": "v4l2"}}
    with pytest.raises(ConfigError) as info:
        validate(merge_desired(base, None, {"decision": {"treshold": 0.5}}))
    (real,) = info.value.issues
    (example,) = examples()["config_reported"]["errors"]
    assert (example["path"], example["value"], example["suggestion"]) == (real.path, real.value, real.suggestion)
