# Shared steps of the install scripts (sourced, not run). Every step is idempotent: running an
# installer again upgrades the package and leaves the operator's config and secrets alone.

PREFIX=${PREFIX:-/opt/gate-edge}
VENV="$PREFIX/venv"
ETC=/etc/gate-edge
CREDSTORE=/etc/credstore
STATE=/var/lib/gate-edge
CACHE=/var/cache/gate-edge
UNIT_DIR=/etc/systemd/system
SERVICE_USER=gate-edge

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_root() { [[ $(id -u) -eq 0 ]] || die "run as root (sudo $0 $*)"; }

# The options every installer takes; sets SOURCE, EXAMPLE and START, then insists on root.
# Usage: parse_options DEFAULT_EXAMPLE "$@". A script with options of its own defines
# extra_option(), which consumes "$@" from an option it knows (setting EXTRA_SHIFT) or returns 1.
parse_options() {
    local example=$1
    shift
    SOURCE=$(dirname "$DEPLOY_DIR")
    EXAMPLE="$SOURCE/config/$example"
    START=yes
    while [[ $# -gt 0 ]]; do
        case $1 in
            -h|--help) usage; exit 0 ;;
            --source) SOURCE=$2; shift 2 ;;
            --config) EXAMPLE=$2; shift 2 ;;
            --no-start) START=no; shift ;;
            *)
                if declare -F extra_option >/dev/null && extra_option "$@"; then
                    shift "$EXTRA_SHIFT"
                else
                    usage >&2
                    die "unknown option $1"
                fi ;;
        esac
    done
    require_root
}

# The service user: no login, no home, member of group video (cameras).
ensure_user() {
    getent group "$SERVICE_USER" >/dev/null || groupadd --system "$SERVICE_USER"
    id -u "$SERVICE_USER" >/dev/null 2>&1 || useradd --system --gid "$SERVICE_USER" \
        --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
    usermod -a -G video "$SERVICE_USER"
    local g
    for g in "$@"; do
        getent group "$g" >/dev/null && usermod -a -G "$g" "$SERVICE_USER"
    done
    return 0
}

# make_venv PYTHON [--system-site-packages]
make_venv() {
    local python=$1; shift
    mkdir -p "$PREFIX"
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating venv $VENV ($python $*)"
        "$python" -m venv "$@" "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --upgrade pip wheel
}

# install_package SOURCE [pip args...]: SOURCE is the repository folder or a wheel.
install_package() {
    local source=$1; shift
    log "installing gate-edge from $source"
    HNSWLIB_NO_NATIVE=1 "$VENV/bin/python" -m pip install --quiet --upgrade "$@" "$source"
    mkdir -p "$PREFIX/deploy"
    cp "$DEPLOY_DIR/README.md" "$PREFIX/deploy/README.md"
}

# /etc/gate-edge (root:gate-edge 0750), the example config if none is there yet, the credstore.
install_config() {
    local example=$1
    install -d -m 0750 -o root -g "$SERVICE_USER" "$ETC" "$ETC/tls"
    if [[ ! -e "$ETC/gate.yaml" ]]; then
        log "installing example config $example -> $ETC/gate.yaml (edit gate_id and mqtt before starting)"
        install -m 0640 -o root -g "$SERVICE_USER" "$example" "$ETC/gate.yaml"
    else
        log "keeping existing $ETC/gate.yaml"
    fi
    install -d -m 0700 -o root -g root "$CREDSTORE"
}

fetch_models() {
    install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$CACHE" "$STATE"
    log "fetching and verifying the models into $CACHE"
    "$VENV/bin/python" - "$CACHE" <<'PY'
import sys
from pathlib import Path
from edge.inference.manifest import fetch, verify_all
fetch(Path(sys.argv[1]))
bad = [c for c in verify_all(Path(sys.argv[1])) if not c.ok]
sys.exit("\n".join(c.detail for c in bad) if bad else 0)
PY
    chown -R "$SERVICE_USER:$SERVICE_USER" "$CACHE"
}

# install_unit [drop-in file...]
install_unit() {
    install -m 0644 "$DEPLOY_DIR/gate-edge.service" "$UNIT_DIR/gate-edge.service"
    local dropin
    for dropin in "$@"; do
        install -d -m 0755 "$UNIT_DIR/gate-edge.service.d"
        install -m 0644 "$dropin" "$UNIT_DIR/gate-edge.service.d/$(basename "$dropin")"
    done
    if command -v systemd-analyze >/dev/null; then
        local out
        out=$(systemd-analyze verify gate-edge.service 2>&1 || true)
        [[ -z "$out" ]] || printf 'systemd-analyze verify says:\n%s\n' "$out" >&2
    fi
    systemctl daemon-reload
    systemctl enable gate-edge.service >/dev/null
}

finish() {
    local start=$1
    log "checking the installation"
    "$VENV/bin/gate-edge" check --config "$ETC/gate.yaml" || \
        log "some checks failed: fix $ETC/gate.yaml (and the credentials), then run: $VENV/bin/gate-edge check --config $ETC/gate.yaml"
    if [[ $start == yes ]]; then
        systemctl restart gate-edge.service
        log "started; follow it with: journalctl -u gate-edge -f"
    else
        log "not started (--no-start); when ready: systemctl start gate-edge"
    fi
}
