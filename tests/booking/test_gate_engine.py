"""The Redis gate and its reconciliation called directly: what the gate refuses, and how a rebuild makes it agree
with PostgreSQL again (wiped, or holding a claim PostgreSQL never made)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from atomicseats.booking import checkout, gate, holds, reconcile
from atomicseats.booking.checkout import CheckoutRequest
from atomicseats.booking.claims import HoldRequest
from atomicseats.booking.payments import CARD_APPROVED
from atomicseats.extensions import db
from atomicseats.models import User
from atomicseats.models.base import utcnow
from tests.conftest import wipe_redis


def hold(event_id: int, user: User, now, **request):
    return holds.create_hold(event_id, db.session.merge(user), HoldRequest(**request), now=now).obj


def test_the_gate_refuses_a_seat_someone_holds_and_claims_none_of_the_rest(factory, ctx):
    event = factory.event()
    first, second, third = factory.seat_ids(event.id)[:3]
    now = utcnow()
    held = hold(event.id, factory.user(), now, seat_ids=[first])
    now_ms, later_ms = gate.epoch_ms(now), gate.epoch_ms(now + timedelta(minutes=5))

    taken, counts = gate.claim_seats(event.id, [second, first], str(uuid.uuid4()), later_ms, now_ms)

    assert (taken, counts) == ([first], None)
    state = gate.snapshot(event.id, now_ms)
    assert set(state.held) == {str(first)} and state.owners == {str(first): str(held.id)}
    assert gate.claim_seats(event.id, [second, third], str(uuid.uuid4()), later_ms, now_ms)[0] == []


def test_a_rebuild_of_a_wiped_gate_brings_back_postgresqls_holds_and_bookings(factory, ctx, redis_client, settings):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    holder, buyer = factory.user(), factory.user()
    now = utcnow()
    held = hold(event.id, holder, now, seat_ids=seats[:2])
    to_book = hold(event.id, buyer, now, seat_ids=seats[2:3])
    spec = CheckoutRequest(hold_id=to_book.id, payment={"card_number": CARD_APPROVED})
    checkout.confirm_booking(checkout.start_checkout(spec, db.session.merge(buyer), now=now).body["id"], now=now)
    wipe_redis(redis_client, settings["REDIS_PREFIX"])
    assert not gate.is_built(event.id)

    correction = reconcile.reconcile_event(event.id, now=now)

    assert correction is not None and not correction.was_built and correction.changed
    state = gate.snapshot(event.id, gate.epoch_ms(now))
    assert state.owners == {str(s): str(held.id) for s in seats[:2]}
    assert state.booked == {seats[2]}
    assert gate.counts(event.id, gate.epoch_ms(now)).capacity == len(seats)


def test_a_rebuild_drops_a_claim_postgresql_never_made_and_then_has_nothing_to_correct(factory, ctx):
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    now = utcnow()
    reconcile.reconcile_event(event.id, now=now)
    stray = str(uuid.uuid4())  # a claim whose transaction never committed, left behind by a killed process
    later_ms, now_ms = gate.epoch_ms(now + timedelta(minutes=5)), gate.epoch_ms(now)
    assert gate.claim_seats(event.id, [seat], stray, later_ms, now_ms)[0] == []

    correction = reconcile.reconcile_event(event.id, now=now)

    assert correction is not None and correction.held_removed == 1
    assert gate.snapshot(event.id, gate.epoch_ms(now)).held == {}
    assert hold(event.id, factory.user(), now, seat_ids=[seat]).seats[0]["id"] == seat
    assert not reconcile.reconcile_event(event.id, now=now).changed
