"""A waitlist offer is accepted (which leads to its checkout) or declined (its places pass to the next in line)."""

from __future__ import annotations

from atomicseats.booking import waitlist
from atomicseats.booking.payments import CARD_APPROVED
from atomicseats.extensions import db
from tests.pipeline.helpers import query

ONE_ROW = [{"name": "S", "price_cents": 2500, "rows": [{"label": "A", "seats": 2}]}]


def allocate(app, event_id: int) -> None:
    """What the ``waitlist-allocation`` job runs when places are freed."""
    with app.app_context():
        try:
            waitlist.allocate(event_id)
        finally:
            db.session.remove()


def entry_of(client) -> dict:
    (entry,) = client.get("/waitlist").body["items"]
    return entry


def test_declining_passes_the_places_on_and_accepting_leads_to_checkout(api, factory, app):
    event = factory.event(sections=ONE_ROW)
    seats = factory.seat_ids(event.id)
    holder = api.as_(factory.user())
    held = holder.post(f"/events/{event.id}/holds", json={"seat_ids": seats})
    first, second = api.as_(factory.user()), api.as_(factory.user())
    for client in (first, second):
        assert client.post(f"/events/{event.id}/waitlist", json={"quantity": 2}).status == 201
    assert first.post(f"/waitlist/{entry_of(first)['id']}/accept").body["error"]["code"] == "no_open_offer"

    assert holder.delete(f"/holds/{held.body['id']}").status == 204
    allocate(app, event.id)
    offered = entry_of(first)
    assert offered["status"] == "offered" and entry_of(second)["status"] == "waiting"
    assert second.post(f"/waitlist/{offered['id']}/decline").status == 404  # not theirs

    assert first.post(f"/waitlist/{offered['id']}/decline").status == 204
    assert entry_of(first)["status"] == "left" and entry_of(first)["offer"] is None
    assert first.post(f"/waitlist/{offered['id']}/decline").body["error"]["code"] == "no_open_offer"
    lapsed = query(app, "SELECT 1 FROM outbox WHERE payload->>'kind' = 'waitlist_offer_expired'")
    assert lapsed == []  # a declined offer did not lapse: no "your offer expired" email
    allocate(app, event.id)
    passed_on = entry_of(second)
    assert passed_on["status"] == "offered" and passed_on["offer"]["quantity"] == 2

    accepted = second.post(f"/waitlist/{passed_on['id']}/accept")
    assert accepted.status == 200, accepted.body
    assert accepted.body["hold_id"] == passed_on["offer"]["hold_id"]
    assert accepted.body["checkout_url"] == f"/checkout/{passed_on['offer']['hold_id']}"
    assert accepted.body["quantity"] == 2 and accepted.body["expires_in"] > 0
    booking = second.post(
        "/bookings", json={"hold_id": accepted.body["hold_id"], "payment": {"card_number": CARD_APPROVED}}
    )
    assert booking.status == 202, booking.body
