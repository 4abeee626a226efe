"""The composition root: the one place that builds a gate from its config and wires the parts.

``gate-edge run``, the simulator's demo and soak, and the daemon tests all build their gate here;
each may hand in a part it made itself (a simulated camera behind a CaptureWorker, models already
loaded, a test notifier), and everything it does not hand in is built from ``cfg``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.camera.base import FrameSource
from edge.config.schema import GateConfig
from edge.config.store import StoredDesired
from edge.daemon.gate import GateDaemon
from edge.inference.onnx_runtime import FaceModels
from edge.messaging.schemas import Event
from edge.system.systemd import Notifier


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
    """A gate ready to ``run()``: models loaded and warm, camera and broker not yet started."""
    return GateDaemon(cfg, base_raw, stored=stored, source=source, models=models, notifier=notifier,
                      on_event=on_event)
