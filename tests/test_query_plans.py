"""Every statement on the hot paths costs O(its own result), whatever the size of history.

The test runs the hot paths for real (hold, release, checkout, confirm, fail, cancel, booking read and list,
event read, seat map, waitlist, the scheduler's sweeps, reconcile) on a database of its own that already has
history in it (atomicseats/history.py), and records every statement psycopg2 sends. Then it runs each one
again under ``EXPLAIN (ANALYZE, BUFFERS)`` in a transaction that is rolled back, twice: with that history, and
after history has grown eightfold. A statement fails the test when its plan scans a table sequentially
although sequential scans are disabled (no index can serve it), or when the pages it touched grew with
history (more than twice as many, plus a few for deeper indexes, for eight times the rows). Pages touched are
the work actually done, so unlike the planner's cost estimates they do not move with statistics sampling.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest
from sqlalchemy import text

from atomicseats import create_app, history
from atomicseats.booking import availability, checkout, hold_endings, reconcile, waitlist
from atomicseats.config import TestConfig, sqlalchemy_url
from atomicseats.extensions import db
from atomicseats.models.base import utcnow
from atomicseats.pipeline import dead_letters, recovery
from tests.conftest import own_database, wipe_redis
from tests.factories import ApiClient, Factory, reserved_sections

HISTORY = history.Volume().scaled(0.01)  # 10 past events of 1,100 seats, 1,000 users, ... per batch
GROWTH = 8
MAX_PAGE_GROWTH = 2.0
PAGE_SLACK = 20  # a btree one level deeper, on each of a statement's index lookups
DML = re.compile(r"^\s*(SELECT|WITH|INSERT|UPDATE|DELETE|EXECUTE)\b", re.IGNORECASE)
PREPARE = re.compile(r"^\s*PREPARE\s+(\w+)\s+AS\s", re.IGNORECASE)
NOT_HOT = re.compile(r"pg_catalog|pg_advisory|information_schema|alembic_version|^\s*SELECT 1\s*$", re.IGNORECASE)


@dataclass
class Recorded:
    sql: str
    params: Any


class _Recorder:
    """Every statement psycopg2 executes while ``on``, and each PREPARE by name (to explain its EXECUTEs)."""

    def __init__(self) -> None:
        self.on = False
        self.statements: list[Recorded] = []
        self.prepared: dict[str, str] = {}
        self._cursor_classes: dict[type, type] = {}

    def cursor_class(self, base: type) -> type:
        if base not in self._cursor_classes:
            recorder = self

            class RecordingCursor(base):  # type: ignore[misc, valid-type]
                def execute(self, query, vars=None):
                    text = query.decode() if isinstance(query, bytes) else str(query)
                    if (match := PREPARE.match(text)) is not None:
                        recorder.prepared[match[1]] = text
                    elif recorder.on:
                        recorder.statements.append(Recorded(text, vars))
                    return super().execute(query, vars)

            self._cursor_classes[base] = RecordingCursor
        return self._cursor_classes[base]

    def connection_factory(self) -> type:
        recorder = self

        class RecordingConnection(psycopg2.extensions.connection):
            def cursor(self, *args, **kwargs):
                base = kwargs.get("cursor_factory") or self.cursor_factory or psycopg2.extensions.cursor
                kwargs["cursor_factory"] = recorder.cursor_class(base)
                return super().cursor(*args, **kwargs)

        return RecordingConnection


@pytest.fixture(scope="module")
def plans_db(run_id: str) -> Iterator[str]:
    with own_database(f"atomicseats_plans_{run_id}") as url:
        yield url


@pytest.fixture(scope="module")
def recorder() -> _Recorder:
    return _Recorder()


@pytest.fixture(scope="module")
def plans_app(app, plans_db: str, recorder: _Recorder, settings: dict[str, str], redis_client):
    """An app like the suite's, on the plans database, whose connections record what they execute."""
    options = dict(TestConfig.SQLALCHEMY_ENGINE_OPTIONS)
    options["connect_args"] = {**options.get("connect_args", {}), "connection_factory": recorder.connection_factory()}
    prefix = settings["REDIS_PREFIX"] + "plans:"
    overrides = {**app.config, "SQLALCHEMY_DATABASE_URI": sqlalchemy_url(plans_db)}
    overrides.update(SQLALCHEMY_ENGINE_OPTIONS=options, REDIS_PREFIX=prefix, RATELIMIT_KEY_PREFIX=prefix + "limits")
    plans = create_app(TestConfig, overrides)
    with plans.app_context():
        from flask_migrate import upgrade

        upgrade()
        history.seed(db.session, HISTORY)
        history.analyze(db.session)
        db.session.remove()
    yield plans
    with plans.app_context():
        db.engine.dispose()
    wipe_redis(redis_client, prefix)


def _run_hot_paths(app, recorder: _Recorder) -> None:
    """Each hot path once, through the API where a buyer or host would call it, or as the worker does."""
    factory = Factory(app)
    host = factory.user("host")
    buyer, other = factory.user(), factory.user()
    api = ApiClient(app.test_client(), factory).as_(buyer)
    reserved = factory.event(host, sections=reserved_sections(sections=2, rows=2, seats=10))
    general = factory.event(host, seating="general", capacity=50, price_cents=2500)
    seat_ids = factory.seat_ids(reserved.id)
    recorder.on = True

    assert api.get("/events").status == 200
    assert api.get(f"/events/{reserved.id}").status == 200
    assert api.get(f"/events/{reserved.id}/seats").status == 200

    hold = api.post(f"/events/{reserved.id}/holds", {"seat_ids": seat_ids[:2]})
    assert hold.status == 201, hold.body
    assert api.get(f"/holds/{hold.body['id']}").status == 200
    assert api.delete(f"/holds/{hold.body['id']}").status == 204
    best = api.post(f"/events/{reserved.id}/holds", {"quantity": 2})
    assert best.status == 201, best.body
    taken = ApiClient(app.test_client(), factory).as_(other)
    assert taken.post(f"/events/{reserved.id}/holds", {"seat_ids": [best.body["seats"][0]["id"]]}).status == 409

    declined = api.post("/bookings", {"hold_id": best.body["id"], "payment": {"card_number": "4000000000000002"}})
    assert declined.status == 202, declined.body
    ga = api.post(f"/events/{general.id}/holds", {"quantity": 3})
    assert ga.status == 201, ga.body
    booked = api.post("/bookings", {"hold_id": ga.body["id"], "payment": {"card_number": "4242424242424242"}})
    assert booked.status == 202, booked.body
    assert api.get(f"/bookings/{booked.body['id']}").status == 200  # the poll while pending
    with app.app_context():
        assert checkout.confirm_booking(booked.body["id"], "plan-test-1").status == "confirmed"
        assert checkout.confirm_booking(declined.body["id"], "plan-test-2").status == "failed"
        db.session.remove()
    assert api.get(f"/bookings/{booked.body['id']}").status == 200
    assert api.get("/bookings").status == 200
    assert api.get(f"/bookings?event_id={general.id}&status=confirmed").status == 200
    assert api.post(f"/events/{reserved.id}/waitlist", {"quantity": 2}).status == 201
    assert api.post(f"/bookings/{booked.body['id']}/cancel").status == 200

    with app.app_context():
        now = utcnow()
        availability.counts(db.session, reserved.id, now)
        availability.statuses(db.session, reserved.id, now)
        hold_endings.expire_due()
        recovery.redrive_stale()
        recovery.redrive_lost_emails()
        recovery.allocate_waitlists()
        waitlist.allocate(reserved.id)
        reconcile.reconcile_all()
        db.session.remove()


def _explain(cursor, recorder: _Recorder, statement: Recorded) -> dict[str, Any]:
    sql = statement.sql
    if sql.lstrip().upper().startswith("EXECUTE"):
        name = re.match(r"\s*EXECUTE\s+(\w+)", sql, re.IGNORECASE)[1]
        cursor.execute(f"DEALLOCATE ALL; {recorder.prepared[name]}")
    cursor.execute("SAVEPOINT analyzed")
    try:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, statement.params)
    except psycopg2.IntegrityError:  # an insert of a row that exists now: its plan, without running it
        cursor.execute("ROLLBACK TO SAVEPOINT analyzed")
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, statement.params)
    return cursor.fetchone()[0][0]["Plan"]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _pages(plan: dict[str, Any]) -> int:
    """Shared buffers the statement touched (hit or read), its children's included."""
    return plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)


def _plans(dsn: str, recorder: _Recorder, statements: list[Recorded]) -> list[dict[str, Any]]:
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")
            plans = []
            for statement in statements:
                plans.append(_explain(cursor, recorder, statement))
                connection.rollback()
                cursor.execute("SET enable_seqscan = off")
            return plans
    finally:
        connection.close()


def test_hot_statements_cost_their_own_result_at_any_history(plans_app, plans_db: str, recorder: _Recorder):
    try:
        _run_hot_paths(plans_app, recorder)
    finally:
        recorder.on = False
    hot = [s for s in recorder.statements if DML.match(s.sql) and not NOT_HOT.search(s.sql)]
    assert len(hot) > 40, "the hot paths ran fewer statements than they do; is the recorder still attached?"
    dsn = plans_db
    before = _plans(dsn, recorder, hot)

    with plans_app.app_context():
        for _ in range(GROWTH - 1):
            history.seed(db.session, HISTORY)
        history.analyze(db.session)
        db.session.remove()
    after = _plans(dsn, recorder, hot)
    problems = _grown(hot, before, after)
    assert not problems, json.dumps(problems, indent=1)


def _grown(statements: list[Recorded], before: list[dict], after: list[dict]) -> list[dict[str, Any]]:
    """The statements whose plan scans a table, or whose pages grew with history."""
    problems = []
    for statement, small, large in zip(statements, before, after, strict=True):
        scans = sorted({n["Relation Name"] for n in _nodes(large) if n["Node Type"] == "Seq Scan"})
        pages = [_pages(small), _pages(large)]
        if scans or pages[1] > MAX_PAGE_GROWTH * pages[0] + PAGE_SLACK:
            problems.append({"sql": " ".join(statement.sql.split())[:300], "seq_scans": scans, "pages": pages})
    return problems


DEAD_LETTERS = 2000  # per batch, over three years


def _park_letters(count: int) -> None:
    """Dead letters of both kinds over the past events, most of them replayed, as years of them look."""
    db.session.execute(
        text(
            """
            INSERT INTO dead_letters (kind, message_id, payload, error, attempts, event_id, created_at, replayed_at)
            SELECT CASE WHEN g % 10 = 0 THEN 'booking' ELSE 'notification' END, gen_random_uuid()::text,
                   jsonb_build_object('event_id', e.ids[1 + g % 10]), 'SMTPServerDisconnected', 4,
                   e.ids[1 + g % 10], now() - random() * interval '3 years',
                   CASE WHEN g % 5 <> 0 THEN now() - random() * interval '1 day' END
            FROM generate_series(1, :n) g, (SELECT array_agg(id ORDER BY id) AS ids FROM events) e
            """
        ),
        {"n": count},
    )
    db.session.commit()
    history.analyze(db.session)


def test_the_admin_dead_letter_list_costs_a_page_however_many_letters(plans_app, plans_db: str, recorder: _Recorder):
    """Each filter of the admin's list (and the API's) has an index in the list's order: a first and a next page
    read about a page of rows with one batch of letters and with eight."""
    with plans_app.app_context():
        try:
            _park_letters(DEAD_LETTERS)
            event_id = db.session.scalar(text("SELECT min(event_id) FROM dead_letters"))
            now = utcnow()
            first = len(recorder.statements)
            recorder.on = True
            try:
                for filters in (
                    dead_letters.Filters(),
                    dead_letters.Filters(replayed=False),
                    dead_letters.Filters(replayed=True),
                    dead_letters.Filters(kind=dead_letters.BOOKING),
                    dead_letters.Filters(event_id=event_id, replayed=False),
                    dead_letters.Filters(since=now - timedelta(days=730), until=now - timedelta(days=365)),
                ):
                    _, after = dead_letters.page(filters, 20)
                    dead_letters.page(filters, 20, after)
            finally:
                recorder.on = False
            listed = [s for s in recorder.statements[first:] if DML.match(s.sql)]
            assert len(listed) == 12, "one statement per page"
            before = _plans(plans_db, recorder, listed)
            _park_letters(DEAD_LETTERS * (GROWTH - 1))
            problems = _grown(listed, before, _plans(plans_db, recorder, listed))
            assert not problems, json.dumps(problems, indent=1)
        finally:
            db.session.execute(text("TRUNCATE dead_letters"))
            db.session.commit()
            db.session.remove()
