"""`gate-edge schema`: every MQTT message schema as JSON Schema, for integrators."""

from __future__ import annotations

import argparse
import json

from edge.messaging.schemas import json_schemas


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="one message (default: all of them, keyed by name)")


def run(args: argparse.Namespace) -> int:
    schemas = json_schemas()
    if args.name:
        if args.name not in schemas:
            print(f"unknown message {args.name!r}; known: {', '.join(sorted(schemas))}")
            return 2
        print(json.dumps(schemas[args.name], indent=2))
    else:
        print(json.dumps(schemas, indent=2))
    return 0
