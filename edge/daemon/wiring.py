"""The composition root: the one place that builds a gate from its config and wires the parts.

``gate-edge run``, the simulator's demo and soak, and the daemon tests all build their gate here;
each may hand in a part it made itself (a simulated camera behind a CaptureWorker, models already
loaded, a test notifier), and everything it does not hand in is built from ``cfg``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from edge import __version__
from edge.camera.base import FrameSource
from edge.config.schema import GateConfig, MetricsConfig
from edge.config.store import StoredDesired
from edge.core.analyse import FrameAnalyser
from edge.core.decide import DecisionMachine
from edge.daemon.gate import GateDaemon
from edge.daemon.metrics import families
from edge.daemon.tuning import decision_params, detector_params, intake_limits, quality_params, telemetry_expiry_s
from edge.inference.onnx_runtime import FaceModels, load_face_models
from edge.messaging.authenticate import SIGNER_OF
from edge.messaging.envelope import Signer, TrustAnchors, load_or_create_private_key
from edge.messaging.link import GateLink
from edge.messaging.schemas import Event
from edge.system.prometheus import MetricsEndpoint, MetricsUnavailable
from edge.system.systemd import Notifier, default_notifier

log = logging.getLogger(__name__)

GATE_KEY_FILE = "gate-key.pem"  # in the state directory, 0600
EXTEND_BY_S = 60.0  # each EXTEND_TIMEOUT_USEC asks for this much more time ...
EXTEND_EVERY_S = 20.0  # ... and is renewed this often while the work goes on


@contextmanager
def extending_start_timeout(notifier: Notifier) -> Iterator[None]:
    """While the block runs, tell systemd every EXTEND_EVERY_S that start-up needs EXTEND_BY_S more."""
    done = threading.Event()

    def extend() -> None:
        while True:
            notifier.notify(f"EXTEND_TIMEOUT_USEC={int(EXTEND_BY_S * 1e6)}")
            if done.wait(EXTEND_EVERY_S):
                return

    thread = threading.Thread(target=extend, name="extend-start-timeout", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def build_gate(
    cfg: GateConfig,
    *,
    base_raw: dict[str, Any] | None = None,
    stored: StoredDesired | None = None,
    source: FrameSource | None = None,
    models: FaceModels | None = None,
    notifier: Notifier | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> GateDaemon:
    """A gate ready to ``run()``: models loaded and warm, camera and broker not yet started.

    Models handed in (shared by tests) get this config's detector parameters, so that one gate's
    live config never leaks into the next gate built with the same models.
    """
    notifier = notifier or default_notifier()
    if models is None:
        notifier.notify("STATUS=loading and warming up the face models")
        width, height = getattr(cfg.camera, "width", 1280), getattr(cfg.camera, "height", 720)
        # Deriving and warming the models can take minutes on a Pi: keep extending systemd's start
        # time-out while it runs, so a slow first start is not killed and restarted for ever.
        with extending_start_timeout(notifier):
            models = load_face_models(cfg.models, detector_params(cfg), frame_size=(width, height))
    else:
        models.detector.params = detector_params(cfg)
    analyser = FrameAnalyser(models.detector, models.embedder, quality_params(cfg), cfg.detection.capture_zone,
                             refine=cfg.detection.refine_landmarks, enrol_views=cfg.detection.enrol_views)
    if source is None:
        from edge.camera.factory import create_source  # camera backends are imported only when used

        source = create_source(cfg.camera, cfg.capture)
    # The gate's own key, made at first start; it signs the gate's events and wipe attestations.
    signer = Signer("gate", load_or_create_private_key(cfg.state_dir / GATE_KEY_FILE))
    trust = TrustAnchors.load(cfg.security.trust_dir)
    for role in SIGNER_OF.values():
        if not trust.count(role):
            log.warning("no trust anchors for %s in %s: every message from it will be refused", role,
                        cfg.security.trust_dir)
    link = GateLink(cfg.gate_id, cfg.mqtt, cfg.state_dir, embedder_id=models.embedder_id,
                    embedder_dim=models.embedding_dim, outbox_max=cfg.outbox.max_events,
                    limits=intake_limits(cfg), telemetry_expiry_s=telemetry_expiry_s(cfg), signer=signer,
                    trust=trust)
    link.set_expectations(applied_config_version=cfg.version)
    daemon = GateDaemon(cfg, models=models, analyser=analyser, machine=DecisionMachine(decision_params(cfg)),
                        source=source, link=link, notifier=notifier, base_raw=base_raw, stored=stored,
                        on_event=on_event)
    if cfg.metrics.enabled:
        serve_metrics(daemon, cfg.metrics)
    return daemon


def serve_metrics(daemon: GateDaemon, cfg: MetricsConfig) -> None:
    """Start the gate's Prometheus endpoint, closed when the daemon stops. A port already taken or the
    library missing is logged and the gate runs on without it: figures are not worth a gate that
    refuses to board."""
    gate_id = daemon.cfg.gate_id
    endpoint = MetricsEndpoint(lambda: families(daemon.metrics, gate_id, __version__), cfg.address, cfg.port)
    try:
        endpoint.start()
    except (OSError, MetricsUnavailable) as exc:
        log.error("metrics endpoint on %s not started: %s", endpoint.url, exc)
        return
    daemon.on_shutdown.append(endpoint.close)
    if endpoint.loopback:
        log.info("metrics on %s", endpoint.url)
    else:  # only the local file can ask for this (metrics is a local-only section)
        log.warning("metrics on %s: reachable from the network, as metrics.address asks", endpoint.url)
