"""`make field-test`: a real gate, installed by its script on a fresh Debian 12 (amd64 and arm64) and
run by a real systemd. Usage (as root, with the dev venv's Python; deploy/field-test/run.sh does this):

    fieldtest.py [--part host,amd64,arm64] [--cache DIR] [--out DIR] [--faces DIR] [--keep]

Prints each check as it ends, then a JSON summary (also written to OUT/summary.json); exits 0 only
if every check of every part passed. The parts run one after the other: host (the wheel, the
replay video, the certificates), amd64 (nspawn + systemd), arm64 (proot + qemu). Root file systems
are bootstrapped once into --cache; each run works on fresh copies and removes them afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from ftlib import Failed, Interrupted, Part, dump_json, on_signals

PARTS = ("host", "amd64", "arm64")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="field-test", description=__doc__.splitlines()[0])
    ap.add_argument("--part", default=",".join(PARTS), help="comma-separated: host,amd64,arm64 (host is "
                    "always run: the others need its wheel)")
    ap.add_argument("--cache", type=Path, default=Path("/var/cache/gate-edge-field-test"),
                    help="root file systems, apt and pip caches (kept between runs)")
    ap.add_argument("--out", type=Path, default=None, help="logs and summary (default: a new folder under "
                    "/var/tmp/gate-edge-field-test)")
    ap.add_argument("--faces", type=Path, default=None, help="faces folder (default: $GATE_EDGE_FACES, "
                    "else ../shared/faces)")
    ap.add_argument("--keep", action="store_true", help="keep the root copies (for a look after a failure)")
    args = ap.parse_args(argv)
    wanted = {p.strip() for p in args.part.split(",") if p.strip()} | {"host"}
    unknown = wanted - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s): {', '.join(sorted(unknown))}")
    on_signals()

    from host import build_wheel, default_faces, make_pki, record_video

    out = args.out or Path("/var/tmp/gate-edge-field-test") / time.strftime("run-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    work.mkdir(exist_ok=True)
    faces = (args.faces or default_faces()).resolve()
    t0 = time.monotonic()
    parts: list[Part] = []
    print(f"field test: logs and summary in {out}", flush=True)

    host = Part("host", out / "host.log")
    parts.append(host)
    wheel = video = truth = pki = None
    signers: dict[str, Any] | None = None
    try:
        with host.check("wheel built from the checkout carries the package's data files") as c:
            wheel = build_wheel(host, work)
            c.detail = f"{wheel.name}: {host.facts['wheel']['data']}"
        if "amd64" in wanted:
            with host.check("replay video recorded (gate_sim.record, outside the repository)") as c:
                video = work / "camera.avi"
                truth = record_video(host, faces, video)
                c.detail = f"{host.facts['video']['frames']} frames, {truth.video_seconds:.1f} s a loop: {truth.cycle}"
            with host.check("certificates made with openssl: CA, broker (localhost, 127.0.0.1), clients") as c:
                from amd64 import GATE, SERVICES

                pki = make_pki(host, work / "pki", [GATE, *SERVICES])
                c.detail = f"clients {[GATE, *SERVICES]}"
            with host.check("signing keys of the roles a gate trusts (departure control, gallery, fleet)") as c:
                from gate_sim.world import make_pki as make_signing_keys

                signers = make_signing_keys(work / "pki" / "signing")
                c.detail = f"Ed25519 per role: {sorted(signers)}; anchors in {work / 'pki' / 'signing' / 'trust'}"
    except Interrupted as exc:
        host.error = str(exc)
    except Exception as exc:
        host.error = f"{type(exc).__name__}: {exc}"
        host.log(traceback.format_exc())
    finally:
        host.close()

    interrupted = host.error is not None and host.error.startswith("signal")
    for name in ("amd64", "arm64"):
        if name not in wanted or interrupted:
            continue
        part = Part(name, out / f"{name}.log")
        parts.append(part)
        try:
            if host.error is not None or wheel is None:
                raise Failed("the host part failed: no wheel")
            if name == "amd64":
                from amd64 import Amd64

                if video is None or truth is None or pki is None or signers is None:
                    raise Failed("the host part failed: no video, certificates or keys")
                Amd64(part, args.cache, work, wheel, video, truth, pki, signers, args.keep).run()
            else:
                from arm64 import Arm64

                Arm64(part, args.cache, work, wheel, faces, args.keep).run()
        except Interrupted as exc:
            part.error = str(exc)
            interrupted = True
        except Exception as exc:  # the part stops; its report says where and why
            part.error = f"{type(exc).__name__}: {exc}"
            part.log(traceback.format_exc())
        finally:
            part.close()
            mark = "PASSED" if part.ok else "FAILED"
            print(f"[{name}] {mark} in {part.elapsed():.0f} s", flush=True)

    summary = {
        "ok": all(p.ok for p in parts) and not interrupted and wanted <= {p.name for p in parts},
        "seconds": round(time.monotonic() - t0, 1),
        "out": str(out),
        "parts": {p.name: p.as_json() for p in parts},
    }
    if not args.keep:  # the video holds faces, the keys are keys: only the wheel and the logs stay
        for leftover in ("src", "pki", "camera.avi"):
            path = work / leftover
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    dump_json(out / "summary.json", summary)
    print(json.dumps(summary, indent=2), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
