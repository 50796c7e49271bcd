"""Sales figures for hosts and site analytics for admins, read from PostgreSQL.

One module serves the host and admin pages and the JSON API, so a figure never differs between them.
Sold means a seat of a confirmed booking; revenue is the sum of confirmed bookings' totals in cents.
Every function returns plain JSON-ready data (ISO dates, integer cents).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from atomicseats.booking import availability, inventory
from atomicseats.extensions import db
from atomicseats.models import Event, User
from atomicseats.models.base import utcnow

_REVENUE = text(
    """
    SELECT event_id, count(*) AS bookings, COALESCE(sum(total_cents), 0) AS revenue_cents
    FROM bookings WHERE status = 'confirmed' AND event_id = ANY(:ids) GROUP BY event_id
    """
)

_BY_SECTION = text(
    """
    SELECT COALESCE(sec.name, 'General admission') AS section,
           COALESCE(sec.price_cents, e.price_cents) AS price_cents,
           count(*) FILTER (WHERE s.for_sale) AS total,
           count(*) FILTER (WHERE s.booking_id IS NOT NULL) AS sold,
           count(*) FILTER (WHERE s.booking_id IS NULL AND s.hold_expires_at > :now) AS held,
           COALESCE(sum(bs.price_cents) FILTER (WHERE s.booking_id IS NOT NULL), 0) AS revenue_cents
    FROM seats s JOIN events e ON e.id = s.event_id
    LEFT JOIN sections sec ON sec.id = s.section_id
    LEFT JOIN booking_seats bs ON bs.seat_id = s.id AND bs.booking_id = s.booking_id
    WHERE s.event_id = :e
    GROUP BY sec.position, sec.name, COALESCE(sec.price_cents, e.price_cents)
    ORDER BY sec.position NULLS FIRST
    """
)

_BY_DAY = text(
    """
    SELECT (confirmed_at AT TIME ZONE 'UTC')::date AS day, count(*) AS bookings,
           sum(quantity) AS seats, sum(total_cents) AS revenue_cents
    FROM bookings WHERE event_id = :e AND status = 'confirmed'
    GROUP BY 1 ORDER BY 1
    """
)

_ATTENDEES = text(
    """
    SELECT b.reference, u.name, u.email, b.quantity, b.total_cents, b.confirmed_at,
           string_agg(s.label, ' ' ORDER BY s.id) AS seats
    FROM bookings b JOIN users u ON u.id = b.user_id
    JOIN booking_seats bs ON bs.booking_id = b.id AND bs.active
    JOIN seats s ON s.id = bs.seat_id
    WHERE b.event_id = :e AND b.status = 'confirmed'
    GROUP BY b.id, u.name, u.email ORDER BY b.confirmed_at, b.reference
    """
)

_TOTALS = text(
    """
    SELECT (SELECT count(*) FROM bookings WHERE status = 'confirmed') AS bookings,
           (SELECT COALESCE(sum(quantity), 0) FROM bookings WHERE status = 'confirmed') AS seats_sold,
           (SELECT COALESCE(sum(total_cents), 0) FROM bookings WHERE status = 'confirmed') AS revenue_cents,
           (SELECT count(*) FROM events WHERE status <> 'draft') AS events,
           (SELECT count(*) FROM users) AS users
    """
)

_REVENUE_BY_DAY = text(
    """
    SELECT (confirmed_at AT TIME ZONE 'UTC')::date AS day, count(*) AS bookings, sum(total_cents) AS revenue_cents
    FROM bookings WHERE status = 'confirmed' GROUP BY 1 ORDER BY 1
    """
)


def _event_summary(event: Event, counts: dict[str, int], revenue: dict[str, int]) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "status": event.status,
        "seating": event.seating,
        "starts_at": event.starts_at.isoformat(),
        "total": counts["total"],
        "sold": counts["booked"],
        "held": counts["held"],
        "available": counts["available"],
        "utilisation": round(counts["booked"] / counts["total"], 4) if counts["total"] else 0.0,
        "bookings": revenue.get("bookings", 0),
        "revenue_cents": revenue.get("revenue_cents", 0),
    }


def _summaries(events: list[Event], now: datetime) -> list[dict[str, Any]]:
    ids = [e.id for e in events]
    counts = availability.counts_for(db.session, ids, now)
    revenue = {row.event_id: dict(row._mapping) for row in db.session.execute(_REVENUE, {"ids": ids})} if ids else {}
    return [_event_summary(e, counts[e.id], revenue.get(e.id, {})) for e in events]


def host_events(user: User, now: datetime | None = None) -> list[dict[str, Any]]:
    """The host's own events (every event for an admin), newest first, with sold / held / available and revenue."""
    query = select(Event).order_by(Event.starts_at.desc(), Event.id.desc())
    if user.role != "admin":
        query = query.where(Event.host_id == user.id)
    return _summaries(list(db.session.scalars(query)), now or utcnow())


def event_sales(event_id: int, actor: User, now: datetime | None = None) -> dict[str, Any]:
    """One event's sales by section and by day, and its attendee list; only for its host or an admin."""
    now = now or utcnow()
    event = inventory.managed_event(event_id, actor)
    summary = _summaries([event], now)[0]
    by_section = [dict(row._mapping) for row in db.session.execute(_BY_SECTION, {"e": event.id, "now": now})]
    for row in by_section:
        row["available"] = row["total"] - row["sold"] - row["held"]
    by_day = [
        {**dict(row._mapping), "day": row.day.isoformat()} for row in db.session.execute(_BY_DAY, {"e": event.id})
    ]
    attendees = [
        {**dict(row._mapping), "confirmed_at": row.confirmed_at.isoformat()}
        for row in db.session.execute(_ATTENDEES, {"e": event.id})
    ]
    return {"event": summary, "by_section": by_section, "by_day": by_day, "attendees": attendees}


def site_analytics(now: datetime | None = None, popular: int = 5) -> dict[str, Any]:
    """Totals, utilisation per published event, the most popular events and revenue per day, site-wide."""
    now = now or utcnow()
    totals = dict(db.session.execute(_TOTALS).one()._mapping)
    events = list(db.session.scalars(select(Event).where(Event.status != "draft").order_by(Event.starts_at)))
    per_event = _summaries(events, now)
    most_popular = sorted(per_event, key=lambda e: (-e["sold"], -e["revenue_cents"], e["id"]))[:popular]
    revenue_by_day = [{**dict(row._mapping), "day": row.day.isoformat()} for row in db.session.execute(_REVENUE_BY_DAY)]
    return {
        "totals": totals,
        "events": per_event,
        "most_popular": [e for e in most_popular if e["sold"]],
        "revenue_by_day": revenue_by_day,
    }
