"""Desired config from the fleet: validated whole, applied between transactions, reported truthfully.

A fleet-wide document (``fleet/v1/config``) and a per-gate override are merged over the local file's
base and validated as one :class:`GateConfig`. A change confined to the live sections waits for the
current transaction to end and is then applied to the running parts (detector, quality gate, capture
zone, decision, gallery limits, telemetry, logging) by the daemon's ``apply`` callback; only then is
it reported ``applied``, and a failed apply is rolled back and reported ``rejected``. Any other
change is stored for the next start and reported ``restart_required``. The last accepted documents
are kept atomically (last known good) for an offline restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from edge.config.errors import ConfigError
from edge.config.load import classify_change, merge_desired, validate
from edge.config.schema import GateConfig
from edge.config.store import LastKnownGood, StoredDesired
from edge.messaging.link import ConfigUpdate
from edge.messaging.schemas import ConfigIssue, ConfigReported

log = logging.getLogger(__name__)

ReportStatus = Literal["applied", "rejected", "restart_required"]


@dataclass(frozen=True)
class _Pending:
    config: GateConfig
    item: ConfigUpdate
    fleet: Any
    gate: Any


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)[:200]


class LiveConfig:
    """The config in force and the desired documents it came from."""

    def __init__(
        self,
        cfg: GateConfig,
        base_raw: dict[str, Any] | None,
        stored: StoredDesired | None,
        apply: Callable[[GateConfig, GateConfig], None],
        report: Callable[[ConfigReported], None],
        remember_versions: Callable[[str, int], None],
    ) -> None:
        self.cfg = cfg
        self._base_raw = base_raw if base_raw is not None else cfg.model_dump(exclude={"version"})
        self._fleet_doc = stored.fleet if stored else None
        self._gate_doc = stored.gate if stored else None
        self._lkg = LastKnownGood(cfg.state_dir)
        self._apply = apply
        self._report = report
        self._remember_versions = remember_versions
        self._pending: _Pending | None = None
        # The stored documents' versions are floors: a config already superseded (or rejected as stale)
        # before a restart must not be applied after it.
        if stored is not None:
            for source, version in (("fleet", stored.fleet_version), ("gate", stored.gate_version)):
                if version is not None:
                    remember_versions(source, version)

    @property
    def waiting(self) -> bool:
        """A live change is validated and waits for the traveller's transaction to end."""
        return self._pending is not None

    def consider(self, item: ConfigUpdate) -> None:
        """Validate a desired config; a live change is held until :meth:`apply_pending`."""
        desired = item.desired
        fleet = desired.config if item.source == "fleet" else self._fleet_doc
        gate = desired.config if item.source == "gate" else self._gate_doc
        try:
            new = validate(merge_desired(self._base_raw, fleet, gate, desired.version), "desired config")
        except ConfigError as exc:
            self._send("rejected", desired.version, exc.issues)
            return
        change = classify_change(self.cfg, new)
        if change.kind == "restart_required":
            self._remember(item, fleet, gate)  # the next start (systemd restart, reboot) comes up with it
            # The version changes with every document: the paths that need the restart are the others.
            self._send("restart_required", desired.version, [], tuple(p for p in change.paths if p != "version"))
            return
        self._pending = _Pending(new, item, fleet, gate)  # a newer one replaces one still waiting

    def apply_pending(self) -> None:
        """Between transactions: put the waiting change in force, or roll it back and say why."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        old = self.cfg
        try:
            self._apply(old, pending.config)
        except Exception as exc:
            log.exception("config version %d could not be applied; rolled back", pending.item.desired.version)
            self._apply(pending.config, old)
            self._send("rejected", pending.item.desired.version, [], note=f"apply failed, rolled back: {exc}")
            return
        self.cfg = pending.config
        self._remember(pending.item, pending.fleet, pending.gate)
        log.info("config version %d applied", self.cfg.version)
        self._send("applied", pending.item.desired.version, [])

    def _remember(self, item: ConfigUpdate, fleet: Any, gate: Any) -> None:
        self._fleet_doc, self._gate_doc = fleet, gate
        self._remember_versions(item.source, item.desired.version)
        try:
            self._lkg.save(fleet, gate, item.desired.version, source=item.source)
        except Exception:
            log.exception("could not store the last known good config")

    def _send(self, status: ReportStatus, version: int, issues: Any, paths: tuple[str, ...] = (),
              note: str | None = None) -> None:
        errors = [ConfigIssue(path=i.path, value=_jsonable(i.value), expected=i.expected,
                              suggestion=i.suggestion) for i in issues]
        if note:
            errors.append(ConfigIssue(path="<apply>", value=None, expected=note))
        errors += [ConfigIssue(path=p, value=None, expected="a restart to take effect") for p in paths]
        gate_id = self.cfg.gate_id
        self._report(ConfigReported(gate=gate_id, status=status, version=version, applied_version=self.cfg.version,
                                    errors=errors))
        log.log(logging.WARNING if status == "rejected" else logging.INFO, "config version %d: %s%s", version,
                status, "".join(f"\n  {e.path}: {e.expected} (got {e.value!r})"
                                + (f" (did you mean {e.suggestion!r}?)" if e.suggestion else "") for e in errors))
