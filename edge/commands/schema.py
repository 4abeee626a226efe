"""`gate-edge schema`: the gate's MQTT contract, for integrators.

    gate-edge schema                  every message's JSON Schema, with an example, keyed by name
    gate-edge schema event            one of them (``desired_config``: the body of a desired config)
    gate-edge schema --asyncapi       the AsyncAPI 3.0 document: channels, directions, retain, QoS,
                                      payloads, examples, signed envelopes (docs/contract.md)
    gate-edge schema --asyncapi --yaml > gate-edge.asyncapi.yaml
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from edge.contract import asyncapi_document, desired_config_schema
from edge.messaging.schemas import json_schemas


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="one message (default: all of them, keyed by name)")
    parser.add_argument("--asyncapi", action="store_true", help="print the AsyncAPI 3.0 document instead")
    parser.add_argument("--yaml", action="store_true", help="print YAML instead of JSON")


def _print(document: Any, as_yaml: bool) -> None:
    if as_yaml:
        print(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110), end="")
    else:
        print(json.dumps(document, indent=2))


def run(args: argparse.Namespace) -> int:
    if args.asyncapi:
        if args.name:
            print("--asyncapi prints the whole document: give no message name")
            return 2
        _print(asyncapi_document(), args.yaml)
        return 0
    schemas = {**json_schemas(), "desired_config": desired_config_schema()}
    if args.name:
        if args.name not in schemas:
            print(f"unknown message {args.name!r}; known: {', '.join(sorted(schemas))}")
            return 2
        _print(schemas[args.name], args.yaml)
    else:
        _print(schemas, args.yaml)
    return 0
