"""Cancelling an event emails everyone it affects: its buyers, and the people holding seats who had not booked."""

from __future__ import annotations

from tests.pipeline.conftest import body_text
from tests.pipeline.helpers import checkout, hold, query, wait_final


def test_cancelling_an_event_emails_its_holders_who_have_not_booked_as_well_as_its_buyers(
    api, factory, pipeline, mailbox, app
):
    host = factory.user("host")
    event = factory.event(host=host)
    seats = factory.seat_ids(event.id)
    buyer, holder, released = factory.user(), factory.user(), factory.user()
    buying = api.as_(buyer)
    booking = checkout(buying, hold(buying, event.id, seat_ids=seats[:1])["id"])
    booking = wait_final(buying, booking["id"], timeout=60, pipeline=pipeline)  # the stack may be starting
    assert booking["status"] == "confirmed"
    mailbox.wait_for(buyer.email)  # the confirmation
    hold(api.as_(holder), event.id, seat_ids=seats[1:3])
    let_go = hold(api.as_(released), event.id, seat_ids=seats[3:4])
    assert api.as_(released).delete(f"/holds/{let_go['id']}").status == 204

    assert api.as_(host).delete(f"/events/{event.id}").status == 200

    told = query(
        app,
        "SELECT CAST(payload->>'user_id' AS int) AS user_id, payload->>'booking_id' AS booking_id FROM outbox "
        "WHERE topic = 'notifications' AND payload->>'kind' = 'event_cancelled' AND payload->>'event_id' = :e",
        e=str(event.id),
    )
    assert sorted((r.user_id, r.booking_id) for r in told) == sorted([(buyer.id, booking["id"]), (holder.id, None)])
    to_holder = mailbox.wait_for(holder.email)
    assert len(to_holder) == 1 and to_holder[0]["Subject"] == f"Cancelled: {event.name}"
    text = body_text(to_holder[0])
    assert f"{event.name} has been cancelled by its organiser" in text and "Your booking" not in text
    to_buyer = mailbox.wait_for(buyer.email, count=2)
    cancelled = [m for m in to_buyer if m["Subject"] == f"Cancelled: {event.name}"]
    assert len(cancelled) == 1
    assert f"Your booking {booking['reference']} is cancelled" in body_text(cancelled[0])
