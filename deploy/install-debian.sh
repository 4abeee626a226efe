#!/usr/bin/env bash
# Install gate-edge on Debian 12 / Ubuntu 22.04+ with a USB (UVC) camera.
set -euo pipefail
DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib.sh
. "$DEPLOY_DIR/lib.sh"

usage() {
    cat <<USAGE
Usage: sudo $0 [--source DIR|WHEEL] [--config EXAMPLE.yaml] [--no-start]

Installs gate-edge for a USB camera: system packages, the user gate-edge (group video), a venv in
$VENV, the models (verified by sha256) in $CACHE, /etc/gate-edge/gate.yaml from the
example if absent, and the systemd unit. Safe to run again to upgrade.

  --source    the gate-edge repository folder or a wheel (default: $(dirname "$DEPLOY_DIR"))
  --config    example config to install when /etc/gate-edge/gate.yaml does not exist
              (default: config/usb-gate.yaml)
  --no-start  install and enable, but do not (re)start the service
USAGE
}

parse_options usb-gate.yaml "$@"

log "system packages"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip v4l-utils >/dev/null

ensure_user
make_venv python3
install_package "$SOURCE"
install_config "$EXAMPLE"
fetch_models
install_unit
log "cameras found:"; v4l2-ctl --list-devices 2>/dev/null || echo "  none (plug the camera in)"
finish "$START"
