"""A gate rebuild while sales go on: it must neither drop a claim nor bring back what a writer undid.

A rebuild copies a PostgreSQL snapshot into Redis. Two interleavings would make the copy wrong: a claim that
is in Redis but not yet committed when the snapshot is taken (the rebuild drops it), and a release, checkout
or cancellation that commits between the snapshot and the Redis write (the rebuild brings back the old
state). Both are forced here with real locks against the real server, then the gate is compared with
PostgreSQL seat by seat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg2
from sqlalchemy import text

from atomicseats.booking import gate
from atomicseats.booking.locks import lock_gate_for_rebuild
from atomicseats.booking.payments import CARD_APPROVED
from atomicseats.booking.reconcile import reconcile_event
from atomicseats.extensions import db
from atomicseats.models.base import utcnow
from tests.factories import LiveApi
from tests.services import wait_for


def _advisory_waiters(database_url: str) -> int:
    """Server processes of this test database waiting for an advisory lock."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
        )
        waiting = cursor.fetchone()[0]
    conn.close()
    return waiting


def _blocked(call: Future, database_url: str) -> bool:
    """Wait until ``call`` has finished or waits for an advisory lock; True if it waits."""
    wait_for(lambda: call.done() or _advisory_waiters(database_url) > 0, 15, "the call to finish or to wait")
    return not call.done()


def _gate_and_postgres(app, event_id: int) -> tuple[dict[str, str], dict[str, str]]:
    """Held seats with their holders as Redis sees them, and as PostgreSQL does."""
    with app.app_context():
        now = utcnow()
        in_postgres = {
            str(seat_id): str(hold_id)
            for seat_id, hold_id in db.session.execute(
                text("SELECT id, hold_id FROM seats WHERE event_id = :e AND hold_expires_at > :now"),
                {"e": event_id, "now": now},
            )
        }
        db.session.remove()
        in_redis = gate.snapshot(event_id, int(now.timestamp() * 1000))
    assert set(in_redis.owners) == set(in_redis.held)
    return in_redis.owners, in_postgres


def _rebuild(app, event_id: int) -> Callable[[], Any]:
    def run() -> Any:
        with app.app_context():
            try:
                return reconcile_event(event_id)
            finally:
                db.session.remove()

    return run


@contextmanager
def _rebuild_in_progress(app, event_id: int) -> Iterator[None]:
    """Hold the event's gate lock as a rebuild does between its snapshot and its Redis write."""
    with app.app_context():
        try:
            lock_gate_for_rebuild(db.session, event_id)
            yield
        finally:
            db.session.rollback()
            db.session.remove()


def test_a_rebuild_waits_for_a_claim_that_is_in_redis_but_not_yet_committed(app, factory, live_server, database_url):
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    client = LiveApi(live_server, factory.token(factory.user()))
    blocker = psycopg2.connect(database_url)  # makes the hold wait in PostgreSQL after its Redis claim
    with blocker.cursor() as cursor:
        cursor.execute("SELECT id FROM seats WHERE id = %s FOR UPDATE", (seat,))
    with ThreadPoolExecutor(2) as pool:
        try:
            hold = pool.submit(client.post, f"/events/{event.id}/holds", json={"seat_ids": [seat]})
            with app.app_context():
                wait_for(
                    lambda: str(seat) in gate.snapshot(event.id, int(utcnow().timestamp() * 1000)).held,
                    15,
                    "the claim to reach Redis",
                )
            rebuild = pool.submit(_rebuild(app, event.id))
            _blocked(rebuild, database_url)  # a rebuild that does not wait would drop the claim here
        finally:
            blocker.rollback()
            blocker.close()
        assert hold.result(30).status == 201
        assert rebuild.result(30) is not None
    owners, in_postgres = _gate_and_postgres(app, event.id)
    assert in_postgres == {str(seat): hold.result().body["id"]}
    assert owners == in_postgres


def test_a_release_does_not_commit_between_a_rebuilds_snapshot_and_its_redis_write(
    app, factory, live_server, database_url
):
    event = factory.event()
    seats = factory.seat_ids(event.id)[:2]
    client = LiveApi(live_server, factory.token(factory.user()))
    hold = client.post(f"/events/{event.id}/holds", json={"seat_ids": seats}).body
    with ThreadPoolExecutor(1) as pool:
        with _rebuild_in_progress(app, event.id):
            release = pool.submit(client.delete, f"/holds/{hold['id']}")
            assert _blocked(release, database_url), "the release committed during a rebuild"
            with app.app_context():
                status = db.session.scalar(text("SELECT status FROM holds WHERE id = :h"), {"h": hold["id"]})
                db.session.remove()
            assert status == "active"
        assert release.result(30).status == 204
    assert _gate_and_postgres(app, event.id) == ({}, {})


def test_a_checkout_does_not_commit_between_a_rebuilds_snapshot_and_its_redis_write(
    app, factory, live_server, database_url
):
    event = factory.event(hold_seconds=60)
    seats = factory.seat_ids(event.id)[:2]
    client = LiveApi(live_server, factory.token(factory.user()))
    hold = client.post(f"/events/{event.id}/holds", json={"seat_ids": seats}).body
    with ThreadPoolExecutor(1) as pool:
        with _rebuild_in_progress(app, event.id):
            checkout = pool.submit(
                client.post, "/bookings", json={"hold_id": hold["id"], "payment": {"card_number": CARD_APPROVED}}
            )
            assert _blocked(checkout, database_url), "the checkout committed during a rebuild"
        assert checkout.result(30).status == 202
    with app.app_context():
        expiry = db.session.execute(
            text("SELECT DISTINCT hold_expires_at FROM seats WHERE hold_id = :h"), {"h": hold["id"]}
        ).scalar_one()
        db.session.remove()
        held = gate.snapshot(event.id, int(utcnow().timestamp() * 1000)).held
    assert {held[str(s)] for s in seats} == {int(expiry.timestamp() * 1000)}  # the checkout's grace, in both
