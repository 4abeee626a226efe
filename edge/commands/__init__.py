"""The `gate-edge` command line: one sub-command per job, one module per sub-command in this package.

Each module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and is imported only when
chosen, so `gate-edge schema` does not load onnxruntime and a broken optional dependency cannot stop
unrelated commands. Other distributions add sub-commands through the ``gate_edge.commands`` entry
points (the simulator adds `demo` and `soak`); the product itself never imports them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from edge import __version__

PLUGIN_GROUP = "gate_edge.commands"

# Built-in sub-commands: name -> one-line help. The module is edge.commands.<name>.
COMMANDS: dict[str, str] = {
    "run": "run the gate daemon",
    "check": "check config, models, camera, broker and execution providers",
    "models": "fetch or verify the face models",
    "eval": "evaluate 1:N accuracy on a labelled faces folder",
    "calibrate": "derive the decision threshold from labelled faces",
    "bench": "benchmark latency, search and memory",
    "schema": "print every MQTT message schema as JSON Schema",
    "verify": "check that a saved wipe attestation or event was signed by the gate's own key",
    "aim": "show the live camera and the faces it sees (local page), to place and focus it",
    "fleet": "fleet admin: list the gates, push config, send commands, follow decisions",
}


def available() -> dict[str, str]:
    """Every sub-command: name -> module (built-ins first, then installed plugins)."""
    found = {name: f"edge.commands.{name}" for name in COMMANDS}
    for ep in entry_points(group=PLUGIN_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def _plugin_help(module: str) -> str:
    try:
        doc = importlib.import_module(module).__doc__ or ""
    except ImportError as exc:
        return f"(unavailable: {exc})"
    first = doc.strip().splitlines()[0] if doc.strip() else module
    return first.split("`: ", 1)[-1]  # "`gate-edge demo`: board a ..." -> "board a ..."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gate-edge", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"gate-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    for name, module in available().items():
        help_text = COMMANDS.get(name) or _plugin_help(module)
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
