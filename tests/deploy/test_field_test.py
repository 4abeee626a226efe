"""`make field-test` (deploy/field-test/) is run by hand, as root, for minutes; these quick checks keep
it and what it relies on honest between runs: the scripts parse, the README's troubleshooting
commands are exactly ones the field test runs, the event judge and the residue scanner catch what
they are there to catch, and the packaging and unit settings it verifies on a real gate are in place.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
FIELD_TEST = REPO / "deploy" / "field-test"
sys.path.insert(0, str(FIELD_TEST))

import amd64  # noqa: E402  (the field test's modules live in deploy/field-test)
import host  # noqa: E402
from ftlib import Failed  # noqa: E402


def test_run_script_parses_and_is_strict() -> None:
    script = FIELD_TEST / "run.sh"
    assert script.stat().st_mode & 0o111, "run.sh is executable"
    text = script.read_text()
    assert "set -euo pipefail" in text and "timeout" in text
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_fieldtest_help_runs_without_root() -> None:
    proc = subprocess.run([sys.executable, str(FIELD_TEST / "fieldtest.py"), "--help"], capture_output=True,
                          text=True, timeout=30, cwd=FIELD_TEST)
    assert proc.returncode == 0 and "--part" in proc.stdout


def test_make_field_test_is_not_part_of_make_test() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^field-test:", makefile, re.MULTILINE)
    test_line = re.search(r"^test:(.*)$", makefile, re.MULTILINE)
    assert test_line and "field-test" not in test_line.group(1)


def _troubleshooting_commands() -> list[str]:
    readme = (REPO / "deploy" / "README.md").read_text()
    section = re.split(r"^## (?:\d+\. )?Troubleshooting$", readme, maxsplit=1, flags=re.MULTILINE)[1]
    section = section.split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
        for line in block.splitlines():
            line = line.split("  # ", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line.removeprefix("sudo "))
    return commands


def test_every_troubleshooting_command_is_run_by_the_field_test() -> None:
    commands = _troubleshooting_commands()
    assert len(commands) >= 8, commands
    not_run = [c for c in commands if c not in amd64.TROUBLESHOOTING]
    assert not not_run, f"deploy/README.md's troubleshooting names commands the field test does not run: {not_run}"
    not_documented = [c for c in amd64.TROUBLESHOOTING if c not in commands]
    assert not not_documented, f"the field test runs commands the README does not show: {not_documented}"


CYCLE = [("match", "P-a"), ("no_match", None), ("match", "P-b")]


def _events(pairs: list[tuple[str, str | None]], first_seq: int = 1) -> list[dict[str, object]]:
    return [{"outcome": o, "matched_id": m, "seq": first_seq + i} for i, (o, m) in enumerate(pairs)]


def test_judge_accepts_the_loop_from_any_phase_and_one_partial_walkup() -> None:
    amd64.judge(_events([CYCLE[1], CYCLE[2], CYCLE[0], CYCLE[1]]), CYCLE, 4)
    amd64.judge(_events([("failure_to_acquire", None), CYCLE[1], CYCLE[2], CYCLE[0]]), CYCLE, 3)


@pytest.mark.parametrize("pairs", [
    [CYCLE[0], CYCLE[1], ("match", "P-a")],          # the wrong traveller
    [("match", "P-x"), CYCLE[1], CYCLE[2]],          # a wrong match is never skipped
    [CYCLE[0], ("no_match", None), ("no_match", None)],  # a missed traveller
    [CYCLE[0], CYCLE[2]],                            # an impostor matched
])
def test_judge_rejects_a_wrong_outcome(pairs: list[tuple[str, str | None]]) -> None:
    with pytest.raises(Failed):
        amd64.judge(_events(pairs), CYCLE, 2)


def test_judge_rejects_a_lost_event() -> None:
    events = _events([CYCLE[0], CYCLE[1], CYCLE[2], CYCLE[0]])
    del events[1]  # seq 2 never arrived: the loop itself would still fit if the judge looked only at it
    events[1:] = [{**e, "seq": e["seq"]} for e in events[1:]]
    with pytest.raises(Failed):
        amd64.judge(events, CYCLE, 1)
    with pytest.raises(Failed, match="seq gaps"):
        amd64.judge([events[0], {"outcome": "no_match", "matched_id": None, "seq": 3}], CYCLE, 1)


def test_residue_scan_finds_images_templates_and_names(tmp_path: Path) -> None:
    clean = tmp_path / "clean.json"
    clean.write_text(json.dumps({"outbox": [], "seq": 12, "numbers": [0.5] * 10}))
    (tmp_path / "zeros.bin").write_bytes(bytes(4096))
    rng = np.random.default_rng(1)
    (tmp_path / "noise.bin").write_bytes(rng.integers(0, 256, 65536, dtype=np.uint8).tobytes())
    assert host.scan_residue([tmp_path], ["deepface_id00", "P-ae9fe1045a46"]) == []

    template = rng.standard_normal(128).astype("<f4")
    template /= np.linalg.norm(template)
    (tmp_path / "tpl.bin").write_bytes(b"xyz" + template.tobytes() + b"tail")
    (tmp_path / "photo.dat").write_bytes(b"\0" * 7 + b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\1" * 100)
    (tmp_path / "b64.txt").write_text("payload=" + base64.b64encode(b"\xff\xd8\xff\xe0 rest").decode())
    envelope = base64.b64encode(json.dumps({"matched_id": "P-ae9fe1045a46"}).encode()).decode()
    (tmp_path / "signed.json").write_text(json.dumps({"payload": envelope}))
    (tmp_path / "log.txt").write_text("walk-up of deepface_id00\n")
    found = "\n".join(host.scan_residue([tmp_path], ["deepface_id00", "P-ae9fe1045a46"]))
    for name in ("tpl.bin", "photo.dat", "b64.txt", "signed.json", "log.txt"):
        assert name in found, found
    assert "clean.json" not in found and "noise.bin" not in found


def test_the_wheel_carries_every_data_file_of_the_package() -> None:
    """What the field test checks in the built wheel, statically: package-data covers every file of
    edge/ that is not Python (the model manifest above all)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data: dict[str, list[str]] = config["tool"]["setuptools"]["package-data"]
    data_files = [p for p in (REPO / "edge").rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")
                  and "__pycache__" not in p.parts]
    assert any(p.name == "manifest.json" for p in data_files)
    for path in data_files:
        rel = path.relative_to(REPO)
        covered = any(
            fnmatch(str(rel.relative_to(Path(*package.split(".")))), pattern)
            for package, patterns in package_data.items()
            if rel.is_relative_to(Path(*package.split(".")))
            for pattern in patterns
        )
        assert covered, f"{rel} is not package data: the installed gate would not have it"


def test_hnswlib_is_an_optional_extra() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("hnswlib") for d in project["dependencies"])
    assert any(d.startswith("hnswlib") for d in project["optional-dependencies"]["hnsw"])
    for script in ("install-debian.sh", "install-pi.sh", "install-jetson.sh"):
        text = (REPO / "deploy" / script).read_text()
        assert "--with-hnsw" in text and '"hnswlib' not in text, script
    for script in ("install-debian.sh", "install-pi.sh"):
        # python3-pip recommends build-essential: without this, a compiler lands on every gate anyway
        text = (REPO / "deploy" / script).read_text()
        assert "--no-install-recommends" in text and "netbase" in text and "ca-certificates" in text, script


def test_the_unit_keeps_memory_off_disk() -> None:
    unit = (REPO / "deploy" / "gate-edge.service").read_text()
    assert re.search(r"^LimitCORE=0$", unit, re.MULTILINE)
    assert re.search(r"^MemorySwapMax=0$", unit, re.MULTILINE)
