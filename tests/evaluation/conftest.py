"""Helpers for the evaluation tests: run a tool's ``run(args)`` as the CLI would."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest


def parse(module: ModuleType, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture
def cli_args() -> Callable[[ModuleType, list[str]], argparse.Namespace]:
    """Parse argv with a tool's own ``add_arguments``, as the CLI's sub-command would."""
    return parse


@pytest.fixture
def run_json(capsys: pytest.CaptureFixture[str]) -> Callable[[ModuleType, list[str]], dict[str, Any]]:
    def _run(module: ModuleType, argv: list[str]) -> dict[str, Any]:
        rc = module.run(parse(module, [*argv, "--json"]))
        out = capsys.readouterr().out
        assert rc == 0, out
        return json.loads(out)  # type: ignore[no-any-return]

    return _run
