"""`gate-edge aim`: a local page showing the live camera, the capture zone and every face the detector
finds, with its width in pixels and its quality verdict, so that an installer can place and focus the
camera. No gallery is needed and none is used.

It runs as its own process with the gate's config file (its camera, detection and quality sections),
not inside the daemon: the daemon stays the only thing that ever matches anyone, and the aiming view
cannot be started over the network. Before it opens the camera it asks the broker whether a flight
is boarding at this gate (edge/aim/guard.py) and refuses if so, or if it cannot tell, unless
``--allow-boarding`` says the installer knows none is. The camera is usually held by the daemon while
it runs: stop it first (``systemctl stop gate-edge``; a stopped daemon holds no gallery either).

The page listens on 127.0.0.1 unless ``--address`` says otherwise, stops by itself after
``--minutes``, keeps only the newest frame in memory, writes nothing to disk and forbids caching.

Exit status: 0 when the time is up or on Ctrl-C; 2 for a config error; 3 when the models or the port
cannot be set up; 4 when refused because a flight is (or may be) boarding.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
from pathlib import Path

from edge.config.errors import ConfigError

log = logging.getLogger("edge.aim")

EXIT_CONFIG, EXIT_START, EXIT_BOARDING = 2, 3, 4
MAX_MINUTES = 120.0


def _minutes(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_MINUTES:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_MINUTES:g}")
    return value


def _address(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an IP address, e.g. 127.0.0.1") from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, required=True, help="the gate's YAML config file")
    parser.add_argument("--minutes", type=_minutes, default=10.0, help="stop by itself after this long (default 10)")
    parser.add_argument("--address", type=_address, default="127.0.0.1",
                        help="IP address to listen on (default 127.0.0.1: reach it through an SSH tunnel). "
                             "Anything else shows live faces to that network")
    parser.add_argument("--port", type=int, default=8090, help="port to listen on (default 8090; 0: any free one)")
    parser.add_argument("--allow-boarding", action="store_true",
                        help="aim even if the broker says a flight is boarding at this gate, or cannot be asked")
    parser.add_argument("--status-timeout", type=float, default=10.0,
                        help="seconds to wait for the broker when asking whether a flight is boarding")


def run(args: argparse.Namespace) -> int:
    from edge.config.store import startup_config
    from edge.system.logsetup import setup_logging

    try:
        cfg = startup_config(args.config).config
    except (ConfigError, OSError) as exc:
        print(f"error: cannot use the gate's config file {args.config}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(cfg.logging)
    if args.allow_boarding:
        log.warning("not asking whether a flight is boarding (--allow-boarding)")
    else:
        from edge.aim.guard import check_boarding

        verdict = check_boarding(cfg.mqtt, cfg.gate_id, timeout=args.status_timeout)
        if verdict.boarding is not False:
            what = "a flight is boarding" if verdict.boarding else "cannot tell whether a flight is boarding"
            print(f"refused: {what}: {verdict.reason}. The aiming view shows live faces: run it between flights, "
                  "or pass --allow-boarding if you know no flight is boarding.", file=sys.stderr)
            return EXIT_BOARDING
        log.info("%s", verdict.reason)
    from edge.aim.session import AimSession
    from edge.aim.view import AimAnalyser
    from edge.camera.base import CameraError
    from edge.camera.factory import create_source
    from edge.core.detect import DetectorParams, FaceDetector
    from edge.core.quality import QualityParams
    from edge.inference.manifest import ModelError, load_manifest
    from edge.inference.onnx_runtime import load_model

    d = cfg.detection
    try:
        model = load_model(load_manifest(cfg.models.manifest).get(cfg.models.detector), cfg.models)
        session = AimSession(
            cfg.gate_id, create_source(cfg.camera, cfg.capture),
            AimAnalyser(FaceDetector(model, model.output_names,
                                     DetectorParams(d.input_width, d.score_threshold, d.nms_threshold, d.top_k)),
                        QualityParams(**cfg.quality.model_dump()), d.capture_zone),
            address=args.address, port=args.port, seconds=args.minutes * 60)
    except (ModelError, CameraError, OSError) as exc:
        print(f"error: cannot start the aiming view: {exc}", file=sys.stderr)
        return EXIT_START
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: session.stop())
    if not session.server.loopback:
        log.warning("the aiming view listens on %s: anyone on that network can see live faces", args.address)
    print(f"aiming view: {session.url} (stops by itself in {args.minutes:g} min; Ctrl-C stops it now)", flush=True)
    session.run()
    print(f"aiming view stopped ({session.frames} frames shown, none kept)", flush=True)
    return 0
