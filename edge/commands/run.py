"""`gate-edge run`: the gate daemon, as systemd starts it."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from edge import __version__
from edge.config.errors import ConfigError
from edge.config.store import startup_config
from edge.daemon.wiring import build_gate
from edge.inference.manifest import ModelError
from edge.system.logsetup import setup_logging
from edge.system.systemd import default_notifier

log = logging.getLogger("edge.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, required=True, help="the gate's YAML config file")


def run(args: argparse.Namespace) -> int:
    try:
        start = startup_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot read config {args.config}: {exc}", file=sys.stderr)
        return 2
    cfg = start.config
    setup_logging(cfg.logging)
    log.info("gate-edge %s starting for gate %s (config v%d from %s)", __version__, cfg.gate_id, cfg.version,
             start.source)
    try:
        daemon = build_gate(cfg, base_raw=start.base, stored=start.stored)
    except ModelError as exc:
        log.error("%s", exc)
        default_notifier().notify(f"STATUS=cannot start: {exc}")
        return 3
    except Exception as exc:
        log.exception("cannot start: %s", exc)
        return 3
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: daemon.stop())
    return daemon.run()

