"""Configuration classes, every value read from the environment.

One class per mode; ``create_app`` picks one from ``ATOMICSEATS_ENV`` unless a test passes its own.
"""

from __future__ import annotations

import os

DEFAULT_SECRET = "dev-only-secret-change-me"


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 to SQLAlchemy 2.1; this app runs on psycopg2."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


class Config:
    """Development defaults: every service on 127.0.0.1, as the setup script starts them."""

    ENV_NAME = "development"
    SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET)
    SQLALCHEMY_DATABASE_URI = sqlalchemy_url(
        os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/atomicseats")
    )
    # Per process, and the web runs one process per CPU: 2 x (10 + 10) leaves room under PostgreSQL's default
    # 100 connections for the pipeline and a second deployment. A worker's threads share one GIL, so more
    # connections than this would only queue inside PostgreSQL instead of in the pool.
    SQLALCHEMY_ENGINE_OPTIONS = {
        "pool_size": _int("DB_POOL_SIZE", 10),
        "max_overflow": _int("DB_MAX_OVERFLOW", 10),
        "pool_pre_ping": _bool("DB_POOL_PRE_PING", False),  # see atomicseats/dbapi.py
        "connect_args": {"connect_timeout": 5},
    }
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    # Every Redis key, pub/sub channel and RQ queue this app uses starts with this prefix,
    # so that two deployments (or two test runs) can share one Redis server.
    REDIS_PREFIX = os.environ.get("REDIS_PREFIX", "as:")
    KAFKA_BOOTSTRAP_SERVERS = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    KAFKA_TOPIC_PREFIX = os.environ.get("KAFKA_TOPIC_PREFIX", "")
    KAFKA_CONSUMER_GROUP = os.environ.get("KAFKA_CONSUMER_GROUP", "atomicseats-dispatcher")
    KAFKA_SESSION_TIMEOUT_MS = _int("KAFKA_SESSION_TIMEOUT_MS", 6000)
    KAFKA_HEARTBEAT_INTERVAL_MS = _int("KAFKA_HEARTBEAT_INTERVAL_MS", 2000)
    KAFKA_REQUEST_TIMEOUT_MS = _int("KAFKA_REQUEST_TIMEOUT_MS", 5000)
    KAFKA_PARTITIONS = _int("KAFKA_PARTITIONS", 3)

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "127.0.0.1")
    MAIL_PORT = _int("MAIL_PORT", 8025)
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    # Flask-Mail suppresses sending when TESTING unless told: tests read real messages from the SMTP sink.
    MAIL_SUPPRESS_SEND = _bool("MAIL_SUPPRESS_SEND", False)
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "AtomicSeats <tickets@atomicseats.example.com>")
    # Where people reach the site: links in emails (a waitlist offer's page) start with it.
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")

    # Socket.IO: the Redis message queue joins every process that emits (web, workers, scheduler) to the
    # realtime processes that serve the browsers (docs/decisions/0001-realtime-process.md).
    SOCKETIO_MESSAGE_QUEUE = os.environ.get("SOCKETIO_MESSAGE_QUEUE", REDIS_URL)
    # Where browsers reach the realtime process; empty: this site's own origin (a proxy sends /socket.io/ there).
    REALTIME_URL = os.environ.get("REALTIME_URL", "")
    # Origins whose pages may connect (comma-separated); "*": any, as identity comes from a signed token, never
    # from a cookie the browser would send to a foreign page's socket.
    REALTIME_ALLOWED_ORIGINS = os.environ.get("REALTIME_ALLOWED_ORIGINS", "*")
    # Each event's seat maps get at most one seat_status per tick (100-250 ms), carrying every seat changed in it.
    REALTIME_TICK_MS = _int("REALTIME_TICK_MS", 200)
    # Socket.IO connections one realtime process accepts; more are refused (the client retries with backoff).
    REALTIME_MAX_CONNECTIONS = _int("REALTIME_MAX_CONNECTIONS", 6000)
    # Messages waiting for one client before it counts as not reading and is disconnected (a tick is one).
    REALTIME_CLIENT_QUEUE_LIMIT = _int("REALTIME_CLIENT_QUEUE_LIMIT", 50)
    # A page's realtime token names its user this long; after it the socket still works, without the user's room.
    REALTIME_TOKEN_MAX_AGE = _int("REALTIME_TOKEN_MAX_AGE", 3600)
    # PostgreSQL connections per realtime process, for joining maps' snapshots (one read per event at a time).
    REALTIME_DB_POOL_SIZE = _int("REALTIME_DB_POOL_SIZE", 4)

    API_TOKEN_TTL_SECONDS = _int("API_TOKEN_TTL_SECONDS", 24 * 3600)
    # A web process keeps a token it resolved this long, while no account's access changed (0: always ask
    # PostgreSQL). See accounts/tokens.py: longer than a buyer's pause between requests during a sale.
    API_TOKEN_CACHE_SECONDS = _int("API_TOKEN_CACHE_SECONDS", 60)
    # A web process answers an event's seat list from a copy at most this old (seconds; 0: read it every time).
    # A stale copy costs a buyer one refused hold; the live map corrects itself (api/seat_lists.py).
    SEAT_MAP_CACHE_SECONDS = float(os.environ.get("SEAT_MAP_CACHE_SECONDS", "1"))
    # Expired tokens are deleted this long after they expired.
    API_TOKEN_RETENTION_SECONDS = _int("API_TOKEN_RETENTION_SECONDS", 7 * 24 * 3600)
    # A hold submitted for checkout in time stays valid this long while its booking is pending.
    CHECKOUT_GRACE_SECONDS = _int("CHECKOUT_GRACE_SECONDS", 120)
    # The longest a service waits for a lock another transaction holds (an event's gate lock, a row); past it the
    # caller gets 503 ``busy`` with Retry-After instead of a request that hangs (booking/locks.py).
    LOCK_TIMEOUT_SECONDS = float(os.environ.get("LOCK_TIMEOUT_SECONDS", "5"))
    # Checkout pipeline (docs/pipeline.md). A booking pending this long after its message left the outbox is
    # re-driven from PostgreSQL straight to RQ, so nothing depends on Kafka (or a worker) keeping it.
    REDRIVE_AFTER_SECONDS = _int("REDRIVE_AFTER_SECONDS", 30)
    # A confirmation that raised on this many deliveries (the first and its re-drives) is parked as a dead
    # letter and no longer re-driven. With the defaults the last attempt runs within the checkout grace.
    CONFIRM_MAX_ATTEMPTS = _int("CONFIRM_MAX_ATTEMPTS", 4)
    # Outbox rows sent longer ago than this are deleted: past the email re-drive window (a day), nothing reads
    # them again, and an outbox that only grows makes every scan of it slower. Consumers' processed message ids
    # are kept as long (booking/retention.py), so Kafka's topic retention should be no longer than this.
    OUTBOX_RETENTION_SECONDS = _int("OUTBOX_RETENTION_SECONDS", 7 * 24 * 3600)
    # An Idempotency-Key is answered from its stored first answer for this long; a repeat after it is a new
    # request (the holds and checkouts it could repeat have long ended by then).
    IDEMPOTENCY_KEY_RETENTION_SECONDS = _int("IDEMPOTENCY_KEY_RETENTION_SECONDS", 24 * 3600)
    # The scheduler rebuilds every on-sale event's Redis gate from PostgreSQL this often; each rebuild holds its
    # event's writers for its duration (about 80 ms for 20,000 seats, booking/reconcile.py).
    RECONCILE_INTERVAL_SECONDS = _int("RECONCILE_INTERVAL_SECONDS", 300)
    PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER", "simulated")
    PAYMENT_TIMEOUT_SECONDS = float(os.environ.get("PAYMENT_TIMEOUT_SECONDS", "10"))
    # The simulated provider's "slow" test card answers after this long (to exercise a worker dying mid-payment).
    PAYMENT_SLOW_SECONDS = float(os.environ.get("PAYMENT_SLOW_SECONDS", "3"))
    # A waitlist offer's hold lasts this long; 0 means the event's own hold time.
    WAITLIST_OFFER_SECONDS = _int("WAITLIST_OFFER_SECONDS", 0)
    # Seconds between email retries; after the last one the message goes to the dead-letter list.
    EMAIL_RETRY_INTERVALS = os.environ.get("EMAIL_RETRY_INTERVALS", "5,30,120")
    RQ_JOB_TIMEOUT = _int("RQ_JOB_TIMEOUT", 60)
    # Requests of one web process that may wait in GET /bookings/{id}?wait=N at once (each holds a thread);
    # past this, such a poll is answered at once.
    BOOKING_WAIT_MAX_WAITERS = _int("BOOKING_WAIT_MAX_WAITERS", 50)
    # Waiting room (docs/decisions/0050-waiting-room.md). Arrivals this long before the sale opens share a random
    # draw for their places; an admitted person has this long to make a hold; one IP may put at most this many
    # accounts in one event's queue (0: no cap). Admission runs every WAITING_ROOM_TICK_SECONDS and saves up at
    # most WAITING_ROOM_BURST_SECONDS of the room's rate; waiting pages hear the head of the line at most every
    # WAITING_ROOM_PUSH_SECONDS.
    WAITING_ROOM_PREQUEUE_SECONDS = _int("WAITING_ROOM_PREQUEUE_SECONDS", 15 * 60)
    WAITING_ROOM_ADMISSION_SECONDS = _int("WAITING_ROOM_ADMISSION_SECONDS", 120)
    WAITING_ROOM_MAX_PER_IP = _int("WAITING_ROOM_MAX_PER_IP", 20)
    WAITING_ROOM_TICK_SECONDS = float(os.environ.get("WAITING_ROOM_TICK_SECONDS", "1"))
    WAITING_ROOM_BURST_SECONDS = float(os.environ.get("WAITING_ROOM_BURST_SECONDS", "5"))
    WAITING_ROOM_PUSH_SECONDS = float(os.environ.get("WAITING_ROOM_PUSH_SECONDS", "2"))
    # Each web process remembers whether an event has a waiting room this long (every hold asks).
    WAITING_ROOM_CACHE_SECONDS = float(os.environ.get("WAITING_ROOM_CACHE_SECONDS", "2"))

    # When set, GET /metrics wants "Authorization: Bearer <it>" (Prometheus's authorization setting): request
    # counts, queue depths and lags are for the operators, not for anyone who finds the URL.
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    # A moving window means "10 per minute" holds for any minute, not 20 across a window boundary.
    RATELIMIT_STRATEGY = "moving-window"
    # X-RateLimit-* headers on every response cost two Redis calls each; a 429 still carries Retry-After.
    RATELIMIT_HEADERS_ENABLED = False
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    HOLD_RATE_LIMIT = os.environ.get("HOLD_RATE_LIMIT", "60 per minute")

    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    JSON_SORT_KEYS = False
    # Bodies declared larger than this many bytes get 413 before anything reads them (atomicseats/security.py);
    # the largest valid event, 20,000 seats, is a small fraction of the default 1 MiB.
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 1024 * 1024)
    # Strict-Transport-Security, on HTTPS responses only: on in production, where the site is served over TLS.
    HSTS_ENABLED = False


class DevelopmentConfig(Config):
    DEBUG = False


class ProductionConfig(Config):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    HSTS_ENABLED = True
    REMEMBER_COOKIE_SECURE = True


class TestConfig(Config):
    """Tests pass their own database, prefixes and ports through the environment or overrides."""

    ENV_NAME = "testing"
    TESTING = True


CONFIGS = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestConfig,
}


def config_from_env() -> type[Config]:
    return CONFIGS[os.environ.get("ATOMICSEATS_ENV", "development")]
