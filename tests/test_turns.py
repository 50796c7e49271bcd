"""A web worker runs at most ``WEB_RUNNING_REQUESTS`` requests at once, and a long poll gives its turn back.

The middleware is driven by real threads; the last test runs the real app, whose waiting poll must not keep
another request from running.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from atomicseats import turns
from atomicseats.booking import checkout, outcomes
from atomicseats.extensions import db
from tests.conftest import app_with
from tests.services import wait_for

CARD = "4242424242424242"


class _Inner:
    """A WSGI app whose requests wait until the test lets them go, counting how many are inside at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0
        self.go = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        try:
            if environ.get("aside"):
                with turns.set_aside():
                    self.go.wait(30)
            else:
                self.go.wait(30)
        finally:
            with self.lock:
                self.inside -= 1
        start_response("200 OK", [])
        return [b"ok"]


def _call(app: turns.Turns, environ: dict[str, Any] | None = None) -> threading.Thread:
    thread = threading.Thread(target=lambda: app(environ or {}, lambda *_: None))
    thread.start()
    return thread


def test_no_more_than_the_set_number_of_requests_run_at_once_and_every_one_runs():
    inner = _Inner()
    app = turns.Turns(inner, size=3)
    threads = [_call(app) for _ in range(10)]

    wait_for(lambda: inner.inside == 3, 10, "three requests to be running")
    assert sum(t.is_alive() for t in threads) == 10  # the other seven wait for a turn
    inner.go.set()
    for t in threads:
        t.join(10)

    assert not any(t.is_alive() for t in threads)
    assert inner.most == 3 and inner.inside == 0


def test_a_request_that_sets_its_turn_aside_lets_another_run_and_takes_it_back():
    inner = _Inner()
    app = turns.Turns(inner, size=1)
    waiting = _call(app, {"aside": True})
    wait_for(lambda: inner.inside == 1, 10, "the first request to be waiting")

    other = _call(app)  # would wait for the only turn, were it not set aside
    wait_for(lambda: inner.inside == 2, 10, "a second request to run while the first waits")
    inner.go.set()
    for t in (waiting, other):
        t.join(10)

    assert not waiting.is_alive() and not other.is_alive()
    assert inner.most == 2


def test_a_waiting_result_poll_does_not_keep_other_requests_from_running(app, factory):
    one_turn = app_with(app, WEB_RUNNING_REQUESTS=1)
    user = factory.user()
    headers = {"Authorization": f"Bearer {factory.token(user)}"}
    event = factory.event(seating="general", capacity=5, price_cents=1500)
    client = one_turn.test_client()
    hold = client.post(f"/api/v1/events/{event.id}/holds", json={"quantity": 1}, headers=headers)
    booking = client.post(
        "/api/v1/bookings", json={"hold_id": hold.json["id"], "payment": {"card_number": CARD}}, headers=headers
    ).json
    answers: list = []
    poll = threading.Thread(
        target=lambda: answers.append(
            one_turn.test_client().get(f"/api/v1/bookings/{booking['id']}?wait=30", headers=headers)
        )
    )
    poll.start()
    with one_turn.app_context():  # the poll is waiting once the outcome subscriber has it registered
        waiters = outcomes.waiters()
        wait_for(lambda: waiters.waiting == 1, 10, "the poll to wait for the booking's outcome")

    health = one_turn.test_client().get("/health")  # the only turn is free while the poll waits
    assert health.status_code == 200 and poll.is_alive()

    with app.app_context():
        assert checkout.confirm_booking(booking["id"]).status == "confirmed"
        db.session.remove()
    poll.join(20)
    assert not poll.is_alive() and answers[0].json["status"] == "confirmed"
