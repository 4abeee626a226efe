"""What the field test prepares on the host, once for both parts: the wheel (built from a clean copy
of the checkout), the replay video, a small PKI, the scenario's ground truth, and the residue scan."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ftlib import Failed, Part, run

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SCENARIO = HERE / "scenario.yaml"


def default_faces() -> Path:
    import os

    env = os.environ.get("GATE_EDGE_FACES")
    return Path(env) if env else (REPO.parent / "shared" / "faces")


# --------------------------------------------------------------------------- the wheel
def checkout_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files of the working tree (what the lead would commit)."""
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout.decode()
    return sorted({f for f in out.split("\0") if f and (REPO / f).is_file()})


def build_wheel(part: Part, work: Path) -> Path:
    """``pip wheel --no-deps`` from a clean copy of the checkout (a stale build/ in the checkout can
    put files in a wheel that the sources no longer have), then: does it carry every file of the
    package that is not Python (the model manifest, py.typed, ...)?"""
    src, out = work / "src", work / "wheel"
    for d in (src, out):
        shutil.rmtree(d, ignore_errors=True)
    files = checkout_files()
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, src / f)
    out.mkdir(parents=True)
    run(part, [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", out,
               src], timeout=300)
    wheels = sorted(out.glob("gate_edge-*.whl"))
    if len(wheels) != 1:
        raise Failed(f"expected one gate_edge wheel in {out}, found {[w.name for w in wheels]}")
    with zipfile.ZipFile(wheels[0]) as zf:
        members = set(zf.namelist())
    wanted = [f for f in files if f.startswith("edge/") and "__pycache__" not in f]
    missing = [f for f in wanted if f not in members]
    if missing:
        raise Failed(f"{wheels[0].name} lacks files of the package: {', '.join(missing)} "
                     "(pyproject.toml [tool.setuptools.package-data])")
    manifests = [m for m in members if m.startswith("edge/") and m.endswith("manifest.json")]
    if not manifests:
        raise Failed(f"{wheels[0].name} carries no model manifest under edge/")
    part.facts["wheel"] = {"file": wheels[0].name, "members": len(members), "data": sorted(
        m for m in members if m.startswith("edge/") and not m.endswith(".py"))}
    return wheels[0]


# --------------------------------------------------------------------------- the replay video
@dataclass(frozen=True)
class Truth:
    """What the recorded flight should give: per walk-up in video order, the outcome and gallery id."""

    cycle: list[tuple[str, str | None]]  # (expected outcome, gallery id or None)
    gallery_ids: list[str]
    identities: list[str]  # every identity folder the scenario names (enrolled or walking up)
    video_seconds: float


def record_video(part: Part, faces: Path, dest: Path) -> Truth:
    import json

    from gate_sim.scenario import load_scenario

    dest.parent.mkdir(parents=True, exist_ok=True)
    proc = run(part, [sys.executable, "-m", "gate_sim.record", SCENARIO, dest, "--faces", faces], timeout=300)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    scenario = load_scenario(SCENARIO, faces_dir=faces)
    truth = scenario.truth()
    cycle = [(t.expected, t.gallery_id if t.expected == "match" else None) for t in truth]
    gallery = scenario.gallery()
    spec = scenario.spec
    names = set(spec.manifest) if isinstance(spec.manifest, list) else set()
    names |= {w.identity for w in spec.walkups or [] if w.identity}
    seconds = summary["frames"] / summary["fps"]
    part.facts["video"] = {**summary, "seconds": round(seconds, 1), "cycle": [c[0] for c in cycle]}
    return Truth(cycle, [g for g, _ in gallery], sorted(names), seconds)


# --------------------------------------------------------------------------- PKI
@dataclass(frozen=True)
class Pki:
    dir: Path

    def crt(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"

    @property
    def ca(self) -> Path:
        return self.crt("ca")


def make_pki(part: Part, where: Path, clients: list[str], server_names: tuple[str, ...] = ("localhost",),
             server_ips: tuple[str, ...] = ("127.0.0.1",)) -> Pki:
    """A CA, a broker certificate for localhost/127.0.0.1 and one client certificate per name
    (CN = the name: with use_identity_as_username the broker takes the CN as the username)."""
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    pki = Pki(where)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(part, ["openssl", "req", "-x509", *ec, "-days", "3", "-subj", "/CN=gate-edge field test CA",
               "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
               "-keyout", pki.key("ca"), "-out", pki.ca], timeout=60, quiet=True)
    san = ",".join([*(f"DNS:{n}" for n in server_names), *(f"IP:{i}" for i in server_ips)])
    exts = {"broker": f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n"}
    exts.update({c: "extendedKeyUsage=clientAuth\n" for c in clients})
    for name, ext in exts.items():
        cn = "localhost" if name == "broker" else name
        run(part, ["openssl", "req", *ec, "-subj", f"/CN={cn}", "-keyout", pki.key(name),
                   "-out", where / f"{name}.csr"], timeout=60, quiet=True)
        (where / f"{name}.ext").write_text(ext)
        run(part, ["openssl", "x509", "-req", "-in", where / f"{name}.csr", "-CA", pki.ca, "-CAkey", pki.key("ca"),
                   "-CAcreateserial", "-days", "3", "-extfile", where / f"{name}.ext", "-out", pki.crt(name)],
            timeout=60, quiet=True)
    for k in where.glob("*.key"):
        k.chmod(0o600)
    return pki


# --------------------------------------------------------------------------- biometric residue
JPEG = re.compile(rb"\xff\xd8\xff[\xe0-\xef\xdb\xc0\xc2\xc4]")
PNG = b"\x89PNG\r\n\x1a\n"
B64_IMAGE = (b"/9j/", b"iVBORw0KGgo")  # base64 of a JPEG's and a PNG's first bytes
DIM = 128


def base64_variants(needle: bytes) -> list[bytes]:
    """The base64 text that ``needle`` becomes inside any longer base64 string, for each of its three
    possible alignments (the characters that also depend on the neighbours are left out)."""
    import base64

    out = []
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + needle)
        lead = (pad * 4 + 2) // 3  # characters that carry pad bytes
        end = len(enc) - (-(pad + len(needle)) % 3 and 4)
        core = enc[lead:end] if end > lead else b""
        if len(core) >= 8:
            out.append(core)
    return out


def unit_vectors(data: bytes, dim: int = DIM) -> int:
    """How many places in ``data`` hold ``dim`` float32 values forming a unit vector whose values are
    spread like a face template's (nearly all non-zero, none large): a stored embedding."""
    import numpy as np

    hits = 0
    for offset in range(4):
        n = (len(data) - offset) // 4
        if n < dim:
            continue
        with np.errstate(all="ignore"):  # arbitrary bytes: NaNs, infinities, overflow
            v = np.frombuffer(data, dtype="<f4", count=n, offset=offset).astype(np.float64)
            v[~np.isfinite(v) | (np.abs(v) > 1.0)] = 100.0
            sq = np.concatenate([[0.0], np.cumsum(v * v)])
        norms = sq[dim:] - sq[:-dim]
        candidates = np.flatnonzero(np.abs(norms - 1.0) < 2e-3)
        for start in candidates[:10_000]:
            window = v[start:start + dim]
            if np.abs(window).max() < 0.5 and np.count_nonzero(np.abs(window) > 1e-4) >= dim - 8:
                hits += 1
    return hits


def scan_residue(roots: list[Path], needles: list[str], max_bytes: int = 256 << 20) -> list[str]:
    """Every file under ``roots`` that holds an image (JPEG/PNG, raw or base64), a face template, or
    one of ``needles`` (identity names, gallery ids). Model files (*.onnx) are not searched for
    templates (their weights are floats); they are for everything else."""
    found = []
    encoded = [n.encode() for n in needles]
    b64 = [(n, variant) for n in needles for variant in base64_variants(n.encode())]
    for root in roots:
        if not root.exists():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            size = path.stat().st_size
            if size == 0 or size > max_bytes:
                continue
            data = path.read_bytes()
            rel = str(path)
            if data.startswith(PNG) or PNG in data:
                found.append(f"{rel}: PNG image")
            m = JPEG.search(data)
            if m and (data[m.start() + 6:m.start() + 10] in (b"JFIF", b"Exif") or m.start() == 0):
                found.append(f"{rel}: JPEG image at byte {m.start()}")
            for b in B64_IMAGE:
                if b in data:
                    found.append(f"{rel}: base64 image data ({b.decode()}...)")
            for n, e in zip(needles, encoded, strict=True):
                if e in data:
                    found.append(f"{rel}: names {n!r}")
            for n, variant in b64:
                if variant in data:
                    found.append(f"{rel}: names {n!r} (base64, as inside a signed envelope)")
                    break
            if not path.name.endswith(".onnx"):
                k = unit_vectors(data)
                if k:
                    found.append(f"{rel}: {k} float32 unit vector(s) of {DIM} values (a face template?)")
    return found
