"""Claiming seats: the one code path a hold request and a waitlist offer share.

A claim passes two gates. Redis (one Lua call) turns away most losers of a race cheaply; PostgreSQL
then makes the claim true with one conditional UPDATE that only takes seats nobody holds or booked,
so correctness never depends on Redis. If PostgreSQL refuses, the Redis claim is undone.
Live updates are published after commit, never before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from sqlalchemy import text
from sqlalchemy.orm import Session

from atomicseats import dbapi
from atomicseats.booking import gate, publish
from atomicseats.booking.hold_endings import EndedHolds, after_holds_ended, end_holds
from atomicseats.booking.locks import lock_gates
from atomicseats.booking.reconcile import reconcile_event
from atomicseats.booking.seat_selection import SeatState, choose_block
from atomicseats.booking.specs import Spec
from atomicseats.exceptions import Conflict, Invalid
from atomicseats.models.base import MAX_ID


class HoldRequest(Spec):
    """Either ``seat_ids`` (exactly these, all or nothing) or a ``quantity`` (general admission or best available)."""

    seat_ids: list[Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]] | None = Field(
        default=None, min_length=1, max_length=100
    )
    quantity: Annotated[int, Field(strict=True, ge=1, le=100)] | None = None
    allow_partial: Annotated[bool, Field(strict=True)] = False
    prefer: Literal["best", "cheapest"] = "best"
    accessible: Annotated[bool, Field(strict=True)] = Field(
        default=False,
        description=(
            "Best available for a wheelchair user: a wheelchair space with a companion seat beside it, and "
            "companion seats for the rest of the `quantity` (1: the wheelchair space alone). Reserved seating, "
            "with `quantity` only."
        ),
    )

    @model_validator(mode="after")
    def _one_kind(self) -> HoldRequest:
        if (self.seat_ids is None) == (self.quantity is None):
            raise ValueError("give either seat_ids or quantity")
        if self.seat_ids is not None and len(set(self.seat_ids)) != len(self.seat_ids):
            raise ValueError("seat_ids must not repeat a seat")
        if self.accessible and self.seat_ids is not None:
            raise ValueError("accessible asks best available to choose: give a quantity, not seat_ids")
        return self


# The statements every hold runs go straight to psycopg2 (atomicseats/dbapi.py), hence ``%(name)s``.
SALE_EVENT_SQL = (
    "SELECT id, status, seating, hold_seconds, max_per_order, ends_at, price_cents, host_id "
    "FROM events WHERE id = %(e)s"
)
_EVENT = dbapi.Statement("hold_event", SALE_EVENT_SQL)
_INSERT_HOLD = dbapi.Statement(
    "hold_insert",
    """
    INSERT INTO holds (id, event_id, user_id, quantity, status, expires_at, created_at, waitlist_entry_id)
    VALUES (%(h)s, %(e)s, %(u)s, %(q)s, 'active', %(exp)s, %(now)s, %(w)s)
    ON CONFLICT (user_id, event_id) WHERE status IN ('active', 'checkout') DO NOTHING
    RETURNING id
    """,
)
_OWN_STALE = text(
    "SELECT id FROM holds WHERE user_id = :u AND event_id = :e AND status = 'active' AND expires_at <= :now"
)
_CLAIM_LISTED = dbapi.Statement(
    "hold_claim_listed",
    """
    WITH claimed AS (
      UPDATE seats SET hold_id = %(h)s, hold_expires_at = %(exp)s
      WHERE id IN (SELECT id FROM seats WHERE event_id = %(e)s AND id = ANY(%(ids)s) AND booking_id IS NULL
                   AND for_sale AND (hold_expires_at IS NULL OR hold_expires_at <= %(now)s) ORDER BY id FOR UPDATE)
      RETURNING id, label, section_id),
    recorded AS (INSERT INTO hold_seats (hold_id, seat_id) SELECT %(h)s, id FROM claimed)
    SELECT c.id, c.label, sec.name AS section, COALESCE(sec.price_cents, %(ga_price)s) AS price_cents
    FROM claimed c LEFT JOIN sections sec ON sec.id = c.section_id ORDER BY c.id
    """,
)
_CLAIM_PLACES = dbapi.Statement(
    "hold_claim_places",
    """
    WITH picked AS (
      SELECT id FROM seats WHERE event_id = %(e)s AND booking_id IS NULL
        AND (hold_expires_at IS NULL OR hold_expires_at <= %(now)s)
      ORDER BY id LIMIT %(n)s FOR UPDATE SKIP LOCKED),
    claimed AS (
      UPDATE seats SET hold_id = %(h)s, hold_expires_at = %(exp)s WHERE id IN (SELECT id FROM picked)
      RETURNING id, label),
    recorded AS (INSERT INTO hold_seats (hold_id, seat_id) SELECT %(h)s, id FROM claimed)
    SELECT id, label, NULL AS section, %(ga_price)s::int AS price_cents FROM claimed ORDER BY id
    """,
)


@dataclass
class Claim:
    """Seats claimed for a new hold in the caller's transaction, and what the gate needs to hear after commit."""

    hold_id: uuid.UUID
    expires_at: datetime
    seats: list[dict[str, Any]] = field(default_factory=list)
    shortfall: int = 0
    freed: EndedHolds = field(default_factory=EndedHolds)
    gate_claim: tuple[str, Any] | None = None
    gate_counts: gate.GateCounts | None = None


def claim_in(
    session: Session,
    event: Any,
    user_id: int,
    spec: HoldRequest,
    now: datetime,
    expires_at: datetime,
    *,
    waitlist_entry_id: uuid.UUID | None = None,
    hold_id: uuid.UUID | None = None,
    hold_inserted: bool = False,
) -> Claim:
    """The one code path that claims seats: insert the hold, pass the Redis gate, make it true in PostgreSQL.

    Runs in the caller's transaction (a hold request, or a waitlist offer). ``hold_inserted``: the caller
    already inserted hold ``hold_id`` in this transaction. If it raises, its Redis claim is already undone; if
    the caller's transaction fails afterwards, the caller calls :func:`undo_claim`, and after commit
    :func:`after_claim`.
    """
    claim = Claim(hold_id or uuid.uuid4(), expires_at)
    try:
        _claim(session, event, user_id, spec, now, claim, waitlist_entry_id, hold_inserted)
    except BaseException:
        undo_claim(event.id, claim)
        raise
    return claim


def _claim(
    session: Session,
    event: Any,
    user_id: int,
    spec: HoldRequest,
    now: datetime,
    claim: Claim,
    waitlist_entry_id: uuid.UUID | None,
    hold_inserted: bool,
) -> None:
    event_id, hold_id, expires_at = event.id, claim.hold_id, claim.expires_at
    wanted = len(spec.seat_ids) if spec.seat_ids is not None else spec.quantity
    if not hold_inserted:
        # before the claim reaches Redis: waitlist offers take the gate lock here; a hold request took it in
        # its first statement (taking it again is harmless)
        lock_gates(session, [event_id])
        claim.freed = _insert_hold(session, hold_id, event_id, user_id, wanted, expires_at, now, waitlist_entry_id)
    params = {"h": hold_id, "e": event_id, "exp": expires_at, "now": now, "ga_price": event.price_cents}
    if event.seating == "general":
        granted = wanted
        verdict = _gate_places(event_id, hold_id, wanted, expires_at, now, spec.allow_partial)
        if verdict is not None:
            granted, free = verdict
            if granted == 0:
                raise not_enough(free)
            claim.gate_claim = ("places", granted)
        seats = [r._asdict() for r in dbapi.rows(session, _CLAIM_PLACES, {**params, "n": granted})]
        if len(seats) < wanted and not (spec.allow_partial and seats):
            raise not_enough(len(seats))
        claim.shortfall = wanted - len(seats)
        if claim.shortfall:
            session.execute(text("UPDATE holds SET quantity = :q WHERE id = :h"), {"q": len(seats), "h": hold_id})
    else:
        seat_ids = spec.seat_ids or _best_available(session, event_id, wanted, spec, now)
        claim.gate_counts = _gate_claim(event_id, hold_id, seat_ids, expires_at, now)
        if claim.gate_counts is not None:
            claim.gate_claim = ("seats", seat_ids)
        seats = [r._asdict() for r in dbapi.rows(session, _CLAIM_LISTED, {**params, "ids": seat_ids})]
        if len(seats) < len(seat_ids):
            raise _seats_refused(session, event_id, seat_ids, {s["id"] for s in seats})
    claim.seats = seats


def undo_claim(event_id: int, claim: Claim) -> None:
    """The claim's transaction rolled back: take its claim out of the Redis gate again."""
    if claim.gate_claim is not None:
        _undo_gate(event_id, str(claim.hold_id), claim.gate_claim)
        claim.gate_claim = None


def after_claim(event_id: int, claim: Claim, now: datetime) -> None:
    """After commit: resync the gate if PostgreSQL granted fewer places than Redis reserved; tell seat maps."""
    if claim.gate_claim and claim.gate_claim[0] == "places" and claim.gate_claim[1] != len(claim.seats):
        reconcile_event(event_id)
    after_holds_ended(claim.freed, now, "hold_expired")
    publish.seat_status(event_id, [(s["id"], "held") for s in claim.seats], gate.epoch_ms(now), claim.gate_counts)


def sale_event(session: Session, event_id: int) -> Any:
    """The event row that claiming needs (id, status, seating, hold_seconds, max_per_order, ...), or None."""
    return dbapi.first(session, _EVENT, {"e": event_id})


def _insert_hold(
    session: Session,
    hold_id: uuid.UUID,
    event_id: int,
    user_id: int,
    quantity: int,
    expires_at: datetime,
    now: datetime,
    waitlist_entry_id: uuid.UUID | None = None,
) -> EndedHolds:
    """Insert the hold; a live hold of the same user on the event (the DB's unique index) means 409.

    An own hold that has already run out by time is ended first, so it never blocks a new one.
    """
    params = {
        "h": hold_id,
        "e": event_id,
        "u": user_id,
        "q": quantity,
        "exp": expires_at,
        "now": now,
        "w": waitlist_entry_id,
    }
    if dbapi.first(session, _INSERT_HOLD, params):
        return EndedHolds()
    stale = list(session.scalars(_OWN_STALE, params))
    freed = end_holds(session, stale, "expired", now)
    if stale and dbapi.first(session, _INSERT_HOLD, params):
        return freed
    existing = session.scalar(
        text("SELECT id FROM holds WHERE user_id = :u AND event_id = :e AND status IN ('active', 'checkout')"),
        params,
    )
    raise Conflict(
        "You already hold seats for this event: release that hold or check out first.",
        code="hold_exists",
        details={"hold_id": str(existing) if existing else None},
    )


def _gate_claim(
    event_id: int, hold_id: uuid.UUID, seat_ids: list[int], expires_at: datetime, now: datetime
) -> gate.GateCounts | None:
    """Fast path: the counts after Redis took the claim (None: Redis unavailable, PostgreSQL decides alone);
    raises 409 if Redis knows a seat is taken."""
    try:
        expires_ms, now_ms = gate.epoch_ms(expires_at), gate.epoch_ms(now)
        taken, counts = gate.claim_seats(event_id, seat_ids, str(hold_id), expires_ms, now_ms)
    except gate.GateUnavailable:
        return None
    if taken:
        raise unavailable(taken)
    return counts


def _gate_places(
    event_id: int, hold_id: uuid.UUID, quantity: int, expires_at: datetime, now: datetime, allow_partial: bool
) -> tuple[int, int] | None:
    try:
        expires_ms, now_ms = gate.epoch_ms(expires_at), gate.epoch_ms(now)
        return gate.claim_places(event_id, quantity, str(hold_id), expires_ms, now_ms, allow_partial)
    except gate.GateUnavailable:
        return None


def _undo_gate(event_id: int, token: str, claimed: tuple[str, Any]) -> None:
    kind, what = claimed
    try:
        if kind == "seats":
            gate.release_seats(event_id, what, token)
        elif what:
            gate.places_of_owner(event_id, "release", token, what)
    except gate.GateUnavailable:
        pass  # the claim runs out by its own expiry; reconciliation also clears it


# Seconds a refused buyer should wait while places sit in pending checkouts: about one confirmation's time.
PENDING_RETRY_AFTER = 1


def unavailable(seat_ids: list[int], pending: int = 0) -> Conflict:
    return Conflict(
        "Some of these seats are no longer available.",
        code="seats_unavailable",
        details={"unavailable_seat_ids": sorted(seat_ids), **({"pending": pending} if pending else {})},
        retry_after=PENDING_RETRY_AFTER if pending else None,
    )


def not_enough(available: int, pending: int = 0) -> Conflict:
    return Conflict(
        f"Not enough places left ({available} available"
        + (f"; {pending} more are in checkouts that may still fail)." if pending else ")."),
        code="seats_unavailable",
        details={"available": available, "unavailable_seat_ids": [], **({"pending": pending} if pending else {})},
        retry_after=PENDING_RETRY_AFTER if pending else None,
    )


def _seats_refused(session: Session, event_id: int, wanted: list[int], got: set[int]) -> Exception:
    """Why PostgreSQL refused: seats that are not this event's (422) or taken by someone else (409)."""
    missing = [s for s in wanted if s not in got]
    known = set(
        session.scalars(
            text("SELECT id FROM seats WHERE event_id = :e AND id = ANY(:ids)"), {"e": event_id, "ids": missing}
        )
    )
    unknown = sorted(set(missing) - known)
    if unknown:
        return Invalid(
            "Some seat ids are not seats of this event.",
            code="unknown_seats",
            details={"fields": {"seat_ids": f"unknown seats {unknown}"}, "unknown_seat_ids": unknown},
        )
    return unavailable(missing)


def _no_block(quantity: int, accessible: bool) -> str:
    if not accessible:
        return f"No {quantity} adjacent seats are available together."
    if quantity == 1:
        return "No wheelchair space is available."
    companions = "a companion seat" if quantity == 2 else f"{quantity - 1} companion seats"
    return f"No wheelchair space with {companions} beside it is available."


class NoBlock(Conflict):
    """No block of the wanted seats is free in PostgreSQL's snapshot: choosing again at once would find none either
    (unlike a chosen block that another hold took first, which is worth a second choice)."""


# Every seat of the event as best available weighs it, in SeatState's order. Through dbapi, as plain tuples: it
# returns every seat of the event on each best-available request of a sale, and SQLAlchemy's row processing (or
# a named tuple per row made only to be copied into a SeatState) cost more CPU than the choice itself.
_SEAT_STATES = dbapi.Statement(
    "best_available_seats",
    """
    SELECT s.id, sec.position, sec.price_cents, s.y, s.number, s.x, s.kind,
           (s.booking_id IS NULL AND s.for_sale
            AND (s.hold_expires_at IS NULL OR s.hold_expires_at <= %(now)s::timestamptz)) AS free
    FROM seats s JOIN sections sec ON sec.id = s.section_id WHERE s.event_id = %(e)s::bigint
    """,
)


def _best_available(session: Session, event_id: int, quantity: int, spec: HoldRequest, now: datetime) -> list[int]:
    rows = dbapi.rows(session, _SEAT_STATES, {"e": event_id, "now": now}, named=False)
    block = choose_block(map(SeatState._make, rows), quantity, prefer=spec.prefer, accessible=spec.accessible)
    if block is None:
        raise NoBlock(
            _no_block(quantity, spec.accessible),
            code="seats_unavailable",
            details={"unavailable_seat_ids": []},
        )
    return block
