"""What a buyer hears during a sale: refusals from the Redis gate, and a result poll that waits for the outcome."""

from __future__ import annotations

import threading

from sqlalchemy import text

from atomicseats.booking import checkout, outcomes
from atomicseats.extensions import db, redis_ext
from tests.api.test_accounts import assert_error

CARD = "4242424242424242"
DEADLINE = 20.0  # seconds; the waits below ask for 30, so finishing before this means an early answer


def _taken(app) -> tuple[int, int]:
    """Hold rows ever written, and seats held or booked (a confirmation meanwhile moves seats, not counts)."""
    with app.app_context():
        row = db.session.execute(
            text(
                "SELECT (SELECT count(*) FROM holds), "
                "(SELECT count(*) FROM seats WHERE hold_id IS NOT NULL OR booking_id IS NOT NULL)"
            )
        ).one()
        db.session.remove()
        return tuple(row)


def _checked_out(api, factory, event_id: int, quantity: int) -> dict:
    buyer = api.as_(factory.user())
    hold = buyer.post(f"/events/{event_id}/holds", json={"quantity": quantity})
    assert hold.status == 201, hold.body
    booking = buyer.post("/bookings", json={"hold_id": hold.body["id"], "payment": {"card_number": CARD}})
    assert booking.status == 202, booking.body
    return {"api": buyer, "hold": hold.body, "booking": booking.body}


def test_a_refused_hold_says_how_many_places_are_pending_and_when_to_retry(app, api, factory):
    event = factory.event(seating="general", capacity=3, price_cents=1500)
    _checked_out(api, factory, event.id, 3)
    before = _taken(app)

    refused = api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 1})

    error = assert_error(refused, 409, "seats_unavailable")
    assert error["details"]["pending"] == 3 and error["details"]["available"] == 0
    assert refused.headers["Retry-After"] == "1"
    assert _taken(app) == before  # nothing written


def test_a_refusal_without_pending_checkouts_has_no_retry_after(api, factory):
    event = factory.event()
    seat = factory.seat_ids(event.id)[0]
    assert api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"seat_ids": [seat]}).status == 201

    refused = api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"seat_ids": [seat]})

    error = assert_error(refused, 409, "seats_unavailable")
    assert error["details"]["unavailable_seat_ids"] == [seat] and "pending" not in error["details"]
    assert "Retry-After" not in refused.headers


def test_a_waiting_poll_answers_as_soon_as_the_booking_is_confirmed(app, api, factory):
    event = factory.event(seating="general", capacity=5, price_cents=1500)
    sale = _checked_out(api, factory, event.id, 2)
    booking_id = sale["booking"]["id"]
    answers: list = []
    poll = threading.Thread(target=lambda: answers.append(sale["api"].get(f"/bookings/{booking_id}?wait=30")))
    poll.start()
    with app.app_context():  # as the RQ worker does, from another thread while the poll waits
        assert checkout.confirm_booking(booking_id).status == "confirmed"
        db.session.remove()
    poll.join(DEADLINE)

    assert not poll.is_alive(), "the poll should have answered when the booking was confirmed, not after 30 s"
    assert answers[0].status == 200 and answers[0].body["status"] == "confirmed"
    assert len(answers[0].body["seats"]) == 2


def test_wait_zero_is_a_plain_poll(api, factory):
    event = factory.event(seating="general", capacity=5, price_cents=1500)
    sale = _checked_out(api, factory, event.id, 1)
    answer = sale["api"].get(f"/bookings/{sale['booking']['id']}?wait=0")
    assert answer.status == 200 and answer.body["status"] == "pending"


def test_a_bad_wait_is_refused_naming_the_parameter(api, factory):
    event = factory.event(seating="general", capacity=5, price_cents=1500)
    sale = _checked_out(api, factory, event.id, 1)
    for bad in ("31", "-1", "1.5", "soon", ""):
        error = assert_error(sale["api"].get(f"/bookings/{sale['booking']['id']}?wait={bad}"), 422)
        assert "wait" in error["details"]["fields"], bad


def test_nobody_else_can_wait_on_a_booking(api, factory):
    event = factory.event(seating="general", capacity=5, price_cents=1500)
    sale = _checked_out(api, factory, event.id, 1)
    stranger = api.as_(factory.user())
    assert_error(stranger.get(f"/bookings/{sale['booking']['id']}?wait=1"), 404, "not_found")


def test_an_outcome_announced_just_after_the_first_waiter_reads_still_wakes_it(app):
    """The first waiter of a process starts its subscriber: the outcome may land right after its read."""
    with app.app_context():
        waiters = outcomes.Waiters(redis_ext.client, outcomes.channel(), max_waiters=10)
        reads: list[str] = []

        def is_final() -> bool:
            reads.append("read")
            if len(reads) == 1:
                outcomes.announce("booking-1")  # the worker commits and announces just after this read
                return False
            return True

        woken: list[bool] = []

        def wait() -> None:
            with app.app_context():
                woken.append(waiters.wait("booking-1", 30, is_final))

        waiter = threading.Thread(target=wait)
        waiter.start()
        waiter.join(DEADLINE)

    assert not waiter.is_alive(), "the announcement was lost: the waiter slept until its timeout"
    assert woken == [True] and reads == ["read", "read"]
