"""Events and their seat maps: create, edit, publish, cancel.

Reserved seating is generated from sections -> rows -> seats; general admission is ``capacity``
place rows, so both kinds share one claim mechanism and one invariant.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from atomicseats.booking import outbox, publish
from atomicseats.booking.access import may_manage, may_see
from atomicseats.booking.idempotency import Created, IdempotencyRequest, Replay, run_once
from atomicseats.booking.reconcile import reconcile_event
from atomicseats.booking.specs import EventPatch, EventSpec, SeatMapEdit, SectionSpec
from atomicseats.booking.tx import transaction
from atomicseats.exceptions import Conflict, Forbidden, Invalid, NotFound
from atomicseats.extensions import db
from atomicseats.models import Event, Seat, Section, User
from atomicseats.models.base import utcnow

EDITABLE_AFTER_PUBLISH = {
    "name",
    "description",
    "venue",
    "starts_at",
    "ends_at",
    "hold_seconds",
    "max_per_order",
    "waitlist_enabled",
    "capacity",
    "price_cents",
    "waiting_room",
}


def visible_event(event_id: int, user: User | None) -> Event:
    """An event the user may see: published ones, and drafts only to their host and admins."""
    event = db.session.get(Event, event_id)
    if event is None or not may_see(event, user):
        raise NotFound("No such event.")
    return event


def managed_event(event_id: int, user: User, *, lock: bool = False) -> Event:
    """An event the user may change: their own, or any for an admin."""
    query = select(Event).where(Event.id == event_id)
    if lock:
        query = query.with_for_update()
    event = db.session.scalar(query)
    if event is None or not may_see(event, user):
        raise NotFound("No such event.")
    if not may_manage(event, user):
        raise Forbidden("Only the event's host or an admin may change it.")
    return event


def create_event(
    host: User,
    spec: EventSpec,
    *,
    idempotency: IdempotencyRequest | None = None,
    render: Callable[[Event], dict[str, Any]] | None = None,
) -> Created | Replay:
    """Create a draft event with its seat map; ``render`` gives the answer that a repeated key replays."""
    if not host.has_role("host"):
        raise Forbidden("Only hosts and admins create events.")
    with transaction() as session:
        return run_once(session, idempotency, 201, lambda: _create(session, host, spec, render))


def _create(session: Session, host: User, spec: EventSpec, render: Callable[[Event], dict[str, Any]] | None) -> Created:
    event = Event(
        host_id=host.id,
        name=spec.name,
        description=spec.description,
        venue=spec.venue,
        starts_at=spec.starts_at,
        ends_at=spec.ends_at,
        seating=spec.seating,
        price_cents=spec.price_cents,
        hold_seconds=spec.hold_seconds,
        max_per_order=spec.max_per_order,
        waitlist_enabled=spec.waitlist_enabled,
        status="draft",
    )
    if spec.waiting_room is not None:
        _set_waiting_room(event, spec.waiting_room.model_dump())
    session.add(event)
    session.flush()
    if spec.seating == "reserved":
        event.capacity = _build_seat_map(event, spec.sections or [])
    else:
        event.capacity = spec.capacity or 0
        _add_places(event.id, 0, event.capacity)
    session.flush()
    return Created(event, render(event) if render else {"id": event.id})


def _set_waiting_room(event: Event, room: dict[str, Any]) -> None:
    """The waiting-room columns from ``{enabled, opens_at, admit_per_minute}`` (an edit may give only some)."""
    if "enabled" in room:
        event.waiting_room_enabled = room["enabled"]
    if "opens_at" in room:
        event.waiting_room_opens_at = room["opens_at"]
    if "admit_per_minute" in room:
        event.admit_per_minute = room["admit_per_minute"]


def _build_seat_map(event: Event, sections: list[SectionSpec]) -> int:
    """Insert sections and seats; rows are centred under the widest row, sections stacked with a gap."""
    widest = max(r.seats for s in sections for r in s.rows)
    rows: list[dict[str, Any]] = []
    y = 0
    for position, spec in enumerate(sections):
        section = Section(event_id=event.id, name=spec.name, price_cents=spec.price_cents, position=position)
        db.session.add(section)
        db.session.flush()
        for row in spec.rows:
            offset = (widest - row.seats) // 2
            kinds = {n: "accessible" for n in row.accessible}
            kinds.update({n: "companion" for n in row.companion})
            kinds.update({n: "restricted_view" for n in row.restricted_view})
            label = row.label.upper()
            rows.extend(
                {
                    "event_id": event.id,
                    "section_id": section.id,
                    "label": f"{label}-{n}",
                    "row_label": label,
                    "number": n,
                    "x": offset + n - 1,
                    "y": y,
                    "kind": kinds.get(n, "standard"),
                }
                for n in range(1, row.seats + 1)
            )
            y += 1
        y += 1  # an aisle between sections
    db.session.execute(insert(Seat), rows)
    return len(rows)


def _add_places(event_id: int, start: int, count: int) -> None:
    if count > 0:
        db.session.execute(
            insert(Seat),
            [
                {"event_id": event_id, "label": f"GA-{n}", "kind": "general", "x": 0, "y": 0}
                for n in range(start + 1, start + count + 1)
            ],
        )


def update_event(event_id: int, actor: User, patch: EventPatch, now: datetime | None = None) -> Event:
    now = now or utcnow()
    changes = patch.model_dump(exclude_unset=True)
    with transaction() as session:
        event = managed_event(event_id, actor, lock=True)
        if event.status in ("cancelled", "ended"):
            raise Conflict(f"A {event.status} event cannot be edited.", code="event_closed")
        if event.status != "draft" and set(changes) - EDITABLE_AFTER_PUBLISH:
            raise Conflict("Sections can only be changed before the event is published.", code="event_published")
        if "sections" in changes and event.seating != "reserved":
            raise Invalid.field("sections", "general admission events have no sections")
        if {"capacity", "price_cents"} & set(changes) and event.seating != "general":
            raise Invalid.field("capacity", "reserved events take their capacity from their sections")
        starts = changes.get("starts_at", event.starts_at)
        ends = changes.get("ends_at", event.ends_at)
        if ends <= starts:
            raise Invalid.field("ends_at", "must be after starts_at")
        freed = 0
        for name in (EDITABLE_AFTER_PUBLISH - {"capacity", "waiting_room"}) & set(changes):  # resized below
            setattr(event, name, changes[name])
        if changes.get("waiting_room") is not None:
            _set_waiting_room(event, changes["waiting_room"])
        if "capacity" in changes:
            freed = _resize(event, changes["capacity"], now)
        if patch.sections is not None:
            session.execute(text("DELETE FROM seats WHERE event_id = :e"), {"e": event.id})
            session.execute(text("DELETE FROM sections WHERE event_id = :e"), {"e": event.id})
            session.expire(event, ["sections"])
            event.capacity = _build_seat_map(event, patch.sections)
        if freed:
            outbox.places_freed(session, event.id, freed, "capacity_raised")
    if event.status == "on_sale":
        reconcile_event(event.id)
    return event


def _resize(event: Event, capacity: int, now: datetime) -> int:
    """Add or remove general-admission places; never below what is held or booked (409)."""
    current = event.capacity
    if capacity > current:
        _add_places(event.id, _highest_place_number(event.id), capacity - current)
        event.capacity = capacity
        return capacity - current
    if capacity < current:
        removed = db.session.execute(
            text(
                """
                DELETE FROM seats WHERE id IN (
                  SELECT id FROM seats s WHERE s.event_id = :e AND s.booking_id IS NULL
                    AND (s.hold_expires_at IS NULL OR s.hold_expires_at <= :now)
                    AND NOT EXISTS (SELECT 1 FROM booking_seats b WHERE b.seat_id = s.id)
                  ORDER BY s.id DESC LIMIT :n FOR UPDATE SKIP LOCKED)
                """
            ),
            {"e": event.id, "now": now, "n": current - capacity},
        ).rowcount
        if removed < current - capacity:
            raise Conflict(
                "Capacity cannot go below the places that are held or booked.",
                code="capacity_below_taken",
                details={"minimum": current - removed},
            )
        event.capacity = capacity
    return 0


def _highest_place_number(event_id: int) -> int:
    value = db.session.scalar(
        text("SELECT max(CAST(substr(label, 4) AS int)) FROM seats WHERE event_id = :e"), {"e": event_id}
    )
    return value or 0


# The editor's changes in one statement. Only seats nobody holds or has booked change, which on a draft is every
# seat; the CHECK off_sale_unclaimed backs this up for ``for_sale``.
_EDIT_SEATS = text(
    """
    UPDATE seats s SET kind = COALESCE(c.kind, s.kind), for_sale = COALESCE(c.for_sale, s.for_sale),
           x = COALESCE(c.x, s.x), y = COALESCE(c.y, s.y)
    FROM unnest(CAST(:ids AS bigint[]), CAST(:kinds AS text[]), CAST(:for_sale AS boolean[]),
                CAST(:xs AS int[]), CAST(:ys AS int[])) AS c(id, kind, for_sale, x, y)
    WHERE s.id = c.id AND s.event_id = :e AND s.kind <> 'general' AND s.hold_id IS NULL AND s.booking_id IS NULL
    RETURNING s.id
    """
)
_SHARED_PLACE = text("SELECT x, y FROM seats WHERE event_id = :e GROUP BY x, y HAVING count(*) > 1 LIMIT 1")


def edit_seat_map(event_id: int, actor: User, edit: SeatMapEdit) -> int:
    """Mark seats (kind, not for sale) and move them (gaps and aisles), all or nothing; the seats for sale.

    Only a draft's map changes. A published map is what buyers hold, what the Redis gate counts and what every
    open map and the realtime process have loaded, so changing it under them would make counts and marks drift;
    the event row's lock keeps a publish from slipping between the check and the write.
    """
    with transaction() as session:
        event = managed_event(event_id, actor, lock=True)
        if event.seating != "reserved":
            raise Conflict("A general admission event has no seat map.", code="no_seat_map")
        if event.status != "draft":
            raise Conflict("The seat map can only be changed before the event is published.", code="event_published")
        changes = edit.seats
        changed = set(
            session.scalars(
                _EDIT_SEATS,
                {
                    "e": event.id,
                    "ids": [c.id for c in changes],
                    "kinds": [c.kind for c in changes],
                    "for_sale": [c.for_sale for c in changes],
                    "xs": [c.x for c in changes],
                    "ys": [c.y for c in changes],
                },
            )
        )
        refused = sorted(c.id for c in changes if c.id not in changed)
        if refused:
            raise Invalid(
                "Some seat ids are not seats of this event's map.",
                code="unknown_seats",
                details={"fields": {"seats": f"unknown seats {refused}"}, "unknown_seat_ids": refused},
            )
        clash = session.execute(_SHARED_PLACE, {"e": event.id}).first()
        if clash is not None:
            message = f"Two seats would stand in the same place (column {clash.x}, row {clash.y})."
            raise Invalid(message, details={"fields": {"seats": message}})
        event.capacity = session.scalar(
            text("SELECT count(*) FROM seats WHERE event_id = :e AND for_sale"), {"e": event.id}
        )
        return event.capacity


def publish_event(event_id: int, actor: User) -> Event:
    with transaction():
        event = managed_event(event_id, actor, lock=True)
        if event.status != "draft":
            raise Conflict(f"Only a draft can be published; this event is {event.status}.", code="not_draft")
        if event.capacity <= 0:
            raise Conflict("An event needs at least one seat before it goes on sale.", code="no_seats")
        if event.starts_at <= utcnow():
            message = "This event's start has passed, so it cannot go on sale. Move its start to a future date first."
            raise Invalid(message, code="event_started", details={"fields": {"starts_at": message}})
        event.status = "on_sale"
        event.published_at = utcnow()
    reconcile_event(event.id)
    publish.emit("event_status", {"event_id": event.id, "status": event.status}, publish.event_room(event.id))
    return event


def end_past_events(now: datetime | None = None) -> list[int]:
    """Store ``ended`` for every on-sale event whose end has passed, and tell its open seat maps.

    Readers derive ``ended`` from ``ends_at`` already (``catalog.search``, ``api/representations.py``); the
    stored status catches up so that the on-sale part of ``ix_events_status_starts_at``, which every event
    list walks, keeps only events still running as years of history pile up. The UPDATE is conditional: an
    event cancelled meanwhile stays cancelled, and a second scheduler finds nothing left to do.
    """
    now = now or utcnow()
    with transaction() as session:
        ended = list(
            session.scalars(
                text(
                    "UPDATE events SET status = 'ended', updated_at = :now "
                    "WHERE status = 'on_sale' AND ends_at <= :now RETURNING id"
                ),
                {"now": now},
            )
        )
    for event_id in ended:
        publish.emit("event_status", {"event_id": event_id, "status": "ended"}, publish.event_room(event_id))
    return ended


def cancel_event(event_id: int, actor: User, now: datetime | None = None) -> Event:
    """Cancel the event: its holds end, its bookings are cancelled, everyone affected is told."""
    from atomicseats.booking.hold_endings import end_holds

    now = now or utcnow()
    with transaction() as session:
        event = managed_event(event_id, actor, lock=True)
        if event.status == "cancelled":
            raise Conflict("The event is already cancelled.", code="already_cancelled")
        event.status = "cancelled"
        event.cancelled_at = now
        hold_ids = list(
            session.scalars(
                text("SELECT id FROM holds WHERE event_id = :e AND status IN ('active', 'checkout')"),
                {"e": event.id},
            )
        )
        end_holds(session, hold_ids, "cancelled", now)
        affected = session.execute(
            text(
                """
                UPDATE bookings SET status = CASE WHEN status = 'pending' THEN 'failed' ELSE 'cancelled' END,
                       failure_reason = CASE WHEN status = 'pending' THEN 'event_cancelled' ELSE failure_reason END,
                       cancelled_at = :now, updated_at = :now
                WHERE event_id = :e AND status IN ('pending', 'confirmed')
                RETURNING id, user_id
                """
            ),
            {"e": event.id, "now": now},
        ).all()
        session.execute(
            text(
                "UPDATE booking_seats SET active = false WHERE active AND booking_id IN "
                "(SELECT id FROM bookings WHERE event_id = :e)"
            ),
            {"e": event.id},
        )
        session.execute(
            text("UPDATE seats SET booking_id = NULL WHERE event_id = :e AND booking_id IS NOT NULL"),
            {"e": event.id},
        )
        session.execute(
            text(
                "UPDATE waitlist_entries SET status = 'cancelled', updated_at = :now "
                "WHERE event_id = :e AND status IN ('waiting', 'offered')"
            ),
            {"e": event.id, "now": now},
        )
        notified = {user_id for _, user_id in affected}
        for booking_id, user_id in affected:
            outbox.enqueue(
                session,
                outbox.NOTIFICATIONS,
                user_id,
                {"kind": "event_cancelled", "user_id": user_id, "event_id": event.id, "booking_id": str(booking_id)},
            )
        holders = session.execute(
            text("SELECT DISTINCT user_id FROM holds WHERE id = ANY(:ids)"), {"ids": hold_ids}
        ).scalars()
        for user_id in set(holders) - notified:
            outbox.enqueue(
                session,
                outbox.NOTIFICATIONS,
                user_id,
                {"kind": "event_cancelled", "user_id": user_id, "event_id": event.id, "booking_id": None},
            )
    reconcile_event(event.id)
    publish.emit("event_status", {"event_id": event.id, "status": "cancelled"}, publish.event_room(event.id))
    return event
