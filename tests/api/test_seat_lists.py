"""GET /events/{id}/seats from a web process's kept copy (api/seat_lists.py): as old as the setting at most, the
same bytes as a fresh read, and never an answer for a caller who may not see the event."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import jsonify

from atomicseats.api.seat_lists import SeatList, SeatListCache
from atomicseats.booking import availability
from atomicseats.booking import checkout as checkout_engine
from atomicseats.extensions import db
from atomicseats.models.base import utcnow
from tests.pipeline.helpers import checkout, hold
from tests.services import wait_for

MAX_AGE = 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app) -> Iterator[Clock]:
    """This test's app keeps seat lists on a clock the test moves (the setting's default age)."""
    objects = app.extensions["atomicseats.booking"].objects
    before = objects.get("seat_lists")
    clock = Clock()
    objects["seat_lists"] = SeatListCache(MAX_AGE, clock=clock)
    yield clock
    if before is None:
        objects.pop("seat_lists", None)
    else:
        objects["seat_lists"] = before


def statuses(client, event_id: int) -> dict[int, str]:
    r = client.get(f"/events/{event_id}/seats")
    assert r.status == 200, r.body
    return {s["id"]: s["status"] for s in r.body["items"]}


def test_the_setting_is_one_second_by_default(app):
    assert app.config["SEAT_MAP_CACHE_SECONDS"] == MAX_AGE


def test_a_kept_seat_list_is_the_same_bytes_as_a_fresh_read(api, factory, app, clock):
    event = factory.event(sections=[{"name": "Stalls", "price_cents": 4500, "rows": [{"label": "A", "seats": 6}]}])
    first = app.test_client().get(f"/api/v1/events/{event.id}/seats")
    kept = app.test_client().get(f"/api/v1/events/{event.id}/seats")
    with app.test_request_context():
        fresh = jsonify({"items": availability.seats(db.session, event.id, utcnow())}).get_data()
        db.session.remove()
    assert first.status_code == kept.status_code == 200
    assert first.content_type == kept.content_type == "application/json"
    assert first.get_data() == kept.get_data() == fresh


def test_a_hold_a_release_and_a_booking_show_once_the_kept_copy_is_a_second_old(api, factory, app, clock):
    event = factory.event()
    seats = factory.seat_ids(event.id)
    buyer = api.as_(factory.user())
    assert set(statuses(api, event.id).values()) == {"available"}

    held = hold(buyer, event.id, seat_ids=seats[:2])
    clock.now += MAX_AGE - 0.01
    assert statuses(api, event.id)[seats[0]] == "available"  # the copy, not yet a second old
    clock.now += 0.01
    assert [statuses(api, event.id)[s] for s in seats[:3]] == ["held", "held", "available"]

    assert buyer.delete(f"/holds/{held['id']}").status == 204
    assert statuses(api, event.id)[seats[0]] == "held"
    clock.now += MAX_AGE
    assert [statuses(api, event.id)[s] for s in seats[:2]] == ["available", "available"]

    booking = checkout(buyer, hold(buyer, event.id, seat_ids=seats[2:4])["id"])
    with app.app_context():  # what the pipeline's confirmation job runs
        assert checkout_engine.confirm_booking(booking["id"]).status == "confirmed"
        db.session.remove()
    assert buyer.get(f"/bookings/{booking['id']}").body["status"] == "confirmed"
    assert statuses(api, event.id)[seats[2]] == "available"
    clock.now += MAX_AGE
    shown = statuses(api, event.id)
    assert [shown[s] for s in seats[:5]] == ["available", "available", "booked", "booked", "available"]


def test_a_draft_seat_list_is_never_kept_and_only_its_host_and_admins_see_it(api, factory, app, clock):
    host = factory.user("host")
    draft = factory.event(host=host, publish=False)
    as_host = api.as_(host)
    assert as_host.get(f"/events/{draft.id}/seats").status == 200
    assert api.as_(factory.user("admin")).get(f"/events/{draft.id}/seats").status == 200
    assert draft.id not in app.extensions["atomicseats.booking"].objects["seat_lists"]._kept
    for caller in (api, api.as_(factory.user()), api.as_(factory.user("host"))):
        r = caller.get(f"/events/{draft.id}/seats")
        assert r.status == 404 and r.body["error"]["code"] == "not_found"

    assert as_host.post(f"/events/{draft.id}/publish").status == 200
    assert api.get(f"/events/{draft.id}/seats").status == 200  # published: nothing kept from the draft's reads
    assert as_host.delete(f"/events/{draft.id}").status == 200  # cancelled events stay visible, like their page
    clock.now += MAX_AGE
    for caller in (api, api.as_(factory.user())):
        assert caller.get(f"/events/{draft.id}").status == caller.get(f"/events/{draft.id}/seats").status == 200


def test_a_kept_copy_is_never_served_to_a_caller_who_may_not_see_the_event(api, factory, app, clock):
    """Were a draft's answer ever kept, the check on each use still refuses everyone but its host and admins."""
    host = factory.user("host")
    draft = factory.event(host=host, publish=False)
    cache = app.extensions["atomicseats.booking"].objects["seat_lists"]
    cache.keep(draft.id, SeatList(b'{"items": ["kept"]}\n', "draft", host.id, clock.now))
    r = api.as_(factory.user()).get(f"/events/{draft.id}/seats")
    assert r.status == 404 and "kept" not in str(r.body)
    assert api.get(f"/events/{draft.id}/seats").status == 404
    assert api.as_(host).get(f"/events/{draft.id}/seats").body == {"items": ["kept"]}


def test_a_bad_token_is_refused_even_when_a_copy_is_kept(api, factory, clock):
    event = factory.event()
    assert api.get(f"/events/{event.id}/seats").status == 200
    r = api.get(f"/events/{event.id}/seats", headers={"Authorization": "Bearer not-a-token"})
    assert r.status == 401 and r.body["error"]["code"] == "unauthorized"


def test_the_cache_drops_copies_too_old_to_use(clock):
    cache = SeatListCache(MAX_AGE, clock=clock)
    cache.keep(1, SeatList(b"1", "on_sale", 1, clock.now))
    clock.now += MAX_AGE
    assert cache.fresh(1) is None
    cache.keep(2, SeatList(b"2", "on_sale", 1, clock.now))
    assert set(cache._kept) == {2} and cache.fresh(2).body == b"2"


def test_a_request_never_waits_for_another_requests_read(api, factory, app, clock, monkeypatch):
    """A waiter may hold the pooled connection the reader needs (its token's lookup takes one): it must read
    itself instead of waiting."""
    event = factory.event()
    first_reading, release_first = threading.Event(), threading.Event()
    read = availability.seats

    def seats(session, event_id, now):
        if not first_reading.is_set():
            first_reading.set()
            assert release_first.wait(30), "the second request was never answered"
        return read(session, event_id, now)

    monkeypatch.setattr(availability, "seats", seats)
    answers: list[int] = []

    def get() -> None:
        answers.append(app.test_client().get(f"/api/v1/events/{event.id}/seats").status_code)

    first, second = threading.Thread(target=get), threading.Thread(target=get)
    first.start()
    try:
        wait_for(first_reading.is_set, 10, "the first request to read the seats")
        second.start()
        wait_for(lambda: answers == [200], 10, "the second answer while the first request still reads")
    finally:
        release_first.set()
        first.join(30)
        second.join(30)
    assert answers == [200, 200]
