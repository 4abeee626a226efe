#!/usr/bin/env bash
# `make field-test`: a real gate, installed by its script on a fresh Debian 12 and run by a real
# systemd (amd64, systemd-nspawn), and installed under emulation on arm64 (proot + qemu).
# Root only; tens of minutes the first time (root file systems are bootstrapped once into
# /var/cache/gate-edge-field-test), about ten afterwards. Not part of `make test`.
#
#   deploy/field-test/run.sh [--part amd64|arm64] [--keep] [--cache DIR] [--out DIR] [--faces DIR]
#
# Needs the dev venv (make venv) and, on the host, debootstrap, systemd-container, proot,
# qemu-user-static and openssl (installed here from the system's packages if missing). The whole run
# is bounded by FIELD_TEST_TIMEOUT seconds (default 5400); each step has its own time limit, and the
# containers are powered off and the emulator killed whatever happens.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
LIMIT=${FIELD_TEST_TIMEOUT:-5400}

die() { printf 'field-test: %s\n' "$*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap, systemd-nspawn and nsenter need it): sudo $0 $*"
[[ -x $PY ]] || die "no dev venv at $PY: run make venv first"

missing=()
for tool in debootstrap:debootstrap systemd-nspawn:systemd-container nsenter:util-linux proot:proot \
            qemu-aarch64-static:qemu-user-static openssl:openssl; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
    echo "field-test: installing ${missing[*]} from the system's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
exec timeout --signal=TERM --kill-after=90 "$LIMIT" "$PY" "$HERE/fieldtest.py" "$@"
