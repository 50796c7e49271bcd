"""Checkout: a hold becomes a pending booking at once, and a confirmed or failed one in the background.

``start_checkout`` answers the API in one transaction (booking row + outbox row, nothing else to wait for);
``confirm_booking`` runs in an RQ worker and is idempotent on the booking: it locks the booking row and acts
only while it is still ``pending``, so a redelivered message, a replayed job or a re-drive changes nothing.
The hold is stretched to a bounded grace period when checkout starts, so it cannot run out while the
booking waits in the pipeline; if the pipeline takes longer than that, the booking fails with
``hold_expired`` and the seats go back on sale. A declined card fails only its booking: the hold goes back
to its own expiry, and the buyer may check it out again with another card until then
(docs/decisions/0019-declined-card-retry.md).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from atomicseats import dbapi
from atomicseats.booking import gate, outbox, outcomes, payments, publish
from atomicseats.booking.booking_reads import booking_view
from atomicseats.booking.hold_endings import EndedHolds, after_holds_ended, end_holds, reopen_declined
from atomicseats.booking.idempotency import Created, IdempotencyRequest, Replay, run_once
from atomicseats.booking.locks import gate_lock_key, lock_gates
from atomicseats.booking.specs import Spec
from atomicseats.booking.tx import transaction
from atomicseats.exceptions import Conflict, Expired, NotFound
from atomicseats.extensions import booking_ext
from atomicseats.logs import current_request_id
from atomicseats.models import User
from atomicseats.models.base import utcnow

log = logging.getLogger(__name__)

REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud over the phone
CONFIRM_CONSUMER = "confirm_booking"


class PaymentSpec(Spec):
    card_number: str


class CheckoutRequest(Spec):
    hold_id: uuid.UUID
    payment: PaymentSpec


@dataclass(frozen=True)
class Outcome:
    """What confirm_booking did: ``changed`` is False for a repeat that found the booking already final."""

    booking_id: uuid.UUID
    status: str
    failure_reason: str | None = None
    changed: bool = True


def new_reference() -> str:
    return "AS-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))


# The checkout's statements run on psycopg2, prepared once per connection (atomicseats/dbapi.py): buyers check
# out in the same seconds as everyone else holds, in the one web process whose CPU bounds a sale.
_LOCK_HOLD = dbapi.Statement(
    "checkout_lock_hold",
    """
    SELECT h.id, h.event_id, h.status, h.expires_at, h.quantity, e.seating FROM holds h
    JOIN events e ON e.id = h.event_id WHERE h.id = %(h)s::uuid AND h.user_id = %(u)s FOR UPDATE OF h
    """,
)
# The seats, read after the hold's lock is granted (so they are what its holder left), and the event's gate lock
# taken shared (locks.lock_gates): the gate's expiry is extended after commit.
_HOLD_SEATS = dbapi.Statement(
    "checkout_hold_seats",
    f"""
    WITH gate_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared({gate_lock_key("%(e)s::bigint")}))
    SELECT s.id, sec.name AS section, COALESCE(sec.price_cents, e.price_cents) AS price_cents, s.hold_expires_at
    FROM seats s JOIN events e ON e.id = s.event_id LEFT JOIN sections sec ON sec.id = s.section_id
    CROSS JOIN gate_lock WHERE s.hold_id = %(h)s::uuid ORDER BY s.id
    """,
)
_STRETCH_HOLD = dbapi.Statement(
    "checkout_stretch_hold",
    """
    WITH hold AS (UPDATE holds SET status = 'checkout', expires_before_checkout = expires_at, expires_at = %(g)s
                  WHERE id = %(h)s::uuid)
    UPDATE seats SET hold_expires_at = %(g)s WHERE hold_id = %(h)s::uuid
    """,
)
# The booking and its outbox message in one statement; nothing is written when the reference is taken already.
_INSERT_BOOKING = dbapi.Statement(
    "checkout_insert_booking",
    """
    WITH booking AS (
      INSERT INTO bookings (id, reference, user_id, event_id, hold_id, status, quantity, total_cents,
                            payment_token, card_last4, request_id, created_at, updated_at)
      VALUES (%(id)s::uuid, %(ref)s, %(u)s, %(e)s, %(h)s::uuid, 'pending', %(q)s, %(total)s, %(token)s, %(last4)s,
              %(rid)s, %(now)s::timestamptz, %(now)s::timestamptz)
      ON CONFLICT (reference) DO NOTHING RETURNING id),
    message AS (
      INSERT INTO outbox (topic, key, payload, created_at, attempts)
      SELECT %(topic)s::text, %(key)s::text, %(payload)s::jsonb, now(), 0 FROM booking)
    SELECT id FROM booking
    """,
)


def start_checkout(
    spec: CheckoutRequest,
    user: User,
    *,
    idempotency: IdempotencyRequest | None = None,
    now: datetime | None = None,
) -> Created | Replay:
    """Turn the user's live hold into a pending booking (202); 404 for someone else's hold, 410 once it ran out."""
    now = now or utcnow()
    card = payments.provider().tokenize(spec.payment.card_number)  # 422 before anything is written
    grace_until = now + timedelta(seconds=booking_ext.settings.checkout_grace_seconds)
    with transaction() as session:
        result = run_once(session, idempotency, 202, lambda: _start(session, spec, user, card, now, grace_until))
    if isinstance(result, Created):
        hold, seat_ids = result.obj.hold, result.obj.seat_ids
        _extend_gate(hold, seat_ids, grace_until, now)
        publish.to_user(user.id, "booking_updated", {**result.body, "event_id": hold.event_id})
    return result


@dataclass(frozen=True)
class _Started:
    """What the transaction of a checkout made, for what follows its commit."""

    booking_id: uuid.UUID
    hold: Any
    seat_ids: list[int]


def _start(
    session: Session, spec: CheckoutRequest, user: User, card: Any, now: datetime, grace_until: datetime
) -> Created:
    hold = dbapi.first(session, _LOCK_HOLD, {"h": str(spec.hold_id), "u": user.id})
    if hold is None:
        raise NotFound("No such hold.")
    if hold.status in ("checkout", "converted"):
        raise Conflict("This hold has already been checked out.", code="hold_in_checkout")
    if hold.status != "active" or hold.expires_at <= now:
        raise Expired("This hold has ended.", code="hold_expired", details={"status": hold.status})
    seats = dbapi.rows(session, _HOLD_SEATS, {"h": str(hold.id), "e": hold.event_id})
    if not seats or any(s.hold_expires_at <= now for s in seats):
        raise Expired("This hold has ended.", code="hold_expired", details={"status": "expired"})
    dbapi.rows(session, _STRETCH_HOLD, {"g": grace_until, "h": str(hold.id)})
    booking_id = uuid.uuid4()
    params = {
        "id": str(booking_id),
        "u": user.id,
        "e": hold.event_id,
        "h": str(hold.id),
        "q": len(seats),
        "total": sum(s.price_cents for s in seats),
        "token": card.token,
        "last4": card.last4,
        "rid": current_request_id(),
        "now": now,
        "topic": outbox.BOOKING_REQUESTS,
        "key": str(hold.event_id),
        "payload": outbox.payload_json({"booking_id": str(booking_id), "event_id": hold.event_id}),
    }
    while not dbapi.rows(session, _INSERT_BOOKING, {**params, "ref": new_reference()}):
        pass  # a reference collision (1 in ~10^9): draw another
    return Created(_Started(booking_id, hold, [s.id for s in seats]), {"id": str(booking_id), "status": "pending"})


def _extend_gate(hold: Any, seat_ids: list[int], until: datetime, now: datetime) -> None:
    try:
        gate.extend_hold(hold.event_id, str(hold.id), seat_ids, hold.seating == "general", gate.epoch_ms(until))
        gate.mark_pending(hold.event_id, str(hold.id), len(seat_ids), gate.epoch_ms(until), gate.epoch_ms(now))
    except gate.GateUnavailable:
        pass  # reconciliation rebuilds the gate from PostgreSQL, which already has the new expiry


def confirm_booking(booking_id: uuid.UUID | str, message_id: str | None = None, now: datetime | None = None) -> Outcome:
    """Charge and confirm a pending booking, or fail it; a repeat for a booking already final changes nothing.

    The booking row lock is held across the payment, so two deliveries of one booking run one after the
    other and the second finds it final. If the process dies before commit, PostgreSQL rolls everything
    back (the booking stays pending) and the re-drive runs it again; the charge's idempotency key is the
    booking id, so the provider does not charge twice.
    """
    booking_id = uuid.UUID(str(booking_id))
    with transaction() as session:
        booking = dbapi.first(session, _LOCK_FOR_CONFIRM, {"b": str(booking_id), "now": now})
        if booking is None:
            raise NotFound("No such booking.")
        if booking.status != "pending":
            return Outcome(booking_id, booking.status, booking.failure_reason, changed=False)
        now = booking.now
        valid = booking.hold_status == "checkout" and booking.seat_count == booking.quantity and booking.seats_live
        if not valid:
            result = _fail(session, booking, "hold_expired", now, message_id)
        else:
            try:
                charge = payments.provider().charge(booking.payment_token, booking.total_cents, str(booking.id))
            except payments.PaymentTimeout:
                log.warning("booking %s: payment timed out", booking.id)
                charge = None
            if charge is None:
                result = _fail(session, booking, "payment_timeout", now, message_id)
            elif not charge.approved:
                result = _fail(session, booking, charge.reason or "payment_declined", now, message_id, retry=True)
            else:
                result = _confirm(session, booking, charge.reference, now, message_id)
    result.publish(now)
    return result.outcome


@dataclass
class _Result:
    outcome: Outcome
    booking: Any
    seat_ids: list[int]
    ended: EndedHolds | None = None
    retry_until: datetime | None = None  # a declined card: the hold lives on until then, for another card

    def publish(self, now: datetime) -> None:
        """After commit: the gate, the seat maps and the buyer hear the outcome."""
        b = self.booking
        with contextlib.suppress(gate.GateUnavailable):
            gate.clear_pending(b.event_id, str(b.hold_id), b.quantity)
        if self.outcome.status == "confirmed":
            try:
                if b.seating == "general":
                    gate.places_of_owner(b.event_id, "book", str(b.hold_id), b.quantity, 0, self.seat_ids)
                else:
                    gate.book_seats(b.event_id, self.seat_ids, str(b.hold_id))
            except gate.GateUnavailable:
                pass
            publish.seat_status(b.event_id, [(s, "booked") for s in self.seat_ids], gate.epoch_ms(now))
        elif self.ended is not None:
            after_holds_ended(self.ended, now, "hold_updated")
        elif self.retry_until is not None:
            with contextlib.suppress(gate.GateUnavailable):
                until_ms = gate.epoch_ms(self.retry_until)
                gate.extend_hold(b.event_id, str(b.hold_id), self.seat_ids, b.seating == "general", until_ms)
        body = {"id": str(b.id), "status": self.outcome.status, "event_id": b.event_id}
        if self.outcome.failure_reason:
            body["failure_reason"] = self.outcome.failure_reason
        publish.to_user(b.user_id, "booking_updated", body)
        outcomes.announce(str(b.id))


# A confirmation's reads and writes in two round trips, since a sale's confirmations wait on each other's:
# lock the booking, its hold and the event's gate (shared) and read the held seats; then, once paid, write
# everything. The expiry check uses the time after the locks were granted (clock_timestamp()).
_LOCK_FOR_CONFIRM = dbapi.Statement(
    "confirm_lock",
    f"""
    WITH b AS (
      SELECT id, user_id, event_id, hold_id, status, total_cents, quantity, payment_token, failure_reason
      FROM bookings WHERE id = %(b)s::uuid FOR UPDATE),
    h AS (SELECT h.id, h.status, h.waitlist_entry_id FROM holds h JOIN b ON h.id = b.hold_id
          WHERE b.status = 'pending' FOR UPDATE OF h)
    SELECT b.*, e.seating, h.status AS hold_status, h.waitlist_entry_id,
           coalesce(%(now)s::timestamptz, clock_timestamp()) AS now, held.*
    FROM b JOIN events e ON e.id = b.event_id LEFT JOIN h ON true,
    LATERAL (SELECT pg_advisory_xact_lock_shared({gate_lock_key("b.event_id")})) AS gate_lock,
    LATERAL (
      SELECT count(s.id) AS seat_count, array_agg(s.id ORDER BY s.id) AS seat_ids,
             array_agg(COALESCE(sec.price_cents, e.price_cents) ORDER BY s.id) AS prices,
             coalesce(bool_and(s.hold_expires_at > coalesce(%(now)s::timestamptz, clock_timestamp())), false)
               AS seats_live
      FROM seats s LEFT JOIN sections sec ON sec.id = s.section_id
      WHERE s.hold_id = b.hold_id AND b.status = 'pending') AS held
    """,
)
_CONFIRM = dbapi.Statement(
    "confirm_write",
    """
    WITH processed AS (
      INSERT INTO processed_messages (consumer, message_id, processed_at)
      SELECT %(consumer)s::text, %(m)s::text, now() WHERE %(m)s::text IS NOT NULL ON CONFLICT DO NOTHING),
    paid AS (
      INSERT INTO booking_seats (booking_id, seat_id, price_cents, active)
      SELECT %(b)s::uuid, s.id, s.price, true FROM unnest(%(ids)s::bigint[], %(prices)s::int[]) AS s(id, price)),
    moved AS (
      UPDATE seats SET booking_id = %(b)s::uuid, hold_id = NULL, hold_expires_at = NULL
      WHERE hold_id = %(h)s::uuid AND id = ANY(%(ids)s::bigint[]) RETURNING id),
    converted AS (
      UPDATE holds SET status = 'converted', ended_at = %(now)s::timestamptz
      WHERE id = %(h)s::uuid AND status = 'checkout'),
    fulfilled AS (
      UPDATE waitlist_entries SET status = 'fulfilled', updated_at = %(now)s::timestamptz WHERE id = %(w)s::uuid),
    confirmed AS (
      UPDATE bookings SET status = 'confirmed', confirmed_at = clock_timestamp(), updated_at = %(now)s::timestamptz,
             payment_reference = %(ref)s::text
      WHERE id = %(b)s::uuid AND status = 'pending')
    SELECT count(*) AS moved FROM moved
    """,
)


def _confirm(session: Session, booking: Any, reference: str | None, now: datetime, message_id: str | None) -> _Result:
    seat_ids = list(booking.seat_ids)
    moved = dbapi.first(
        session,
        _CONFIRM,
        {
            "consumer": CONFIRM_CONSUMER,
            "m": message_id,
            "b": str(booking.id),
            "h": str(booking.hold_id),
            "w": str(booking.waitlist_entry_id) if booking.waitlist_entry_id else None,
            "ids": seat_ids,
            "prices": list(booking.prices),
            "ref": reference,
            "now": now,
        },
    ).moved
    if moved != len(seat_ids):  # cannot happen under the row locks above; refuse rather than sell short
        raise RuntimeError(f"booking {booking.id}: {moved} of {len(seat_ids)} seats moved")
    _notify(session, booking, "booking_confirmed")
    return _Result(Outcome(booking.id, "confirmed"), booking, seat_ids)


def _fail(
    session: Session, booking: Any, reason: str, now: datetime, message_id: str | None, retry: bool = False
) -> _Result:
    """Fail the booking and end its hold; with ``retry`` (a declined card) the hold instead goes back to its own
    expiry while that is ahead, so the buyer can pay with another card and no place is released meanwhile."""
    if message_id is not None:
        session.execute(
            text(
                "INSERT INTO processed_messages (consumer, message_id, processed_at) VALUES (:c, :m, now()) "
                "ON CONFLICT DO NOTHING"
            ),
            {"c": CONFIRM_CONSUMER, "m": str(message_id)},
        )
    retry_until = reopen_declined(session, booking.hold_id, now) if retry else None
    ended = None if retry_until else end_holds(session, [booking.hold_id], "expired", now)
    session.execute(
        text(
            "UPDATE bookings SET status = 'failed', failure_reason = :r, updated_at = :now "
            "WHERE id = :b AND status = 'pending'"
        ),
        {"b": booking.id, "r": reason, "now": now},
    )
    retry_with = {"hold_id": str(booking.hold_id), "expires_at": retry_until.isoformat()} if retry_until else {}
    _notify(session, booking, "booking_failed", failure_reason=reason, **retry_with)
    seat_ids = list(booking.seat_ids) if retry_until else []
    return _Result(Outcome(booking.id, "failed", reason), booking, seat_ids, ended, retry_until)


def _notify(session: Session, booking: Any, kind: str, **extra: Any) -> None:
    outbox.enqueue(
        session,
        outbox.NOTIFICATIONS,
        booking.user_id,
        {
            "kind": kind,
            "user_id": booking.user_id,
            "event_id": booking.event_id,
            "booking_id": str(booking.id),
            **extra,
        },
    )


def cancel_booking(booking_id: uuid.UUID, user: User, now: datetime | None = None) -> dict[str, Any]:
    """Cancel a confirmed booking (owner or admin): its seats go back on sale and to the waitlist."""
    now = now or utcnow()
    with transaction() as session:
        booking = session.execute(
            text(
                "SELECT b.id, b.user_id, b.event_id, b.status, b.hold_id, e.seating FROM bookings b "
                "JOIN events e ON e.id = b.event_id WHERE b.id = :b FOR UPDATE OF b"
            ),
            {"b": booking_id},
        ).first()
        if booking is None or (booking.user_id != user.id and user.role != "admin"):
            raise NotFound("No such booking.")
        if booking.status == "cancelled":
            raise Conflict("This booking is already cancelled.", code="already_cancelled")
        if booking.status != "confirmed":
            raise Conflict(
                f"Only a confirmed booking can be cancelled; this one is {booking.status}.", code="not_confirmed"
            )
        lock_gates(session, [booking.event_id])  # the gate frees the seats after commit
        seat_ids = list(
            session.scalars(
                text("UPDATE booking_seats SET active = false WHERE booking_id = :b AND active RETURNING seat_id"),
                {"b": booking.id},
            )
        )
        session.execute(
            text("UPDATE seats SET booking_id = NULL WHERE booking_id = :b AND id = ANY(:ids)"),
            {"b": booking.id, "ids": seat_ids},
        )
        session.execute(
            text("UPDATE bookings SET status = 'cancelled', cancelled_at = :now, updated_at = :now WHERE id = :b"),
            {"b": booking.id, "now": now},
        )
        outbox.places_freed(session, booking.event_id, len(seat_ids), "booking_cancelled")
        _notify(session, booking, "booking_cancelled")
    with contextlib.suppress(gate.GateUnavailable):
        gate.unbook_seats(booking.event_id, seat_ids)
    publish.seat_status(booking.event_id, [(s, "available") for s in seat_ids], gate.epoch_ms(now))
    publish.to_user(booking.user_id, "booking_updated", {"id": str(booking.id), "status": "cancelled"})
    return booking_view(booking.id)
