"""Reading bookings: one booking, a buyer's list, waiting for a pending one's outcome, and the stale ones.

Buyers poll these while a sale runs, so the hot reads are prepared statements and no ORM.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from atomicseats import dbapi
from atomicseats.booking import outbox, outcomes
from atomicseats.exceptions import NotFound
from atomicseats.extensions import db
from atomicseats.models import User
from atomicseats.models.base import utcnow


def request_id_of(booking_id: uuid.UUID | str) -> str | None:
    """The id of the API request that started this booking, so the pipeline's logs and email carry it on."""
    return db.session.scalar(text("SELECT request_id FROM bookings WHERE id = :b"), {"b": uuid.UUID(str(booking_id))})


_BOOKING = dbapi.Statement(
    "booking_view",
    """
    SELECT b.id, b.reference, b.status, b.event_id, b.user_id, b.total_cents, b.failure_reason, b.quantity,
           b.created_at, b.confirmed_at, b.cancelled_at, b.card_last4, e.host_id, e.name AS event_name
    FROM bookings b JOIN events e ON e.id = b.event_id WHERE b.id = %(b)s::uuid
    """,
)


def booking_view(booking_id: uuid.UUID, viewer: User | None = None) -> dict[str, Any]:
    """SPEC's booking shape; with a viewer, only the owner, the event's host and admins see it (others 404).

    Buyers poll this while their booking is pending, so it runs two prepared statements and no ORM.
    """
    row = dbapi.first(db.session, _BOOKING, {"b": str(booking_id)})
    if row is None or (viewer is not None and viewer.role != "admin" and viewer.id not in (row.user_id, row.host_id)):
        raise NotFound("No such booking.")
    return _render(row, _seats_of([row.id])[str(row.id)])


_STATUS = dbapi.Statement("booking_status", "SELECT status FROM bookings WHERE id = %(b)s::uuid")


def wait_for_outcome(booking_id: uuid.UUID, viewer: User, seconds: float) -> dict[str, Any]:
    """The booking as :func:`booking_view` shows it, once it is no longer pending or after ``seconds``.

    No database connection is held while waiting: each read ends its transaction.
    """
    view = booking_view(booking_id, viewer)
    db.session.rollback()
    if view["status"] != "pending" or seconds <= 0:
        return view

    def is_final() -> bool:
        row = dbapi.first(db.session, _STATUS, {"b": str(booking_id)})
        db.session.rollback()
        return row is None or row.status != "pending"

    if outcomes.waiters().wait(str(booking_id), seconds, is_final):
        return booking_view(booking_id, viewer)
    return view


def _seats_of(booking_ids: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """The seats paid for (booking_seats, kept after cancellation), or while pending the seats held for it.

    Two index lookups joined by UNION ALL, each O(the bookings' own seats): a booking has booking_seats rows
    only once confirmed, and held seats only while pending, so the branches never overlap. (One join with an
    ``OR`` of both conditions cannot use either index and read every seat ever sold, on every booking poll.)
    """
    out: dict[str, list[dict[str, Any]]] = {str(b): [] for b in booking_ids}
    for r in dbapi.rows(db.session, _BOOKING_SEATS, {"ids": list(out)}):
        seat = {"id": r.id, "label": r.label, "section": r.section, "price_cents": r.price_cents}
        out[str(r.booking_id)].append(seat)
    return out


_BOOKING_SEATS = dbapi.Statement(
    "booking_seats_of",
    """
    SELECT * FROM (
      SELECT bs.booking_id, s.id, s.label, sec.name AS section, bs.price_cents
      FROM booking_seats bs JOIN seats s ON s.id = bs.seat_id LEFT JOIN sections sec ON sec.id = s.section_id
      WHERE bs.booking_id = ANY(%(ids)s::text[]::uuid[])
      UNION ALL
      SELECT b.id, s.id, s.label, sec.name, COALESCE(sec.price_cents, e.price_cents)
      FROM bookings b JOIN events e ON e.id = b.event_id JOIN seats s ON s.hold_id = b.hold_id
      LEFT JOIN sections sec ON sec.id = s.section_id
      WHERE b.id = ANY(%(ids)s::text[]::uuid[]) AND b.status = 'pending') seats
    ORDER BY id
    """,
)


def _render(row: Any, seats: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(row.id),
        "reference": row.reference,
        "status": row.status,
        "event_id": row.event_id,
        "event_name": row.event_name,
        "seats": seats,
        "quantity": row.quantity,
        "total_cents": row.total_cents,
        "card_last4": row.card_last4,
        "created_at": row.created_at.isoformat(),
        "confirmed_at": row.confirmed_at.isoformat() if row.confirmed_at else None,
        "cancelled_at": row.cancelled_at.isoformat() if row.cancelled_at else None,
    }
    if row.failure_reason:
        body["failure_reason"] = row.failure_reason
    return body


def list_bookings(
    user: User,
    *,
    limit: int,
    cursor: dict[str, Any] | None,
    event_id: int | None = None,
    status: str | None = None,
    starts_from: datetime | None = None,
    starts_to: datetime | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The user's own bookings, newest first, keyset-paged on (created_at, id) so pages never skip or repeat."""
    where = ["b.user_id = :u"]
    params: dict[str, Any] = {"u": user.id, "n": limit + 1}
    if event_id is not None:
        where.append("b.event_id = :e")
        params["e"] = event_id
    if status is not None:
        where.append("b.status = :st")
        params["st"] = status
    if starts_from is not None:
        where.append("e.starts_at >= :from")
        params["from"] = starts_from
    if starts_to is not None:
        where.append("e.starts_at <= :to")
        params["to"] = starts_to
    if cursor is not None:
        where.append("(b.created_at, b.id) < (CAST(:c_at AS timestamptz), CAST(:c_id AS uuid))")
        params["c_at"], params["c_id"] = cursor["created_at"], cursor["id"]
    rows = db.session.execute(
        text(
            "SELECT b.id, b.reference, b.status, b.event_id, b.user_id, b.total_cents, b.failure_reason, b.quantity, "
            "b.created_at, b.confirmed_at, b.cancelled_at, b.card_last4, e.name AS event_name "
            f"FROM bookings b JOIN events e ON e.id = b.event_id WHERE {' AND '.join(where)} "
            "ORDER BY b.created_at DESC, b.id DESC LIMIT :n"
        ),
        params,
    ).all()
    page, more = rows[:limit], len(rows) > limit
    seats = _seats_of([r.id for r in page])
    items = [_render(r, seats[str(r.id)]) for r in page]
    next_cursor = {"created_at": page[-1].created_at.isoformat(), "id": str(page[-1].id)} if more else None
    return items, next_cursor


def stale_pending(older_than: timedelta, now: datetime | None = None, limit: int = 200) -> list[uuid.UUID]:
    """Pending bookings whose request left the outbox more than ``older_than`` ago and are still not final.

    A booking whose outbox row is unsent (or only just sent) is still the relay's and the dispatcher's to
    deliver; one that is pending long after its message was published was lost downstream (a broker
    restart, a worker killed mid-job, a wiped Redis) and is re-driven. One parked as a dead letter (its
    confirmation kept raising) waits for an admin's replay instead.
    """
    now = now or utcnow()
    cutoff = now - older_than
    rows = db.session.scalars(
        text(
            """
            SELECT b.id FROM bookings b
            WHERE b.status = 'pending' AND b.created_at < :cutoff
              AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.topic = :topic
                              AND o.payload->>'booking_id' = CAST(b.id AS text)
                              AND (o.sent_at IS NULL OR o.sent_at > :cutoff))
              AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.message_id = CAST(b.id AS text)
                              AND d.kind = 'booking' AND d.replayed_at IS NULL)
            ORDER BY b.created_at LIMIT :n
            """
        ),
        {"cutoff": cutoff, "topic": outbox.BOOKING_REQUESTS, "n": limit},
    ).all()
    db.session.rollback()
    return list(rows)
