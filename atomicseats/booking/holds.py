"""Hold requests: a buyer holds seats all-or-nothing, and reads the hold back.

Claiming the seats is :mod:`~atomicseats.booking.claims` (shared with waitlist offers); releasing and
expiring holds is :mod:`~atomicseats.booking.hold_endings`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from atomicseats import dbapi
from atomicseats.booking import gate, publish
from atomicseats.booking.access import may_see
from atomicseats.booking.claims import (
    SALE_EVENT_SQL,
    Claim,
    HoldRequest,
    NoBlock,
    after_claim,
    claim_in,
    not_enough,
    unavailable,
    undo_claim,
)
from atomicseats.booking.idempotency import Created, IdempotencyRequest, Replay, run_once
from atomicseats.booking.locks import gate_lock_key
from atomicseats.booking.tx import transaction
from atomicseats.exceptions import Conflict, Expired, Invalid, NotFound
from atomicseats.models import User
from atomicseats.models.base import MAX_ID, utcnow

BEST_AVAILABLE_ATTEMPTS = 3


@dataclass(frozen=True)
class HoldView:
    id: uuid.UUID
    event_id: int
    user_id: int
    status: str
    quantity: int
    expires_at: datetime
    seats: list[dict[str, Any]]
    shortfall: int = 0

    def to_dict(self, now: datetime) -> dict[str, Any]:
        body = {
            "id": str(self.id),
            "event_id": self.event_id,
            "status": self.status,
            "seats": self.seats,
            "quantity": self.quantity,
            "total_cents": sum(s["price_cents"] for s in self.seats),
            "expires_at": self.expires_at.isoformat(),
            "expires_in": max(0, int((self.expires_at - now).total_seconds())),
        }
        if self.shortfall:
            body["shortfall"] = self.shortfall
        return body


# A hold request's first statement: read the event and, when the request may hold seats on it, insert the
# hold in the same round trip. The WHERE clause is the one _check_request applies to the row, so a hold is
# inserted exactly when no rule refuses it (a live hold of the same user is left to _insert_hold). It also
# takes the event's gate lock, shared, before the claim reaches Redis (locks.py says why).
_EVENT_AND_HOLD = dbapi.Statement(
    "hold_event_and_insert",
    f"""
    WITH ev AS ({SALE_EVENT_SQL}),
    inserted AS (
      INSERT INTO holds (id, event_id, user_id, quantity, status, expires_at, created_at)
      SELECT %(h)s::uuid, ev.id, %(u)s::bigint, %(q)s::int, 'active',
             %(now)s::timestamptz + make_interval(secs => ev.hold_seconds), %(now)s::timestamptz
      FROM ev
      WHERE ev.status = 'on_sale' AND ev.ends_at > %(now)s AND %(q)s <= ev.max_per_order
        AND NOT (ev.seating = 'general' AND %(picks_seats)s)
      ON CONFLICT (user_id, event_id) WHERE status IN ('active', 'checkout') DO NOTHING
      RETURNING id)
    SELECT ev.*, EXISTS (SELECT FROM inserted) AS hold_inserted
    FROM ev, LATERAL (SELECT pg_advisory_xact_lock_shared({gate_lock_key("ev.id")})) AS gate_lock
    """,
)


def create_hold(
    event_id: int,
    user: User,
    spec: HoldRequest,
    *,
    now: datetime | None = None,
    idempotency: IdempotencyRequest | None = None,
) -> Created | Replay:
    """Hold seats for ``user``; 409 ``seats_unavailable`` names the seats someone else has."""
    if event_id > MAX_ID:
        raise NotFound("No such event.")
    now = now or utcnow()
    if idempotency is None:  # a repeated key must get its first answer, which only PostgreSQL has: see create()
        _refuse_from_gate(event_id, spec, now)
    attempts = BEST_AVAILABLE_ATTEMPTS if spec.quantity and spec.seat_ids is None else 1
    for attempt in range(1, attempts + 1):
        try:
            return _create_hold(event_id, user, spec, now, idempotency)
        except Conflict as exc:
            lost_race = exc.code == "seats_unavailable" and not isinstance(exc, NoBlock)
            if not lost_race or attempt == attempts or spec.seat_ids is not None:
                raise
    raise AssertionError("unreachable")


def _create_hold(
    event_id: int, user: User, spec: HoldRequest, now: datetime, idempotency: IdempotencyRequest | None
) -> Created | Replay:
    claim: Claim | None = None

    def create(session: Session) -> Created:
        nonlocal claim
        if idempotency is not None:
            # run_once has replayed a repeat of the key, or waited for it: from here on this is the key's first
            # answer, and the gate may refuse it as it refuses a request without a key (no hold row to roll back,
            # no read of every seat for a best available that cannot be served).
            _refuse_from_gate(event_id, spec, now)
        hold_id = uuid.uuid4()
        wanted = len(spec.seat_ids) if spec.seat_ids is not None else spec.quantity
        params = {"e": event_id, "h": hold_id, "u": user.id, "q": wanted, "now": now}
        picks_seats = spec.seat_ids is not None or spec.accessible  # which general admission has none of
        event = dbapi.first(session, _EVENT_AND_HOLD, {**params, "picks_seats": picks_seats})
        _check_request(event, user, spec, wanted, now)
        expires_at = now + timedelta(seconds=event.hold_seconds)
        claim = claim_in(
            session, event, user.id, spec, now, expires_at, hold_id=hold_id, hold_inserted=event.hold_inserted
        )
        view = HoldView(
            claim.hold_id, event_id, user.id, "active", len(claim.seats), claim.expires_at, claim.seats, claim.shortfall
        )
        return Created(view, view.to_dict(now))

    try:
        with transaction() as session:
            result = run_once(session, idempotency, 201, lambda: create(session))
    except BaseException:
        if claim is not None:
            undo_claim(event_id, claim)
        raise
    if isinstance(result, Created):
        with publish.batch():
            after_claim(event_id, claim, now)
            publish.to_user(user.id, "hold_updated", result.body)
    return result


def _check_request(event: Any, user: User, spec: HoldRequest, wanted: int, now: datetime) -> None:
    """The rules a hold request must pass on the event's row (mirrored by _EVENT_AND_HOLD's WHERE clause)."""
    if event is None or not may_see(event, user):
        raise NotFound("No such event.")
    if event.status != "on_sale":
        raise Conflict(f"This event is not on sale (it is {event.status}).", code="event_not_on_sale")
    if event.ends_at <= now:
        raise Conflict("This event is over.", code="event_ended")
    if wanted > event.max_per_order:
        field_name = "seat_ids" if spec.seat_ids is not None else "quantity"
        raise Invalid(
            f"At most {event.max_per_order} seats per order for this event.",
            code="too_many_seats",
            details={"fields": {field_name: f"at most {event.max_per_order}"}},
        )
    if event.seating == "general" and spec.seat_ids is not None:
        raise Invalid.field("seat_ids", "general admission events take a quantity, not seat ids")
    if event.seating == "general" and spec.accessible:
        raise Invalid.field("accessible", "general admission events have no wheelchair spaces to choose")


def _refuse_from_gate(event_id: int, spec: HoldRequest, now: datetime) -> None:
    """Turn away a request the Redis gate already knows cannot be served, before any transaction.

    In a sale most hold requests lose; each used to cost a PostgreSQL transaction (insert the hold, roll it
    back) and took CPU from the confirmations that free or sell those very places. A request that may succeed
    goes on to the two gates as before, so this only ever answers earlier, never differently about seats.
    """
    try:
        peek = gate.peek(event_id, gate.epoch_ms(now), spec.seat_ids or ())
    except gate.GateUnavailable:
        return
    if peek is None:  # not built (a draft, or Redis was wiped): PostgreSQL decides
        return
    if spec.seat_ids is not None:
        if peek.taken:
            raise unavailable(peek.taken, peek.pending)
    elif peek.free == 0 or (peek.free < (spec.quantity or 0) and not spec.allow_partial):
        raise not_enough(peek.free, peek.pending)


def get_hold(hold_id: uuid.UUID, user: User, now: datetime | None = None) -> HoldView:
    """The owner's hold; anyone else gets 404 (never a hint that it exists); 410 once it has run out."""
    from atomicseats.extensions import db

    now = now or utcnow()
    hold = db.session.execute(
        text("SELECT id, event_id, user_id, status, quantity, expires_at FROM holds WHERE id = :h AND user_id = :u"),
        {"h": hold_id, "u": user.id},
    ).first()
    if hold is None:
        raise NotFound("No such hold.")
    if hold.status in ("expired", "released", "cancelled") or (hold.status == "active" and hold.expires_at <= now):
        raise Expired("This hold has ended.", code="hold_expired", details={"status": hold.status})
    seats = [
        dict(r._mapping)
        for r in db.session.execute(
            text(
                """
                SELECT s.id, s.label, sec.name AS section, COALESCE(sec.price_cents, e.price_cents) AS price_cents
                FROM hold_seats hs JOIN seats s ON s.id = hs.seat_id JOIN events e ON e.id = s.event_id
                LEFT JOIN sections sec ON sec.id = s.section_id WHERE hs.hold_id = :h ORDER BY s.id
                """
            ),
            {"h": hold_id},
        )
    ]
    return HoldView(hold.id, hold.event_id, hold.user_id, hold.status, hold.quantity, hold.expires_at, seats)
