"""Lock waits are bounded: a caller stuck behind a held gate lock gets 503 ``busy`` within the lock timeout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pytest
from sqlalchemy import text

from atomicseats.booking import holds
from atomicseats.booking.claims import HoldRequest
from atomicseats.booking.locks import BUSY_RETRY_AFTER, gate_lock_key
from atomicseats.exceptions import Busy
from atomicseats.extensions import db
from tests.conftest import app_with
from tests.factories import ApiClient

LOCK_TIMEOUT = 0.3


@pytest.fixture(scope="module")
def quick(app):
    """An app on this run's database whose connections wait at most LOCK_TIMEOUT for a lock."""
    return app_with(app, LOCK_TIMEOUT_SECONDS=LOCK_TIMEOUT)


@contextmanager
def rebuild_holding_the_gate(database_url: str, event_id: int) -> Iterator[None]:
    """Another connection holds the event's gate lock exclusively, as a rebuild of its gate does."""
    other = psycopg2.connect(database_url)
    try:
        with other.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_xact_lock({gate_lock_key('%(e)s')})", {"e": event_id})
        yield
    finally:
        other.rollback()
        other.close()


def _holds_of(quick, event_id: int) -> int:
    with quick.app_context():
        try:
            return db.session.scalar(text("SELECT count(*) FROM holds WHERE event_id = :e"), {"e": event_id})
        finally:
            db.session.remove()


def test_the_engine_gives_up_a_held_gate_lock_after_the_timeout_and_changes_nothing(quick, factory, database_url):
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    user = factory.user()
    with quick.app_context():  # checked first: without it the hold below would wait for ever
        assert db.session.scalar(text("SHOW lock_timeout")) == f"{round(LOCK_TIMEOUT * 1000)}ms"
        db.session.remove()
    with rebuild_holding_the_gate(database_url, event.id), quick.app_context():
        started = time.monotonic()
        with pytest.raises(Busy) as refused:
            holds.create_hold(event.id, user, HoldRequest(seat_ids=[seat]))
        waited = time.monotonic() - started
        db.session.remove()
    assert refused.value.code == "busy" and refused.value.retry_after == BUSY_RETRY_AFTER
    assert LOCK_TIMEOUT <= waited < LOCK_TIMEOUT + 1.5
    assert _holds_of(quick, event.id) == 0
    with quick.app_context():  # the lock was the only obstacle
        assert holds.create_hold(event.id, user, HoldRequest(seat_ids=[seat])).obj.seats[0]["id"] == seat
        db.session.remove()


def test_the_api_answers_a_lock_timeout_with_503_busy_and_retry_after(quick, factory, database_url):
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    api = ApiClient(quick.test_client(), factory, factory.token(factory.user()))
    with rebuild_holding_the_gate(database_url, event.id):
        refused = api.post(f"/events/{event.id}/holds", {"seat_ids": [seat]})
    assert refused.status == 503, refused.body
    assert refused.body["error"]["code"] == "busy" and refused.headers["Retry-After"] == str(BUSY_RETRY_AFTER)
    assert _holds_of(quick, event.id) == 0
