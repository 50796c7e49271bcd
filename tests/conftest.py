"""Test harness: one PostgreSQL database, Redis prefix, Kafka broker and topic prefix per run.

Two runs on one machine never see each other's data: the database is created and migrated at the
start and dropped at the end, every Redis key and channel carries the run's prefix, and the run has
its own Kafka broker (plus a topic prefix, so a shared broker would work too).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg2
import psycopg2.errors
import pytest
import redis
import sqlalchemy.exc
from flask import Flask
from sqlalchemy import text

from atomicseats import create_app
from atomicseats.config import TestConfig
from atomicseats.extensions import db, kafka_ext
from tests.factories import ApiClient, Factory
from tests.services import ROOT, KafkaBroker, Process, start_flask_command, start_realtime, start_web, wait_for

PG_ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_BASE_URL = os.environ.get("TEST_PG_BASE_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TABLES = (
    "booking_seats, hold_seats, bookings, seats, sections, waitlist_entries, holds, events, "
    "idempotency_keys, api_tokens, outbox, processed_messages, users"
)


@pytest.fixture(scope="session")
def run_id() -> str:
    return f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def run_dir(run_id: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"atomicseats-test-{run_id}-"))
    yield path
    if os.environ.get("KEEP_TEST_LOGS") != "1":
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def own_database(name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for as long as the block runs (its URL), dropped afterwards."""
    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_BASE_URL}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def database_url(run_id: str) -> Iterator[str]:
    with own_database(f"atomicseats_test_{run_id}") as url:
        yield url


@pytest.fixture(scope="session")
def kafka(run_dir: Path) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(run_dir / "kafka")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def mail_dir(run_dir: Path) -> Path:
    path = run_dir / "mail"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def smtp_sink(run_dir: Path, mail_dir: Path) -> Iterator[int]:
    from tests.services import free_port, port_open

    port = free_port()
    proc = Process(
        "smtp",
        [
            str(Path(os.sys.executable)),
            "-m",
            "atomicseats.smtp_sink",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(mail_dir),
        ],
        dict(os.environ),
        run_dir,
    ).start()
    wait_for(lambda: port_open(port), 15, "the SMTP sink")
    yield port
    proc.stop()


@pytest.fixture(scope="session")
def settings(run_id: str, database_url: str, kafka: KafkaBroker, smtp_sink: int) -> dict[str, str]:
    """This run's environment, for the in-process app and for every server process the tests start."""
    return {
        "ATOMICSEATS_ENV": "testing",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": f"as-test-{run_id}:",
        "SOCKETIO_MESSAGE_QUEUE": REDIS_URL,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "KAFKA_TOPIC_PREFIX": f"test-{run_id}.",
        "KAFKA_CONSUMER_GROUP": f"test-{run_id}-dispatcher",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_sink),
        "SECRET_KEY": f"test-secret-{run_id}",
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "HOLD_RATE_LIMIT": "1000 per minute",
    }


@pytest.fixture(scope="session")
def app(settings: dict[str, str]):
    from atomicseats.config import sqlalchemy_url

    overrides = {
        "SQLALCHEMY_DATABASE_URI": sqlalchemy_url(settings["DATABASE_URL"]),
        "REDIS_URL": settings["REDIS_URL"],
        "REDIS_PREFIX": settings["REDIS_PREFIX"],
        "SOCKETIO_MESSAGE_QUEUE": settings["SOCKETIO_MESSAGE_QUEUE"],
        "KAFKA_BOOTSTRAP_SERVERS": settings["KAFKA_BOOTSTRAP_SERVERS"],
        "KAFKA_TOPIC_PREFIX": settings["KAFKA_TOPIC_PREFIX"],
        "KAFKA_CONSUMER_GROUP": settings["KAFKA_CONSUMER_GROUP"],
        "MAIL_PORT": int(settings["MAIL_PORT"]),
        "SECRET_KEY": settings["SECRET_KEY"],
        "LOGIN_RATE_LIMIT": settings["LOGIN_RATE_LIMIT"],
        "HOLD_RATE_LIMIT": settings["HOLD_RATE_LIMIT"],
        "RATELIMIT_STORAGE_URI": settings["REDIS_URL"],
        "RATELIMIT_KEY_PREFIX": settings["REDIS_PREFIX"] + "limits",
    }
    app = create_app(TestConfig, overrides)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    yield app
    with app.app_context():
        kafka_ext.close()


def app_with(app: Flask, config: type = TestConfig, **overrides: object) -> Flask:
    """Another app on this run's database and Redis, with another config class or settings."""
    keys = ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "REDIS_URL", "REDIS_PREFIX", "RATELIMIT_STORAGE_URI")
    return create_app(config, {key: app.config[key] for key in keys} | overrides)


@pytest.fixture(scope="session")
def server_env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "FLASK_"))}
    env.update(settings)
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def seat_change(message: dict | None) -> dict | None:
    """A ``seat_status`` as published on the seat channel (``realtime.seats_channel``), or None for anything else."""
    if not message or message["type"] != "message":
        return None
    return json.loads(message["data"])


def wipe_redis(client: redis.Redis, prefix: str) -> int:
    """Delete every key of this run (its "Redis flush": other runs' keys are left alone).

    RQ names its keys ``rq:<kind>:<queue>``, so this run's queues and job registries are matched by the
    prefix inside the name: a job left queued or scheduled for retry by one test must not run in the next.
    """
    deleted = 0
    for pattern in (prefix + "*", f"rq:*{prefix}*"):
        for key in client.scan_iter(match=pattern, count=1000):
            deleted += client.delete(key)
    return deleted


@pytest.fixture(autouse=True)
def clean_state(request, app, redis_client, settings) -> Iterator[None]:
    """Each test starts from empty tables and an empty Redis namespace.

    Ids are never reused within a run (no RESTART IDENTITY), as in production: a message one test left in
    Kafka and a dispatcher consumed during the next test then names rows that no longer exist, and the
    consumer's "nothing to do" path takes it, instead of emailing the next test's user 1 about its event 1.
    """
    yield
    with app.app_context():
        truncate_tables()
    wipe_redis(redis_client, settings["REDIS_PREFIX"])


def truncate_tables(attempts: int = 5) -> None:
    """TRUNCATE every table, again if PostgreSQL picks it as a deadlock victim.

    TRUNCATE takes its exclusive locks table by table while the session's scheduler and workers keep running
    their queries, which lock tables in another order; PostgreSQL then aborts one side, and a run once failed
    in teardown on exactly that.
    """
    for attempt in range(1, attempts + 1):
        db.session.remove()
        try:
            db.session.execute(text(f"TRUNCATE {TABLES} CASCADE"))
            db.session.commit()
            return
        except sqlalchemy.exc.OperationalError as exc:
            db.session.rollback()
            if not isinstance(exc.orig, psycopg2.errors.DeadlockDetected) or attempt == attempts:
                raise
        finally:
            db.session.remove()


@pytest.fixture
def engine_settings(app, monkeypatch) -> Callable[..., None]:
    """Change the engine's settings for one test: ``engine_settings(checkout_grace_seconds=0)``."""
    state = app.extensions["atomicseats.booking"]

    def change(**changes: object) -> None:
        monkeypatch.setattr(state, "settings", replace(state.settings, **changes))

    return change


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def factory(app) -> Factory:
    return Factory(app)


@pytest.fixture
def api(app, factory) -> ApiClient:
    return ApiClient(app.test_client(), factory)


@pytest.fixture(scope="session")
def realtime_server(server_env: dict[str, str], run_dir: Path, app) -> Iterator[str]:
    """The realtime process (Socket.IO, as in the Procfile) on this run's database and prefixes: its base URL."""
    proc, url = start_realtime(server_env, run_dir)
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def live_server(server_env: dict[str, str], run_dir: Path, app, realtime_server: str) -> Iterator[str]:
    """The real web server (gunicorn, as in the Procfile) on this run's database and prefixes; its pages connect
    their seat maps to ``realtime_server``."""
    proc, url = start_web({**server_env, "REALTIME_URL": realtime_server}, run_dir)
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def scheduler(server_env: dict[str, str], run_dir: Path, app) -> Iterator[Process]:
    proc = start_flask_command("scheduler", ["pipeline", "scheduler"], server_env, run_dir)
    yield proc
    proc.stop()


# The stack of background processes, one per run for every test that needs it (pipeline and browser tests
# alike; the classes are in tests/pipeline/conftest.py).


@pytest.fixture(scope="session")
def pipeline_env(server_env: dict[str, str]) -> dict[str, str]:
    from tests.pipeline.conftest import REDRIVE_AFTER_SECONDS, SLOW_CARD_SECONDS

    return {
        **server_env,
        "REDRIVE_AFTER_SECONDS": str(REDRIVE_AFTER_SECONDS),
        "PAYMENT_SLOW_SECONDS": str(SLOW_CARD_SECONDS),
        "EMAIL_RETRY_INTERVALS": "1,1",
        "RATELIMIT_ENABLED": "false",
    }


@pytest.fixture(scope="session")
def pipeline(pipeline_env: dict[str, str], run_dir: Path, app):
    from tests.pipeline.conftest import Pipeline

    stack = Pipeline(pipeline_env, run_dir)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def no_dispatcher() -> Iterator[None]:
    """For a test that publishes the outbox itself: the session's dispatcher, if an earlier test started the
    pipeline, stops for the test (its relay would publish the test's rows first) and starts again after it."""
    from tests.pipeline.conftest import Pipeline

    with ExitStack() as stopped:
        for running in Pipeline.running:
            stopped.enter_context(running.dispatcher_stopped())
        yield


@pytest.fixture(scope="session")
def mailbox(mail_dir: Path):
    from tests.pipeline.conftest import Mailbox

    return Mailbox(mail_dir)
