#!/usr/bin/env bash
# Install gate-edge on Raspberry Pi OS (bookworm, 64-bit) with a CSI camera through picamera2.
set -euo pipefail
DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib.sh
. "$DEPLOY_DIR/lib.sh"

usage() {
    cat <<USAGE
Usage: sudo $0 [--source DIR|WHEEL] [--config EXAMPLE.yaml] [--no-start] [--with-hnsw]

Installs gate-edge on a Raspberry Pi: python3-picamera2 from Raspberry Pi OS (libcamera is only
packaged there), a venv in $VENV created with --system-site-packages so it sees picamera2,
and the pins that keep those apt packages working (they are built against numpy 1.x):
numpy<2 and opencv-python-headless<4.12, in $PREFIX/constraints.txt. Then the models, the
config (default config/pi-gate.yaml) and the systemd unit; then runs \`gate-edge check\` and starts
the service if every check passed. Safe to run again to upgrade.

  --source     the gate-edge repository folder or a wheel (default: $(dirname "$DEPLOY_DIR"))
  --config     example config to install when /etc/gate-edge/gate.yaml does not exist
  --no-start   install and enable, but do not (re)start the service
  --with-hnsw  also hnswlib, for galleries above gallery.exact_max_entries (compiled here: g++,
               minutes on a Pi)
USAGE
}

parse_options pi-gate.yaml "$@"

grep -qi "raspberry pi" /proc/device-tree/model 2>/dev/null || log "warning: this does not look like a Raspberry Pi"

log "system packages (picamera2 and libcamera from Raspberry Pi OS)"
apt-get update -qq
# No recommends (as Raspberry Pi's own picamera2 instructions for Lite say): python3-picamera2's
# would bring the Qt/OpenGL preview stack, python3-pip's a compiler; --with-hnsw asks for one.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip \
    ca-certificates netbase python3-picamera2 rpicam-apps-lite >/dev/null
if [[ $WITH_HNSW == yes ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ python3-dev >/dev/null
fi

ensure_user
make_venv python3 --system-site-packages
mkdir -p "$PREFIX"
cat > "$PREFIX/constraints.txt" <<'PINS'
# python3-picamera2 and python3-libcamera are built against numpy 1.x
numpy<2
# the last opencv wheels that work with numpy 1.x
opencv-python-headless<4.12
PINS
install_package "$SOURCE" -c "$PREFIX/constraints.txt"
"$VENV/bin/python" -c "import picamera2, numpy; print('picamera2 ok, numpy', numpy.__version__)" \
    || die "picamera2 is not importable from the venv: is python3-picamera2 installed?"
install_config "$EXAMPLE"
fetch_models
install_unit
log "cameras found:"; rpicam-hello --list-cameras 2>/dev/null || echo "  none (check the ribbon cable)"
finish "$START"
