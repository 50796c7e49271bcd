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

from pydantic import Field, model_validator
from sqlalchemy import text
from sqlalchemy.orm import Session

from atomicseats.booking import claims, hold_endings, outbox, publish
from atomicseats.booking.access import may_see
from atomicseats.booking.idempotency import Created, IdempotencyRequest, Replay, run_once
from atomicseats.booking.seat_selection import SeatState
from atomicseats.booking.specs import Spec
from atomicseats.booking.tx import transaction
from atomicseats.booking.waitlist_seats import MapSeat, Wish, choose_seats, offered_quantity, open_rows
from atomicseats.exceptions import Conflict, DomainError, Invalid, NotFound
from atomicseats.extensions import booking_ext, db
from atomicseats.models import User
from atomicseats.models.base import MAX_ID, utcnow

log = logging.getLogger(__name__)
OPEN = ("waiting", "offered")


class JoinRequest(Spec):
    """How many places, and what an offer must respect: sections, seats side by side, a price per place."""

    quantity: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    accept_partial: Annotated[bool, Field(strict=True)] = False
    section_ids: list[Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]] | None = Field(
        default=None, min_length=1, max_length=50
    )
    together: Annotated[bool, Field(strict=True)] = False
    max_price_cents: Annotated[int, Field(strict=True, ge=0, le=100_000_000)] | None = None

    @model_validator(mode="after")
    def _distinct_sections(self) -> JoinRequest:
        if self.section_ids is not None and len(set(self.section_ids)) != len(self.section_ids):
            raise ValueError("section_ids: must not repeat a section")
        return self


_FREE_PLACES = text(
    "SELECT count(*) FROM seats WHERE event_id = :e AND booking_id IS NULL AND for_sale "
    "AND (hold_expires_at IS NULL OR hold_expires_at <= :now)"
)
# The seat map as best available sees it, with each seat's section for the entries' preferences.
_MAP = text(
    """
    SELECT s.section_id, s.id, sec.position, sec.price_cents, s.y, s.number, s.x, s.kind,
           (s.booking_id IS NULL AND s.for_sale AND (s.hold_expires_at IS NULL OR s.hold_expires_at <= :now)) AS free
    FROM seats s JOIN sections sec ON sec.id = s.section_id WHERE s.event_id = :e
    """
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
        text(
            "SELECT id, status, host_id, waitlist_enabled, max_per_order, seating, price_cents FROM events "
            "WHERE id = :e"
        ),
        {"e": event_id},
    ).first()
    if event is None or not may_see(event, user):
        raise NotFound("No such event.")
    if event.status not in ("on_sale", "sold_out") or not event.waitlist_enabled:
        raise Conflict("This event has no open waitlist.", code="waitlist_closed")
    if wanted.quantity > event.max_per_order:
        raise Invalid.field("quantity", f"at most {event.max_per_order}")
    _check_preferences(session, event, wanted)
    row = session.execute(
        text(
            """
            INSERT INTO waitlist_entries (id, event_id, user_id, quantity, accept_partial, section_ids, together,
                                          max_price_cents, status, created_at, updated_at)
            VALUES (:id, :e, :u, :q, :p, :sections, :together, :price, 'waiting', :now, :now)
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
            "sections": wanted.section_ids,
            "together": wanted.together,
            "price": wanted.max_price_cents,
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
        "section_ids": wanted.section_ids,
        "together": wanted.together,
        "max_price_cents": wanted.max_price_cents,
        "status": "waiting",
        "position": position,
    }
    return Created(row.id, body)


def _check_preferences(session: Session, event: Any, wanted: JoinRequest) -> None:
    """422 for preferences no offer could ever meet: sections of another event, a price nothing is sold at."""
    if event.seating == "general":
        if wanted.section_ids is not None:
            raise Invalid.field("section_ids", "this event has general admission, without sections")
        if wanted.together:
            raise Invalid.field("together", "this event has general admission, without seats to sit together")
        if wanted.max_price_cents is not None and event.price_cents > wanted.max_price_cents:
            raise Invalid.field("max_price_cents", f"every place costs {event.price_cents} cents")
        return
    sections = dict(
        session.execute(text("SELECT id, price_cents FROM sections WHERE event_id = :e"), {"e": event.id}).all()
    )
    if wanted.section_ids is not None:
        unknown = sorted(set(wanted.section_ids) - sections.keys())
        if unknown:
            raise Invalid.field("section_ids", f"not sections of this event: {unknown}")
    prices = [sections[s] for s in wanted.section_ids] if wanted.section_ids is not None else sections.values()
    if wanted.max_price_cents is not None and min(prices, default=0) > wanted.max_price_cents:
        raise Invalid.field("max_price_cents", "no seat in the chosen sections costs that little")


def list_own(user: User, *, limit: int, cursor: dict[str, Any] | None, now: datetime | None = None) -> tuple[list, Any]:
    """The user's entries, newest first, with their FIFO position while open and the offer while one is open."""
    now = now or utcnow()
    params: dict[str, Any] = {"u": user.id, "n": limit + 1}
    after = ""
    if cursor is not None:
        after = "AND w.seq < :c"
        params["c"] = int(cursor["seq"])
    rows = _own_entries(f"{after} ORDER BY w.seq DESC LIMIT :n", params)
    page = rows[:limit]
    return [_entry_view(r, now) for r in page], ({"seq": page[-1].seq} if len(rows) > limit else None)


def own_entry(entry_id: uuid.UUID, user: User, now: datetime | None = None) -> dict[str, Any]:
    """One of the user's entries as :func:`list_own` shows it (the page an offer's email links to); else 404."""
    rows = _own_entries("AND w.id = :w", {"u": user.id, "w": entry_id})
    if not rows:
        raise NotFound("No such waitlist entry.")
    return _entry_view(rows[0], now or utcnow())


def _own_entries(tail: str, params: dict[str, Any]) -> list[Any]:
    return db.session.execute(
        text(
            f"""
            SELECT w.id, w.seq, w.event_id, e.name AS event_name, w.quantity, w.accept_partial, w.section_ids,
                   w.together, w.max_price_cents, w.status, w.created_at,
                   CASE WHEN w.status IN ('waiting', 'offered') THEN
                     (SELECT count(*) FROM waitlist_entries o WHERE o.event_id = w.event_id
                      AND o.status IN ('waiting', 'offered') AND o.seq <= w.seq) END AS position,
                   h.id AS offer_hold_id, h.expires_at AS offer_expires_at, h.quantity AS offer_quantity
            FROM waitlist_entries w JOIN events e ON e.id = w.event_id
            LEFT JOIN holds h ON h.waitlist_entry_id = w.id AND h.status = 'active' AND w.status = 'offered'
            WHERE w.user_id = :u {tail}
            """
        ),
        params,
    ).all()


def _entry_view(r: Any, now: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": str(r.id),
        "event_id": r.event_id,
        "event_name": r.event_name,
        "quantity": r.quantity,
        "accept_partial": r.accept_partial,
        "section_ids": r.section_ids,
        "together": r.together,
        "max_price_cents": r.max_price_cents,
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
    return item


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
            entries = session.execute(
                text(
                    "SELECT id, user_id, quantity, accept_partial, section_ids, together, max_price_cents "
                    "FROM waitlist_entries WHERE event_id = :e AND status = 'waiting' ORDER BY seq FOR UPDATE"
                ),
                {"e": event_id},
            ).all()
            seat_map: list[MapSeat] = []
            if event.seating == "general":
                free = session.scalar(_FREE_PLACES, {"e": event_id, "now": now})
            else:
                seat_map = open_rows(
                    MapSeat(r[0], SeatState(*r[1:])) for r in session.execute(_MAP, {"e": event_id, "now": now})
                )
                free = sum(s.state.free for s in seat_map)
            seconds = booking_ext.settings.waitlist_offer_seconds or event.hold_seconds
            expires_at = now + timedelta(seconds=seconds)
            taken: set[int] = set()
            misses: set[Wish] = set()  # what is free only shrinks in a run: a wish that missed misses again
            for entry in entries:
                if free <= 0:
                    break
                wish = Wish(
                    entry.quantity,
                    entry.accept_partial,
                    frozenset(entry.section_ids) if entry.section_ids is not None else None,
                    entry.together,
                    entry.max_price_cents,
                )
                spec = None if wish in misses else _request_for(event, wish, free, seat_map, taken)
                if spec is None:
                    misses.add(wish)
                    continue  # it does not fit what is free; one further back may (decision 0017)
                made = _offer(session, event, entry, spec, now, expires_at)
                if made is not None:
                    offered.append(made)
                    free -= made[1].quantity
                    taken.update(seat["id"] for seat in made[0].seats)
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


def _request_for(
    event: Any, wish: Wish, free: int, seat_map: list[MapSeat], taken: set[int]
) -> claims.HoldRequest | None:
    """The hold to offer ``wish`` out of what is free and not offered yet in this run, or None if it does not fit."""
    if event.seating == "general":
        quantity = offered_quantity(wish, free, event.price_cents)
        return claims.HoldRequest(quantity=quantity, allow_partial=wish.accept_partial) if quantity else None
    seat_ids = choose_seats(seat_map, wish, taken)
    return claims.HoldRequest(seat_ids=seat_ids) if seat_ids else None


def _offer(session: Any, event: Any, entry: Any, spec: claims.HoldRequest, now: datetime, expires_at: datetime) -> Any:
    """Claim places for one entry inside a savepoint; None if they could not be claimed (the entry keeps waiting)."""
    savepoint = session.begin_nested()
    try:
        claim = claims.claim_in(session, event, entry.user_id, spec, now, expires_at, waitlist_entry_id=entry.id)
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
                  AND EXISTS (SELECT 1 FROM seats s WHERE s.event_id = e.id AND s.booking_id IS NULL AND s.for_sale
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
