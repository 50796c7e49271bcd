"""The API's promises to clients: cursor pages that hold still while rows arrive, filters, idempotent creating
POSTs, and nobody reaching another user's objects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from atomicseats.booking import checkout
from atomicseats.booking.payments import CARD_APPROVED
from atomicseats.extensions import db
from atomicseats.models.base import utcnow
from tests.factories import ApiClient, event_payload


def count(app, sql: str, **params: Any) -> int:
    with app.app_context():
        try:
            return db.session.scalar(text(sql), params)
        finally:
            db.session.remove()


def walk(
    client: ApiClient, path: str, limit: int, between: Callable[[], object] = lambda: None, key: str = "items"
) -> list[Any]:
    """Every item of a paged list, calling ``between`` after each page (new rows arrive meanwhile)."""
    items, cursor = [], None
    while True:
        separator = "&" if "?" in path else "?"
        page = client.get(f"{path}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert page.status == 200, page.body
        assert len(page.body[key]) <= limit
        items += page.body[key]
        cursor = page.body["next_cursor"]
        if cursor is None:
            return items
        between()


def book(client: ApiClient, factory, event_id: int, seat: int = 0) -> dict:
    """A pending booking of the event's ``seat``-th seat."""
    hold = client.post(f"/events/{event_id}/holds", json={"seat_ids": factory.seat_ids(event_id)[seat : seat + 1]})
    assert hold.status == 201, hold.body
    booking = client.post("/bookings", json={"hold_id": hold.body["id"], "payment": {"card_number": CARD_APPROVED}})
    assert booking.status == 202, booking.body
    return booking.body


def later(days: int) -> dict[str, str]:
    starts = (utcnow() + timedelta(days=days)).replace(microsecond=0)
    return {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat()}


# --- pagination ---------------------------------------------------------------------------------------------


def test_event_pages_have_no_duplicates_or_gaps_while_events_are_published(api, factory):
    host = factory.user("host")
    first = [factory.event(host=host, **later(5)).id for _ in range(4)]  # equal starts_at: ordered by id
    first += [factory.event(host=host, **later(d)).id for d in (6, 7, 8)]
    arriving = iter([later(1), later(5), later(9), later(30)])  # before, tied with, and after the cursor

    seen = walk(api, "/events", 2, lambda: factory.event(host=host, **next(arriving, later(40))))

    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids)), "an event appeared on two pages"
    assert set(first) <= set(ids), "an event that existed before the first page was skipped"
    starts = [(e["starts_at"], e["id"]) for e in seen]
    assert starts == sorted(starts)


def test_booking_pages_are_newest_first_without_duplicates_or_gaps_while_bookings_arrive(api, factory):
    buyer = factory.user()
    client = api.as_(buyer)
    events = [factory.event() for _ in range(8)]
    existing = [book(client, factory, e.id)["id"] for e in events[:5]]
    arriving = iter(events[5:])

    seen = walk(client, "/bookings", 2, lambda: (e := next(arriving, None)) and book(client, factory, e.id))

    ids = [b["id"] for b in seen]
    assert len(ids) == len(set(ids))
    assert ids[-5:] == existing[::-1]  # bookings made while paging are newer: never pushed into a later page
    assert [(b["created_at"], b["id"]) for b in seen] == sorted(
        ((b["created_at"], b["id"]) for b in seen), reverse=True
    )


def test_waitlist_pages_without_duplicates_or_gaps_while_entries_arrive(api, factory):
    client = api.as_(factory.user())
    events = [factory.event() for _ in range(7)]
    existing = [client.post(f"/events/{e.id}/waitlist", json={"quantity": 1}).body["id"] for e in events[:5]]
    arriving = iter(events[5:])

    def join_another() -> None:
        if (event := next(arriving, None)) is not None:
            assert client.post(f"/events/{event.id}/waitlist", json={"quantity": 1}).status == 201

    ids = [w["id"] for w in walk(client, "/waitlist", 2, join_another)]
    assert len(ids) == len(set(ids))
    assert ids[-5:] == existing[::-1]


def test_analytics_and_sales_lists_are_cursor_paged_too(api, factory, app):
    admin = api.as_(factory.user("admin"))
    host = factory.user("host")
    events = [factory.event(host=host, **later(d)) for d in (3, 4, 5, 6, 7)]

    per_event = walk(admin, "/admin/analytics", 2, lambda: factory.event(host=host, **later(50)), key="events")
    ids = [e["id"] for e in per_event]
    assert len(ids) == len(set(ids)) and ids[:5] == [e.id for e in events]

    target = events[0]
    for seat in range(3):
        booking = book(api.as_(factory.user()), factory, target.id, seat)
        with app.app_context():
            assert checkout.confirm_booking(booking["id"]).status == "confirmed"
            db.session.remove()
    attendees = walk(api.as_(host), f"/host/events/{target.id}/sales", 2, key="attendees")
    references = [a["reference"] for a in attendees]
    assert len(references) == len(set(references)) == 3


@pytest.mark.parametrize("path", ["/events", "/bookings", "/waitlist", "/admin/analytics"])
@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "limit=²", "cursor=%%%", "cursor=bm9wZQ"])
def test_bad_limits_and_cursors_are_422_naming_the_parameter(api, factory, path, query):
    response = api.as_(factory.user("admin")).get(f"{path}?{query}")
    assert response.status == 422, response.body
    assert set(response.body["error"]["details"]["fields"]) == {query.split("=")[0]}


# --- filters ------------------------------------------------------------------------------------------------


def test_event_filters_search_dates_and_status(api, factory):
    host = factory.user("host")
    jazz = factory.event(host=host, name="Midnight Jazz", **later(3))
    opera = factory.event(host=host, name="Opera Gala", venue="Jazz Cellar", **later(20))
    cancelled = factory.event(host=host, name="Called Off", **later(4))
    assert api.as_(host).delete(f"/events/{cancelled.id}").status == 200
    factory.event(host=host, publish=False, name="Jazz draft")

    def ids(query: str) -> set[int]:
        response = api.get(f"/events?{query}")
        assert response.status == 200, response.body
        return {e["id"] for e in response.body["items"]}

    assert ids("q=jazz") == {jazz.id, opera.id}  # name or venue, never drafts
    assert ids("q=jazz&from=" + later(10)["starts_at"].replace("+", "%2B")) == {opera.id}
    assert ids("to=" + later(10)["starts_at"].replace("+", "%2B")) == {jazz.id}
    assert ids("status=cancelled") == {cancelled.id}
    assert ids("status=on_sale,cancelled") == {jazz.id, opera.id, cancelled.id}
    assert api.get("/events?status=draft").status == 422


def test_booking_filters_by_event_status_and_event_dates(api, factory, app):
    client = api.as_(factory.user())
    soon, later_event = factory.event(**later(2)), factory.event(**later(40))
    first = book(client, factory, soon.id)
    second = book(client, factory, later_event.id)
    with app.app_context():
        checkout.confirm_booking(second["id"])
        db.session.remove()

    def ids(query: str) -> set[str]:
        response = client.get(f"/bookings?{query}")
        assert response.status == 200, response.body
        return {b["id"] for b in response.body["items"]}

    assert ids(f"event_id={soon.id}") == {first["id"]}
    assert ids("status=confirmed") == {second["id"]}
    assert ids("status=pending") == {first["id"]}
    assert ids("from=" + later(10)["starts_at"].replace("+", "%2B")) == {second["id"]}
    assert ids("to=" + later(10)["starts_at"].replace("+", "%2B")) == {first["id"]}
    assert client.get("/bookings?status=lost").status == 422


# --- idempotency --------------------------------------------------------------------------------------------


def _creating_posts(api: ApiClient, factory) -> list[tuple[str, ApiClient, str, dict, dict, str]]:
    """(name, client, path, body, another body, table) for every creating POST."""
    attendee = api.as_(factory.user())
    host = api.as_(factory.user("host"))
    general = factory.event(seating="general", max_per_order=8)
    reserved = factory.event()
    seats = factory.seat_ids(reserved.id)
    held = attendee.post(f"/events/{reserved.id}/holds", json={"seat_ids": seats[:1]}).body
    register = {"email": "idem@example.com", "name": "Idem", "password": "correct-horse-battery"}
    return [
        ("register", api, "/auth/register", register, {**register, "name": "Other"}, "users"),
        ("event", host, "/events", event_payload(), event_payload(name="Another"), "events"),
        ("hold", attendee, f"/events/{general.id}/holds", {"quantity": 2}, {"quantity": 3}, "holds"),
        (
            "booking",
            attendee,
            "/bookings",
            {"hold_id": held["id"], "payment": {"card_number": CARD_APPROVED}},
            {"hold_id": held["id"], "payment": {"card_number": "4000000000000002"}},
            "bookings",
        ),
        ("waitlist", attendee, f"/events/{general.id}/waitlist", {"quantity": 1}, {"quantity": 2}, "waitlist_entries"),
    ]


@pytest.mark.parametrize("which", ["register", "event", "hold", "booking", "waitlist"])
def test_a_repeated_idempotency_key_replays_the_first_answer_and_does_nothing_more(api, factory, app, which):
    name, client, path, body, other, table = next(p for p in _creating_posts(api, factory) if p[0] == which)
    before = count(app, f"SELECT count(*) FROM {table}")
    key = {"Idempotency-Key": f"key-{name}"}

    first = client.post(path, json=body, headers=key)
    again = client.post(path, json=body, headers=key)

    assert first.status in (201, 202), first.body
    assert (again.status, again.body) == (first.status, first.body)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert count(app, f"SELECT count(*) FROM {table}") == before + 1

    reused = client.post(path, json=other, headers=key)
    assert reused.status == 422
    assert reused.body["error"]["code"] == "idempotency_key_reused"
    assert count(app, f"SELECT count(*) FROM {table}") == before + 1


def test_one_key_belongs_to_one_user(api, factory, app):
    event = factory.event(seating="general")
    key = {"Idempotency-Key": "shared-key"}
    first = api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 1}, headers=key)
    second = api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 1}, headers=key)
    assert first.status == second.status == 201 and first.body["id"] != second.body["id"]


# --- authorisation on every object endpoint -----------------------------------------------------------------


def test_nobody_reaches_another_users_booking_hold_or_waitlist_entry(api, factory):
    owner_user, stranger_user = factory.user(), factory.user()
    owner, stranger = api.as_(owner_user), api.as_(stranger_user)
    host_user = factory.user("host")
    event = factory.event(host=host_user)
    booking = book(owner, factory, event.id)
    other_event = factory.event()
    hold = owner.post(f"/events/{other_event.id}/holds", json={"seat_ids": factory.seat_ids(other_event.id)[:1]}).body
    entry = owner.post(f"/events/{event.id}/waitlist", json={"quantity": 1}).body

    assert stranger.get(f"/bookings/{booking['id']}").status == 404
    assert stranger.post(f"/bookings/{booking['id']}/cancel").status == 404
    assert stranger.get(f"/bookings?event_id={event.id}").body["items"] == []
    assert stranger.get(f"/holds/{hold['id']}").status == 404
    assert stranger.delete(f"/holds/{hold['id']}").status == 404
    assert (
        stranger.post("/bookings", json={"hold_id": hold["id"], "payment": {"card_number": CARD_APPROVED}}).status
        == 404
    )
    assert stranger.delete(f"/waitlist/{entry['id']}").status == 404
    assert stranger.get("/waitlist").body["items"] == []
    # The event's host may look at a booking for their event, but not cancel it; the owner still can.
    assert api.as_(host_user).get(f"/bookings/{booking['id']}").status == 200
    assert api.as_(host_user).post(f"/bookings/{booking['id']}/cancel").status == 404
    assert owner.get(f"/holds/{hold['id']}").status == 200
    assert owner.delete(f"/waitlist/{entry['id']}").status == 204


def test_nobody_manages_another_hosts_event(api, factory):
    owner = factory.user("host")
    event = factory.event(host=owner)
    draft = factory.event(host=owner, publish=False)
    other_host, attendee = api.as_(factory.user("host")), api.as_(factory.user())

    for client, status in ((other_host, 403), (attendee, 403)):
        assert client.patch(f"/events/{event.id}", json={"name": "Mine now"}).status == status
        assert client.post(f"/events/{draft.id}/publish").status in (status, 404)
        assert client.delete(f"/events/{event.id}").status == status
        assert client.get(f"/host/events/{event.id}/sales").status == status
    assert other_host.get(f"/events/{draft.id}").status == 404
    assert other_host.get(f"/events/{draft.id}/seats").status == 404
    assert api.get(f"/events/{draft.id}").status == 404
    assert attendee.get("/admin/analytics").status == 403
    assert api.as_(owner).get(f"/events/{draft.id}").status == 200
    assert api.as_(factory.user("admin")).patch(f"/events/{event.id}", json={"name": "Admin edit"}).status == 200
