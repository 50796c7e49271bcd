"""Events through the API: validation, ownership, listing, seat maps."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from atomicseats.extensions import db
from atomicseats.models import Event, Seat
from tests.api.test_accounts import assert_error
from tests.factories import event_payload, reserved_sections


def counts(app) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Event)),
            db.session.scalar(select(func.count()).select_from(Seat)),
        )


def test_a_host_creates_a_reserved_draft_with_generated_seats(api, factory, app):
    host = api.as_(factory.user("host"))
    r = host.post("/events", json=event_payload(sections=reserved_sections(sections=3, rows=2, seats=5)))
    assert r.status == 201, r.body
    assert r.body["status"] == "draft" and r.body["capacity"] == 30
    assert [s["name"] for s in r.body["sections"]] == ["Section 1", "Section 2", "Section 3"]
    assert r.body["availability"] == {"total": 30, "available": 30, "held": 0, "booked": 0}
    seats = host.get(f"/events/{r.body['id']}/seats").body["items"]
    assert seats[0]["label"] == "A-1" and seats[0]["section"] == "Section 1" and seats[0]["price_cents"] == 4500
    assert {s["status"] for s in seats} == {"available"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ends_at": "2020-01-01T00:00:00+00:00"}, "ends_at"),
        ({"sections": []}, "sections"),
        (
            {"sections": [{"name": "S", "price_cents": -1, "rows": [{"label": "A", "seats": 5}]}]},
            "sections.0.price_cents",
        ),
        (
            {"sections": [{"name": "S", "price_cents": 100, "rows": [{"label": "A", "seats": 0}]}]},
            "sections.0.rows.0.seats",
        ),
        (
            {"sections": [{"name": "S", "price_cents": 10.5, "rows": [{"label": "A", "seats": 5}]}]},
            "sections.0.price_cents",
        ),
        (
            {
                "sections": [
                    {"name": f"S{i}", "price_cents": 1, "rows": [{"label": f"R{i}{j}", "seats": 500} for j in range(5)]}
                    for i in range(9)
                ]
            },
            "sections",
        ),
        ({"colour": "red"}, "colour"),
        ({"seating": "standing"}, "seating"),
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"starts_at": "2030-01-01T19:00:00"}, "starts_at"),
        ({"hold_seconds": 5}, "hold_seconds"),
        ({"max_per_order": 0}, "max_per_order"),
        ({"capacity": 10}, "capacity"),
    ],
)
def test_invalid_events_get_422_naming_the_field_and_create_nothing(api, factory, app, overrides, field):
    error = assert_error(api.as_(factory.user("host")).post("/events", json=event_payload(**overrides)), 422)
    fields = error["details"]["fields"]
    assert any(name == field or name.startswith(field) for name in fields), fields
    assert counts(app) == (0, 0)


def test_general_admission_needs_capacity_and_price(api, factory, app):
    host = api.as_(factory.user("host"))
    assert_error(host.post("/events", json=event_payload("general", capacity=0)), 422)
    assert_error(host.post("/events", json=event_payload("general", price_cents=-5)), 422)
    assert_error(host.post("/events", json=event_payload("general", capacity=20_001)), 422)
    r = host.post("/events", json=event_payload("general", capacity=250, price_cents=1200))
    assert r.status == 201 and r.body["capacity"] == 250 and r.body["price_cents"] == 1200
    assert counts(app) == (1, 250)


def test_only_the_owner_or_an_admin_may_change_an_event(api, factory):
    owner = factory.user("host")
    event = factory.event(host=owner, publish=False)
    other = api.as_(factory.user("host"))
    assert_error(other.get(f"/events/{event.id}"), 404)  # drafts are invisible to others
    assert_error(other.post(f"/events/{event.id}/publish"), 404)
    assert api.as_(owner).post(f"/events/{event.id}/publish").body["status"] == "on_sale"
    assert_error(other.patch(f"/events/{event.id}", json={"name": "Mine now"}), 403, "forbidden")
    assert_error(other.delete(f"/events/{event.id}"), 403)
    admin = api.as_(factory.user("admin"))
    assert admin.patch(f"/events/{event.id}", json={"name": "Renamed"}).body["name"] == "Renamed"


def test_sections_are_frozen_once_published_and_publish_twice_is_409(api, factory):
    owner = factory.user("host")
    event = factory.event(host=owner)
    client = api.as_(owner)
    assert_error(client.patch(f"/events/{event.id}", json={"sections": reserved_sections()}), 409, "event_published")
    assert_error(client.post(f"/events/{event.id}/publish"), 409, "not_draft")


def test_capacity_never_goes_below_what_is_held_and_booked(api, factory):
    owner = factory.user("host")
    event = factory.event(host=owner, seating="general", capacity=10, price_cents=1000)
    assert api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 4}).status == 201
    client = api.as_(owner)
    error = assert_error(client.patch(f"/events/{event.id}", json={"capacity": 3}), 409, "capacity_below_taken")
    assert error["details"]["minimum"] == 4
    r = client.patch(f"/events/{event.id}", json={"capacity": 4})
    assert r.body["availability"] == {"total": 4, "available": 0, "held": 4, "booked": 0}
    assert client.patch(f"/events/{event.id}", json={"capacity": 12}).body["availability"]["available"] == 8


def test_the_list_shows_published_events_with_search_dates_and_cursor_pages(api, factory):
    host = factory.user("host")
    made = [factory.event(host=host, name=f"Concert {i}") for i in range(5)]
    factory.event(host=host, publish=False, name="Concert draft")
    factory.event(host=host, name="Opera night", venue="Opera House")
    page = api.get("/events?q=concert&limit=2")
    assert page.status == 200 and len(page.body["items"]) == 2
    seen = [i["id"] for i in page.body["items"]]
    while page.body["next_cursor"]:
        page = api.get(f"/events?q=concert&limit=2&cursor={page.body['next_cursor']}")
        seen += [i["id"] for i in page.body["items"]]
    assert sorted(seen) == sorted(e.id for e in made)
    assert [i["name"] for i in api.get("/events?q=opera").body["items"]] == ["Opera night"]
    assert api.get("/events?from=2099-01-01T00:00:00%2B00:00").body["items"] == []
    assert_error(api.get("/events?from=not-a-date"), 422)
    assert_error(api.get("/events?limit=1000"), 422)
    assert_error(api.get("/events?cursor=%%%"), 422)


def test_seat_map_shows_status_and_time_left_but_never_who(api, factory):
    event = factory.event(hold_seconds=120)
    seats = factory.seat_ids(event.id)
    assert api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"seat_ids": seats[:2]}).status == 201
    items = {s["id"]: s for s in api.get(f"/events/{event.id}/seats").body["items"]}
    assert items[seats[0]]["status"] == "held" and 110 <= items[seats[0]]["hold_expires_in"] <= 120
    assert items[seats[5]]["status"] == "available" and items[seats[5]]["hold_expires_in"] is None
    assert not {"user_id", "hold_id", "booking_id"} & set(items[seats[0]])
    assert set(items[seats[0]]) == {
        "id",
        "label",
        "row_label",
        "number",
        "kind",
        "for_sale",
        "x",
        "y",
        "section",
        "price_cents",
        "status",
        "hold_expires_in",
    }


def test_cancelling_an_event_ends_its_holds(api, factory):
    owner = factory.user("host")
    event = factory.event(host=owner)
    attendee = api.as_(factory.user())
    h = attendee.post(f"/events/{event.id}/holds", json={"seat_ids": factory.seat_ids(event.id)[:2]}).body
    r = api.as_(owner).delete(f"/events/{event.id}")
    assert r.status == 200 and r.body["status"] == "cancelled"
    assert r.body["availability"]["held"] == 0
    assert_error(attendee.get(f"/holds/{h['id']}"), 410, "hold_expired")
    assert_error(api.as_(owner).delete(f"/events/{event.id}"), 409, "already_cancelled")
