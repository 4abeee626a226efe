"""`gate-edge verify`: check that a wipe attestation (or an event) was signed by a gate's own key.

The gate signs every event and wipe attestation it publishes with the Ed25519 key it made at first
start (``gate-key.pem`` in its state directory, readable by the daemon only); its public half is in
the gate's retained status (``public_key``, ``key_id``). An auditor saves the message as received
and checks it here, against the public key saved from the status or read from the gate:

    gate-edge verify --key gate-G1.pub wipe-2026-12-02.json
    gate-edge verify --status status-G1.json events.jsonl     # one message per line
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.messaging.envelope import (
    EnvelopeRefused,
    PublicKey,
    TrustAnchors,
    key_id,
    public_key_from_pem,
    read_public_key,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--key", type=Path, help="the gate's public key (PEM)")
    who.add_argument("--status", type=Path, help="a saved retained status message of the gate (has public_key)")
    parser.add_argument("files", nargs="+", type=Path, help="saved messages: one per file, or one per line")
    parser.add_argument("--json", action="store_true", help="print each verified message as a JSON line")


def _public_key(args: argparse.Namespace) -> PublicKey:
    if args.key is not None:
        return read_public_key(args.key)
    status = json.loads(Path(args.status).read_text())
    pem = status.get("public_key") if isinstance(status, dict) else None
    if not isinstance(pem, str):
        raise ValueError(f"{args.status}: no public_key in this status message")
    return public_key_from_pem(pem.encode(), f"{args.status}: public_key")


def run(args: argparse.Namespace) -> int:
    try:
        key = _public_key(args)
        anchors = TrustAnchors.of({"gate": [key]})
    except (OSError, ValueError) as exc:
        print(f"gate-edge verify: {exc}", file=sys.stderr)
        return 2
    kid = key_id(key)
    bad = 0
    for path in args.files:
        try:
            lines = [ln for ln in Path(path).read_bytes().splitlines() if ln.strip()]
        except OSError as exc:
            print(f"{path}: cannot read: {exc}", file=sys.stderr)
            bad += 1
            continue
        for n, line in enumerate(lines, 1):
            where = f"{path}:{n}" if len(lines) > 1 else str(path)
            try:
                inner = json.loads(anchors.open(line, "gate"))
            except (EnvelopeRefused, ValueError) as exc:
                print(f"{where}: NOT VERIFIED: {exc}")
                bad += 1
                continue
            if args.json:
                print(json.dumps(inner))
            else:
                what = inner.get("schema", "?") if isinstance(inner, dict) else "?"
                print(f"{where}: verified ({what}, signed by gate key {kid})")
    return 1 if bad else 0
