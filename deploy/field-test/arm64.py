"""The arm64 part: Debian 12 arm64 (what Raspberry Pi OS bookworm 64-bit is built on) under proot and
qemu user emulation. deploy/install-debian.sh installs gate-edge from the wheel exactly as on a gate
(systemd is not running under proot: the unit is enabled for the next boot, nothing is started), then
`gate-edge models verify` and `gate-edge eval` on three photos. Emulation is 10-50x slower than a
Pi: nothing here is timed for performance.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

from ftlib import Emulated, Failed, Part, cached_rootfs, fresh_copy, remove_tree, shielded, trust_host_ca
from host import REPO

GUEST = "/root/field-test"
VENV = "/opt/gate-edge/venv"
# Three photos: two of one person (one enrolled, one probe), one of someone else (an impostor).
PHOTOS = {"deepface_id00": 2, "solvay_02": 1}


class Arm64:
    def __init__(self, part: Part, cache: Path, work: Path, wheel: Path, faces: Path, keep: bool) -> None:
        self.part, self.cache, self.work, self.wheel, self.faces, self.keep = part, cache, work, wheel, faces, keep
        self.root = work / "root-arm64"

    def run(self) -> None:
        p = self.part
        try:
            with p.check("fresh Debian 12 arm64 root (debootstrap --foreign + second stage under qemu, cached)") as c:
                base = cached_rootfs(p, self.cache, "arm64")
                fresh_copy(p, base, self.root)
                self.stage()
                c.detail = str(self.root)
            apt = self.cache / "apt-arm64"
            (apt / "partial").mkdir(parents=True, exist_ok=True)
            pip = self.cache / "pip-arm64"
            pip.mkdir(parents=True, exist_ok=True)
            box = Emulated(p, self.root, "arm64", [(apt, "/var/cache/apt/archives"), (pip, "/root/.cache/pip")])
            with p.check("aarch64 userland under emulation") as c:
                c.detail = box.sh("uname -m; . /etc/os-release; echo $PRETTY_NAME", timeout=120).stdout.strip()
                if not c.detail.startswith("aarch64"):
                    raise Failed(c.detail)
            with p.check("install-debian.sh --source WHEEL (its package set; venv; models; unit enabled)") as c:
                t0 = time.monotonic()
                out = box.sh(f"bash {GUEST}/deploy/install-debian.sh --source {GUEST}/{self.wheel.name} 2>&1",
                             timeout=3000)
                p.facts["install_seconds_emulated"] = round(time.monotonic() - t0, 1)
                tail = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in out.stdout.splitlines() if line.strip()][-1:]
                # the installer's own `gate-edge check`: config, models and providers load under emulation;
                # camera and credentials cannot pass here (no camera, no broker: nothing configured)
                rows = re.findall(r"^(config|state_dir|models: \S+|providers|camera|credentials|broker)\s+"
                                  r"(OK|FAIL|SKIP|WARN)\b", out.stdout, re.MULTILINE)
                p.facts["arm64_installer_check"] = dict(rows)
                link = self.root / "etc/systemd/system/multi-user.target.wants/gate-edge.service"
                c.detail = f"exit 0; unit enabled: {link.is_symlink()}; its check: {dict(rows)}; last line: {tail}"
                if not link.is_symlink():
                    raise Failed(c.detail)
                loaded = {k: v for k, v in rows if k.startswith(("config", "models", "providers"))}
                if len(loaded) < 4 or set(loaded.values()) != {"OK"}:
                    raise Failed("config, models and providers must pass the installer's check: " + c.detail)
            with p.check("the venv: aarch64 Python, no compiler, no hnswlib (optional extra)") as c:
                out = box.sh(f"{VENV}/bin/python -c 'import platform, sys; print(platform.machine(), "
                             f"sys.version.split()[0])'; command -v g++ cc gcc || true; "
                             f"{VENV}/bin/python -m pip list --format=freeze 2>/dev/null", timeout=300).stdout
                lines = out.splitlines()
                machine = lines[0]
                compilers = [x for x in lines[1:] if x.startswith("/")]
                pkgs = {x.split("==")[0].lower(): x.split("==")[1] for x in lines if "==" in x}
                p.facts["arm64_packages"] = {k: pkgs[k] for k in sorted(pkgs) if k in (
                    "gate-edge", "numpy", "opencv-python-headless", "onnxruntime", "onnx", "pydantic-core",
                    "pyyaml", "paho-mqtt", "cryptography", "hnswlib")}
                c.detail = f"{machine}; compilers: {compilers or 'none'}; {p.facts['arm64_packages']}"
                if not machine.startswith("aarch64") or "gate-edge" not in pkgs or "hnswlib" in pkgs:
                    raise Failed(c.detail)
            with p.check("gate-edge models verify (installed wheel, from /)") as c:
                out = box.sh(f"cd / && {VENV}/bin/gate-edge models verify --cache-dir /var/cache/gate-edge",
                             timeout=600)
                c.detail = "; ".join(" ".join(x.split()[:2]) for x in out.stdout.splitlines()
                                     if x.startswith(("OK", "FAIL")))
            with p.check("gate-edge eval --faces on three photos (no timings under emulation)") as c:
                out = box.sh(f"cd / && {VENV}/bin/gate-edge eval --faces {GUEST}/faces "
                             f"--models-dir /var/cache/gate-edge --threads 2 --json", timeout=1800)
                result = json.loads(out.stdout.strip().splitlines()[-1])
                outcomes = result.get("outcomes")
                p.facts["arm64_eval"] = {k: result.get(k) for k in ("identities_enrolled", "genuine_probes",
                                                                      "impostor_probes", "fnir", "fpir",
                                                                      "failures_to_acquire", "outcomes")}
                c.detail = f"outcomes {outcomes}, fnir {result.get('fnir')}, fpir {result.get('fpir')}"
                if outcomes != {"genuine": {"match": 1}, "impostor": {"no_match": 1}}:
                    raise Failed(c.detail)
        finally:
            if not self.keep:
                with shielded():
                    remove_tree(self.root)
                    self.root.with_name(self.root.name + ".cpuinfo").unlink(missing_ok=True)

    def stage(self) -> None:
        trust_host_ca(self.root)
        guest = self.root / GUEST.lstrip("/")
        guest.mkdir(parents=True)
        for d in ("deploy", "config"):
            shutil.copytree(REPO / d, guest / d, ignore=shutil.ignore_patterns("field-test", "__pycache__"))
        shutil.copy2(self.wheel, guest / self.wheel.name)
        for identity, n in PHOTOS.items():
            src = self.faces / identity
            photos = sorted((p for p in src.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")),
                            key=lambda p: (p.stat().st_size, p.name))[:n]
            if len(photos) < n:
                raise Failed(f"{src}: fewer than {n} photos")
            (guest / "faces" / identity).mkdir(parents=True)
            for photo in photos:
                shutil.copy2(photo, guest / "faces" / identity / photo.name)
