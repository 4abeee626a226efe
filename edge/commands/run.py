"""`gate-edge run`: the gate daemon, as systemd starts it.

Exit status (deploy/gate-edge.service restarts on failure except on 2):
- 2: the config file, a credential or a TLS file is missing, unreadable or invalid. Restarting cannot
  fix that, an operator must: one line per problem names the file and what it is for.
- 3: the models or the camera cannot be set up (retried: a camera may come back).
- 75: a signed `restart` command (edge/daemon/officer_commands.py): the unit restarts on it
  (RestartForceExitStatus=75) so that a pushed `restart_required` change takes effect.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from edge import __version__
from edge.config.errors import FILE_PATH, ConfigError
from edge.config.store import startup_config
from edge.messaging.client import preflight
from edge.system.logsetup import setup_logging
from edge.system.systemd import default_notifier

log = logging.getLogger("edge.run")

EXIT_CONFIG = 2  # RestartPreventExitStatus=2 in the unit
EXIT_START = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, required=True, help="the gate's YAML config file")


def config_error_text(exc: ConfigError, path: Path) -> str:
    """One line when the file itself is missing or unreadable; every problem, one a line, otherwise."""
    if len(exc.issues) == 1 and exc.issues[0].path == FILE_PATH:
        return f"error: cannot read the gate's config file {path}: expected {exc.issues[0].expected}"
    return str(exc)


def run(args: argparse.Namespace) -> int:
    try:
        start = startup_config(args.config)
    except ConfigError as exc:
        print(config_error_text(exc, args.config), file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"error: cannot read the gate's config file {args.config}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    cfg = start.config
    setup_logging(cfg.logging)
    # Before the models load (seconds) and before any thread starts: a missing credential is found at
    # once, and the process ends cleanly with the status the unit does not restart on.
    problems = preflight(cfg.mqtt)
    if problems:
        for line in problems:
            log.error("%s", line)
        default_notifier().notify(f"STATUS=cannot start: {problems[0]}")
        return EXIT_CONFIG
    log.info("gate-edge %s starting for gate %s (config v%d from %s)", __version__, cfg.gate_id, cfg.version,
             start.source)
    # Imported here: the models and the camera backends load only once the config and the files are sound.
    from edge.daemon.wiring import build_gate
    from edge.inference.manifest import ModelError

    try:
        daemon = build_gate(cfg, base_raw=start.base, stored=start.stored)
    except ModelError as exc:
        log.error("%s", exc)
        default_notifier().notify(f"STATUS=cannot start: {exc}")
        return EXIT_START
    except Exception as exc:
        log.exception("cannot start: %s", exc)
        return EXIT_START
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: daemon.stop())
    return daemon.run()
