"""The checkout engine called directly (no API, no pipeline): start, confirm, confirm again, cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from atomicseats.booking import booking_reads, checkout, holds
from atomicseats.booking.checkout import CheckoutRequest
from atomicseats.booking.claims import HoldRequest
from atomicseats.booking.payments import CARD_APPROVED
from atomicseats.exceptions import Conflict, NotFound
from atomicseats.extensions import db
from atomicseats.models import User
from atomicseats.models.base import utcnow


def hold(event_id: int, user: User, now, **request):
    return holds.create_hold(event_id, db.session.merge(user), HoldRequest(**request), now=now).obj


def start(hold_id, user: User, now) -> str:
    spec = CheckoutRequest(hold_id=hold_id, payment={"card_number": CARD_APPROVED})
    return checkout.start_checkout(spec, db.session.merge(user), now=now).body["id"]


def seats_of(event_id: int) -> dict[int, tuple]:
    rows = db.session.execute(
        text("SELECT id, hold_id, booking_id, hold_expires_at FROM seats WHERE event_id = :e"), {"e": event_id}
    )
    return {r.id: (r.hold_id, r.booking_id, r.hold_expires_at) for r in rows}


def test_start_makes_a_pending_booking_and_stretches_the_hold_to_the_grace(app, factory, ctx):
    event = factory.event(hold_seconds=30)
    seats = factory.seat_ids(event.id)[:2]
    buyer = factory.user()
    now = utcnow()
    held = hold(event.id, buyer, now, seat_ids=seats)

    booking_id = start(held.id, buyer, now)

    grace_until = now + timedelta(seconds=app.extensions["atomicseats.booking"].settings.checkout_grace_seconds)
    status, expires_at = db.session.execute(
        text("SELECT status, expires_at FROM holds WHERE id = :h"), {"h": held.id}
    ).one()
    assert (status, expires_at) == ("checkout", grace_until)
    assert {s: seats_of(event.id)[s][2] for s in seats} == {s: grace_until for s in seats}
    assert booking_reads.booking_view(booking_id)["status"] == "pending"
    with pytest.raises(Conflict) as again:
        start(held.id, buyer, now)
    assert again.value.code == "hold_in_checkout"


def test_confirm_books_the_seats_once_and_a_repeat_changes_nothing(factory, ctx):
    event = factory.event()
    seats = factory.seat_ids(event.id)[:2]
    buyer = factory.user()
    now = utcnow()
    booking_id = start(hold(event.id, buyer, now, seat_ids=seats).id, buyer, now)

    first = checkout.confirm_booking(booking_id, message_id="m-1", now=now + timedelta(seconds=1))
    repeat = checkout.confirm_booking(booking_id, message_id="m-2", now=now + timedelta(seconds=2))

    assert (first.status, first.changed) == ("confirmed", True)
    assert (repeat.status, repeat.changed) == ("confirmed", False)
    assert {s: seats_of(event.id)[s][:2] for s in seats} == {s: (None, first.booking_id) for s in seats}
    paid = db.session.scalar(text("SELECT count(*) FROM booking_seats WHERE booking_id = :b"), {"b": booking_id})
    assert paid == 2


def test_someone_elses_hold_is_not_found_and_changes_nothing(factory, ctx):
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    now = utcnow()
    held = hold(event.id, factory.user(), now, seat_ids=[seat])
    with pytest.raises(NotFound):
        start(held.id, factory.user(), now)
    assert db.session.scalar(text("SELECT status FROM holds WHERE id = :h"), {"h": held.id}) == "active"
    assert db.session.scalar(text("SELECT count(*) FROM bookings WHERE hold_id = :h"), {"h": held.id}) == 0


def test_cancel_frees_the_seats_for_the_owner_only_and_once(factory, ctx):
    event = factory.event()
    seats = factory.seat_ids(event.id)[:2]
    buyer = factory.user()
    now = utcnow()
    booking_id = start(hold(event.id, buyer, now, seat_ids=seats).id, buyer, now)
    checkout.confirm_booking(booking_id, now=now + timedelta(seconds=1))

    with pytest.raises(NotFound):
        checkout.cancel_booking(booking_id, db.session.merge(factory.user()))
    assert checkout.cancel_booking(booking_id, db.session.merge(buyer))["status"] == "cancelled"
    with pytest.raises(Conflict) as twice:
        checkout.cancel_booking(booking_id, db.session.merge(buyer))

    assert twice.value.code == "already_cancelled"
    assert {s: seats_of(event.id)[s][:2] for s in seats} == {s: (None, None) for s in seats}
    assert hold(event.id, factory.user(), utcnow(), seat_ids=seats).seats  # on sale again
