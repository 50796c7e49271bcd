#!/usr/bin/env bash
# Run AtomicSeats locally: install and start the services (scripts/setup.sh), prepare the database, demo data
# and Kafka topics, then run every process of the Procfile under honcho. Ctrl-C stops them all.
# Any variable already set in the environment wins over the defaults below.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf '[dev] %s\n' "$*"; }
die() {
    printf '[dev] ERROR: %s\n' "$*" >&2
    exit 1
}

bash scripts/setup.sh

: "${DATABASE_URL:=postgresql://postgres@127.0.0.1:5432/atomicseats}"
: "${REDIS_URL:=redis://127.0.0.1:6379/0}"
: "${KAFKA_BOOTSTRAP_SERVERS:=127.0.0.1:9092}"
: "${MAIL_PORT:=8025}"
: "${MAIL_SINK_DIR:=.state/mail}"
: "${FLASK_APP:=wsgi}"
# The realtime process (Socket.IO) listens on a port of its own; pages connect their seat maps there.
: "${REALTIME_URL:=http://${REALTIME_HOST:-127.0.0.1}:${REALTIME_PORT:-5001}}"
export DATABASE_URL REDIS_URL KAFKA_BOOTSTRAP_SERVERS MAIL_PORT MAIL_SINK_DIR FLASK_APP REALTIME_URL

# A secret generated once per checkout, so sessions survive restarts without a key in the repository.
if [[ -z "${SECRET_KEY:-}" ]]; then
    if [[ ! -s .state/secret_key ]]; then
        log "generating .state/secret_key"
        (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))' >.state/secret_key.tmp)
        mv -f .state/secret_key.tmp .state/secret_key
    fi
    SECRET_KEY="$(cat .state/secret_key)"
fi
export SECRET_KEY

# The database named in DATABASE_URL, created through the server's "postgres" database if it is missing.
db_parts="$(.venv/bin/python - "$DATABASE_URL" <<'PY'
import sys
from sqlalchemy.engine import make_url

url = make_url(sys.argv[1])
admin = url.set(drivername="postgresql", database="postgres")
print(url.database)
print(admin.render_as_string(hide_password=False))
PY
)" || die "cannot parse DATABASE_URL"
{ read -r db_name && read -r admin_url; } <<<"$db_parts"
[[ -n "$db_name" ]] || die "DATABASE_URL names no database"
log "ensuring database $db_name exists"
PGCONNECT_TIMEOUT=10 psql "$admin_url" -v ON_ERROR_STOP=1 -v db="$db_name" -Atq <<'SQL' ||
SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
SQL
    die "could not create database $db_name (DATABASE_URL=$DATABASE_URL)"

log "flask db upgrade"
.venv/bin/flask --app wsgi db upgrade
log "flask seed-demo"
.venv/bin/flask --app wsgi seed-demo
log "flask pipeline create-topics"
.venv/bin/flask --app wsgi pipeline create-topics

cat <<EOT
[dev] ------------------------------------------------------------------
[dev] AtomicSeats: http://${WEB_HOST:-127.0.0.1}:${PORT:-5000}
[dev] Realtime (Socket.IO, /metrics): $REALTIME_URL
[dev] Demo logins (password: demo-password-1):
[dev]   host@example.com      (host)
[dev]   attendee@example.com  (attendee)
[dev]   admin@example.com     (admin)
[dev] Mail sink: 127.0.0.1:$MAIL_PORT, messages in $MAIL_SINK_DIR/*.eml
[dev] ------------------------------------------------------------------
EOT
# Confirmations run in RQ_BOOKING_WORKERS processes side by side (docs/decisions/0015-confirmations-first.md).
exec .venv/bin/honcho start -f Procfile -c "worker=${RQ_BOOKING_WORKERS:-2}"
