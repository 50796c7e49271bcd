"""Shared steps of the pipeline tests: hold and check out through the API, wait for the outcome, audit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from atomicseats.booking.payments import CARD_APPROVED
from atomicseats.extensions import db
from tests.services import wait_for

FINAL = ("confirmed", "failed", "cancelled")


def hold(client: Any, event_id: int, **body: Any) -> dict:
    r = client.post(f"/events/{event_id}/holds", json=body)
    assert r.status == 201, r.body
    return r.body


def checkout(client: Any, hold_id: str, card: str = CARD_APPROVED, **kw: Any) -> dict:
    r = client.post("/bookings", json={"hold_id": hold_id, "payment": {"card_number": card}}, **kw)
    assert r.status == 202, r.body
    assert r.body["status"] == "pending"
    return r.body


def wait_final(client: Any, booking_id: str, timeout: float = 30, pipeline: Any = None) -> dict:
    def final() -> dict | None:
        r = client.get(f"/bookings/{booking_id}")
        assert r.status == 200, r.body
        return r.body if r.body["status"] in FINAL else None

    try:
        return wait_for(final, timeout, f"booking {booking_id} to leave pending", interval=0.1)
    except TimeoutError:
        if pipeline is not None:
            print(pipeline.logs())
        raise


def query(app: Any, sql: str, **params: Any) -> list:
    with app.app_context():
        try:
            return db.session.execute(text(sql), params).all()
        finally:
            db.session.remove()


def audit(app: Any, event_id: int) -> None:
    """The database invariants after a run: no seat sold twice, every confirmed booking has exactly its seats."""
    rows = query(
        app,
        """
        SELECT b.id, b.status, b.quantity, b.total_cents,
               (SELECT count(*) FROM booking_seats bs WHERE bs.booking_id = b.id AND bs.active) AS active_seats,
               (SELECT coalesce(sum(price_cents), 0) FROM booking_seats bs WHERE bs.booking_id = b.id) AS paid,
               (SELECT count(*) FROM seats s WHERE s.booking_id = b.id) AS owned
        FROM bookings b WHERE b.event_id = :e
        """,
        e=event_id,
    )
    for r in rows:
        if r.status == "confirmed":
            assert r.active_seats == r.quantity == r.owned, r
            assert r.paid == r.total_cents, r
        else:
            assert r.active_seats == 0 and r.owned == 0, r
    dup = query(
        app,
        "SELECT seat_id FROM booking_seats bs JOIN bookings b ON b.id = bs.booking_id "
        "WHERE b.event_id = :e AND bs.active GROUP BY seat_id HAVING count(*) > 1",
        e=event_id,
    )
    assert dup == []
