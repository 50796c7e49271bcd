"""The waiting room in the browser: a queued person waits, is let in, picks a seat on the map and books."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from atomicseats.booking import waiting_room
from atomicseats.extensions import db
from atomicseats.models.base import utcnow
from tests.browser.conftest import screenshot, serious_violations, sign_in

ADMIT_PER_MINUTE = 6  # one every 10 s: the person behind the first one visibly waits


@pytest.mark.stack
def test_a_queued_user_waits_is_admitted_and_books(app, people, factory, pipeline):
    opens_at = utcnow() - timedelta(seconds=30)
    event = factory.event(
        waiting_room={"enabled": True, "opens_at": opens_at.isoformat(), "admit_per_minute": ADMIT_PER_MINUTE}
    )
    with app.app_context():  # two ahead in line: the room saves up one admission at most, so however long
        for _ in range(2):  # signing in takes, the buyer is let in a turn (10 s) after the page first shows
            waiting_room.join(event.id, factory.user().id)
    buyer = factory.user(name="Quinn Queued")
    page = people()
    sign_in(page, buyer.email)

    page.goto(f"/events/{event.id}/queue")
    expect(page.locator("#queue-position")).to_contain_text(re.compile(r"You are number \d+ in line"))
    expect(page.locator("#queue-status")).to_have_attribute("aria-live", "polite")
    assert serious_violations(page) == []
    screenshot(page, "waiting-room")

    expect(page).to_have_url(re.compile(rf"/events/{event.id}$"), timeout=45_000)
    expect(page.locator("#booking")).to_have_attribute("data-ready", "true")
    page.locator('#seatmap [data-label="A-3"]').click()
    page.get_by_role("button", name="Hold seats and check out").click()
    expect(page).to_have_url(re.compile(r"/checkout/[0-9a-f-]{36}$"))
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page.get_by_text("Booking confirmed")).to_be_visible(timeout=20_000)

    page.goto(f"/events/{event.id}/queue")  # the turn was used: the page says so instead of queueing again
    expect(page.locator("#queue-position")).to_contain_text("You have had your turn")


@pytest.mark.stack
def test_a_page_that_joined_before_the_opening_shows_its_drawn_place_without_asking(app, people, factory, redis_client):
    """The draw pushes each person's place to their own room: thousands of pages do not all ask for it at once."""
    event = factory.event(
        waiting_room={
            "enabled": True,
            "opens_at": (utcnow() + timedelta(minutes=10)).isoformat(),
            "admit_per_minute": 1,  # the draw's tick lets one in; nobody else moves during the test
        }
    )
    buyer = factory.user(name="Pat Prequeue")
    with app.app_context():
        for _ in range(3):
            waiting_room.join(event.id, factory.user().id)
    page = people()
    sign_in(page, buyer.email)
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if "/api/v1/queue/" in r.url else None)
    with page.expect_response(lambda r: "/api/v1/queue/" in r.url):  # the page reads its state once it connects
        page.goto(f"/events/{event.id}/queue")
    expect(page.locator("#queue-position")).to_contain_text("You are in the queue")

    with app.app_context():
        # The draw is random; this person's lottery number is made the highest, so that they are drawn last
        # (place 4, behind the one let in at once): the position the page must show is known.
        pre = waiting_room._keys(event.id)[0]
        assert redis_client.zadd(pre, {str(buyer.id): 2**waiting_room.LOTTERY_BITS}, xx=True, ch=True) == 1
        db.session.execute(
            text("UPDATE events SET waiting_room_opens_at = :now WHERE id = :e"), {"now": utcnow(), "e": event.id}
        )
        db.session.commit()
        page.route("**/api/v1/queue/**", lambda route: route.abort())  # a read now could not help the page
        asked_before = len(reads)
        waiting_room.admit(waiting_room.room_for(event.id), utcnow())

    expect(page.locator("#queue-position")).to_contain_text("You are number 3 in line")
    assert reads[asked_before:] == []


@pytest.mark.stack
def test_a_seat_map_without_a_turn_shows_the_way_to_the_queue(app, people, factory):
    """Holding seats before one's turn does not end on the API's refusal: the message links to the queue and takes
    the keyboard there."""
    event = factory.event(
        waiting_room={
            "enabled": True,
            "opens_at": (utcnow() - timedelta(seconds=30)).isoformat(),
            "admit_per_minute": ADMIT_PER_MINUTE,
        }
    )
    with app.app_context():  # two ahead: a running scheduler lets this person in no sooner than a turn (10 s)
        for _ in range(2):
            waiting_room.join(event.id, factory.user().id)
    page = people()
    sign_in(page, factory.user(name="Nina Notyet").email)
    page.goto(f"/events/{event.id}")
    expect(page.locator("#booking")).to_have_attribute("data-ready", "true")
    page.locator('#seatmap [data-label="A-3"]').click()
    page.get_by_role("button", name="Hold seats and check out").click()

    message = page.locator("#booking-message")
    expect(message).to_contain_text("This sale has a waiting room")
    expect(message).not_to_contain_text("X-Admission-Token")
    link = message.get_by_role("link", name="Join the queue")
    expect(link).to_be_focused()
    expect(link).to_have_attribute("href", f"/events/{event.id}/queue")
    assert serious_violations(page) == []
    link.press("Enter")
    expect(page).to_have_url(re.compile(rf"/events/{event.id}/queue$"))
    expect(page.locator("#queue-position")).to_contain_text(re.compile(r"You are number \d+ in line"))
