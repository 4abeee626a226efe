"""Shared machinery of the field test: checks and their report, host commands with time limits,
cached Debian root file systems, a container booted by systemd-nspawn, an arm64 root under proot.

Runs on the host as root, with the dev venv's Python (deploy/field-test/run.sh starts it). Nothing
here knows about gate-edge; amd64.py and arm64.py are the two parts of the test.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUITE = "bookworm"
# What every root file system gets: systemd as PID 1 (a gate boots with it; the arm64 root needs it
# too, so that the install script can enable its unit there).
INCLUDE = "systemd,systemd-sysv,dbus"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EXIT_MARK = "@@gate-edge-field-test-exit="


class Failed(Exception):
    """A check failed; the message says what was expected and what was found."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT (the overall time limit of run.sh): stop now, clean up, report."""


def on_signals() -> None:
    def handler(signum: int, _frame: Any) -> None:
        raise Interrupted(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Cleanup that a second SIGTERM must not cut short (a container left running): the signal is
    held until the block ends, then raised."""
    held: list[int] = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, lambda signum, _frame: held.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if held:
            raise Interrupted(f"signal {signal.Signals(held[0]).name} (during cleanup)")


# --------------------------------------------------------------------------- the report
@dataclass
class CheckResult:
    name: str
    ok: bool | None  # None: skipped (the part stopped before it, or the machine cannot show it)
    seconds: float
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "seconds": round(self.seconds, 1), "detail": self.detail}


@dataclass
class Part:
    """One part (amd64 or arm64): its checks in order, its log file, its facts (versions, figures)."""

    name: str
    log_path: Path
    checks: list[CheckResult] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", buffering=1)

    # ------------------------------------------------------------------ logging
    def log(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        for line in text.rstrip("\n").splitlines() or [""]:
            self._log.write(f"{stamp} {line}\n")

    def say(self, text: str) -> None:
        print(f"[{self.name} {self.elapsed():6.1f}s] {text}", flush=True)
        self.log(f"== {text}")

    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    # ------------------------------------------------------------------ checks
    @contextlib.contextmanager
    def check(self, name: str, fatal: bool = True) -> Iterator[CheckResult]:
        """Time a check; a Failed (or any error) marks it failed and, when fatal, ends the part."""
        result = CheckResult(name, True, 0.0)
        t0 = time.monotonic()
        self.log(f"== check: {name}")
        try:
            yield result
        except Interrupted:
            result.ok, result.detail = False, "interrupted (time limit)"
            raise
        except Exception as exc:  # a check reports every failure, not only the expected kind
            result.ok = False
            kind = "" if isinstance(exc, Failed) else f"{type(exc).__name__}: "
            result.detail = (result.detail + "; " if result.detail else "") + kind + str(exc)
            if fatal:
                raise
        finally:
            result.seconds = time.monotonic() - t0
            self.checks.append(result)
            mark = {True: "PASS", False: "FAIL", None: "SKIP"}[result.ok]
            self.say(f"{mark} {name} ({result.seconds:.1f} s){': ' + result.detail if result.detail else ''}")

    def skip(self, name: str, why: str) -> None:
        self.checks.append(CheckResult(name, None, 0.0, why))
        self.say(f"SKIP {name}: {why}")

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.ok is not False for c in self.checks) and bool(self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.elapsed(), 1),
            "error": self.error,
            "log": str(self.log_path),
            "checks": [c.as_json() for c in self.checks],
            "facts": self.facts,
        }

    def close(self) -> None:
        self.finished = time.monotonic()
        self._log.close()


# --------------------------------------------------------------------------- host commands
def run(part: Part, argv: Sequence[str | Path], timeout: float, check: bool = True, input: str | None = None,
        env: dict[str, str] | None = None, cwd: Path | None = None, quiet: bool = False
        ) -> subprocess.CompletedProcess[str]:
    """Run a command in its own process group; on time-out the whole group is killed."""
    args = [str(a) for a in argv]
    part.log(f"$ {shlex.join(args)}")
    proc = subprocess.Popen(args, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                            start_new_session=True)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        part.log(out + err)
        raise Failed(f"timed out after {timeout:.0f} s: {shlex.join(args)[:200]}") from None
    except BaseException:
        kill_group(proc)
        raise
    if not quiet or proc.returncode:
        part.log(out + (err and f"[stderr]\n{err}"))
    done = subprocess.CompletedProcess(args, proc.returncode, out, err)
    if check and proc.returncode != 0:
        tail = (err.strip() or out.strip())[-800:]
        raise Failed(f"exit {proc.returncode}: {shlex.join(args)[:200]}\n{tail}")
    return done


def kill_group(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it is still there."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(grace)


def wait_for(what: str, cond: Any, timeout: float, interval: float = 0.5) -> Any:
    """Poll ``cond()`` until it returns something truthy; Failed naming ``what`` after ``timeout``."""
    end = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except Failed as exc:
            last_exc = exc
        if time.monotonic() > end:
            raise Failed(f"timed out after {timeout:.0f} s waiting for {what}"
                         + (f" (last error: {last_exc})" if last_exc else ""))
        time.sleep(interval)


def debian_mirror() -> str:
    """The mirror the host's apt uses (FIELD-TESTS.md: read it, never hard-code it)."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.is_file():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split(":", 1)[1].split()[0]
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text().splitlines():
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and "security" not in words[1]:
                return words[1]
    raise Failed("no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list")


# --------------------------------------------------------------------------- root file systems
@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


MARKER = ".gate-edge-field-test-rootfs"


def cached_rootfs(part: Part, cache: Path, arch: str) -> Path:
    """A pristine Debian 12 minbase + systemd root for ``arch``, bootstrapped once into ``cache``.

    Nothing ever runs in the cached copy: each run works on a fresh copy (:func:`fresh_copy`).
    """
    base = cache / "rootfs" / f"{SUITE}-{arch}"
    with locked(cache / "rootfs" / f".{arch}.lock"):
        if (base / MARKER).is_file():
            part.facts["rootfs"] = f"{base} (cached: {(base / MARKER).read_text().strip()})"
            return base
        tmp = base.with_name(base.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        mirror = debian_mirror()
        foreign = arch != host_arch()
        part.say(f"bootstrapping Debian {SUITE} {arch} into {base} (once; minutes)")
        if not foreign:
            run(part, ["debootstrap", f"--arch={arch}", "--variant=minbase", f"--include={INCLUDE}", SUITE, tmp,
                       mirror], timeout=900, quiet=True)
        else:
            run(part, ["debootstrap", "--foreign", f"--arch={arch}", "--variant=minbase", SUITE, tmp, mirror],
                timeout=900, quiet=True)
            # /proc is a symlink that loops under proot (FIELD-TESTS.md)
            proc = tmp / "proc"
            if proc.is_symlink() or proc.is_file():
                proc.unlink()
            proc.mkdir(exist_ok=True)
            run(part, ["proot", "-q", qemu_for(arch), "-0", "-r", tmp, "-b", "/dev", "-b", "/sys", "-b", "/proc",
                       "/debootstrap/debootstrap", "--second-stage"], timeout=1200, quiet=True,
                env={**os.environ, "PROOT_NO_SECCOMP": "1", "DEBOOTSTRAP_DIR": "/debootstrap"})
            # Then systemd, as on a gate (the install script enables its unit with systemctl). Two things
            # of this emulated root only, which nothing boots: systemd-tmpfiles (run by systemd's
            # postinst) crashes proot (an assertion in its path code), so it is diverted to /bin/true;
            # and no service may be started here (policy-rc.d, as image builders do).
            policy = tmp / "usr/sbin/policy-rc.d"
            policy.write_text("#!/bin/sh\n# gate-edge field test: nothing is started in this emulated root\nexit 101\n")
            policy.chmod(0o755)
            Emulated(part, tmp, arch).sh(
                "for f in /bin/systemd-tmpfiles /usr/bin/systemd-tmpfiles; do "
                "dpkg-divert --local --rename --add $f >/dev/null; done && "
                "ln -sf /bin/true /usr/bin/systemd-tmpfiles && apt-get update -qq && "
                f"apt-get install -y -qq {INCLUDE.replace(',', ' ')} >/dev/null && "
                f"dpkg-query -W -f='${{db:Status-Abbrev}}\\n' {INCLUDE.replace(',', ' ')} | grep -vc '^ii' | "
                "grep -qx 0", timeout=1200, quiet=True)
        tmp.with_name(tmp.name + ".cpuinfo").unlink(missing_ok=True)
        (tmp / MARKER).write_text(f"debootstrap {SUITE} {arch} minbase +{INCLUDE} from {mirror} "
                                  f"on {time.strftime('%Y-%m-%d')}\n")
        tmp.rename(base)
        part.facts["rootfs"] = f"{base} (bootstrapped now)"
        return base


def fresh_copy(part: Part, base: Path, dest: Path) -> Path:
    remove_tree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    run(part, ["cp", "-a", "--reflink=auto", base, dest], timeout=300)
    return dest


def remove_tree(path: Path) -> None:
    """rm -rf that does not follow into a mount (a container's binds are gone once it stopped)."""
    if path.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False, timeout=300)


def host_arch() -> str:
    out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def qemu_for(arch: str) -> str:
    return {"arm64": "qemu-aarch64-static", "armhf": "qemu-arm-static"}[arch]


def trust_host_ca(root: Path) -> None:
    """The host reaches PyPI through a TLS-inspecting proxy whose CA only the host's bundle has: give
    the guest's pip that bundle (FIELD-TESTS.md), as the host's own /etc/pip.conf does for the host.
    A copy outside /etc/ssl, so that the guest's update-ca-certificates does not replace it."""
    dest = root / "usr/local/share/gate-edge-field-test/host-ca-bundle.crt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", dest)
    (root / "etc/pip.conf").write_text(f"[global]\ncert = /{dest.relative_to(root)}\n")


# --------------------------------------------------------------------------- a booted container
class Container:
    """A root file system booted by systemd-nspawn with systemd as PID 1, on the host's network."""

    def __init__(self, part: Part, root: Path, machine: str, binds: Sequence[tuple[Path, str]] = ()) -> None:
        self.part, self.root, self.machine = part, root, machine
        self.binds = list(binds)
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader: int | None = None
        self._console = part.log_path.with_name(f"{part.name}-console.log")

    def boot(self, timeout: float = 90) -> str:
        args = ["systemd-nspawn", "-D", str(self.root), "--register=no", "--keep-unit", "--boot",
                "--console=passive", f"--machine={self.machine}"]
        args += [f"--bind={host}:{guest}" for host, guest in self.binds]
        self.part.log("$ " + shlex.join(args))
        console = self._console.open("ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        console.close()
        self.leader = wait_for("the container's systemd (PID 1 inside)", self._find_leader, 30, 0.2)
        state = wait_for("systemctl is-system-running to settle", self._settled, timeout, 0.5)
        if state != "running":
            failed = self.sh("systemctl --failed --no-legend --plain", timeout=20, check=False).stdout.strip()
            self.part.log(f"system state {state}; failed units:\n{failed}")
        return str(state)

    def _find_leader(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            raise Failed(f"systemd-nspawn exited (see {self._console})")
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        for pid in children.read_text().split() if children.exists() else []:
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return int(pid)
        return None

    def _settled(self) -> str | None:
        out = self.sh("systemctl is-system-running", timeout=20, check=False).stdout.strip()
        return out if out in ("running", "degraded") else None

    def sh(self, script: str, timeout: float = 120, check: bool = True, input: str | None = None,
           quiet: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a bash script inside (all its namespaces), with a clean environment: nothing of the
        host's (PIP_FIND_LINKS, the venv) leaks in."""
        if self.leader is None:
            raise Failed("the container is not running")
        env = ["env", "-i", f"PATH={CLEAN_PATH}", "HOME=/root", "LANG=C.UTF-8", "TERM=dumb",
               "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "DEBIAN_FRONTEND=noninteractive"]
        return run(self.part, ["nsenter", "-t", str(self.leader), "-a", *env, "bash", "-c", script],
                   timeout=timeout, check=check, input=input, quiet=quiet)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        out = self.sh(f"systemctl show {shlex.quote(unit)} -p {','.join(props)}", timeout=20, quiet=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def poweroff(self, timeout: float = 60) -> str:
        """systemctl poweroff inside, wait for nspawn to exit; SIGTERM/SIGKILL nspawn if it does not."""
        if self.proc is None:
            return "not started"
        how = "powered off"
        if self.proc.poll() is None and self.leader is not None:
            with contextlib.suppress(Failed, Exception):
                self.sh("systemctl poweroff --no-block", timeout=15, check=False)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                how = "killed (poweroff did not finish)"
                kill_group(self.proc, grace=10)
        self.leader = None
        return how


# --------------------------------------------------------------------------- a foreign root under proot
# What an arm64 program reads in /proc/cpuinfo under emulation: the host's x86 lines make the cpuinfo
# library inside onnxruntime's aarch64 wheel crash at import (SIGSEGV). A Raspberry Pi 4's
# (Cortex-A72) is shown instead; the kernel's own view does not matter to anything tested here.
ARM64_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n"
    for i in range(os.cpu_count() or 1)
)


class Emulated:
    """Commands in an arm64 root through proot + qemu user emulation (no kernel, no systemd running)."""

    def __init__(self, part: Part, root: Path, arch: str, binds: Sequence[tuple[Path, str]] = ()) -> None:
        self.part, self.root, self.arch = part, root, arch
        cpuinfo = root.with_name(root.name + ".cpuinfo")
        cpuinfo.write_text(ARM64_CPUINFO)
        self.binds = [*binds, (cpuinfo, "/proc/cpuinfo")]

    def sh(self, script: str, timeout: float, check: bool = True, quiet: bool = False
           ) -> subprocess.CompletedProcess[str]:
        args: list[str | Path] = ["proot", "-q", qemu_for(self.arch), "-0", "-r", self.root,
                                  "-b", "/dev", "-b", "/sys", "-b", "/proc", "-b", "/etc/resolv.conf"]
        for host, guest in self.binds:
            args += ["-b", f"{host}:{guest}"]
        # proot does not always pass on the exit status of what it ran (a program killed by a signal
        # under qemu came back as 0): the shell inside prints it, and that one counts.
        wrapped = f"{script}\nprintf '\\n{EXIT_MARK}%d\\n' $?\n"
        args += ["-w", "/", "/usr/bin/env", "-i", f"PATH={CLEAN_PATH}", "HOME=/root", "LANG=C.UTF-8",
                 "TERM=dumb", "DEBIAN_FRONTEND=noninteractive", "/bin/bash", "-c", wrapped]
        env = {"PATH": CLEAN_PATH, "PROOT_NO_SECCOMP": "1", "HOME": "/root", "LANG": "C.UTF-8"}
        done = run(self.part, args, timeout=timeout, check=False, env=env, quiet=quiet)
        out, _, status = done.stdout.rpartition(EXIT_MARK)
        code = int(status.strip()) if status.strip().isdigit() else (done.returncode or 255)
        done = subprocess.CompletedProcess(done.args, code, out.rstrip("\n") + "\n", done.stderr)
        if "uncaught target signal" in done.stderr and code == 0:
            code = done.returncode = 128
        if check and code != 0:
            tail = (done.stderr.strip() or done.stdout.strip())[-800:]
            raise Failed(f"exit {code} (emulated): {script[:200]}\n{tail}")
        return done


def dump_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def python_exe() -> str:
    return sys.executable
