"""The amd64 part: a fresh Debian 12 booted by a real systemd (systemd-nspawn), gate-edge installed
by deploy/install-debian.sh from the wheel, Mosquitto with the shipped config over TLS, the gate
replaying a recorded flight, and the simulated departure control, gallery service and a consumer on
the host. Each step is a check in the report; cleanup (poweroff, the copy of the root) always runs.
"""

from __future__ import annotations

import re
import secrets
import shlex
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import yaml
from ftlib import (
    Container,
    Failed,
    Part,
    cached_rootfs,
    fresh_copy,
    remove_tree,
    shielded,
    trust_host_ca,
    wait_for,
)
from host import REPO, Pki, Truth, scan_residue

# The gate is the example config's own gate (config/usb-gate.yaml), so that the troubleshooting
# commands of deploy/README.md are run here exactly as written there.
GATE = str(yaml.safe_load((REPO / "config" / "usb-gate.yaml").read_text())["gate_id"])
FLIGHT = "FT100"
SERVICES = ("dcs", "gallery-service", "fleet-admin")
PORT = 8883
CAMERA = "/srv/gate-edge-field-test/camera.avi"
GUEST = "/root/field-test"  # staging folder inside the container
UNIT = "gate-edge.service"
SHOW = ("ActiveState", "SubState", "StatusText", "MainPID", "NRestarts", "Result", "ExecMainStatus")

TLS_CHECK = (f"openssl s_client -connect localhost:8883 -verify_hostname localhost -verify_return_error "
             f"-CAfile /etc/gate-edge/tls/ca.crt -cert /etc/gate-edge/tls/{GATE}.crt "
             f"-key /etc/credstore/gate-edge.mqtt-client.key </dev/null 2>&1 | grep -E 'Verify return code|error'")
# deploy/README.md's troubleshooting section lists these commands; the field test runs every one of
# them on the running gate (tests/deploy checks that the README names no other command).
TROUBLESHOOTING = [
    "systemctl status gate-edge --no-pager",
    "systemctl show gate-edge -p ActiveState,SubState,StatusText,NRestarts,Result,ExecMainStatus",
    "journalctl -u gate-edge -b --no-pager -n 50",
    "journalctl -u gate-edge -p warning --no-pager",
    "/opt/gate-edge/venv/bin/gate-edge check --config /etc/gate-edge/gate.yaml --skip camera",
    "/opt/gate-edge/venv/bin/gate-edge models verify --cache-dir /var/cache/gate-edge",
    "ls -l /etc/credstore/ /etc/gate-edge/tls/",
    "systemctl status mosquitto --no-pager",
    TLS_CHECK,
    "tail -n 20 /var/log/mosquitto/mosquitto.log",
    "systemd-analyze security gate-edge",
    "v4l2-ctl --list-devices",
]
# The replay gate has no camera device: this one may say so (exit 1); every other must succeed.
NO_DEVICE_HERE = {"v4l2-ctl --list-devices"}


class Amd64:
    def __init__(self, part: Part, cache: Path, work: Path, wheel: Path, video: Path, truth: Truth, pki: Pki,
                 signers: dict[str, Any], keep: bool) -> None:
        self.part, self.cache, self.work, self.wheel = part, cache, work, wheel
        self.video, self.truth, self.pki, self.signers, self.keep = video, truth, pki, signers, keep
        self.root = work / "root-amd64"
        self.container: Container | None = None
        self.passwords = {name: secrets.token_urlsafe(18) for name in (GATE, *SERVICES)}
        self.world: HostWorld | None = None

    # ------------------------------------------------------------------ the whole part
    def run(self) -> None:
        p = self.part
        try:
            with p.check("fresh Debian 12 root (debootstrap minbase + systemd, cached)") as c:
                base = cached_rootfs(p, self.cache, "amd64")
                fresh_copy(p, base, self.root)
                self.stage()
                c.detail = str(self.root)
            with p.check("boots with systemd as PID 1 (systemd-nspawn --boot)") as c:
                apt = self.cache / "apt-amd64"
                (apt / "partial").mkdir(parents=True, exist_ok=True)
                pip = self.cache / "pip-amd64"
                pip.mkdir(parents=True, exist_ok=True)
                self.container = Container(p, self.root, "gate-ft-amd64",
                                           [(apt, "/var/cache/apt/archives"), (pip, "/root/.cache/pip")])
                state = self.container.boot()
                c.detail = f"is-system-running: {state}"
                if state not in ("running", "degraded"):
                    raise Failed(c.detail)
            self.steps()
        finally:
            self.cleanup()

    def steps(self) -> None:
        p, ct = self.part, self.box
        with p.check("install-debian.sh --source WHEEL (first install, no credentials yet)") as c:
            t0 = time.monotonic()
            out = ct.sh(f"bash {GUEST}/deploy/install-debian.sh --source {GUEST}/{self.wheel.name} "
                        f"--config {GUEST}/gate.yaml 2>&1", timeout=900)
            p.facts["install_seconds"] = round(time.monotonic() - t0, 1)
            enabled = ct.sh(f"systemctl is-enabled {UNIT}", timeout=20, check=False).stdout.strip()
            perms = ct.sh("stat -c '%U:%G %a' /etc/gate-edge/gate.yaml", timeout=20).stdout.strip()
            c.detail = f"exit 0 in {p.facts['install_seconds']} s; unit {enabled}; gate.yaml {perms}"
            if enabled != "enabled" or perms != "root:gate-edge 640":
                raise Failed(c.detail)
            if "hnswlib" in ct.sh("/opt/gate-edge/venv/bin/python -m pip list 2>/dev/null", timeout=60).stdout:
                raise Failed("hnswlib was installed: it is an optional extra (gate-edge[hnsw])")
            last = [line for line in out.stdout.splitlines() if line.strip()][-1:]
            p.log(f"installer's last line: {last}")
        with p.check("models verified from the installed wheel (cwd /, no checkout)") as c:
            out = ct.sh("cd / && /opt/gate-edge/venv/bin/gate-edge models verify --cache-dir /var/cache/gate-edge",
                        timeout=120)
            c.detail = "; ".join(line.split(None, 2)[1] + " ok" for line in out.stdout.splitlines()
                                 if line.startswith("OK"))
        with p.check("TLS files in /etc/gate-edge/tls, the client key in /etc/credstore, trust anchors") as c:
            self.tls_files()
            c.detail = (f"ca.crt, {GATE}.crt (root:gate-edge 0640); gate-edge.mqtt-client.key (root 0600); "
                        f"/etc/gate-edge/trust/{{{','.join(sorted(self.signers))}}}/field-test.pub")
        with p.check("the password credential missing: one clear line, exit status 2, no restart", fatal=False) as c:
            self.missing_credential(c)
        with p.check("the password in /etc/credstore/gate-edge.mqtt-password") as c:
            self.box.sh("install -m 0600 /dev/stdin /etc/credstore/gate-edge.mqtt-password",
                        input=self.passwords[GATE], timeout=20)
            c.detail = "root 0600"
        with p.check("Mosquitto with the shipped gate-edge.conf and gate-edge.acl, TLS on 8883") as c:
            c.detail = self.broker()
        with p.check("gate-edge check passes (config, models, providers, camera, credentials, broker)") as c:
            out = ct.sh("/opt/gate-edge/venv/bin/gate-edge check --config /etc/gate-edge/gate.yaml", timeout=180,
                        check=False)
            rows = [line for line in out.stdout.splitlines() if re.match(r"^\S.*\s(OK|FAIL|SKIP|WARN)\s", line)]
            c.detail = "; ".join(" ".join(r.split()[:3]) for r in rows)
            if out.returncode != 0:
                raise Failed(f"exit {out.returncode}: {out.stdout[-1500:]}")
        with p.check("departure control, gallery service and a consumer on the host, over TLS") as c:
            self.world = HostWorld(self.pki, self.passwords, self.truth, self.signers)
            c.detail = self.world.start()
        with p.check("install-debian.sh again (upgrade): keeps config and credentials, starts the unit") as c:
            before = ct.sh("sha256sum /etc/gate-edge/gate.yaml /etc/credstore/*", timeout=20).stdout
            ct.sh(f"bash {GUEST}/deploy/install-debian.sh --source {GUEST}/{self.wheel.name} 2>&1", timeout=900)
            after = ct.sh("sha256sum /etc/gate-edge/gate.yaml /etc/credstore/*", timeout=20).stdout
            if before != after:
                raise Failed(f"the installer changed the config or the credentials:\n{before}\n{after}")
            c.detail = "config and credentials unchanged"
        with p.check("active and READY (Type=notify)") as c:
            s = wait_for("ActiveState=active SubState=running", lambda: self.ready(), 180, 1)
            c.detail = f"{s['ActiveState']}/{s['SubState']}, StatusText={s['StatusText']!r}"
        self.hardening()
        with p.check("every event arrives over TLS with the right outcome") as c:
            c.detail = self.events()
        with p.check("troubleshooting commands of deploy/README.md run on the gate", fatal=False) as c:
            c.detail = self.troubleshooting()
        with p.check("a frozen daemon (SIGSTOP) is killed by the watchdog and restarted") as c:
            c.detail = self.watchdog()
        with p.check("camera file removed: degraded, no restart; back: frames again", fatal=False) as c:
            c.detail = self.camera()
        with p.check("broker stopped: WARNING in the journal, no restart; back: reconnected", fatal=False) as c:
            c.detail = self.broker_outage()
        with p.check("a signed restart command: exit 75, started again by the unit, not a failure", fatal=False) as c:
            c.detail = self.restart_command()
        with p.check("systemctl stop: STOPPING, the wipe attestation; every event of the run arrived") as c:
            c.detail = self.stop()
        with p.check("no image, template, identity name or gallery id on the gate's disk", fatal=False) as c:
            c.detail = self.residue()
        with p.check("the broker's disk holds no image or gallery either", fatal=False) as c:
            found = scan_residue([self.root / "var/lib/mosquitto"], self.truth.identities)
            if found:
                raise Failed("; ".join(found[:10]))
            c.detail = "/var/lib/mosquitto clean"

    @property
    def box(self) -> Container:
        if self.container is None:
            raise Failed("no container")
        return self.container

    # ------------------------------------------------------------------ staging
    def stage(self) -> None:
        """What an operator copies to a gate: deploy/ and config/, the wheel; plus the replay video."""
        trust_host_ca(self.root)
        guest = self.root / GUEST.lstrip("/")
        guest.mkdir(parents=True)
        for d in ("deploy", "config"):
            shutil.copytree(REPO / d, guest / d, ignore=shutil.ignore_patterns("field-test", "__pycache__"))
        shutil.copy2(self.wheel, guest / self.wheel.name)
        (guest / "gate.yaml").write_text(self.gate_config())
        camera = self.root / CAMERA.lstrip("/")
        camera.parent.mkdir(parents=True)
        shutil.copy2(self.video, camera)
        camera.chmod(0o644)

    def gate_config(self) -> str:
        """config/usb-gate.yaml with what an operator edits for this gate: its id, the broker, the TLS
        files, and the camera (here the replay of the recorded flight instead of /dev/video0)."""
        example = yaml.safe_load((REPO / "config" / "usb-gate.yaml").read_text())
        cfg: dict[str, Any] = dict(example)
        cfg["gate_id"] = GATE
        cfg["camera"] = {"backend": "file", "url": CAMERA, "loop": True, "realtime": True}
        mqtt = dict(cfg.get("mqtt") or {})
        mqtt.update(host="localhost", port=PORT, username=GATE)
        mqtt["tls"] = {"ca_file": "/etc/gate-edge/tls/ca.crt", "cert_file": f"/etc/gate-edge/tls/{GATE}.crt",
                       "key_file": "${CREDENTIALS_DIRECTORY:-/etc/credstore}/gate-edge.mqtt-client.key"}
        cfg["mqtt"] = mqtt
        # Absolute defaults for runs by hand (gate-edge check as root, outside systemd): the example's
        # are relative to the working directory (reported; see the field test's summary).
        cfg["state_dir"] = "${STATE_DIRECTORY:-/var/lib/gate-edge}"
        models = dict(cfg.get("models") or {})
        models["cache_dir"] = "${CACHE_DIRECTORY:-/var/cache/gate-edge}"
        cfg["models"] = models
        head = ("# gate-edge field test: config/usb-gate.yaml with this gate's id, broker, TLS files and the\n"
                "# replay camera (a recorded flight).\n")
        return head + yaml.safe_dump(cfg, sort_keys=False)

    # ------------------------------------------------------------------ broker and credentials
    def broker(self) -> str:
        ct = self.box
        conf = (REPO / "deploy/mosquitto/gate-edge.conf").read_text()
        ct.sh("apt-get install -y -qq mosquitto >/dev/null", timeout=300)
        certs = self.root / "etc/mosquitto/certs"
        certs.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.pki.ca, certs / "fleet-ca.crt")
        shutil.copy2(self.pki.crt("broker"), certs / "broker.crt")
        shutil.copy2(self.pki.key("broker"), certs / "broker.key")
        shutil.copy2(REPO / "deploy/mosquitto/gate-edge.conf", self.root / "etc/mosquitto/conf.d/gate-edge.conf")
        shutil.copy2(REPO / "deploy/mosquitto/gate-edge.acl", self.root / "etc/mosquitto/gate-edge.acl")
        ct.sh("chown root:mosquitto /etc/mosquitto/certs/broker.key && chmod 0640 /etc/mosquitto/certs/broker.key",
              timeout=20)
        detail = "TLS with client certificates (CN = username)"
        m = re.search(r"^\s*password_file\s+(\S+)", conf, re.MULTILINE)
        if m:
            lines = " && ".join(f"mosquitto_passwd -b {m.group(1)} {shlex.quote(u)} {shlex.quote(pw)}"
                                for u, pw in self.passwords.items())
            ct.sh(f"touch {m.group(1)} && chown root:mosquitto {m.group(1)} && chmod 0640 {m.group(1)} && {lines}",
                  timeout=60)
            detail += f", password file {m.group(1)} (mosquitto_passwd)"
        else:
            detail += ", no password file (the shipped conf uses none)"
        ct.sh("systemctl restart mosquitto", timeout=60, check=False)
        state = ct.sh("systemctl is-active mosquitto", timeout=20, check=False).stdout.strip()
        if state != "active":
            log = ct.sh("journalctl -u mosquitto --no-pager -n 30; tail -n 30 /var/log/mosquitto/mosquitto.log",
                        timeout=20, check=False).stdout
            raise Failed(f"mosquitto is {state}:\n{log[-1500:]}")
        wait_for(f"the broker listening on {PORT}", lambda: port_open("127.0.0.1", PORT), 30, 0.5)
        # openssl is not in a minimal Debian; the troubleshooting section's TLS check needs it.
        ct.sh("apt-get install -y -qq openssl >/dev/null", timeout=300)
        ct.sh(TLS_CHECK + " | grep -q 'Verify return code: 0 (ok)'", timeout=60)
        return detail + "; the broker's certificate verifies for localhost"

    def tls_files(self) -> None:
        ct = self.box
        tls = self.root / "etc/gate-edge/tls"
        shutil.copy2(self.pki.ca, tls / "ca.crt")
        shutil.copy2(self.pki.crt(GATE), tls / f"{GATE}.crt")
        ct.sh("chown root:gate-edge /etc/gate-edge/tls/* && chmod 0640 /etc/gate-edge/tls/*", timeout=20)
        ct.sh("install -m 0600 /dev/stdin /etc/credstore/gate-edge.mqtt-client.key",
              input=self.pki.key(GATE).read_text(), timeout=20)
        # The public keys of the roles whose signed messages the gate acts on (security.trust_dir).
        anchors = self.pki.dir / "signing" / "trust"
        for role in sorted(self.signers):
            ct.sh(f"install -d -m 0750 -o root -g gate-edge /etc/gate-edge/trust /etc/gate-edge/trust/{role} && "
                  f"install -m 0640 -o root -g gate-edge /dev/stdin /etc/gate-edge/trust/{role}/field-test.pub",
                  input=(anchors / role / "sim.pub").read_text(), timeout=20)

    def missing_credential(self, c: Any) -> None:
        """The operator starts the unit before putting the password in the credstore."""
        ct = self.box
        ct.sh(f"systemctl start {UNIT}", timeout=180, check=False)
        time.sleep(7)  # RestartSec=5: a restart would have happened by now
        s = ct.show(UNIT, *SHOW)
        # what the program itself said (not systemd's lines about the unit)
        journal = ct.sh(f"journalctl _SYSTEMD_UNIT={UNIT} --no-pager -o cat", timeout=20).stdout
        ours = [line for line in journal.splitlines() if line.strip()]
        p = self.part
        p.facts["missing_credential"] = {"show": s, "lines": ours[-10:]}
        c.detail = (f"{s['ActiveState']}, ExecMainStatus={s['ExecMainStatus']}, NRestarts={s['NRestarts']}; "
                    f"log: {ours[-3:]}")
        ct.sh(f"systemctl stop {UNIT}; systemctl reset-failed {UNIT}", timeout=60, check=False)
        if s["ExecMainStatus"] != "2" or s["NRestarts"] != "0" or s["ActiveState"] != "failed":
            raise Failed("expected: failed, exit status 2, no restart. " + c.detail)
        if not any("password" in line or "credstore" in line or "credential" in line for line in ours):
            raise Failed("no line names the missing password file. " + c.detail)
        if len(ours) != 1:
            raise Failed(f"{len(ours)} lines instead of one clear line: {ours[-6:]}")

    # ------------------------------------------------------------------ the running gate
    def ready(self) -> dict[str, str] | None:
        s = self.box.show(UNIT, *SHOW)
        if s["ActiveState"] == "failed":
            raise Failed(f"the unit failed: {s}")
        return s if (s["ActiveState"], s["SubState"]) == ("active", "running") else None

    def hardening(self) -> None:
        p, ct = self.part, self.box
        with p.check("LimitCORE=0 in force (systemctl show, /proc/MAINPID/limits)", fatal=False) as c:
            s = ct.show(UNIT, "LimitCORE", "LimitCORESoft", "MainPID")
            limits = ct.sh(f"grep 'Max core file size' /proc/{s['MainPID']}/limits", timeout=20).stdout.split()
            c.detail = f"LimitCORE={s['LimitCORE']} soft={s['LimitCORESoft']}; limits: {' '.join(limits[-3:])}"
            if s["LimitCORE"] != "0" or s["LimitCORESoft"] != "0" or limits[-3:-1] != ["0", "0"]:
                raise Failed(c.detail)
        with p.check("MemorySwapMax=0 in force", fatal=False) as c:
            s = ct.show(UNIT, "MemorySwapMax", "ControlGroup")
            fs = ct.sh("stat -fc %T /sys/fs/cgroup", timeout=20).stdout.strip()
            c.detail = f"MemorySwapMax={s['MemorySwapMax']}; /sys/fs/cgroup is {fs}"
            if s["MemorySwapMax"] != "0":
                raise Failed(c.detail)
            if fs == "cgroup2fs":
                swap = ct.sh(f"cat /sys/fs/cgroup{s['ControlGroup']}/memory.swap.max", timeout=20).stdout.strip()
                c.detail += f"; memory.swap.max={swap}"
                if swap != "0":
                    raise Failed(c.detail)
            else:
                c.ok = None
                c.detail += (" (cgroup v1 here: systemd applies MemorySwapMax= only on the unified hierarchy, "
                             "which Debian 12 and Raspberry Pi OS boot with; not verifiable on this host)")
        with p.check("systemd-analyze security gate-edge.service (inside, online)", fatal=False) as c:
            out = ct.sh(f"systemd-analyze security {UNIT} --no-pager", timeout=60, check=False).stdout
            m = re.search(r"Overall exposure level for \S+:\s*([0-9.]+)\s*(\S+)?", out)
            if not m:
                raise Failed(out[-500:])
            exposure = float(m.group(1))
            p.facts["exposure"] = f"{exposure} {m.group(2) or ''}".strip()
            c.detail = f"exposure {p.facts['exposure']}"
            print("\n".join(out.splitlines()[-1:]), flush=True)
            if exposure > 2.5:
                raise Failed(c.detail + " > 2.5")

    def events(self) -> str:
        world = self.world
        assert world is not None
        world.dcs_assign(GATE, FLIGHT)
        wait_for("the gallery to go live (retained status)", lambda: world.watch.gallery_state == "live", 90, 0.5)
        t0 = time.monotonic()
        loops = 2.3
        want = int(len(self.truth.cycle) * 2) + 1
        wait_for(f"{want} events", lambda: world.watch.received_count() >= want,
                 self.truth.video_seconds * (loops + 2), 0.5)
        self.part.facts["events_seconds"] = round(time.monotonic() - t0, 1)
        return world.judge_events(min_synced=want - 1)

    def troubleshooting(self) -> str:
        ran, failed = [], []
        for cmd in TROUBLESHOOTING:
            out = self.box.sh(cmd + " 2>&1", timeout=180, check=False, quiet=True)
            ran.append(f"{cmd.split()[0].rsplit('/', 1)[-1]} {cmd.split()[1]}: exit {out.returncode}")
            self.part.log(f"--- {cmd} -> exit {out.returncode}\n{out.stdout[-4000:]}")
            if out.returncode != 0 and cmd not in NO_DEVICE_HERE:
                failed.append(cmd)
        if failed:
            raise Failed(f"failed on a healthy gate: {failed}")
        return "; ".join(ran)

    def watchdog(self) -> str:
        ct = self.box
        s0 = ct.show(UNIT, *SHOW)
        since = ct.sh("date '+%Y-%m-%d %H:%M:%S'", timeout=20).stdout.strip()
        ct.sh(f"kill -STOP {s0['MainPID']}", timeout=20)
        t0 = time.monotonic()
        seen_results: set[str] = set()

        def restarted() -> dict[str, str] | None:
            s = ct.show(UNIT, *SHOW)
            seen_results.add(s["Result"])
            return s if int(s["NRestarts"]) > int(s0["NRestarts"]) else None

        wait_for("the watchdog to restart the unit", restarted, 30 + 20 + 5 + 60, 0.5)
        killed_after = time.monotonic() - t0
        s1 = wait_for("READY again after the restart", self.ready, 180, 1)
        journal = ct.sh(f"journalctl -u {UNIT} --since '{since}' --no-pager -o cat", timeout=20).stdout
        timeout_line = next((line for line in journal.splitlines() if "atchdog timeout" in line), None)
        failed_line = next((line for line in journal.splitlines() if "Failed with result 'watchdog'" in line), None)
        self.part.facts["watchdog"] = {"seconds_to_restart": round(killed_after, 1),
                                       "seconds_to_ready": round(time.monotonic() - t0, 1),
                                       "results_seen": sorted(seen_results), "pids": [s0["MainPID"], s1["MainPID"]]}
        detail = (f"NRestarts {s0['NRestarts']} -> {s1['NRestarts']}, MainPID {s0['MainPID']} -> {s1['MainPID']}, "
                  f"restarted {killed_after:.0f} s after SIGSTOP, ready again after {time.monotonic() - t0:.0f} s; "
                  f"journal: {timeout_line!r}, {failed_line!r}")
        if not (timeout_line and failed_line) and "watchdog" not in seen_results:
            raise Failed("no Result=watchdog: " + detail)
        if s1["MainPID"] == s0["MainPID"]:
            raise Failed("same MainPID: " + detail)
        world = self.world
        assert world is not None
        wait_for("the gallery live again after the restart", lambda: world.watch.gallery_state == "live", 90, 0.5)
        return detail

    def camera(self) -> str:
        ct, world = self.box, self.world
        assert world is not None
        s0 = wait_for("READY", self.ready, 60, 1)
        since = ct.sh("date '+%Y-%m-%d %H:%M:%S'", timeout=20).stdout.strip()
        # A replayed file stays readable through its open handle after `rm`: empty it first, as a camera
        # unplugged mid-stream stops delivering, then remove it, so that reopening fails too.
        ct.sh(f"truncate -s 0 {CAMERA} && rm {CAMERA}", timeout=20)
        t0 = time.monotonic()
        wait_for("camera degraded (retained status)", lambda: world.watch.status.get("camera") == "degraded", 30, 0.3)
        degraded_after = time.monotonic() - t0
        # Stay without a camera for longer than WatchdogSec: a degraded gate must keep its watchdog fed.
        watchdog_s = seconds(ct.show(UNIT, "WatchdogUSec")["WatchdogUSec"])
        time.sleep(max(0.0, watchdog_s + 5 - (time.monotonic() - t0)))
        s1 = ct.show(UNIT, *SHOW)
        warnings = ct.sh(f"journalctl -u {UNIT} -p warning --since '{since}' --no-pager -o cat", timeout=20).stdout
        info = ct.sh(f"journalctl -u {UNIT} -p info --since '{since}' --no-pager -o cat", timeout=20).stdout
        detail = (f"degraded after {degraded_after:.1f} s; {time.monotonic() - t0:.0f} s without a camera (WatchdogSec="
                  f"{watchdog_s}): {s1['ActiveState']}/{s1['SubState']}, "
                  f"StatusText={s1['StatusText']!r}, MainPID {s0['MainPID']} -> {s1['MainPID']}, "
                  f"NRestarts {s0['NRestarts']} -> {s1['NRestarts']}; "
                  f"journal -p warning: {len(warnings.splitlines())} line(s)")
        self.part.facts["camera_warnings"] = warnings.splitlines()[:5]
        camera = self.root / CAMERA.lstrip("/")
        shutil.copy2(self.video, camera)
        camera.chmod(0o644)
        t1 = time.monotonic()
        since_events = len(world.watch.events)
        wait_for("camera ok again", lambda: world.watch.status.get("camera") == "ok", 60, 0.3)
        s2 = ct.show(UNIT, *SHOW)
        detail += f"; file back: ok after {time.monotonic() - t1:.1f} s, MainPID {s2['MainPID']}"
        # and the gate decides again, right (the video starts from its beginning after a reopen)
        want = len(self.truth.cycle) + 1
        wait_for(f"{want} events after the camera came back",
                 lambda: len(world.watch.events) - since_events >= want, self.truth.video_seconds * 3, 0.5)
        detail += "; then " + world.judge_events(min_synced=want - 1, since=since_events)
        if (s1["MainPID"], s1["NRestarts"], s2["MainPID"]) != (s0["MainPID"], s0["NRestarts"], s0["MainPID"]):
            raise Failed("restarted: " + detail)
        if not warnings.strip():
            raise Failed("journalctl -p warning shows nothing: " + detail)
        if len(info.splitlines()) <= len(warnings.splitlines()):
            raise Failed("every line has priority warning or higher: no priorities? " + detail)
        return detail

    def status_says(self, text: str, present: bool = True) -> dict[str, str] | None:
        s = self.box.show(UNIT, *SHOW)
        return s if (text in s["StatusText"]) == present else None

    def broker_outage(self) -> str:
        """Mosquitto stopped for a while under a running gate: the gate says so at WARNING, keeps
        deciding (its events wait in the outbox: the stop check finds no seq missing afterwards) and
        reconnects by itself once the broker is back."""
        ct, world = self.box, self.world
        assert world is not None
        s0 = wait_for("READY", self.ready, 60, 1)
        since = ct.sh("date '+%Y-%m-%d %H:%M:%S'", timeout=20).stdout.strip()
        ct.sh("systemctl stop mosquitto", timeout=60)
        t0 = time.monotonic()
        s1 = wait_for("the gate to see the broker gone (StatusText)",
                      lambda: self.status_says("broker connected", False), 30, 0.5)
        time.sleep(max(0.0, self.truth.video_seconds - (time.monotonic() - t0)))  # a pass of the flight offline
        warnings = ct.sh(f"journalctl -u {UNIT} -p warning --since '{since}' --no-pager -o cat", timeout=20).stdout
        ct.sh("systemctl start mosquitto", timeout=60)
        t1 = time.monotonic()
        s2 = wait_for("the gate connected again (StatusText)", lambda: self.status_says("broker connected"), 90, 0.5)
        lines = [line for line in warnings.splitlines() if line.strip()]
        self.part.facts["broker_warnings"] = lines[:5]
        detail = (f"offline {t1 - t0:.0f} s: StatusText={s1['StatusText']!r}; journal -p warning: {len(lines)} "
                  f"line(s), e.g. {lines[:1]}; reconnected {time.monotonic() - t1:.1f} s after the broker came back; "
                  f"MainPID {s0['MainPID']} -> {s2['MainPID']}, NRestarts {s0['NRestarts']} -> {s2['NRestarts']}")
        if (s2["MainPID"], s2["NRestarts"]) != (s0["MainPID"], s0["NRestarts"]):
            raise Failed("restarted: " + detail)
        if not any(w in line.lower() for line in lines for w in ("broker", "mqtt", "connect")):
            raise Failed("no WARNING about the broker: " + detail)
        return detail

    def restart_command(self) -> str:
        """`restart` is how a fleet admin puts a restart_required change in force: the gate exits 75,
        which the unit counts as success (SuccessExitStatus) and restarts on (RestartForceExitStatus)."""
        from gate_sim.fleet_admin import FleetAdmin

        ct, world = self.box, self.world
        assert world is not None
        s0 = ct.show(UNIT, *SHOW)
        since = ct.sh("date '+%Y-%m-%d %H:%M:%S'", timeout=20).stdout.strip()
        # The shipped broker makes the certificate's CN the client id: one fleet-admin connection at a time.
        world.watch.stop()
        reply = FleetAdmin(world.mqtt("fleet-admin"), signer=self.signers["fleet_admin"]).command(
            GATE, "restart", {}, timeout=30)
        world.rewatch()
        if reply is None or reply.get("result") != "accepted":
            raise Failed(f"restart not accepted: {reply}")
        wait_for("the unit to start the gate again", lambda: int(ct.show(UNIT, *SHOW)["NRestarts"])
                 > int(s0["NRestarts"]) or None, 60, 0.5)
        s1 = wait_for("READY again after the restart", self.ready, 180, 1)
        journal = ct.sh(f"journalctl -u {UNIT} --since '{since}' --no-pager -o cat", timeout=20).stdout
        # With SuccessExitStatus=75 systemd reports no failure, only the restart it scheduled.
        restarted = next((line for line in journal.splitlines() if "Scheduled restart job" in line), None)
        failed = next((line for line in journal.splitlines() if "Failed with result" in line), None)
        wait_for("the gallery live again after the restart", lambda: world.watch.gallery_state == "live", 90, 0.5)
        detail = (f"reply {reply.get('result')}; NRestarts {s0['NRestarts']} -> {s1['NRestarts']}, MainPID "
                  f"{s0['MainPID']} -> {s1['MainPID']}, Result={s1['Result']}; journal: {restarted!r}, "
                  f"failure: {failed!r}; gallery live again")
        if restarted is None or failed is not None or s1["Result"] != "success" or s1["MainPID"] == s0["MainPID"]:
            raise Failed(detail)
        return detail

    def stop(self) -> str:
        ct, world = self.box, self.world
        assert world is not None
        wipes0 = len(world.watch.wipes)
        ct.sh(f"systemctl stop --no-block {UNIT}", timeout=20)
        states: list[str] = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 40:
            s = ct.show(UNIT, "ActiveState", "SubState", "StatusText")
            state = f"{s['ActiveState']}/{s['SubState']}: {s['StatusText']}"
            if not states or states[-1] != state:
                states.append(state)
            if s["ActiveState"] in ("inactive", "failed"):
                break
            time.sleep(0.05)
        stopped_after = time.monotonic() - t0
        final = ct.show(UNIT, *SHOW)
        wait_for("the wipe attestation", lambda: len(world.watch.wipes) > wipes0, 60, 0.2)
        wipe = world.watch.wipes[-1]
        detail = (f"states {states}; stopped in {stopped_after:.1f} s, Result={final['Result']}, "
                  f"ExecMainStatus={final['ExecMainStatus']}; wipe: reason {wipe.get('reason')}, "
                  f"flight {wipe.get('flight_id')}, {wipe.get('entries_wiped')} entries")
        if not any("stopping" in st.lower() for st in states):
            raise Failed("STOPPING / its status line never seen: " + detail)
        seqs = sorted(e["seq"] for e in world.watch.events if isinstance(e.get("seq"), int))
        gaps = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs)) if seqs else []
        detail += f"; all {len(seqs)} events of the run: seq {seqs[:1]}..{seqs[-1:]}, gaps {gaps}"
        if gaps:
            raise Failed("an event never arrived: " + detail)
        if final["Result"] != "success" or wipe.get("reason") != "shutdown" or wipe.get("flight_id") != FLIGHT:
            raise Failed(detail)
        if wipe.get("entries_wiped") != len(self.truth.gallery_ids):
            raise Failed(f"expected {len(self.truth.gallery_ids)} entries wiped: " + detail)
        return detail

    def residue(self) -> str:
        roots = [self.root / d for d in ("var/lib/gate-edge", "var/cache/gate-edge", "var/log")]
        found = scan_residue(roots, [*self.truth.identities, *self.truth.gallery_ids])
        journal = self.box.sh("journalctl --no-pager -o cat", timeout=60, quiet=True).stdout
        found += [f"journal names {n!r}" for n in [*self.truth.identities, *self.truth.gallery_ids] if n in journal]
        if found:
            raise Failed("; ".join(found[:12]))
        files = sum(1 for r in roots for f in r.rglob("*") if f.is_file())
        return f"{files} files under /var/lib/gate-edge, /var/cache/gate-edge, /var/log; journal text clean"

    # ------------------------------------------------------------------ cleanup
    def cleanup(self) -> None:
        p = self.part
        with shielded():
            if self.world is not None:
                self.world.stop()
            if self.container is not None:
                how = self.container.poweroff()
                p.say(f"container {how}")
            if not self.keep:
                remove_tree(self.root)


def seconds(span: str) -> float:
    """systemd's time span as `systemctl show` prints it ("30s", "1min 30s", "500ms") in seconds."""
    units = {"min": 60.0, "ms": 0.001, "us": 1e-6, "s": 1.0, "h": 3600.0}
    total = 0.0
    for value, unit in re.findall(r"([0-9.]+)\s*(min|ms|us|s|h)", span):
        total += float(value) * units[unit]
    return total


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


class HostWorld:
    """The departure control, the gallery service and a consumer (fleet-admin) on the host, each with
    its own client certificate, connecting to the container's broker (the network is the host's)."""

    def __init__(self, pki: Pki, passwords: dict[str, str], truth: Truth, signers: dict[str, Any]) -> None:
        self.pki, self.passwords, self.truth, self.signers = pki, passwords, truth, signers
        self.started: list[Any] = []

    def mqtt(self, name: str) -> Any:
        from edge.messaging.settings import MqttConfig, TlsConfig

        return MqttConfig(host="127.0.0.1", port=PORT, username=name, password=self.passwords[name],
                          tls=TlsConfig(ca_file=self.pki.ca, cert_file=self.pki.crt(name),
                                        key_file=self.pki.key(name)))

    def start(self) -> str:
        from gate_sim.dcs import DepartureControl
        from gate_sim.gallery_service import GalleryService
        from gate_sim.scenario import load_scenario
        from gate_sim.watch import GateWatch
        from host import SCENARIO, default_faces

        scenario = load_scenario(SCENARIO, faces_dir=default_faces())
        self.watch = GateWatch(self.mqtt("fleet-admin"), GATE, "fleet-admin").start()
        self.started.append(self.watch)
        self.gallery = GalleryService(self.mqtt("gallery-service"), scenario.gallery(),
                                      signer=self.signers["gallery_authority"]).start()
        self.started.append(self.gallery)
        self.dcs = DepartureControl(self.mqtt("dcs"), self.signers["departure_control"]).start()
        self.started.append(self.dcs)
        return "connected to 127.0.0.1:8883 with client certificates: fleet-admin, gallery-service, dcs"

    def rewatch(self) -> None:
        """A new fleet-admin watch (after the old one made way for another fleet-admin connection)."""
        from gate_sim.watch import GateWatch

        earlier = self.watch
        self.started.remove(earlier)
        self.watch = GateWatch(self.mqtt("fleet-admin"), GATE, "fleet-admin").start()
        self.watch.carry_over(earlier)  # the stop step holds every event of the run to the flight
        self.started.append(self.watch)

    def dcs_assign(self, gate: str, flight: str) -> None:
        self.dcs.assign(gate, flight)

    def judge_events(self, min_synced: int, since: int = 0) -> str:
        """Hold every event (from index ``since``) to the recorded flight: after the first match (which
        fixes where in the video's loop the gate is), each next event must be the next walk-up's
        expected outcome. A restart or a camera reconnect starts the video again: judge from there."""
        return judge(self.watch.events[since:], self.truth.cycle, min_synced, self.watch.duplicates)

    def stop(self) -> None:
        for thing in reversed(self.started):
            try:
                thing.stop()
            except Exception as exc:  # cleanup goes on whatever one client does
                print(f"warning: stopping {type(thing).__name__}: {exc}")
        self.started.clear()


def judge(events: list[dict[str, Any]], cycle: list[tuple[str, str | None]], min_synced: int,
          duplicates: int = 0) -> str:
    """See HostWorld.judge_events; a pure function (tests/deploy checks it).

    The first event may belong to a walk-up the gate saw only in part (the gallery went live, or the
    video started again, while someone was at the gate): it is skipped if needed, unless it is a
    match, which must always be right. Every later event must follow the loop exactly."""
    got = [(e.get("outcome"), e.get("matched_id")) for e in events]
    n = len(cycle)

    def mismatches(skip: int, phase: int) -> list[tuple[int, Any, Any]]:
        return [(i, g, cycle[(phase + i - skip) % n]) for i, g in enumerate(got[skip:], skip)
                if g != cycle[(phase + i - skip) % n]]

    options = [(len(mismatches(skip, phase)), skip, phase) for skip in (0, 1) for phase in range(n)
               if skip == 0 or (got and got[0][0] != "match")]
    if not got or not options:
        raise Failed(f"no events to judge: {got}")
    bad, skip, phase = min(options)
    synced = len(got) - skip
    seqs = [e.get("seq") for e in events]
    gaps = [] if None in seqs else sorted(set(range(min(seqs), max(seqs) + 1)) - set(seqs))
    detail = (f"{len(got)} events ({synced} held to the loop{', the first skipped' if skip else ''}), outcomes "
              f"{[g[0] for g in got]}, duplicates {duplicates}, seq gaps {gaps}")
    if bad:
        raise Failed(f"wrong outcome(s) (index, got, expected): {mismatches(skip, phase)[:5]}; " + detail)
    if synced < min_synced:
        raise Failed(f"only {synced} events after synchronising: " + detail)
    if gaps:
        raise Failed("events missing (seq gaps): " + detail)
    return detail
