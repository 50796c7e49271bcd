"""A declined card fails only its booking: the hold keeps its seats until its own expiry, and another card may
book them meanwhile. The checkout engine called directly, with an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from atomicseats.booking import checkout, gate, hold_endings, holds, outbox
from atomicseats.booking.checkout import CheckoutRequest
from atomicseats.booking.claims import HoldRequest
from atomicseats.booking.payments import CARD_APPROVED, CARD_DECLINED, CARD_TIMEOUT
from atomicseats.exceptions import Conflict
from atomicseats.extensions import db
from atomicseats.models import User
from atomicseats.models.base import utcnow


def hold(event_id: int, user: User, now, **request):
    return holds.create_hold(event_id, db.session.merge(user), HoldRequest(**request), now=now).obj


def pay(hold_id, user: User, card: str, now) -> str:
    """Check the hold out with ``card`` and run its confirmation (the worker's job) at once: the outcome."""
    spec = CheckoutRequest(hold_id=hold_id, payment={"card_number": card})
    booking_id = checkout.start_checkout(spec, db.session.merge(user), now=now).body["id"]
    return checkout.confirm_booking(booking_id, now=now + timedelta(seconds=1))


def hold_state(hold_id):
    return db.session.execute(text("SELECT status, expires_at FROM holds WHERE id = :h"), {"h": hold_id}).one()


def bookings_of(hold_id) -> list[tuple[str, str | None]]:
    return [
        tuple(r)
        for r in db.session.execute(
            text("SELECT status, failure_reason FROM bookings WHERE hold_id = :h ORDER BY created_at"), {"h": hold_id}
        )
    ]


def freed_signals(event_id: int) -> int:
    return db.session.scalar(
        text("SELECT count(*) FROM outbox WHERE topic = :t AND payload->>'event_id' = :e"),
        {"t": outbox.WAITLIST_ALLOCATION, "e": str(event_id)},
    )


def two_seats_held_while_someone_waits(factory, api, hold_seconds: int):
    """An event with someone on its waitlist (so freed places would be signalled) and a buyer's hold on two seats."""
    event = factory.event(hold_seconds=hold_seconds)
    seats = factory.seat_ids(event.id)[:2]
    assert api.as_(factory.user()).post(f"/events/{event.id}/waitlist", {"quantity": 2}).status == 201
    user, now = factory.user(), utcnow()
    return event, seats, user, now, hold(event.id, user, now, seat_ids=seats)


def test_after_a_declined_card_the_hold_keeps_its_seats_and_another_card_books_them(factory, api, ctx):
    event, seats, user, now, held = two_seats_held_while_someone_waits(factory, api, hold_seconds=300)
    signals = freed_signals(event.id)

    declined = pay(held.id, user, CARD_DECLINED, now)

    assert (declined.status, declined.failure_reason) == ("failed", "payment_declined")
    assert tuple(hold_state(held.id)) == ("active", held.expires_at)  # its own expiry, not the checkout's grace
    rows = db.session.execute(text("SELECT hold_id, hold_expires_at FROM seats WHERE id = ANY(:s)"), {"s": seats})
    assert {tuple(r) for r in rows} == {(held.id, held.expires_at)}
    assert freed_signals(event.id) == signals  # nothing went to the waitlist
    peek = gate.peek(event.id, gate.epoch_ms(now + timedelta(seconds=2)), seats)
    assert sorted(peek.taken) == seats and peek.pending == 0  # still held in the gate, no longer in checkout
    with pytest.raises(Conflict) as taken:
        hold(event.id, factory.user(), now + timedelta(seconds=2), seat_ids=seats)
    assert taken.value.code == "seats_unavailable"

    retried = pay(held.id, user, CARD_APPROVED, now + timedelta(seconds=3))

    assert retried.status == "confirmed"
    assert bookings_of(held.id) == [("failed", "payment_declined"), ("confirmed", None)]
    booked = db.session.scalars(text("SELECT booking_id FROM seats WHERE id = ANY(:s)"), {"s": seats}).all()
    assert booked == [retried.booking_id] * 2
    assert hold_state(held.id).status == "converted"


def test_a_declined_hold_still_expires_at_its_own_time_and_then_frees_its_seats(factory, api, ctx):
    event, seats, user, now, held = two_seats_held_while_someone_waits(factory, api, hold_seconds=60)
    assert pay(held.id, user, CARD_DECLINED, now).status == "failed"
    signals = freed_signals(event.id)
    after = held.expires_at + timedelta(seconds=1)
    assert gate.peek(event.id, gate.epoch_ms(after), seats).taken == []  # the gate's claim ends with the hold's

    hold_endings.expire_due(now=after)

    assert hold_state(held.id).status == "expired"
    assert (
        db.session.scalar(text("SELECT count(*) FROM seats WHERE id = ANY(:s) AND hold_id IS NULL"), {"s": seats}) == 2
    )
    assert freed_signals(event.id) == signals + 1
    assert [s["id"] for s in hold(event.id, factory.user(), after, seat_ids=seats).seats] == seats


def test_a_card_declined_after_the_holds_own_time_ends_the_hold(factory, ctx):
    event = factory.event(hold_seconds=60)
    seats = factory.seat_ids(event.id)[:1]
    user, now = factory.user(), utcnow()
    held = hold(event.id, user, now, seat_ids=seats)
    late = held.expires_at - timedelta(seconds=1)  # checked out at the last second; the answer comes after it
    spec = CheckoutRequest(hold_id=held.id, payment={"card_number": CARD_DECLINED})
    booking_id = checkout.start_checkout(spec, db.session.merge(user), now=late).body["id"]

    outcome = checkout.confirm_booking(booking_id, now=held.expires_at + timedelta(seconds=5))

    assert (outcome.status, outcome.failure_reason) == ("failed", "payment_declined")
    assert hold_state(held.id).status == "expired"
    assert db.session.scalar(text("SELECT hold_id FROM seats WHERE id = :s"), {"s": seats[0]}) is None


def test_a_payment_that_timed_out_still_ends_the_hold(factory, ctx):
    """The charge's fate is unknown, so the hold is not offered for another charge under a new booking."""
    event = factory.event()
    seats = factory.seat_ids(event.id)[:1]
    user, now = factory.user(), utcnow()
    held = hold(event.id, user, now, seat_ids=seats)
    assert pay(held.id, user, CARD_TIMEOUT, now).failure_reason == "payment_timeout"
    assert hold_state(held.id).status == "expired"


def test_the_database_refuses_a_second_booking_of_a_hold_unless_the_first_failed(factory, ctx):
    event = factory.event()
    user, now = factory.user(), utcnow()
    held = hold(event.id, user, now, seat_ids=factory.seat_ids(event.id)[:1])
    assert pay(held.id, user, CARD_DECLINED, now).status == "failed"
    spec = CheckoutRequest(hold_id=held.id, payment={"card_number": CARD_APPROVED})
    checkout.start_checkout(spec, db.session.merge(user), now=now + timedelta(seconds=2))
    insert = text(
        "INSERT INTO bookings (id, reference, user_id, event_id, hold_id, status, quantity, total_cents, created_at, "
        "updated_at) VALUES (gen_random_uuid(), :ref, :u, :e, :h, :st, 1, 0, now(), now())"
    )
    row = {"u": user.id, "e": event.id, "h": held.id}
    db.session.execute(insert, {**row, "ref": "AS-FAIL22", "st": "failed"})  # failed attempts: any number
    with pytest.raises(IntegrityError, match="uq_bookings_hold_not_failed"):
        db.session.execute(insert, {**row, "ref": "AS-PEND22", "st": "pending"})
    db.session.rollback()
