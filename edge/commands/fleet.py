"""`gate-edge fleet`: the fleet admin's tool: list the gates, push desired config, send commands,
follow decisions.

    gate-edge fleet gates [--json]
    gate-edge fleet config push FILE (--gate G ... | --fleet) [--version N] [--timeout S]
    gate-edge fleet cmd NAME (--gate G ... | --fleet) [--arg k=v ...] [--wait-back S]
    gate-edge fleet events --follow [--gate G ...] [--json] [--count N] [--seconds S]

The broker is reached like a gate reaches it: ``--connection FILE`` (YAML with an ``mqtt`` section,
the same keys as a gate's, and optionally ``signing_key``) and/or ``--host``, ``--port``,
``--username``, ``--password-file``, ``--ca``, ``--cert``, ``--key``. What changes a gate (config,
commands) is signed with ``--signing-key``, the fleet admin's Ed25519 private key (PEM).

Exit status: 0 done; 1 a gate refused, failed or did not answer in time; 2 nothing was sent (bad
arguments, a config that fails the gate's own validation, no broker, no key).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from edge.config.errors import MISSING, ConfigError, ConfigIssue, format_issues
from edge.messaging.settings import MqttConfig
from edge.messaging.topics import FleetTopics, TopicError, Topics

if TYPE_CHECKING:
    from edge.fleet.connection import FleetLink

EXIT_REFUSED = 1
EXIT_NOT_SENT = 2


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("connection (as a gate's mqtt section)")
    g.add_argument("--connection", type=Path, metavar="FILE", help="YAML: `mqtt: {...}` and `signing_key: PEM`")
    g.add_argument("--host")
    g.add_argument("--port", type=int)
    g.add_argument("--username")
    g.add_argument("--password-file", type=Path)
    g.add_argument("--ca", type=Path, help="CA file: enables TLS")
    g.add_argument("--cert", type=Path, help="TLS client certificate")
    g.add_argument("--key", type=Path, help="TLS client key (not the signing key)")
    g.add_argument("--signing-key", type=Path, metavar="PEM", help="the fleet admin's Ed25519 private key")
    g.add_argument("--connect-timeout", type=float, default=10.0, metavar="S")
    return p


def _targets(p: argparse.ArgumentParser) -> None:
    t = p.add_mutually_exclusive_group(required=True)
    t.add_argument("--gate", action="append", metavar="G", help="a gate (repeatable)")
    t.add_argument("--fleet", action="store_true", help="every gate (fleet-wide: the gates online now)")


def _arg(kv: str) -> tuple[str, Any]:
    k, sep, v = kv.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--arg wants k=v, got {kv!r}")
    try:
        return k, json.loads(v)
    except ValueError:
        return k, v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edge.messaging.schemas import COMMANDS

    common = _common()
    sub = parser.add_subparsers(dest="fleet_command", required=True, metavar="SUB")
    g = sub.add_parser("gates", parents=[common], help="every gate: status, versions, config state")
    g.add_argument("--json", action="store_true", help="one JSON array")
    c = sub.add_parser("config", help="desired config").add_subparsers(dest="config_command", required=True)
    p = c.add_parser("push", parents=[common], help="validate, publish signed, wait for every gate's report")
    p.add_argument("file", type=Path, help="YAML: the config mapping, or `version:` and `config:`")
    _targets(p)
    p.add_argument("--version", type=int, help="default: the file's, else the current Unix time")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="for every report (default 30)")
    p.add_argument("--no-wait", action="store_true",
                   help="publish (retained) and return: each gate takes it when it next connects")
    p.add_argument("--skip-local-check", action="store_true", help="send without validating here first")
    p.add_argument("--json", action="store_true")
    m = sub.add_parser("cmd", parents=[common], help="send a signed command, wait for each reply")
    m.add_argument("name", choices=sorted(COMMANDS))
    _targets(m)
    m.add_argument("--arg", action="append", default=[], type=_arg, metavar="K=V",
                   help="a command field, e.g. flight_id=LH42 or duration_s=30")
    m.add_argument("--timeout", type=float, default=10.0, metavar="S", help="for every reply (default 10)")
    m.add_argument("--wait-back", type=float, metavar="S",
                   help="restart: also wait up to S seconds for each gate to come back online")
    m.add_argument("--json", action="store_true")
    e = sub.add_parser("events", parents=[common], help="the gates' decisions, live")
    e.add_argument("--follow", action="store_true", help="keep following (the default; for clarity)")
    e.add_argument("--gate", action="append", metavar="G", help="only these gates (repeatable)")
    e.add_argument("--json", action="store_true", help="one JSON object a line")
    e.add_argument("--count", type=int, help="stop after N events")
    e.add_argument("--seconds", type=float, help="stop after S seconds")


def run(args: argparse.Namespace) -> int:
    from edge.fleet.connection import FleetError

    try:
        if args.fleet_command == "gates":
            return _gates(args)
        if args.fleet_command == "config":
            return _push(args)
        if args.fleet_command == "cmd":
            return _cmd(args)
        return _events(args)
    except (ConfigError, FleetError, TopicError) as exc:  # TopicError: a gate id that cannot be in a topic
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_SENT
    except ValidationError as exc:  # a command argument or a version the message's schema refuses
        for e in exc.errors(include_url=False):
            print(f"error: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}", file=sys.stderr)
        print("nothing was sent", file=sys.stderr)
        return EXIT_NOT_SENT
    except KeyboardInterrupt:  # the way out of `events --follow`; anything else was cut short
        return 0 if args.fleet_command == "events" else 130


def _mqtt(args: argparse.Namespace) -> MqttConfig:
    from edge.fleet.connection import mqtt_settings

    return mqtt_settings(args.connection, {
        "host": args.host, "port": args.port, "username": args.username, "password_file": args.password_file,
        "ca_file": args.ca, "cert_file": args.cert, "key_file": args.key})


def _link(args: argparse.Namespace, mqtt: MqttConfig, filters: list[str], *, signed: bool = False,
          sync: bool = True) -> FleetLink:
    from edge.fleet.connection import FleetError, FleetLink, read_signer, signing_key_path

    signer = None
    if signed:
        key = args.signing_key or signing_key_path(args.connection)
        if key is None:
            raise FleetError("no signing key: gates act only on config and commands signed by a fleet admin key "
                             "(--signing-key PEM, or signing_key in the connection file)")
        signer = read_signer(key)
    return FleetLink(mqtt, filters, signer=signer, timeout=args.connect_timeout, sync=sync)


def _gates(args: argparse.Namespace) -> int:
    from edge.fleet.gates import gate_rows, status_filters
    from edge.fleet.render import Table

    mqtt = _mqtt(args)
    with _link(args, mqtt, status_filters(FleetTopics.from_config(mqtt))) as link:
        rows = gate_rows(link)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=1))
        return 0
    columns = ["gate", "online", "since", "software", "flight", "gallery", "config", "config state", "camera",
               "broker", "outbox", "last event"]
    Table(columns, title=f"{len(rows)} gate(s)").print_all([
        [r.gate, r.online, r.since, r.software, r.flight, r.gallery, r.config_version, r.config_state, r.camera,
         r.broker, r.outbox, r.last_event] for r in rows])
    return 0


def _issue_line(e: dict[str, Any]) -> str:
    """A reported issue worded as `gate-edge check` words a local one."""
    issue = ConfigIssue(str(e.get("path")), e.get("value", MISSING), str(e.get("expected")), e.get("suggestion"))
    if e.get("value") is None:  # nothing found to show (a restart note, an apply failure)
        return f"    {issue.path}: {issue.expected}" + (f" (did you mean '{issue.suggestion}'?)" if issue.suggestion
                                                         else "")
    return f"    {issue.message()}"


def _push(args: argparse.Namespace) -> int:
    from edge.fleet.gates import status_filters
    from edge.fleet.push import check_locally, push_and_wait, read_desired

    desired = read_desired(args.file, args.version)
    if not args.skip_local_check:
        issues = check_locally(desired, per_gate=not args.fleet)
        if issues:
            print(format_issues(issues, str(args.file)), file=sys.stderr)
            print("nothing was sent", file=sys.stderr)
            return EXIT_NOT_SENT
    mqtt = _mqtt(args)
    # Fleet-wide: every gate's status (who is online) and report; per gate: the targets' reports only.
    filters = (status_filters(FleetTopics.from_config(mqtt)) if args.fleet
               else [Topics.from_config(g, mqtt).config_reported for g in sorted(set(args.gate))])
    with _link(args, mqtt, filters, signed=True, sync=args.fleet) as link:
        result = push_and_wait(link, desired, None if args.fleet else args.gate,
                               None if args.no_wait else args.timeout)
    if args.json:
        print(json.dumps({"version": result.version, "ok": result.ok, "reports": result.reports,
                          "missing": result.missing, "skipped_offline": result.skipped_offline}))
        return 0 if result.ok else EXIT_REFUSED
    where = "the fleet" if args.fleet else ", ".join(sorted(set(args.gate)))
    print(f"config version {result.version} pushed to {where}, signed"
          + ("; not waiting for reports" if args.no_wait else ""))
    for gate, report in sorted(result.reports.items()):
        status = report.get("status")
        print(f"  {gate}: {status} (running version {report.get('applied_version')})")
        for e in report.get("errors") or []:
            print(_issue_line(e))
        if status == "restart_required":
            print(f"    takes effect after a restart: gate-edge fleet cmd restart --gate {gate}")
    for gate in result.missing:
        print(f"  {gate}: no report within {args.timeout:.0f} s")
    for gate in result.skipped_offline:
        print(f"  {gate}: offline; takes it when it reconnects (not waited for)")
    return 0 if result.ok else EXIT_REFUSED


def _cmd(args: argparse.Namespace) -> int:
    from edge.fleet.commands import CommandOrder, accepted, command_body, send_and_wait, wait_back
    from edge.fleet.gates import latest

    mqtt = _mqtt(args)
    status_filter = FleetTopics.from_config(mqtt).every_gate("status")
    if args.fleet:  # the targets are the gates online now: read their statuses first
        with _link(args, mqtt, [status_filter]) as probe:
            statuses = latest(probe.sync(), "/status")
        gates = sorted(g for g, s in statuses.items() if s.get("online"))
    else:
        gates = sorted(set(args.gate))
    if not gates:
        print("no gate online", file=sys.stderr)
        return EXIT_REFUSED
    orders = [CommandOrder.to(mqtt, g, args.name) for g in gates]
    command_body(orders[0], dict(args.arg))  # a bad argument is refused before anything connects
    waits_back = args.wait_back is not None
    filters = [o.reply_topic for o in orders] + ([status_filter] if waits_back else [])
    with _link(args, mqtt, filters, signed=True, sync=waits_back) as link:
        before = latest(link.sync(), "/status") if waits_back else {}
        replies = send_and_wait(link, orders, dict(args.arg), args.timeout)
        back: dict[str, dict[str, Any] | None] = {}
        if waits_back:
            back = wait_back(link, [g for g, r in replies.items() if accepted(r)], before, args.wait_back)
    ok = all(accepted(r) for r in replies.values()) and all(b is not None for b in back.values())
    if args.json:
        print(json.dumps({"command": args.name, "ok": ok, "replies": replies, "back": back}))
        return 0 if ok else EXIT_REFUSED
    for gate, reply in replies.items():
        if reply is None:
            print(f"{gate}: no reply within {args.timeout:.0f} s")
        elif "result" in reply:
            reason = f": {reply['reason']}" if reply.get("reason") else ""
            print(f"{gate}: {args.name} {reply['result']}{reason}")
        else:  # a rejection notice: the gate refused the message itself
            print(f"{gate}: {args.name} refused ({reply.get('code')}): {reply.get('reason')}")
    for gate, status in back.items():
        if status is None:
            print(f"{gate}: not back online within {args.wait_back:.0f} s")
        else:
            print(f"{gate}: back online since {status.get('online_since')}, config version "
                  f"{status.get('config_version')}, software {status.get('software_version')}")
    return 0 if ok else EXIT_REFUSED


def _events(args: argparse.Namespace) -> int:
    from edge.fleet.events import event_filters, follow
    from edge.fleet.render import Table

    table = Table(["gate", "seq", "outcome", "score", "latency ms", "flight", "decided at"])
    widths = [14, 6, 18, 7, 10, 10, 20]

    def show(e: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps(e), flush=True)
            return
        total = (e.get("latency_ms") or {}).get("total")
        table.print_row([e.get("gate"), e.get("seq"), e.get("outcome"), e.get("score"),
                         None if total is None else f"{total:.0f}", e.get("flight_id"),
                         str(e.get("decided_at", ""))[:19].replace("T", " ")], widths)

    mqtt = _mqtt(args)
    with _link(args, mqtt, event_filters(FleetTopics.from_config(mqtt), args.gate, mqtt), sync=False) as link:
        follow(link, show, count=args.count, seconds=args.seconds)
    return 0
