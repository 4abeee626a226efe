"""The `gate-edge` command line: one sub-command per job, each implemented in its own module.

Sub-command modules are imported only when chosen, so `gate-edge schema` does not load onnxruntime
and a broken optional dependency cannot stop unrelated commands.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from edge import __version__

# name -> (module exposing add_arguments(parser) and run(args) -> int, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("edge.app", "run the gate daemon"),
    "demo": ("edge.demo", "board a simulated flight end to end (private broker, simulated camera)"),
    "check": ("edge.check", "check config, models, camera, broker and execution providers"),
    "models": ("edge.models_cmd", "fetch or verify the face models"),
    "eval": ("edge.evaluate", "evaluate 1:N accuracy on a labelled faces folder"),
    "calibrate": ("edge.calibrate", "derive the decision threshold from labelled faces"),
    "bench": ("edge.bench", "benchmark latency, search and memory"),
    "soak": ("edge.soak", "run the daemon on the simulated camera with disconnects; report RSS and restarts"),
    "schema": ("edge.messaging.schema_cmd", "print every MQTT message schema as JSON Schema"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gate-edge", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"gate-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        if name == chosen:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:])
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
