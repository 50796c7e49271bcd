"""The waiting room in the browser: a queued person waits, is let in, picks a seat on the map and books."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from atomicseats.booking import waiting_room
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
