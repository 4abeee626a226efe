"""The last known good desired config, kept in state_dir so a device that restarts offline comes
back with what the fleet last asked for.

What is stored is the fleet's and the gate's desired documents (and their version) that were last
applied successfully, not the merged config: at startup they are laid over the *current* local
file again, exactly as the retained messages are when the broker is reachable. So an operator's
edit to the file is never silently undone by an old copy of it, and the store never holds
anything from the file (credentials paths, inline test passwords): the fleet may not set those
keys at all (:data:`edge.config.load.LOCAL_ONLY_PATHS`), and a stored document that touches them
(written by an older version, or planted) is refused when read.

It also keeps each source's version: at start they become the floors below which a desired config
is stale (:class:`edge.daemon.live_config.LiveConfig`), so a config rejected as stale before a
restart is not applied after it.

The file is written with :func:`edge.atomic_file.atomic_write` (temp file, fsync, rename, fsync of
the directory): after a power cut it holds either the old or the new document, never a torn one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edge.atomic_file import atomic_write
from edge.config.errors import ConfigError, ConfigIssue, DesiredOrigin
from edge.config.load import merge_desired, read_raw, validate
from edge.config.schema import GateConfig
from edge.messaging.schemas import MAX_CONFIG_VERSION

log = logging.getLogger(__name__)

FILENAME = "config-last-known-good.json"
_FORMAT = "gate-edge/config-lkg/1"


@dataclass(frozen=True)
class StoredDesired:
    version: int | None  # of the desired config applied last (either source)
    fleet: dict[str, Any] | None
    gate: dict[str, Any] | None
    saved_at: float  # unix time
    fleet_version: int | None = None  # of each stored document: the floors for what comes next
    gate_version: int | None = None


def _is_version(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_CONFIG_VERSION


def _source_versions(
    fleet: object, gate: object, version: int | None, source: DesiredOrigin | None, previous: StoredDesired | None
) -> tuple[int | None, int | None]:
    """Each stored document's version: the one just applied gets ``version``, the other keeps its own."""
    if source is None and (fleet is None) != (gate is None):
        source = "fleet" if fleet is not None else "gate"  # the only document there is the one applied
    fleet_version = version if source == "fleet" else (previous.fleet_version if previous else None)
    gate_version = version if source == "gate" else (previous.gate_version if previous else None)
    return (fleet_version if fleet is not None else None, gate_version if gate is not None else None)


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class LastKnownGood:
    """The desired documents last applied successfully, in ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FILENAME

    def save(
        self,
        fleet: Mapping[str, Any] | None,
        gate: Mapping[str, Any] | None,
        version: int | None = None,
        now: float | None = None,
        *,
        source: DesiredOrigin | None = None,
    ) -> None:
        """Store after a successful apply of ``source``'s desired config at ``version``.

        Raises ConfigError for keys the fleet may not set, a document nested too deep, or a version
        out of range.
        """
        merge_desired({}, fleet, gate)  # the same local-only and nesting checks the apply path makes
        if version is not None and not _is_version(version):
            raise ConfigError([ConfigIssue("version", version, f"a version from 0 to {MAX_CONFIG_VERSION}")])
        fleet_version, gate_version = _source_versions(fleet, gate, version, source, self.load())
        body = {
            "format": _FORMAT,
            "saved_at": time.time() if now is None else now,
            "version": version,
            "fleet": dict(fleet) if fleet is not None else None,
            "gate": dict(gate) if gate is not None else None,
            "fleet_version": fleet_version,
            "gate_version": gate_version,
        }
        doc = {**body, "sha256": _digest(body)}
        atomic_write(self.path, json.dumps(doc, sort_keys=True, indent=1).encode())

    def load(self) -> StoredDesired | None:
        """The stored documents, or None when absent or unusable (logged, never raised)."""
        try:
            doc = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:
            log.warning("ignoring unreadable last-known-good config %s: %s", self.path, exc)
            return None
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            log.warning("ignoring last-known-good config %s: unknown format", self.path)
            return None
        body = {k: v for k, v in doc.items() if k != "sha256"}
        try:
            digest = _digest(body)
        except (ValueError, TypeError, RecursionError) as exc:  # nested past what json can write back
            log.warning("ignoring unreadable last-known-good config %s: %s", self.path, exc)
            return None
        if doc.get("sha256") != digest:
            log.warning("ignoring last-known-good config %s: checksum mismatch", self.path)
            return None
        fleet, gate, version = body.get("fleet"), body.get("gate"), body.get("version")
        versions = (version, body.get("fleet_version"), body.get("gate_version"))
        saved_at = body.get("saved_at")
        if (
            not all(isinstance(d, (dict, type(None))) for d in (fleet, gate))
            or not all(v is None or _is_version(v) for v in versions)
            or not isinstance(saved_at, (int, float, type(None)))
        ):
            log.warning("ignoring last-known-good config %s: malformed", self.path)
            return None
        try:
            merge_desired({}, fleet, gate)  # stored before local-only sections were refused, or planted
        except ConfigError as exc:
            log.warning("refusing last-known-good config %s:\n%s", self.path, exc)
            return None
        if "fleet_version" in body or "gate_version" in body:
            fleet_version, gate_version = body.get("fleet_version"), body.get("gate_version")
        else:  # written before each source's version was kept
            fleet_version, gate_version = _source_versions(fleet, gate, version, None, None)
        return StoredDesired(version, fleet, gate, float(saved_at or 0.0), fleet_version, gate_version)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@dataclass(frozen=True)
class StartupConfig:
    config: GateConfig
    base: dict[str, Any]  # the local file, as read (for later merges with desired documents)
    source: Literal["file", "last_known_good"]
    stored: StoredDesired | None


def startup_config(path: str | Path, env: Mapping[str, str] | None = None) -> StartupConfig:
    """The config to start with: the local file, with the last applied desired documents over it.

    Raises ConfigError only when the local file itself is invalid (it must be enough to start:
    the device may boot with no broker and no stored state). Stored documents that no longer fit
    the current file are ignored with a warning.
    """
    raw = read_raw(path, env)
    base_cfg = validate(raw.data, str(path), raw.lines)
    stored = LastKnownGood(base_cfg.state_dir).load()
    if stored is None:
        return StartupConfig(base_cfg, raw.data, "file", None)
    try:
        merged = merge_desired(raw.data, stored.fleet, stored.gate, stored.version)
        cfg = validate(merged, "last known good config")
    except ConfigError as exc:
        log.warning("last known good config does not fit %s any more; using the file alone:\n%s", path, exc)
        return StartupConfig(base_cfg, raw.data, "file", None)
    return StartupConfig(cfg, raw.data, "last_known_good", stored)
