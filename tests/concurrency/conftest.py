"""Helpers for racing real clients against the real server, and auditing PostgreSQL afterwards."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text

from atomicseats.booking import gate
from atomicseats.extensions import db
from atomicseats.models.base import utcnow
from tests.factories import LiveApi


def race(calls: Sequence[Callable[[], Any]], before_start: Callable[[], None] | None = None) -> list[Any]:
    """Run every call on its own thread, released together by a barrier (so they really overlap)."""
    barrier = threading.Barrier(len(calls) + 1)

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        if before_start:
            before_start()
        barrier.wait(timeout=60)
        return [f.result(timeout=120) for f in futures]


@pytest.fixture
def clients(factory, live_server) -> Callable[[int, str], list[LiveApi]]:
    """``n`` signed-in API clients of ``n`` different users, each with its own keep-alive connection."""

    def make(n: int, role: str = "attendee") -> list[LiveApi]:
        return [LiveApi(live_server, factory.token(factory.user(role))) for _ in range(n)]

    return make


def double_holds(app) -> list[Any]:
    """Seats in more than one live hold: must always be empty."""
    with app.app_context():
        rows = db.session.execute(
            text(
                """
                SELECT hs.seat_id, count(*) FROM hold_seats hs JOIN holds h ON h.id = hs.hold_id
                WHERE h.status IN ('active', 'checkout') AND h.expires_at > now()
                GROUP BY hs.seat_id HAVING count(*) > 1
                """
            )
        ).all()
        db.session.remove()
        return rows


def stray_claims(app) -> list[Any]:
    """Seats whose live claim is not recorded in their hold (or whose hold is not live): must be empty."""
    with app.app_context():
        rows = db.session.execute(
            text(
                """
                SELECT s.id FROM seats s LEFT JOIN holds h ON h.id = s.hold_id
                LEFT JOIN hold_seats hs ON hs.hold_id = s.hold_id AND hs.seat_id = s.id
                WHERE s.hold_expires_at > now()
                  AND (h.status NOT IN ('active', 'checkout') OR hs.seat_id IS NULL)
                """
            )
        ).all()
        db.session.remove()
        return rows


def three_counts(app, api_client: LiveApi, event_id: int) -> tuple[dict, dict, dict]:
    """Availability as the API, the Redis gate and a direct PostgreSQL query see it."""
    api_view = api_client.get(f"/events/{event_id}").body["availability"]
    with app.app_context():
        now = utcnow()
        row = db.session.execute(
            text(
                """
                SELECT count(*) AS total,
                       count(*) FILTER (WHERE booking_id IS NOT NULL) AS booked,
                       count(*) FILTER (WHERE booking_id IS NULL AND hold_expires_at > :now) AS held
                FROM seats WHERE event_id = :e
                """
            ),
            {"e": event_id, "now": now},
        ).one()
        db.session.remove()
        c = gate.counts(event_id, int(now.timestamp() * 1000))
    pg = {"total": row.total, "held": row.held, "booked": row.booked, "available": row.total - row.held - row.booked}
    redis_view = {"total": c.capacity, "held": c.held, "booked": c.booked, "available": c.capacity - c.held - c.booked}
    return api_view, redis_view, pg
