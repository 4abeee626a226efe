"""The architecture, checked: the import contracts of pyproject.toml, and what they cannot express.

The contracts ([tool.importlinter]) say which package may import which; the other checks here keep
modules small, the core free of third-party packages other than numpy and cv2, private names
private, and the code free of references to documents that are not shipped with it.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EDGE = REPO / "edge"
MAX_LINES = 400
CORE_THIRD_PARTY = {"numpy", "cv2"}


def _modules() -> list[Path]:
    return sorted(EDGE.rglob("*.py"))


def _lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")  # the venv's, whatever PATH says
    found = str(beside) if beside.is_file() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports not found: install the dev extra (pip install -e '.[dev]')")
    return found


def test_import_contracts_are_kept() -> None:
    proc = subprocess.run(
        [_lint_imports(), "--no-cache", "--no-logo"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"lint-imports failed:\n{proc.stdout}\n{proc.stderr}"


def test_topics_do_not_load_opencv() -> None:
    # Tools that only need topic strings (fleet admin, monitoring) must not pay for OpenCV. A fresh
    # interpreter: in this one the test session has long since imported cv2.
    code = "import sys, edge.messaging.topics; print('cv2' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False", "importing edge.messaging.topics loads cv2"


def test_no_module_is_over_the_size_limit() -> None:
    too_long = {
        str(p.relative_to(REPO)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines (split them by responsibility): {too_long}"


def test_no_reference_to_unshipped_design_notes() -> None:
    # The package must explain itself: a reader of an installed copy has no DESIGN.md.
    mentions = [str(p.relative_to(REPO)) for p in sorted(EDGE.rglob("*")) if p.is_file() and _mentions_design(p)]
    assert not mentions, f"files under edge/ that refer to DESIGN.md: {mentions}"


def _mentions_design(path: Path) -> bool:
    try:
        return "DESIGN.md" in path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return b"DESIGN.md" in path.read_bytes()


def test_core_uses_no_third_party_package_but_numpy_and_cv2() -> None:
    # The contract forbids the packages edge uses elsewhere; this allows only the two the core needs,
    # so a new dependency (scipy, say) cannot creep in either.
    allowed = CORE_THIRD_PARTY | set(sys.stdlib_module_names) | {"__future__"}
    found = {
        f"{p.relative_to(REPO)}: {top}"
        for p in sorted((EDGE / "core").rglob("*.py"))
        for top in _imported_tops(p)
        if top not in allowed and top != "edge"
    }
    assert not found, f"edge.core imports third-party packages other than numpy and cv2: {sorted(found)}"


def _imported_tops(path: Path) -> set[str]:
    tops = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            tops |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tops.add(node.module.split(".")[0])
    return tops


def test_no_module_imports_another_modules_private_names() -> None:
    # A private name used from outside its module needs a public home (or is not private).
    leaks = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("edge")):
                leaks += [
                    f"{path.relative_to(REPO)}:{node.lineno}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not leaks, f"imports of private names: {leaks}"
