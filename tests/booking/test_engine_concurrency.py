"""The engine under real concurrency: threads call the services at once, then the database is checked.

No API in between, so what is shown is the engine's own guarantee: all-or-nothing holds that never share a
seat, and a booking confirmed once however many deliveries race for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from atomicseats.booking import checkout, gate, holds
from atomicseats.booking.checkout import CheckoutRequest
from atomicseats.booking.claims import HoldRequest
from atomicseats.booking.payments import CARD_APPROVED
from atomicseats.exceptions import Conflict
from atomicseats.extensions import db
from atomicseats.models.base import utcnow

THREADS = 8


def race(app, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread and app context, released together; each result or the error raised."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        with app.app_context():
            start.wait(timeout=10)
            try:
                return call()
            except Conflict as exc:
                return exc
            finally:
                db.session.remove()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_overlapping_holds_at_once_never_share_a_seat_and_each_gets_all_or_nothing(app, factory, ctx):
    event = factory.event()
    seats = factory.seat_ids(event.id)[: THREADS // 2 + 1]
    people = [factory.user() for _ in range(THREADS)]
    # neighbours overlap: person i wants seats i//2 and i//2 + 1, so every pair of seats is contested
    wanted = {p.id: seats[i // 2 : i // 2 + 2] for i, p in enumerate(people)}

    def hold_for(person) -> Callable[[], Any]:
        return lambda: holds.create_hold(event.id, person, HoldRequest(seat_ids=wanted[person.id])).obj

    results = race(app, [hold_for(p) for p in people])

    won = [r for r in results if not isinstance(r, Conflict)]
    assert won and all(r.code == "seats_unavailable" for r in results if isinstance(r, Conflict))
    holders = dict(
        db.session.execute(
            text("SELECT id, hold_id FROM seats WHERE event_id = :e AND hold_id IS NOT NULL"), {"e": event.id}
        ).all()
    )
    for hold in won:  # every winner has every seat it asked for, and nobody else has them
        assert {s["id"] for s in hold.seats} == set(wanted[hold.user_id])
        assert all(holders[s] == hold.id for s in wanted[hold.user_id])
    assert len(holders) == 2 * len(won)
    live = db.session.scalar(
        text("SELECT count(*) FROM holds WHERE event_id = :e AND status = 'active'"), {"e": event.id}
    )
    recorded = db.session.scalar(
        text("SELECT count(*) FROM hold_seats hs JOIN holds h ON h.id = hs.hold_id WHERE h.event_id = :e"),
        {"e": event.id},
    )
    assert (live, recorded) == (len(won), len(holders))
    in_gate = gate.snapshot(event.id, gate.epoch_ms(utcnow())).owners
    assert in_gate == {str(seat): str(hold_id) for seat, hold_id in holders.items()}


def test_duplicate_deliveries_of_one_booking_at_once_confirm_it_once(app, factory, ctx):
    event = factory.event()
    seats = factory.seat_ids(event.id)[:3]
    buyer = db.session.merge(factory.user())
    now = utcnow()
    held = holds.create_hold(event.id, buyer, HoldRequest(seat_ids=seats), now=now).obj
    spec = CheckoutRequest(hold_id=held.id, payment={"card_number": CARD_APPROVED})
    booking_id = checkout.start_checkout(spec, buyer, now=now).body["id"]
    db.session.remove()

    def deliver(message_id: str) -> Callable[[], Any]:
        return lambda: checkout.confirm_booking(booking_id, message_id, now=now + timedelta(seconds=1))

    outcomes = race(app, [deliver(f"delivery-{i}") for i in range(THREADS)])

    assert sorted(o.changed for o in outcomes) == [False] * (THREADS - 1) + [True]
    assert {o.status for o in outcomes} == {"confirmed"}
    paid = db.session.execute(
        text("SELECT seat_id FROM booking_seats WHERE booking_id = :b ORDER BY seat_id"), {"b": booking_id}
    ).scalars()
    assert list(paid) == seats
    booked = db.session.scalar(
        text("SELECT count(*) FROM seats WHERE booking_id = :b AND hold_id IS NULL"), {"b": booking_id}
    )
    assert booked == len(seats)
