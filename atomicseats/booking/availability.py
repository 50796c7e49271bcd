"""What is free, held and booked, read from PostgreSQL (the truth).

A hold whose ``hold_expires_at`` has passed counts as free here, whether or not the expiry sweeper
has run yet: no answer depends on a background job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from atomicseats.booking import gate

_COUNTS = text(
    """
    SELECT event_id,
           count(*) FILTER (WHERE for_sale) AS total,
           count(*) FILTER (WHERE booking_id IS NOT NULL) AS booked,
           count(*) FILTER (WHERE booking_id IS NULL AND hold_expires_at > :now) AS held
    FROM seats WHERE event_id = ANY(:ids) GROUP BY event_id
    """
)

# A seat's status (on seats aliased ``s``): the one definition that the seat list and a map's full state share.
_STATUS = (
    "CASE WHEN s.booking_id IS NOT NULL THEN 'booked' WHEN s.hold_expires_at > :now THEN 'held' ELSE 'available' END"
)

_SEATS = text(
    f"""
    SELECT s.id, s.label, s.row_label, s.number, s.kind, s.for_sale, s.x, s.y,
           sec.name AS section, COALESCE(sec.price_cents, e.price_cents) AS price_cents,
           {_STATUS} AS status,
           CASE WHEN s.booking_id IS NULL AND s.hold_expires_at > :now
                THEN CEIL(EXTRACT(EPOCH FROM s.hold_expires_at - :now))::int END AS hold_expires_in
    FROM seats s JOIN events e ON e.id = s.event_id LEFT JOIN sections sec ON sec.id = s.section_id
    WHERE s.event_id = :e
    ORDER BY sec.position NULLS FIRST, s.y, s.x, s.id
    """
)

# Seats kept off sale are left out: they never change, and a live map's counts (realtime/rooms.py) are these rows.
_STATUSES = text(f"SELECT s.id, {_STATUS} AS status FROM seats s WHERE s.event_id = :e AND s.for_sale")


def counts_for(session: Session | Connection, event_ids: list[int], now: datetime) -> dict[int, dict[str, int]]:
    """``{event_id: {total, available, held, booked}}`` for several events in one query."""
    out = {eid: {"total": 0, "available": 0, "held": 0, "booked": 0} for eid in event_ids}
    if not event_ids:
        return out
    for row in session.execute(_COUNTS, {"ids": list(event_ids), "now": now}):
        out[row.event_id] = {
            "total": row.total,
            "available": row.total - row.booked - row.held,
            "held": row.held,
            "booked": row.booked,
        }
    return out


def counts(session: Session | Connection, event_id: int, now: datetime) -> dict[str, int]:
    return counts_for(session, [event_id], now)[event_id]


def seats(session: Session, event_id: int, now: datetime) -> list[dict[str, Any]]:
    """Every seat with its status, whether it is for sale at all, and the seconds left on a hold; never who holds or
    booked it. A seat kept off sale is still listed, so that the map draws it where it stands."""
    return [dict(row._mapping) for row in session.execute(_SEATS, {"e": event_id, "now": now})]


def statuses(session: Session | Connection, event_id: int, now: datetime) -> list[dict[str, Any]]:
    """``{id, status}`` of every seat for sale: the full state a live seat map resyncs to on (re)join.

    Only the two columns it needs, without the join and sort of :func:`seats`: a join of a 20,000-seat
    map costs about a fifth of the CPU, and 500 maps join at once when a sale opens.
    """
    return [
        {"id": seat_id, "status": status} for seat_id, status in session.execute(_STATUSES, {"e": event_id, "now": now})
    ]


def live_counts(event_id: int, now: datetime, known: gate.GateCounts | None = None) -> dict[str, int] | None:
    """The event's counts from the Redis gate (no query), or None when the gate is not built or unreachable.

    The gate keeps the same counts as :func:`counts` (a hold past its expiry is free in both), so the reads a
    sale repeats most (a refused buyer looking again, every live update) need not count thousands of seats
    in PostgreSQL each time. Callers fall back to :func:`counts` on None.
    """
    try:
        c = known or gate.counts(event_id, gate.epoch_ms(now))
    except gate.GateUnavailable:
        return None
    if c.capacity is None:
        return None
    return {
        "total": c.capacity,
        "available": max(c.capacity - c.held - c.booked, 0),
        "held": c.held,
        "booked": c.booked,
    }
