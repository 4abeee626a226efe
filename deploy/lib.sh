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

# The options every installer takes; sets SOURCE, EXAMPLE, START and WITH_HNSW, then insists on root.
# Usage: parse_options DEFAULT_EXAMPLE "$@". A script with options of its own defines
# extra_option(), which consumes "$@" from an option it knows (setting EXTRA_SHIFT) or returns 1.
parse_options() {
    local example=$1
    shift
    SOURCE=$(dirname "$DEPLOY_DIR")
    EXAMPLE="$SOURCE/config/$example"
    START=yes
    WITH_HNSW=no
    while [[ $# -gt 0 ]]; do
        case $1 in
            -h|--help) usage; exit 0 ;;
            --source) SOURCE=$2; shift 2 ;;
            --config) EXAMPLE=$2; shift 2 ;;
            --no-start) START=no; shift ;;
            --with-hnsw) WITH_HNSW=yes; shift ;;
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

# Whether systemd runs here (a booted system), rather than a chroot where an image is being built:
# there the unit is enabled for the next boot, but nothing is reloaded or started.
systemd_running() { [[ -d /run/systemd/system ]]; }

# install_package SOURCE [pip args...]: SOURCE is the repository folder or a wheel. With --with-hnsw
# the `hnsw` extra too: hnswlib has no wheels, so pip compiles it (the caller installs g++ and the
# Python headers first; HNSWLIB_NO_NATIVE keeps the build portable instead of tuned to this CPU).
install_package() {
    local source=$1; shift
    local spec=$source
    [[ $WITH_HNSW == yes ]] && spec="$source[hnsw]"
    log "installing gate-edge from $spec"
    HNSWLIB_NO_NATIVE=1 "$VENV/bin/python" -m pip install --quiet --upgrade "$@" "$spec"
    mkdir -p "$PREFIX/deploy"
    cp "$DEPLOY_DIR/README.md" "$PREFIX/deploy/README.md"
}

# /etc/gate-edge (root:gate-edge 0750) with tls/ (CA and client certificates) and trust/ (the
# public keys of the roles whose signed messages the gate acts on: trust/<role>/*.pub), the example
# config if none is there yet, the credstore.
install_config() {
    local example=$1
    install -d -m 0750 -o root -g "$SERVICE_USER" "$ETC" "$ETC/tls" "$ETC/trust" \
        "$ETC/trust/departure_control" "$ETC/trust/gallery_authority" "$ETC/trust/fleet_admin"
    if [[ ! -e "$ETC/gate.yaml" ]]; then
        log "installing example config $example -> $ETC/gate.yaml (edit gate_id and mqtt before starting)"
        install -m 0640 -o root -g "$SERVICE_USER" "$example" "$ETC/gate.yaml"
    else
        log "keeping existing $ETC/gate.yaml"
    fi
    install -d -m 0700 -o root -g root "$CREDSTORE"
}

# The models, through the installed command (from /, so nothing of a checkout is used): downloaded,
# checked against the manifest shipped in the package, then verified again.
fetch_models() {
    install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$CACHE" "$STATE"
    log "fetching and verifying the models into $CACHE"
    (cd / && "$VENV/bin/gate-edge" models fetch --cache-dir "$CACHE" && \
        "$VENV/bin/gate-edge" models verify --cache-dir "$CACHE") || die "the models could not be fetched or verified"
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
    if systemd_running && command -v systemd-analyze >/dev/null; then
        local out
        out=$(systemd-analyze verify gate-edge.service 2>&1 || true)
        [[ -z "$out" ]] || printf 'systemd-analyze verify says:\n%s\n' "$out" >&2
    fi
    if systemd_running; then
        systemctl daemon-reload
    fi
    # enable works offline too (an image being built): it only makes the multi-user.target link.
    systemctl enable gate-edge.service >/dev/null 2>&1
}

# finish yes|no: `gate-edge check`, then start the service if every check passed. A first install
# has no broker credentials yet: it ends there with what to fix, and exit status 0. An upgrade of a
# running service restarts it whatever the check says (the running process would otherwise go on
# over replaced files), and says what failed.
finish() {
    local start=$1 ok=yes running=no skip=()
    log "checking the installation"
    # A running service holds the camera: check everything else.
    if systemd_running && systemctl is-active --quiet gate-edge.service; then running=yes; skip=(--skip camera); fi
    (cd / && "$VENV/bin/gate-edge" check --config "$ETC/gate.yaml" "${skip[@]}") || ok=no
    # The check ran as root and may have written there (derived model copies): the service owns them.
    chown -R "$SERVICE_USER:$SERVICE_USER" "$CACHE" "$STATE"
    if [[ $start != yes ]]; then
        log "not started (--no-start); when ready: systemctl start gate-edge"
    elif ! systemd_running; then
        log "systemd is not running here (an image being built?): gate-edge is enabled and starts at boot"
    elif [[ $ok == yes || $running == yes ]]; then
        systemctl restart gate-edge.service || die "gate-edge did not start: journalctl -u gate-edge -p warning"
        [[ $ok == yes ]] || log "restarted on the new version, but some checks failed (above): fix them"
        log "started; follow it with: journalctl -u gate-edge -f"
    else
        log "not started: fix what the check says ($ETC/gate.yaml, /etc/credstore/gate-edge.*, $ETC/tls/), then run"
        log "  $VENV/bin/gate-edge check --config $ETC/gate.yaml && systemctl start gate-edge"
    fi
}
