#!/usr/bin/env bash
# Install gate-edge on Debian 12 / Ubuntu 22.04+ with a USB (UVC) camera.
set -euo pipefail
DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib.sh
. "$DEPLOY_DIR/lib.sh"

usage() {
    cat <<USAGE
Usage: sudo $0 [--source DIR|WHEEL] [--config EXAMPLE.yaml] [--no-start] [--with-hnsw]

Installs gate-edge for a USB camera: system packages, the user gate-edge (group video), a venv in
$VENV, the models (verified by sha256) in $CACHE, /etc/gate-edge/gate.yaml from the
example if absent, and the systemd unit; then runs \`gate-edge check\` and starts the service if
every check passed. Safe to run again to upgrade. Works on amd64 and arm64.

  --source     the gate-edge repository folder or a wheel (default: $(dirname "$DEPLOY_DIR"))
  --config     example config to install when /etc/gate-edge/gate.yaml does not exist
               (default: config/usb-gate.yaml)
  --no-start   install and enable, but do not (re)start the service
  --with-hnsw  also hnswlib, for galleries above gallery.exact_max_entries (compiled here: g++)
USAGE
}

parse_options usb-gate.yaml "$@"

log "system packages"
apt-get update -qq
# No recommends: python3-pip's would bring build-essential and python3-dev, a compiler the gate never
# needs (everything installs from wheels); --with-hnsw asks for one explicitly. What the recommends
# used to bring and the gate does need is named: ca-certificates (pip's TLS) and netbase (/etc/hosts,
# /etc/services: resolving mqtt.host).
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3 python3-venv python3-pip ca-certificates netbase v4l-utils >/dev/null
if [[ $WITH_HNSW == yes ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ python3-dev >/dev/null
fi

ensure_user
make_venv python3
install_package "$SOURCE"
install_config "$EXAMPLE"
fetch_models
install_unit
log "cameras found:"; v4l2-ctl --list-devices 2>/dev/null || echo "  none (plug the camera in)"
finish "$START"
