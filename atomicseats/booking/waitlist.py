"""The waitlist: join, look, leave, and the allocator that turns freed places into offers, first in first out.

An offer is an ordinary hold in the waiting person's name (made by the same claiming code as any hold, so
the same database guarantees apply), linked to the entry by ``holds.waitlist_entry_id``. It expires like any
hold; ``hold_endings.end_holds`` then marks the entry expired and signals the freed places again, so the next
entry in line gets them. The allocator is idempotent: it looks at what is free now, never at counts carried
in messages, so a duplicate or a lost message only makes it run once more or once less.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from flask import current_app
from pydantic import Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from atomicseats.booking import claims, hold_endings, outbox, publish
from atomicseats.booking.access import may_see
from atomicseats.booking.idempotency import Created, IdempotencyRequest, Replay, run_once
from atomicseats.booking.specs import Spec
from atomicseats.booking.tx import transaction
from atomicseats.exceptions import Conflict, DomainError, Invalid, NotFound
from atomicseats.extensions import db
from atomicseats.models import User
from atomicseats.models.base import utcnow

log = logging.getLogger(__name__)
OPEN = ("waiting", "offered")


class JoinRequest(Spec):
    quantity: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    accept_partial: Annotated[bool, Field(strict=True)] = False


_FREE_PLACES = text(
    "SELECT count(*) FROM seats WHERE event_id = :e AND booking_id IS NULL "
    "AND (hold_expires_at IS NULL OR hold_expires_at <= :now)"
)
_POSITION = text(
    "SELECT count(*) FROM waitlist_entries WHERE event_id = :e AND status IN ('waiting', 'offered') AND seq <= :seq"
)


def join(
    event_id: int,
    user: User,
    wanted: JoinRequest,
    *,
    idempotency: IdempotencyRequest | None = None,
    now: datetime | None = None,
) -> Created | Replay:
    """Queue the user for ``quantity`` places; 409 ``already_waiting`` if they already have an open entry."""
    now = now or utcnow()
    with transaction() as session:
        return run_once(session, idempotency, 201, lambda: _join(session, event_id, user, wanted, now))


def _join(session: Session, event_id: int, user: User, wanted: JoinRequest, now: datetime) -> Created:
    event = session.execute(
        text("SELECT id, status, host_id, waitlist_enabled, max_per_order FROM events WHERE id = :e"),
        {"e": event_id},
    ).first()
    if event is None or not may_see(event, user):
        raise NotFound("No such event.")
    if event.status not in ("on_sale", "sold_out") or not event.waitlist_enabled:
        raise Conflict("This event has no open waitlist.", code="waitlist_closed")
    if wanted.quantity > event.max_per_order:
        raise Invalid.field("quantity", f"at most {event.max_per_order}")
    row = session.execute(
        text(
            """
            INSERT INTO waitlist_entries (id, event_id, user_id, quantity, accept_partial, status,
                                          created_at, updated_at)
            VALUES (:id, :e, :u, :q, :p, 'waiting', :now, :now)
            ON CONFLICT (user_id, event_id) WHERE status IN ('waiting', 'offered') DO NOTHING
            RETURNING id, seq
            """
        ),
        {
            "id": uuid.uuid4(),
            "e": event_id,
            "u": user.id,
            "q": wanted.quantity,
            "p": wanted.accept_partial,
            "now": now,
        },
    ).first()
    if row is None:
        raise Conflict("You are already on this event's waitlist.", code="already_waiting")
    position = session.scalar(_POSITION, {"e": event_id, "seq": row.seq})
    if session.scalar(_FREE_PLACES, {"e": event_id, "now": now}):
        # places are free right now (say, a hold just lapsed): let the allocator look at once
        outbox.enqueue(
            session, outbox.WAITLIST_ALLOCATION, event_id, {"event_id": event_id, "count": 0, "reason": "joined"}
        )
    body = {
        "id": str(row.id),
        "event_id": event_id,
        "quantity": wanted.quantity,
        "accept_partial": wanted.accept_partial,
        "status": "waiting",
        "position": position,
    }
    return Created(row.id, body)


def list_own(user: User, *, limit: int, cursor: dict[str, Any] | None, now: datetime | None = None) -> tuple[list, Any]:
    """The user's entries, newest first, with their FIFO position while open and the offer while one is open."""
    now = now or utcnow()
    params: dict[str, Any] = {"u": user.id, "n": limit + 1, "now": now}
    after = ""
    if cursor is not None:
        after = "AND w.seq < :c"
        params["c"] = int(cursor["seq"])
    rows = db.session.execute(
        text(
            f"""
            SELECT w.id, w.seq, w.event_id, e.name AS event_name, w.quantity, w.accept_partial, w.status,
                   w.created_at,
                   CASE WHEN w.status IN ('waiting', 'offered') THEN
                     (SELECT count(*) FROM waitlist_entries o WHERE o.event_id = w.event_id
                      AND o.status IN ('waiting', 'offered') AND o.seq <= w.seq) END AS position,
                   h.id AS offer_hold_id, h.expires_at AS offer_expires_at, h.quantity AS offer_quantity
            FROM waitlist_entries w JOIN events e ON e.id = w.event_id
            LEFT JOIN holds h ON h.waitlist_entry_id = w.id AND h.status = 'active' AND w.status = 'offered'
            WHERE w.user_id = :u {after} ORDER BY w.seq DESC LIMIT :n
            """
        ),
        params,
    ).all()
    page = rows[:limit]
    items = []
    for r in page:
        item = {
            "id": str(r.id),
            "event_id": r.event_id,
            "event_name": r.event_name,
            "quantity": r.quantity,
            "accept_partial": r.accept_partial,
            "status": r.status,
            "position": r.position,
            "created_at": r.created_at.isoformat(),
            "offer": None,
        }
        if r.offer_hold_id is not None:
            item["offer"] = {
                "hold_id": str(r.offer_hold_id),
                "quantity": r.offer_quantity,
                "expires_at": r.offer_expires_at.isoformat(),
                "expires_in": max(0, int((r.offer_expires_at - now).total_seconds())),
            }
        items.append(item)
    return items, ({"seq": page[-1].seq} if len(rows) > limit else None)


def leave(entry_id: uuid.UUID, user: User, now: datetime | None = None, *, only_offered: bool = False) -> None:
    """Leave the waitlist; an open offer is released at once so its places pass to the next in line.

    With ``only_offered`` this is declining an offer: 409 ``no_open_offer`` unless one is open.
    """
    now = now or utcnow()
    with transaction() as session:
        entry = session.execute(
            text(
                "UPDATE waitlist_entries SET status = 'left', updated_at = :now "
                "WHERE id = :w AND user_id = :u AND status = ANY(:open) RETURNING id"
            ),
            {"w": entry_id, "u": user.id, "now": now, "open": ["offered"] if only_offered else ["waiting", "offered"]},
        ).first()
        if entry is None:
            exists = session.scalar(
                text("SELECT 1 FROM waitlist_entries WHERE id = :w AND user_id = :u"), {"w": entry_id, "u": user.id}
            )
            if not exists:
                raise NotFound("No such waitlist entry.")
            if only_offered:
                raise Conflict("This waitlist entry has no open offer.", code="no_open_offer")
            raise Conflict("This waitlist entry is no longer open.", code="not_waiting")
        offers = list(
            session.scalars(
                text("SELECT id FROM holds WHERE waitlist_entry_id = :w AND status = 'active'"), {"w": entry_id}
            )
        )
        ended = hold_endings.end_holds(session, offers, "released", now)
    hold_endings.after_holds_ended(ended, now, "hold_updated")


def open_offer(entry_id: uuid.UUID, user: User, now: datetime | None = None) -> dict[str, Any]:
    """The entry's open offer, to accept by checking out its hold: 404 if not the user's, 409 ``no_open_offer``."""
    now = now or utcnow()
    row = db.session.execute(
        text(
            "SELECT w.status, h.id AS hold_id, h.quantity, h.expires_at FROM waitlist_entries w "
            "LEFT JOIN holds h ON h.waitlist_entry_id = w.id AND h.status = 'active' AND h.expires_at > :now "
            "WHERE w.id = :w AND w.user_id = :u"
        ),
        {"w": entry_id, "u": user.id, "now": now},
    ).first()
    if row is None:
        raise NotFound("No such waitlist entry.")
    if row.status != "offered" or row.hold_id is None:
        raise Conflict("This waitlist entry has no open offer.", code="no_open_offer")
    return {
        "hold_id": str(row.hold_id),
        "quantity": row.quantity,
        "expires_at": row.expires_at.isoformat(),
        "expires_in": max(0, int((row.expires_at - now).total_seconds())),
    }


@dataclass(frozen=True)
class Offer:
    entry_id: uuid.UUID
    user_id: int
    hold_id: uuid.UUID
    quantity: int
    expires_at: datetime


def allocate(event_id: int, now: datetime | None = None) -> list[Offer]:
    """Offer the places free now to waiting entries in FIFO order: the first entry that fits gets an offer.

    A group gets all its places or none, unless it said ``accept_partial``. One allocator per event at a time
    (a transaction-scoped advisory lock), so two concurrent runs never offer the same places twice.
    """
    now = now or utcnow()
    offered: list[tuple[claims.Claim, Offer]] = []
    try:
        with transaction() as session:
            session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('waitlist'), CAST(:e AS int))"), {"e": event_id}
            )
            event = claims.sale_event(session, event_id)
            enabled = session.scalar(text("SELECT waitlist_enabled FROM events WHERE id = :e"), {"e": event_id})
            if event is None or event.status != "on_sale" or event.ends_at <= now or not enabled:
                return []
            free = session.scalar(_FREE_PLACES, {"e": event_id, "now": now})
            entries = session.execute(
                text(
                    "SELECT id, user_id, quantity, accept_partial FROM waitlist_entries "
                    "WHERE event_id = :e AND status = 'waiting' ORDER BY seq FOR UPDATE"
                ),
                {"e": event_id},
            ).all()
            seconds = current_app.config.get("WAITLIST_OFFER_SECONDS") or event.hold_seconds
            for entry in entries:
                if free <= 0:
                    break
                if entry.quantity > free and not entry.accept_partial:
                    continue  # all or nothing: a smaller group further back may fit
                made = _offer(session, event, entry, min(entry.quantity, free), now, now + timedelta(seconds=seconds))
                if made is not None:
                    offered.append(made)
                    free -= made[1].quantity
    except BaseException:
        for claim, _ in offered:
            claims.undo_claim(event_id, claim)
        raise
    for claim, offer in offered:
        claims.after_claim(event_id, claim, now)
        publish.to_user(
            offer.user_id,
            "waitlist_offer",
            {
                "entry_id": str(offer.entry_id),
                "event_id": event_id,
                "hold_id": str(offer.hold_id),
                "quantity": offer.quantity,
                "expires_at": offer.expires_at.isoformat(),
            },
        )
    if offered:
        log.info("waitlist: event %s, %d offers", event_id, len(offered))
    return [o for _, o in offered]


def _offer(session: Any, event: Any, entry: Any, quantity: int, now: datetime, expires_at: datetime) -> Any:
    """Claim places for one entry inside a savepoint; None if they could not be claimed (the entry keeps waiting)."""
    if event.seating == "general":
        request = claims.HoldRequest(quantity=quantity, allow_partial=entry.accept_partial)
    else:
        seat_ids = list(
            session.scalars(
                text(
                    "SELECT s.id FROM seats s JOIN sections sec ON sec.id = s.section_id WHERE s.event_id = :e "
                    "AND s.booking_id IS NULL AND (s.hold_expires_at IS NULL OR s.hold_expires_at <= :now) "
                    "ORDER BY sec.position, s.y, s.number LIMIT :n"
                ),
                {"e": event.id, "now": now, "n": quantity},
            )
        )
        if not seat_ids or (len(seat_ids) < entry.quantity and not entry.accept_partial):
            return None
        request = claims.HoldRequest(seat_ids=seat_ids)
    savepoint = session.begin_nested()
    try:
        claim = claims.claim_in(session, event, entry.user_id, request, now, expires_at, waitlist_entry_id=entry.id)
    except DomainError as exc:  # taken meanwhile, or the person already holds seats for this event
        savepoint.rollback()
        log.info("waitlist: entry %s not offered: %s", entry.id, exc.code)
        return None
    savepoint.commit()
    session.execute(
        text("UPDATE waitlist_entries SET status = 'offered', updated_at = :now WHERE id = :w"),
        {"w": entry.id, "now": now},
    )
    outbox.enqueue(
        session,
        outbox.NOTIFICATIONS,
        entry.user_id,
        {
            "kind": "waitlist_offer",
            "user_id": entry.user_id,
            "event_id": event.id,
            "entry_id": str(entry.id),
            "hold_id": str(claim.hold_id),
            "quantity": len(claim.seats),
            "expires_at": expires_at.isoformat(),
        },
    )
    return claim, Offer(entry.id, entry.user_id, claim.hold_id, len(claim.seats), expires_at)


def events_to_allocate(now: datetime | None = None) -> list[int]:
    """Events with someone waiting and a place free: the scheduler's safety net for a lost allocation message."""
    now = now or utcnow()
    ids = list(
        db.session.scalars(
            text(
                """
                SELECT e.id FROM events e WHERE e.status = 'on_sale' AND e.waitlist_enabled
                  AND EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.event_id = e.id AND w.status = 'waiting')
                  AND EXISTS (SELECT 1 FROM seats s WHERE s.event_id = e.id AND s.booking_id IS NULL
                              AND (s.hold_expires_at IS NULL OR s.hold_expires_at <= :now))
                """
            ),
            {"now": now},
        )
    )
    db.session.rollback()
    return ids


def allocate_all(now: datetime | None = None) -> int:
    return sum(len(allocate(event_id, now)) for event_id in events_to_allocate(now))
