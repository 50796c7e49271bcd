"""Waitlist preferences and ``accept_partial`` through the API: stored and shown, refused with a 422 naming the
field when no offer could meet them, and honoured by the offers."""

from __future__ import annotations

import pytest

from tests.api.test_waitlist_offers import allocate, entry_of
from tests.factories import reserved_sections


def sections_of(api, event_id: int) -> list[dict]:
    return api.get(f"/events/{event_id}").body["sections"]


def test_preferences_are_kept_and_shown_with_the_entry(api, factory):
    event = factory.event(sections=reserved_sections(sections=2))
    back = sections_of(api, event.id)[1]
    client = api.as_(factory.user())
    wanted = {"quantity": 2, "accept_partial": True, "section_ids": [back["id"]], "together": True}
    joined = client.post(f"/events/{event.id}/waitlist", json={**wanted, "max_price_cents": back["price_cents"]})
    assert joined.status == 201, joined.body
    listed = entry_of(client)
    for body in (joined.body, listed):
        assert body["section_ids"] == [back["id"]] and body["together"] is True and body["accept_partial"] is True
        assert body["max_price_cents"] == back["price_cents"]
    plain = api.as_(factory.user()).post(f"/events/{event.id}/waitlist", json={"quantity": 1})
    assert (plain.body["section_ids"], plain.body["together"], plain.body["max_price_cents"]) == (None, False, None)


# Each body is made from the event's own first section id and a section id of another event.
@pytest.mark.parametrize(
    ("seating", "body", "field"),
    [
        ("reserved", lambda own, other: {"section_ids": [-1]}, "section_ids.0"),
        ("reserved", lambda own, other: {"section_ids": []}, "section_ids"),
        ("reserved", lambda own, other: {"section_ids": str(own)}, "section_ids"),
        ("reserved", lambda own, other: {"section_ids": [other]}, "section_ids"),
        ("reserved", lambda own, other: {"section_ids": [own, own]}, "section_ids"),
        ("reserved", lambda own, other: {"together": "yes"}, "together"),
        ("reserved", lambda own, other: {"accept_partial": 1}, "accept_partial"),
        ("reserved", lambda own, other: {"max_price_cents": -1}, "max_price_cents"),
        ("reserved", lambda own, other: {"max_price_cents": 1.5}, "max_price_cents"),
        ("reserved", lambda own, other: {"max_price_cents": 100}, "max_price_cents"),  # the cheapest costs 4500
        ("general", lambda own, other: {"section_ids": [other]}, "section_ids"),
        ("general", lambda own, other: {"together": True}, "together"),
        ("general", lambda own, other: {"max_price_cents": 1999}, "max_price_cents"),  # every place costs 2000
    ],
)
def test_preferences_no_offer_could_meet_are_a_422_naming_the_field_and_change_nothing(
    api, factory, seating, body, field
):
    event = factory.event(seating=seating)
    own = sections_of(api, event.id)[0]["id"] if seating == "reserved" else 0
    other = sections_of(api, factory.event().id)[0]["id"]
    client = api.as_(factory.user())
    response = client.post(f"/events/{event.id}/waitlist", json={"quantity": 2, **body(own, other)})
    assert response.status == 422, response.body
    assert response.body["error"]["code"] and field in response.body["error"]["details"]["fields"]
    assert client.get("/waitlist").body["items"] == []


def test_an_all_or_nothing_group_too_large_is_passed_over_and_a_smaller_one_behind_it_served(api, factory, app):
    event = factory.event(seating="general", capacity=4)
    holder, keeper = api.as_(factory.user()), api.as_(factory.user())
    held = holder.post(f"/events/{event.id}/holds", json={"quantity": 3})
    assert held.status == 201, held.body
    assert keeper.post(f"/events/{event.id}/holds", json={"quantity": 1}).status == 201
    clients = [api.as_(factory.user()) for _ in range(3)]
    wanted = [{"quantity": 4}, {"quantity": 2}, {"quantity": 3, "accept_partial": True}]
    for client, body in zip(clients, wanted, strict=True):
        assert client.post(f"/events/{event.id}/waitlist", json=body).status == 201
    assert holder.delete(f"/holds/{held.body['id']}").status == 204  # three places are free
    allocate(app, event.id)

    first, second, third = (entry_of(c) for c in clients)
    assert first["status"] == "waiting" and first["position"] == 1 and first["offer"] is None
    assert second["status"] == "offered" and second["offer"]["quantity"] == 2
    assert third["status"] == "offered" and third["offer"]["quantity"] == 1  # it takes part of what it asked
