"""Holds: claim seats all-or-nothing, release them, and let them expire.

A claim passes two gates. Redis (one Lua call) turns away most losers of a race cheaply; PostgreSQL
then makes the claim true with one conditional UPDATE that only takes seats nobody holds or booked,
so correctness never depends on Redis. If PostgreSQL refuses, the Redis claim is undone.
Live updates are published after commit, never before.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from sqlalchemy import text
from sqlalchemy.orm import Session

from atomicseats import dbapi
from atomicseats.booking import gate, outbox, publish
from atomicseats.booking.access import may_see
from atomicseats.booking.idempotency import Created, IdempotencyRequest, Replay, run_once
from atomicseats.booking.reconcile import gate_lock_key, lock_gates, reconcile_event
from atomicseats.booking.seat_selection import SeatState, choose_block
from atomicseats.booking.specs import Spec
from atomicseats.booking.tx import transaction
from atomicseats.exceptions import Conflict, Expired, Invalid, NotFound
from atomicseats.models import User
from atomicseats.models.base import MAX_ID, utcnow

BEST_AVAILABLE_ATTEMPTS = 3


class HoldRequest(Spec):
    """Either ``seat_ids`` (exactly these, all or nothing) or a ``quantity`` (general admission or best available)."""

    seat_ids: list[Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]] | None = Field(
        default=None, min_length=1, max_length=100
    )
    quantity: Annotated[int, Field(strict=True, ge=1, le=100)] | None = None
    allow_partial: Annotated[bool, Field(strict=True)] = False
    prefer: Literal["best", "cheapest"] = "best"
    accessible: Annotated[bool, Field(strict=True)] = False

    @model_validator(mode="after")
    def _one_kind(self) -> HoldRequest:
        if (self.seat_ids is None) == (self.quantity is None):
            raise ValueError("give either seat_ids or quantity")
        if self.seat_ids is not None and len(set(self.seat_ids)) != len(self.seat_ids):
            raise ValueError("seat_ids must not repeat a seat")
        return self


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


@dataclass
class EndedHolds:
    """What ending some holds freed, so that after commit the gate and the seat maps can be told."""

    holds: list[Any] = field(default_factory=list)
    seats_by_hold: dict[uuid.UUID, list[int]] = field(default_factory=lambda: defaultdict(list))


# The statements every hold runs go straight to psycopg2 (atomicseats/dbapi.py), hence ``%(name)s``.
_EVENT_SQL = (
    "SELECT id, status, seating, hold_seconds, max_per_order, ends_at, price_cents, host_id "
    "FROM events WHERE id = %(e)s"
)
_EVENT = dbapi.Statement("hold_event", _EVENT_SQL)
_INSERT_HOLD = dbapi.Statement(
    "hold_insert",
    """
    INSERT INTO holds (id, event_id, user_id, quantity, status, expires_at, created_at, waitlist_entry_id)
    VALUES (%(h)s, %(e)s, %(u)s, %(q)s, 'active', %(exp)s, %(now)s, %(w)s)
    ON CONFLICT (user_id, event_id) WHERE status IN ('active', 'checkout') DO NOTHING
    RETURNING id
    """,
)
# A hold request's first statement: read the event and, when the request may hold seats on it, insert the
# hold in the same round trip. The WHERE clause is the one _check_request applies to the row, so a hold is
# inserted exactly when no rule refuses it (a live hold of the same user is left to _insert_hold). It also
# takes the event's gate lock, shared, before the claim reaches Redis (reconcile.py says why).
_EVENT_AND_HOLD = dbapi.Statement(
    "hold_event_and_insert",
    f"""
    WITH ev AS ({_EVENT_SQL}),
    inserted AS (
      INSERT INTO holds (id, event_id, user_id, quantity, status, expires_at, created_at)
      SELECT %(h)s::uuid, ev.id, %(u)s::bigint, %(q)s::int, 'active',
             %(now)s::timestamptz + make_interval(secs => ev.hold_seconds), %(now)s::timestamptz
      FROM ev
      WHERE ev.status = 'on_sale' AND ev.ends_at > %(now)s AND %(q)s <= ev.max_per_order
        AND NOT (ev.seating = 'general' AND %(listed)s)
      ON CONFLICT (user_id, event_id) WHERE status IN ('active', 'checkout') DO NOTHING
      RETURNING id)
    SELECT ev.*, EXISTS (SELECT FROM inserted) AS hold_inserted
    FROM ev, LATERAL (SELECT pg_advisory_xact_lock_shared({gate_lock_key("ev.id")})) AS gate_lock
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
                   AND (hold_expires_at IS NULL OR hold_expires_at <= %(now)s) ORDER BY id FOR UPDATE)
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


def create_hold(
    event_id: int,
    user: User,
    request: HoldRequest,
    *,
    now: datetime | None = None,
    idempotency: IdempotencyRequest | None = None,
) -> Created | Replay:
    """Hold seats for ``user``; 409 ``seats_unavailable`` names the seats someone else has."""
    if event_id > MAX_ID:
        raise NotFound("No such event.")
    now = now or utcnow()
    if idempotency is None:  # a repeated key must get its first answer, which only PostgreSQL has
        _refuse_from_gate(event_id, request, now)
    attempts = BEST_AVAILABLE_ATTEMPTS if request.quantity and request.seat_ids is None else 1
    for attempt in range(1, attempts + 1):
        try:
            return _create_hold(event_id, user, request, now, idempotency)
        except Conflict as exc:
            if exc.code != "seats_unavailable" or attempt == attempts or request.seat_ids is not None:
                raise
    raise AssertionError("unreachable")


def _create_hold(
    event_id: int, user: User, request: HoldRequest, now: datetime, idempotency: IdempotencyRequest | None
) -> Created | Replay:
    claim: Claim | None = None

    def create(session: Session) -> Created:
        nonlocal claim
        hold_id = uuid.uuid4()
        wanted = len(request.seat_ids) if request.seat_ids is not None else request.quantity
        params = {"e": event_id, "h": hold_id, "u": user.id, "q": wanted, "now": now}
        event = dbapi.first(session, _EVENT_AND_HOLD, {**params, "listed": request.seat_ids is not None})
        _check_request(event, user, request, wanted, now)
        expires_at = now + timedelta(seconds=event.hold_seconds)
        claim = claim_in(
            session, event, user.id, request, now, expires_at, hold_id=hold_id, hold_inserted=event.hold_inserted
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
    request: HoldRequest,
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
        _claim(session, event, user_id, request, now, claim, waitlist_entry_id, hold_inserted)
    except BaseException:
        undo_claim(event.id, claim)
        raise
    return claim


def _claim(
    session: Session,
    event: Any,
    user_id: int,
    request: HoldRequest,
    now: datetime,
    claim: Claim,
    waitlist_entry_id: uuid.UUID | None,
    hold_inserted: bool,
) -> None:
    event_id, hold_id, expires_at = event.id, claim.hold_id, claim.expires_at
    wanted = len(request.seat_ids) if request.seat_ids is not None else request.quantity
    if not hold_inserted:
        # before the claim reaches Redis: waitlist offers take the gate lock here; a hold request took it in
        # its first statement (taking it again is harmless)
        lock_gates(session, [event_id])
        claim.freed = _insert_hold(session, hold_id, event_id, user_id, wanted, expires_at, now, waitlist_entry_id)
    params = {"h": hold_id, "e": event_id, "exp": expires_at, "now": now, "ga_price": event.price_cents}
    if event.seating == "general":
        granted = wanted
        verdict = _gate_places(event_id, hold_id, wanted, expires_at, now, request.allow_partial)
        if verdict is not None:
            granted, free = verdict
            if granted == 0:
                raise _not_enough(free)
            claim.gate_claim = ("places", granted)
        seats = [r._asdict() for r in dbapi.rows(session, _CLAIM_PLACES, {**params, "n": granted})]
        if len(seats) < wanted and not (request.allow_partial and seats):
            raise _not_enough(len(seats))
        claim.shortfall = wanted - len(seats)
        if claim.shortfall:
            session.execute(text("UPDATE holds SET quantity = :q WHERE id = :h"), {"q": len(seats), "h": hold_id})
    else:
        seat_ids = request.seat_ids or _best_available(session, event_id, wanted, request, now)
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


def _check_request(event: Any, user: User, request: HoldRequest, wanted: int, now: datetime) -> None:
    """The rules a hold request must pass on the event's row (mirrored by _EVENT_AND_HOLD's WHERE clause)."""
    if event is None or not may_see(event, user):
        raise NotFound("No such event.")
    if event.status != "on_sale":
        raise Conflict(f"This event is not on sale (it is {event.status}).", code="event_not_on_sale")
    if event.ends_at <= now:
        raise Conflict("This event is over.", code="event_ended")
    if wanted > event.max_per_order:
        field_name = "seat_ids" if request.seat_ids is not None else "quantity"
        raise Invalid(
            f"At most {event.max_per_order} seats per order for this event.",
            code="too_many_seats",
            details={"fields": {field_name: f"at most {event.max_per_order}"}},
        )
    if event.seating == "general" and request.seat_ids is not None:
        raise Invalid.field("seat_ids", "general admission events take a quantity, not seat ids")


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
        raise _unavailable(taken)
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


def _refuse_from_gate(event_id: int, request: HoldRequest, now: datetime) -> None:
    """Turn away a request the Redis gate already knows cannot be served, before any transaction.

    In a sale most hold requests lose; each used to cost a PostgreSQL transaction (insert the hold, roll it
    back) and took CPU from the confirmations that free or sell those very places. A request that may succeed
    goes on to the two gates as before, so this only ever answers earlier, never differently about seats.
    """
    try:
        peek = gate.peek(event_id, gate.epoch_ms(now), request.seat_ids or ())
    except gate.GateUnavailable:
        return
    if peek is None:  # not built (a draft, or Redis was wiped): PostgreSQL decides
        return
    if request.seat_ids is not None:
        if peek.taken:
            raise _unavailable(peek.taken, peek.pending)
    elif peek.free == 0 or (peek.free < (request.quantity or 0) and not request.allow_partial):
        raise _not_enough(peek.free, peek.pending)


# Seconds a refused buyer should wait while places sit in pending checkouts: about one confirmation's time.
PENDING_RETRY_AFTER = 1


def _unavailable(seat_ids: list[int], pending: int = 0) -> Conflict:
    return Conflict(
        "Some of these seats are no longer available.",
        code="seats_unavailable",
        details={"unavailable_seat_ids": sorted(seat_ids), **({"pending": pending} if pending else {})},
        retry_after=PENDING_RETRY_AFTER if pending else None,
    )


def _not_enough(available: int, pending: int = 0) -> Conflict:
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
    return _unavailable(missing)


def _best_available(session: Session, event_id: int, quantity: int, request: HoldRequest, now: datetime) -> list[int]:
    rows = session.execute(
        text(
            """
            SELECT s.id, sec.position, sec.price_cents, s.y, s.number, s.x, s.kind,
                   (s.booking_id IS NULL AND (s.hold_expires_at IS NULL OR s.hold_expires_at <= :now)) AS free
            FROM seats s JOIN sections sec ON sec.id = s.section_id WHERE s.event_id = :e
            """
        ),
        {"e": event_id, "now": now},
    )
    block = choose_block(
        (SeatState(*row) for row in rows), quantity, prefer=request.prefer, accessible=request.accessible
    )
    if block is None:
        raise Conflict(
            f"No {quantity} adjacent seats are available together.",
            code="seats_unavailable",
            details={"unavailable_seat_ids": []},
        )
    return block


def end_holds(session: Session, hold_ids: list[uuid.UUID], status: str, now: datetime) -> EndedHolds:
    """End live holds in the caller's transaction: free their seats, close waitlist offers, signal the waitlist."""
    ended = EndedHolds()
    if not hold_ids:
        return ended
    ended.holds = session.execute(
        text(
            """
            UPDATE holds h SET status = :st, ended_at = :now FROM events e
            WHERE h.id = ANY(:ids) AND h.status IN ('active', 'checkout') AND e.id = h.event_id
            RETURNING h.id, h.event_id, h.user_id, h.quantity, h.waitlist_entry_id, e.seating
            """
        ),
        {"st": status, "now": now, "ids": list(hold_ids)},
    ).all()
    if not ended.holds:
        return ended
    lock_gates(session, {h.event_id for h in ended.holds})  # before commit: the gate hears of it after
    ids = [h.id for h in ended.holds]
    for seat_id, hold_id in session.execute(
        # RETURNING shows new values, so the old hold id comes from the locked pre-image.
        text(
            """
            UPDATE seats s SET hold_id = NULL, hold_expires_at = NULL
            FROM (SELECT id, hold_id FROM seats WHERE hold_id = ANY(:ids) FOR UPDATE) old
            WHERE s.id = old.id RETURNING s.id, old.hold_id
            """
        ),
        {"ids": ids},
    ):
        ended.seats_by_hold[hold_id].append(seat_id)
    if status in ("expired", "released"):
        lapsed = session.execute(
            text(
                "UPDATE waitlist_entries SET status = 'expired', updated_at = :now "
                "WHERE status = 'offered' AND id = ANY(:entries) RETURNING id, user_id, event_id"
            ),
            {"now": now, "entries": [h.waitlist_entry_id for h in ended.holds if h.waitlist_entry_id]},
        ).all()
        for entry_id, user_id, event_id in lapsed:  # the person whose offer lapsed is told by email
            outbox.enqueue(
                session,
                outbox.NOTIFICATIONS,
                user_id,
                {"kind": "waitlist_offer_expired", "user_id": user_id, "event_id": event_id, "entry_id": entry_id},
            )
    if status != "cancelled":
        per_event: dict[int, int] = defaultdict(int)
        for h in ended.holds:
            per_event[h.event_id] += len(ended.seats_by_hold[h.id])
        for event_id, count in per_event.items():
            outbox.places_freed(session, event_id, count, f"hold_{status}")
    return ended


def after_holds_ended(ended: EndedHolds, now: datetime, user_event: str) -> None:
    """After commit: drop the claims from the gate and tell seat maps and holders."""
    for hold in ended.holds:
        seat_ids = ended.seats_by_hold[hold.id]
        try:
            if hold.seating == "general":
                gate.places_of_owner(hold.event_id, "release", str(hold.id), hold.quantity)
            else:
                gate.release_seats(hold.event_id, seat_ids, str(hold.id))
        except gate.GateUnavailable:
            pass
        publish.seat_status(hold.event_id, [(s, "available") for s in seat_ids], gate.epoch_ms(now))
        publish.to_user(hold.user_id, user_event, {"id": str(hold.id), "event_id": hold.event_id})


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


def release_hold(hold_id: uuid.UUID, user: User, now: datetime | None = None) -> None:
    """Let go of a hold now; its seats are available at once."""
    now = now or utcnow()
    with transaction() as session:
        hold = session.execute(
            text("SELECT status, expires_at FROM holds WHERE id = :h AND user_id = :u FOR UPDATE"),
            {"h": hold_id, "u": user.id},
        ).first()
        if hold is None:
            raise NotFound("No such hold.")
        if hold.status == "checkout":
            raise Conflict("This hold is being checked out.", code="hold_in_checkout")
        if hold.status != "active":
            raise Expired("This hold has already ended.", code="hold_expired", details={"status": hold.status})
        ended = end_holds(session, [hold_id], "released", now)
    after_holds_ended(ended, now, "hold_updated")


def expire_due(now: datetime | None = None, limit: int = 500) -> int:
    """End holds whose time is up (the scheduler calls this every fraction of a second)."""
    now = now or utcnow()
    with transaction() as session:
        due = list(
            session.scalars(
                text(
                    "SELECT id FROM holds WHERE status = 'active' AND expires_at <= :now "
                    "ORDER BY expires_at LIMIT :n FOR UPDATE SKIP LOCKED"
                ),
                {"now": now, "n": limit},
            )
        )
        ended = end_holds(session, due, "expired", now)
    after_holds_ended(ended, now, "hold_expired")
    return len(ended.holds)
