"""`gate-edge fleet config push`: validate a desired config as the gate will, publish it signed, and
wait for the report of every gate it targets.

The file is YAML (or JSON): the config mapping itself, or ``{version: N, config: {...}}``. Without a
version in the file, ``--version`` or the current Unix time is used (it must exceed the version a gate
runs). It is validated locally first, with the gate's own schema and rules (the local-only sections,
the safety envelope): the desired document laid over a minimal gate config, exactly as a gate lays it
over its file. A gate can still refuse what passes here (its own file may conflict, the version may be
stale); that comes back in its report, with the same paths and suggestions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge.config.errors import ConfigError, ConfigIssue
from edge.config.load import merge_desired, validate
from edge.fleet.connection import FleetError, FleetLink
from edge.fleet.gates import latest
from edge.messaging.schemas import MAX_CONFIG_VERSION, ConfigDesired
from edge.messaging.topics import Topics

# What a desired document is laid over for the local check: the least a gate's own file holds.
_LOCAL_CHECK_BASE: dict[str, Any] = {"gate_id": "fleet-check", "camera": {"backend": "v4l2"}}


@dataclass(frozen=True)
class Desired:
    version: int
    config: dict[str, Any]


@dataclass
class PushResult:
    """Each targeted gate's report (its JSON body), and the gates that did not report in time."""

    version: int
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    skipped_offline: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and all(r.get("status") != "rejected" for r in self.reports.values())


def read_desired(path: Path, version: int | None = None) -> Desired:
    """The file's version and config mapping; FleetError when it is not a mapping."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise FleetError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise FleetError(f"{path}: expected a mapping (the config, or `version:` and `config:`)")
    if set(doc) == {"version", "config"} and isinstance(doc["config"], dict):
        return Desired(int(doc["version"]), doc["config"])
    chosen = version if version is not None else int(time.time())
    if not 0 <= chosen <= MAX_CONFIG_VERSION:
        raise FleetError(f"version {chosen} is outside 0..{MAX_CONFIG_VERSION}")
    return Desired(chosen, doc)


def check_locally(desired: Desired, per_gate: bool) -> list[ConfigIssue]:
    """Every problem the gate's own validation finds in the document (none: it may be pushed)."""
    doc = desired.config
    try:
        validate(merge_desired(_LOCAL_CHECK_BASE, None if per_gate else doc, doc if per_gate else None,
                               desired.version), "desired config")
    except ConfigError as exc:
        return exc.issues
    return []


def push_and_wait(link: FleetLink, desired: Desired, gates: Sequence[str] | None,
                  timeout: float | None) -> PushResult:
    """Publish ``desired`` (retained, signed) to each of ``gates``, or fleet-wide when None, and wait up
    to ``timeout`` seconds (None: not at all) for each targeted gate's report of this version.
    Fleet-wide, the targets are the gates whose retained status says online; offline ones take it when
    they reconnect (the desired config is retained) and are listed as skipped. ``link`` reads every
    gate's status and report (and syncs, for a fleet-wide push)."""
    result = PushResult(desired.version)
    if gates is None:
        statuses = latest(link.sync(), "/status")
        targets = sorted(g for g, s in statuses.items() if s.get("online"))
        result.skipped_offline = sorted(g for g, s in statuses.items() if not s.get("online"))
        topic = Topics.from_config("fleet", link.mqtt).fleet_config
        link.publish_signed(topic, ConfigDesired(version=desired.version, config=desired.config).to_bytes(),
                            retain=True)
    else:
        targets = sorted(set(gates))
        for gate in targets:
            body = ConfigDesired(version=desired.version, gate=gate, config=desired.config).to_bytes()
            link.publish_signed(Topics.from_config(gate, link.mqtt).config_desired, body, retain=True)
    if timeout is None:  # not waiting: each gate takes the retained document when it (re)connects
        return result
    waiting = set(targets)
    deadline = time.monotonic() + timeout
    while waiting and (left := deadline - time.monotonic()) > 0:
        m = link.receive(left)
        if m is None:
            break
        # Live reports only: a retained one was there before this push (retained messages arrive flagged).
        if (m.gate in waiting and m.body is not None and not m.retained and m.topic.endswith("/config/reported")
                and m.body.get("version") == desired.version):
            result.reports[m.gate] = m.body
            waiting.discard(m.gate)
    result.missing = sorted(waiting)
    return result
