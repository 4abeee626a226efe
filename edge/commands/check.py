"""`gate-edge check`: is this gate ready to run? One row per check, each independent.

Checks: the config (every error with path, value, expected), the state directory, the model
files' hashes, the models loaded as the daemon loads them (derived copies, the execution providers
onnxruntime really uses), that the camera opens and gives a frame, that the password and TLS files
can be read and used (each problem names the file), that the broker accepts the connection (or why
it does not: name resolution, refused, TLS verification, credentials, time-out). A section of the
config that is valid is checked even when another section is not, so one run shows everything that
needs fixing.
Exit status: 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from edge.config.errors import ConfigError, ConfigIssue
from edge.config.load import read_raw, validate
from edge.config.schema import (
    CameraConfig,
    CaptureConfig,
    DetectionConfig,
    GateConfig,
    ModelsConfig,
    sanitize_gate_id,
)
from edge.messaging.settings import MqttConfig  # the broker settings live with the messaging layer

Status = Literal["OK", "FAIL", "SKIP"]
CHECK_NAMES = ("config", "state_dir", "models", "providers", "camera", "credentials", "broker")


@dataclass
class CheckResult:
    check: str
    status: Status
    detail: str
    issues: list[ConfigIssue] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "status": self.status, "detail": self.detail}
        if self.issues:
            out["issues"] = [i.to_dict() for i in self.issues]
        return out


@dataclass
class _Sections:
    """What could be read from the file: the whole config, or the sections that are valid."""

    raw: dict[str, Any] | None = None
    config: GateConfig | None = None
    parts: dict[str, Any] = field(default_factory=dict)
    source_error: str | None = None

    def section(self, name: str) -> Any:
        if self.config is not None:
            return getattr(self.config, name)
        return self.parts.get(name)


_SECTION_TYPES: dict[str, Any] = {
    "camera": CameraConfig,
    "capture": CaptureConfig,
    "mqtt": MqttConfig,
    "models": ModelsConfig,
    "detection": DetectionConfig,
}


def _read(path: str) -> tuple[_Sections, CheckResult]:
    sections = _Sections()
    try:
        raw = read_raw(path)
    except ConfigError as exc:
        sections.source_error = "the config file could not be read"
        return sections, CheckResult("config", "FAIL", f"{path}: {len(exc.issues)} problem(s)", exc.issues)
    sections.raw = raw.data
    try:
        sections.config = validate(raw.data, path, raw.lines)
    except ConfigError as exc:
        result = CheckResult("config", "FAIL", f"{path}: {len(exc.issues)} problem(s)", exc.issues)
    else:
        cfg = sections.config
        result = CheckResult("config", "OK", f"{path}: gate {cfg.gate_id}, camera {cfg.camera.backend}")
    if sections.config is None:
        for name, typ in _SECTION_TYPES.items():
            value = raw.data.get(name)
            try:
                if value is None and name != "camera":
                    sections.parts[name] = typ()
                else:
                    sections.parts[name] = TypeAdapter(typ).validate_python(value)
            except ValidationError:
                pass  # reported in the config row; the checks that need it are skipped
    return sections, result


def _skip(name: str, sections: _Sections, section: str) -> CheckResult:
    reason = sections.source_error or f"the {section} section of the config is invalid (see config)"
    return CheckResult(name, "SKIP", reason)


# --------------------------------------------------------------------------- individual checks
def check_state_dir(sections: _Sections) -> CheckResult:
    raw_dir = sections.config.state_dir if sections.config else (sections.raw or {}).get("state_dir")
    if sections.raw is None:
        return _skip("state_dir", sections, "state_dir")
    # Absent from a config that is invalid elsewhere: the schema's default, as the daemon would use.
    default = GateConfig.model_fields["state_dir"].default
    state_dir = Path(raw_dir) if isinstance(raw_dir, (str, Path)) else Path(default)
    if not state_dir.exists():
        parent = next((p for p in state_dir.parents if p.exists()), Path("/"))
        if os.access(parent, os.W_OK):
            return CheckResult("state_dir", "OK", f"{state_dir} does not exist yet; it will be created")
        return CheckResult("state_dir", "FAIL", f"{state_dir} does not exist and {parent} is not writable")
    try:
        with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".check-"):
            pass
    except OSError as exc:
        return CheckResult("state_dir", "FAIL", f"{state_dir} is not writable: {exc.strerror}")
    return CheckResult("state_dir", "OK", f"{state_dir} is writable")


def check_models(sections: _Sections) -> list[CheckResult]:
    models: ModelsConfig | None = sections.section("models")
    if models is None:
        return [_skip("models", sections, "models")]
    from edge.inference.manifest import ModelError, load_manifest, verify_all

    try:
        manifest = load_manifest(models.manifest) if models.manifest else load_manifest()
        checks = verify_all(models.cache_dir, manifest)
    except ModelError as exc:
        return [CheckResult("models", "FAIL", str(exc))]
    wanted = {models.detector, models.embedder}
    missing = wanted - {c.name for c in checks}
    results = [
        CheckResult(f"models: {c.name}", "OK" if c.ok else "FAIL", c.detail)
        for c in checks
        if c.name in wanted or not c.ok
    ]
    results += [CheckResult(f"models: {n}", "FAIL", "not in the model manifest") for n in sorted(missing)]
    return results


def check_providers(sections: _Sections) -> CheckResult:
    """Load the face models exactly as the daemon does, and report the providers they really got.

    Through the daemon's own loader (:func:`edge.inference.onnx_runtime.load_face_models`): the
    verified file's derived runtime copy, the configured threads and providers, the providers check
    (``require_providers``) and a warm-up at the camera's frame size. So a model or provider that
    would stop the daemon at start-up fails here, and a CUDA request that a CPU-only onnxruntime
    silently drops is shown.
    """
    models: ModelsConfig | None = sections.section("models")
    if models is None:
        return _skip("providers", sections, "models")
    from edge.evaluation.setup import detector_params
    from edge.inference.manifest import ModelError
    from edge.inference.onnx_runtime import available_providers, load_face_models

    # An invalid detection section is reported in the config row; the models are still worth
    # loading, with the default detector parameters.
    detection: DetectionConfig | None = sections.section("detection")
    camera = sections.section("camera")
    # The frame size the daemon warms up at (a backend without a size delivers 1280x720 by default).
    frame_size = (getattr(camera, "width", 1280), getattr(camera, "height", 720))
    try:
        loaded = load_face_models(models, detector_params(detection), frame_size=frame_size)
    except ModelError as exc:  # missing or altered file, or a required provider not active
        return CheckResult("providers", "FAIL", str(exc))
    requested = list(models.providers)
    active = loaded.providers
    lacking = sorted({p for p in requested for got in active.values() if p not in got})
    detail = f"requested {', '.join(requested)}; active " + "; ".join(
        f"{name}: {', '.join(got)}" for name, got in active.items()
    )
    if lacking:
        # Only reachable with require_providers off: the daemon runs, on the fallback.
        offered = ", ".join(available_providers())
        detail += f"; NOT active: {', '.join(lacking)} (onnxruntime offers {offered})"
    return CheckResult("providers", "OK", detail)


def check_camera(sections: _Sections, timeout: float) -> CheckResult:
    camera = sections.section("camera")
    capture = sections.section("capture")
    if camera is None or capture is None:
        return _skip("camera", sections, "camera" if camera is None else "capture")
    from edge.camera.base import CameraError
    from edge.camera.factory import create_source

    started = time.monotonic()
    try:
        source = create_source(camera, capture)
    except CameraError as exc:
        return CheckResult("camera", "FAIL", f"{camera.backend}: {exc}")
    try:
        source.start()
        frame = source.latest(timeout)
        if frame is None:
            stats = source.stats
            why = stats.last_error or f"health {source.health.value}"
            return CheckResult("camera", "FAIL", f"{camera.backend}: no frame within {timeout:.0f} s ({why})")
        h, w = frame.image.shape[:2]
        frame.wipe()  # the frame is biometric data: zero it before letting it go
        elapsed = time.monotonic() - started
        return CheckResult("camera", "OK", f"{camera.backend}: {w}x{h} frame after {elapsed:.1f} s")
    except CameraError as exc:
        return CheckResult("camera", "FAIL", f"{camera.backend}: {exc}")
    finally:
        source.stop()


def check_credentials(sections: _Sections) -> CheckResult:
    """The password and TLS files, read and loaded as the client will: the same check `run` makes first."""
    mqtt: MqttConfig | None = sections.section("mqtt")
    if mqtt is None:
        return _skip("credentials", sections, "mqtt")
    from edge.messaging.credentials import describe_files, preflight

    problems = preflight(mqtt)
    if problems:
        return CheckResult("credentials", "FAIL", "; ".join(problems))
    files = describe_files(mqtt)
    return CheckResult("credentials", "OK", files or "no password or TLS files configured")


def check_broker(sections: _Sections, timeout: float) -> CheckResult | list[CheckResult]:
    """Connect to every configured broker in turn (each as the only address, so the client's fail-over
    does not hide one that is down): a gate can only fail over to a broker that takes it."""
    mqtt: MqttConfig | None = sections.section("mqtt")
    if mqtt is None:
        return _skip("broker", sections, "mqtt")
    from edge.messaging.client import preflight

    if preflight(mqtt):
        return CheckResult("broker", "SKIP", "cannot connect without the files the credentials check names")
    gate = (sections.raw or {}).get("gate_id")
    gate_id = sanitize_gate_id(gate) if isinstance(gate, str) else "unknown"
    addresses = [(b.host, b.port) for b in mqtt.brokers] or [(mqtt.host, mqtt.port)]
    results = [_probe_broker(mqtt.model_copy(update={"host": host, "port": port, "brokers": ()}), gate_id, timeout)
               for host, port in addresses]
    if len(results) > 1:
        results = [CheckResult(r.check, r.status, f"broker {n} of {len(results)}: {r.detail}")
                   for n, r in enumerate(results, 1)]
    return results


def _probe_broker(mqtt: MqttConfig, gate_id: str, timeout: float) -> CheckResult:
    from edge.messaging.client import MessagingError, MqttClient

    # Its own client id (the same one would disconnect the running daemon) and no lingering session.
    client = MqttClient(mqtt.model_copy(update={"session_expiry_s": 0}), f"gate-edge-check-{gate_id}")
    where = f"{mqtt.host}:{mqtt.port}{' (TLS)' if mqtt.tls else ''}"
    try:
        client.start()
        if client.wait_attempt(timeout):
            who = f" as {mqtt.username}" if mqtt.username else ""
            return CheckResult("broker", "OK", f"connected to {where}{who}")
        why = client.stats.last_connect_error or "no answer (a firewall dropping the packets, or a slow network?)"
        return CheckResult("broker", "FAIL", f"cannot connect to {where} within {timeout:.0f} s: {why}")
    except MessagingError as exc:
        return CheckResult("broker", "FAIL", f"{where}: {exc}")
    finally:
        client.stop()


# --------------------------------------------------------------------------- running and output
def _guarded(name: str, fn: Callable[[], CheckResult | list[CheckResult]]) -> list[CheckResult]:
    """One check's results; an unexpected error fails that check only."""
    try:
        out = fn()
    except ImportError as exc:
        return [CheckResult(name, "FAIL", f"a module this check needs is missing: {exc}")]
    except Exception as exc:
        return [CheckResult(name, "FAIL", f"unexpected {type(exc).__name__}: {exc}")]
    return out if isinstance(out, list) else [out]


def run_checks(
    config_path: str,
    skip: Sequence[str] = (),
    camera_timeout: float = 10.0,
    broker_timeout: float = 5.0,
) -> list[CheckResult]:
    sections, config_result = _read(config_path)
    results = [config_result]
    plan: list[tuple[str, Callable[[], CheckResult | list[CheckResult]]]] = [
        ("state_dir", lambda: check_state_dir(sections)),
        ("models", lambda: check_models(sections)),
        ("providers", lambda: check_providers(sections)),
        ("camera", lambda: check_camera(sections, camera_timeout)),
        ("credentials", lambda: check_credentials(sections)),
        ("broker", lambda: check_broker(sections, broker_timeout)),
    ]
    for name, fn in plan:
        if name in skip:
            results.append(CheckResult(name, "SKIP", "skipped (--skip)"))
        else:
            results.extend(_guarded(name, fn))
    return results


def format_table(results: Sequence[CheckResult]) -> str:
    width = max(len("check"), *(len(r.check) for r in results))
    lines = [f"{'check':<{width}}  status  detail", f"{'-' * width}  ------  ------"]
    for r in results:
        lines.append(f"{r.check:<{width}}  {r.status:<6}  {r.detail}")
        for issue in r.issues:
            where = f"line {issue.line}: " if issue.line is not None else ""
            lines.append(f"{'':<{width}}          - {where}{issue.message()}")
    failed = sum(r.status == "FAIL" for r in results)
    lines.append("")
    lines.append("all checks passed" if not failed else f"{failed} check(s) failed")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the gate's YAML config file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=[c for c in CHECK_NAMES if c != "config"],
        help="leave out a check (repeatable), e.g. --skip camera while the camera is in use",
    )
    parser.add_argument("--camera-timeout", type=float, default=10.0, help="seconds to wait for a frame")
    parser.add_argument("--broker-timeout", type=float, default=5.0, help="seconds to wait for the broker")


def run(args: argparse.Namespace) -> int:
    results = run_checks(args.config, args.skip, args.camera_timeout, args.broker_timeout)
    ok = not any(r.status == "FAIL" for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [r.to_dict() for r in results]}, indent=2))
    else:
        print(format_table(results))
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gate-edge check", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
