"""PostgreSQL restarted under bookings in flight, on an instance of the test's own (bench/chaos.py's
``PrivateServices``: a cluster in a temp dir on a free port; the machine's shared PostgreSQL is never touched).

Confirmations are paying (the slow test card) when the server shuts down fast, cutting every connection; more
buyers come once it is back. Afterwards: no seat sold twice, every 202 ended confirmed or failed as its card
says, and every booking got exactly one email about its outcome.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rq.registry import FailedJobRegistry

from atomicseats import create_app
from atomicseats.booking.payments import CARD_APPROVED, CARD_DECLINED, CARD_SLOW
from atomicseats.config import TestConfig, sqlalchemy_url
from atomicseats.emails import EMAIL_CONSUMER
from atomicseats.extensions import db, redis_ext
from bench.chaos import PrivateServices
from tests.conftest import wipe_redis
from tests.factories import ApiClient, Factory
from tests.pipeline.conftest import Pipeline
from tests.pipeline.helpers import FINAL, audit, query
from tests.services import wait_for

pytestmark = pytest.mark.stack

BEFORE_RESTART = [CARD_SLOW] * 4  # paying while the server goes down, or checking out
AFTER_RESTART = [CARD_APPROVED] * 4 + [CARD_DECLINED] * 2


@pytest.fixture
def own_postgres() -> Iterator[PrivateServices]:
    root = Path(tempfile.mkdtemp(prefix="atomicseats-pg-restart-"))
    services = PrivateServices(root)
    try:
        services.init_postgres()
        yield services
    finally:
        services.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def restart_stack(own_postgres: PrivateServices, pipeline_env: dict[str, str], run_dir: Path, app, redis_client):
    """The app, dispatcher, two workers and scheduler of this test alone, on its own PostgreSQL, Redis prefix and
    Kafka topics (the run's broker and SMTP sink), with a short re-drive."""
    import psycopg2

    admin = psycopg2.connect(own_postgres.pg_admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE atomicseats")
    admin.close()
    tag = uuid.uuid4().hex[:6]
    env = {
        **pipeline_env,
        "DATABASE_URL": f"{own_postgres.pg_base_url}/atomicseats",
        "REDIS_PREFIX": f"{pipeline_env['REDIS_PREFIX']}pgr-{tag}:",
        "KAFKA_TOPIC_PREFIX": f"{pipeline_env['KAFKA_TOPIC_PREFIX']}pgr-{tag}.",
        "KAFKA_CONSUMER_GROUP": f"{pipeline_env['KAFKA_CONSUMER_GROUP']}-pgr-{tag}",
        "REDRIVE_AFTER_SECONDS": "3",
        "PAYMENT_SLOW_SECONDS": "2",
    }
    overrides = {
        **app.config,
        "SQLALCHEMY_DATABASE_URI": sqlalchemy_url(env["DATABASE_URL"]),
        "REDIS_PREFIX": env["REDIS_PREFIX"],
        "RATELIMIT_KEY_PREFIX": env["REDIS_PREFIX"] + "limits",
        "RATELIMIT_ENABLED": False,
        "KAFKA_TOPIC_PREFIX": env["KAFKA_TOPIC_PREFIX"],
        "KAFKA_CONSUMER_GROUP": env["KAFKA_CONSUMER_GROUP"],
    }
    own_app = create_app(TestConfig, overrides)
    with own_app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.session.remove()
    logs = run_dir / f"pg-restart-{tag}"
    logs.mkdir()
    stack = Pipeline(env, logs)
    stack.start()
    stack.start_worker()
    try:
        yield own_app, stack
    finally:
        for proc in (*stack.workers, stack.dispatcher, stack.scheduler):  # thrown away: no graceful shutdown
            proc.kill()
            proc.stop()
        with own_app.app_context():
            db.engine.dispose()
        wipe_redis(redis_client, env["REDIS_PREFIX"])


def _buy(client: ApiClient, event_id: int, card: str) -> str:
    """Hold one place and check out, as a browser would: a 503 is asked again, with the same Idempotency-Key."""

    def answered(method: str, path: str, body: dict, expected: int) -> dict:
        key = str(uuid.uuid4())

        def attempt() -> dict | None:
            r = client.request(method, path, body, headers={"Idempotency-Key": key})
            if r.status == 503:
                return None
            assert r.status == expected, (path, r.status, r.body)
            return r.body

        return wait_for(attempt, 20, f"{path} to be answered", interval=0.2)

    held = answered("POST", f"/events/{event_id}/holds", {"quantity": 1}, 201)
    return answered("POST", "/bookings", {"hold_id": held["id"], "payment": {"card_number": card}}, 202)["id"]


def _paying(services: PrivateServices) -> bool:
    """A worker's confirmation holds its booking's row lock, waiting for the (slow) payment provider."""
    import psycopg2

    with psycopg2.connect(services.pg_admin_dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'atomicseats' "
            "AND state = 'idle in transaction' AND query LIKE 'EXECUTE confirm_lock%'"
        )
        paying = cur.fetchone()[0] > 0
    conn.close()
    return paying


def _buyers(factory: Factory, app: Any, count: int) -> list[tuple[ApiClient, str]]:
    """Signed-in buyers (their tokens made now, while the database is up): a client and an email each."""
    users = [factory.user() for _ in range(count)]
    return [(ApiClient(app.test_client(), factory).as_(u), u.email) for u in users]


def _buy_all(event_id: int, buyers: list[tuple[ApiClient, str]], cards: list[str]) -> dict[str, tuple[str, str]]:
    """Each card by a buyer of its own, all at once: booking id -> (card, buyer's email)."""
    bought: dict[str, tuple[str, str]] = {}
    errors: list[BaseException] = []

    def buy(client: ApiClient, email: str, card: str) -> None:
        try:
            bought[_buy(client, event_id, card)] = (card, email)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=buy, args=(*b, c)) for b, c in zip(buyers, cards, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return bought


def test_bookings_in_flight_across_a_postgres_restart_end_once_each(restart_stack, own_postgres, mailbox):
    app, stack = restart_stack
    factory = Factory(app)
    event = factory.event(seating="general", capacity=20, price_cents=2500, name="Restart Night")
    first, later = _buyers(factory, app, len(BEFORE_RESTART)), _buyers(factory, app, len(AFTER_RESTART))

    bought: dict[str, tuple[str, str]] = {}
    buying = threading.Thread(target=lambda: bought.update(_buy_all(event.id, first, BEFORE_RESTART)))
    buying.start()
    wait_for(lambda: _paying(own_postgres), 30, "a confirmation to be paying, its booking locked", interval=0.02)
    own_postgres.stop_postgres()  # fast shutdown: every connection is cut, open transactions roll back
    own_postgres.start_postgres()
    buying.join(timeout=60)
    assert len(bought) == len(BEFORE_RESTART), "every buyer before the restart got a 202"
    with app.app_context():
        failed = FailedJobRegistry(app.config["REDIS_PREFIX"] + "bookings", connection=redis_ext.client)
        wait_for(lambda: failed.count > 0, 15, "the cut confirmation to fail (it is re-driven from PostgreSQL)")
    bought |= _buy_all(event.id, later, AFTER_RESTART)

    def outcomes() -> dict[str, str] | None:
        rows = query(app, "SELECT id::text AS id, status FROM bookings WHERE event_id = :e", e=event.id)
        return {r.id: r.status for r in rows} if all(r.status in FINAL for r in rows) else None

    try:
        final = wait_for(outcomes, 30, "every booking to end", interval=0.2)
    except TimeoutError:
        print(stack.logs())
        raise
    assert set(final) == set(bought)  # no booking nobody asked for
    for booking_id, (card, _) in bought.items():
        assert final[booking_id] == ("failed" if card == CARD_DECLINED else "confirmed"), booking_id
    audit(app, event.id)

    def emails_settled() -> bool:  # every outcome's email sent and recorded: none can be sent again
        [row] = query(
            app,
            "SELECT count(*) AS open FROM outbox o WHERE o.topic = 'notifications' AND NOT EXISTS "
            "(SELECT 1 FROM processed_messages p WHERE p.consumer = :c AND p.message_id = o.message_id::text)",
            c=EMAIL_CONSUMER,
        )
        return row.open == 0

    wait_for(emails_settled, 30, "every outcome's email to be sent", interval=0.2)
    for _, email in bought.values():
        assert len(mailbox.wait_for(email)) == 1, email
