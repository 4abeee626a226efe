"""The last known good desired config, kept in state_dir so a device that restarts offline comes
back with what the fleet last asked for.

What is stored is the fleet's and the gate's desired documents (and their version) that were last
applied successfully, not the merged config: at startup they are laid over the *current* local
file again, exactly as the retained messages are when the broker is reachable. So an operator's
edit to the file is never silently undone by an old copy of it, and the store never holds
anything from the file (credentials paths, inline test passwords): the fleet may not set those
keys at all (:data:`edge.config.load.LOCAL_ONLY_PATHS`).

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
from edge.config.errors import ConfigError
from edge.config.load import merge_desired, read_raw, validate
from edge.config.schema import GateConfig

log = logging.getLogger(__name__)

FILENAME = "config-last-known-good.json"
_FORMAT = "gate-edge/config-lkg/1"


@dataclass(frozen=True)
class StoredDesired:
    version: int | None
    fleet: dict[str, Any] | None
    gate: dict[str, Any] | None
    saved_at: float  # unix time


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
    ) -> None:
        """Store after a successful apply. Raises ConfigError for keys the fleet may not set."""
        merge_desired({}, fleet, gate)  # the same local-only check the apply path makes
        body = {
            "format": _FORMAT,
            "saved_at": time.time() if now is None else now,
            "version": version,
            "fleet": dict(fleet) if fleet is not None else None,
            "gate": dict(gate) if gate is not None else None,
        }
        doc = {**body, "sha256": _digest(body)}
        atomic_write(self.path, json.dumps(doc, sort_keys=True, indent=1).encode())

    def load(self) -> StoredDesired | None:
        """The stored documents, or None when absent or unusable (logged, never raised)."""
        try:
            doc = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable last-known-good config %s: %s", self.path, exc)
            return None
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            log.warning("ignoring last-known-good config %s: unknown format", self.path)
            return None
        body = {k: v for k, v in doc.items() if k != "sha256"}
        if doc.get("sha256") != _digest(body):
            log.warning("ignoring last-known-good config %s: checksum mismatch", self.path)
            return None
        fleet, gate, version = body.get("fleet"), body.get("gate"), body.get("version")
        if not all(isinstance(d, (dict, type(None))) for d in (fleet, gate)) or not isinstance(
            version, (int, type(None))
        ):
            log.warning("ignoring last-known-good config %s: malformed", self.path)
            return None
        return StoredDesired(version, fleet, gate, float(body.get("saved_at") or 0.0))

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
