# gate-edge: `make demo` boards a simulated flight end to end; `make test` runs the checks.
# Both set up everything on a fresh machine: the virtualenv, the models, Mosquitto.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FACES ?= ../shared/faces
# hnswlib's sdist adds -march=native unless told not to: never ship a build tied to this CPU.
export HNSWLIB_NO_NATIVE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: all venv models mosquitto test lint typecheck pytest demo bench eval field-test clean

all: test

$(BIN)/.installed: pyproject.toml hardware-sim/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' -e ./hardware-sim
	touch $@

venv: $(BIN)/.installed

models: venv
	$(BIN)/gate-edge models fetch --cache-dir models/cache

# Mosquitto from the system's packages when it is missing (the tests and the demo start their own
# private broker; the system service is not used).
mosquitto:
	@if command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto; then :; \
	else \
	  echo "installing mosquitto from the system packages"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq mosquitto >/dev/null; \
	fi

# ruff, then the architecture contracts of pyproject.toml's [tool.importlinter] (lint-imports; no cache
# directory left in the checkout: the graph takes a second to build).
lint: venv
	$(BIN)/ruff check edge hardware-sim tests
	$(BIN)/lint-imports --no-cache

typecheck: venv
	$(BIN)/mypy

pytest: venv models mosquitto
	GATE_EDGE_FACES=$(abspath $(FACES)) $(BIN)/python -m pytest -q

test: lint typecheck pytest

demo: venv models mosquitto
	GATE_EDGE_FACES=$(abspath $(FACES)) $(BIN)/gate-edge demo --faces $(FACES)

bench: venv models
	$(BIN)/gate-edge bench --faces $(FACES) --json

eval: venv models
	$(BIN)/gate-edge eval --faces $(FACES) --json

# A real gate (root only, minutes, not part of `make test`): the install script on a fresh Debian 12
# booted by systemd (amd64, systemd-nspawn) and under emulation (arm64, proot + qemu), the unit's
# READY, watchdog, camera and stop behaviour, and no biometric data left on disk. Prints a JSON
# summary; FIELD_TEST_ARGS="--part amd64 --keep" and the like pass options on (deploy/README.md).
field-test: venv
	GATE_EDGE_FACES=$(abspath $(FACES)) deploy/field-test/run.sh $(FIELD_TEST_ARGS)

clean:
	rm -rf $(VENV) models/cache .pytest_cache .mypy_cache .ruff_cache
