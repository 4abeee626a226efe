# gate-edge: `make demo` boards a simulated flight end to end; `make test` runs the checks.
# Both set up everything on a fresh machine: the virtualenv, the models, Mosquitto.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FACES ?= ../shared/faces
# hnswlib's sdist adds -march=native unless told not to: never ship a build tied to this CPU.
export HNSWLIB_NO_NATIVE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: all venv models mosquitto ejabberd chromium test lint typecheck pytest demo bench eval fleet-bench field-test clean

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

# ejabberd from the system's packages when it is missing: its MQTT broker (mod_mqtt) is the clustered
# broker of the fail-over tests and the fleet benchmark (they start private nodes on free ports with
# their own epmd; the system service, where the package started one, is not used).
ejabberd:
	@if test -x /usr/sbin/ejabberdctl; then :; \
	else \
	  echo "installing ejabberd from the system packages"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ejabberd >/dev/null; \
	fi

# Chromium from the system's packages when it is missing: the aiming view's tests load its page in a
# real headless browser (tests/aim).
chromium:
	@if command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium; then :; \
	else \
	  echo "installing chromium from the system packages"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

# ruff, then the architecture contracts of pyproject.toml's [tool.importlinter] (lint-imports; no cache
# directory left in the checkout: the graph takes a second to build).
lint: venv
	$(BIN)/ruff check edge hardware-sim tests
	$(BIN)/lint-imports --no-cache

typecheck: venv
	$(BIN)/mypy

pytest: venv models mosquitto ejabberd chromium
	GATE_EDGE_FACES=$(abspath $(FACES)) $(BIN)/python -m pytest -q

test: lint typecheck pytest

demo: venv models mosquitto
	GATE_EDGE_FACES=$(abspath $(FACES)) $(BIN)/gate-edge demo --faces $(FACES)

bench: venv models
	$(BIN)/gate-edge bench --faces $(FACES) --json

eval: venv models
	$(BIN)/gate-edge eval --faces $(FACES) --json

# The messaging of many gates (not part of `make test`; minutes): 50 and 200 gates on a private
# Mosquitto and on a two-node ejabberd cluster, then one gallery's delivery, photos vs templates.
# One JSON object per run (docs/topologies.md); FLEET_ARGS="--duration 30" and the like pass options on.
fleet-bench: venv mosquitto ejabberd
	@for broker in mosquitto ejabberd; do for n in 50 200; do \
	  GATE_EDGE_FACES=$(abspath $(FACES)) $(BIN)/gate-edge fleet-bench --gates $$n --broker $$broker --json $(FLEET_ARGS) || exit 1; \
	done; done
	GATE_EDGE_FACES=$(abspath $(FACES)) $(BIN)/gate-edge gallery-bench --json

# A real gate (root only, minutes, not part of `make test`): the install script on a fresh Debian 12
# booted by systemd (amd64, systemd-nspawn) and under emulation (arm64, proot + qemu), the unit's
# READY, watchdog, camera and stop behaviour, and no biometric data left on disk. Prints a JSON
# summary; FIELD_TEST_ARGS="--part amd64 --keep" and the like pass options on (deploy/README.md).
field-test: venv
	GATE_EDGE_FACES=$(abspath $(FACES)) deploy/field-test/run.sh $(FIELD_TEST_ARGS)

clean:
	rm -rf $(VENV) models/cache .pytest_cache .mypy_cache .ruff_cache
