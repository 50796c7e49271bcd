"""The way through a booking: a selection kept across signing in, the "seats on hold" banner, sold-out events,
and focus landing on what just happened."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import serious_violations
from tests.browser.test_seatmap_browser import SECTIONS, open_map, seat
from tests.factories import PASSWORD

BANNER = "You have seats on hold: continue to checkout"


def fill_sign_in(page: Page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_selection_made_signed_out_survives_signing_in_and_the_hold_shows_a_banner(people, factory):
    event = factory.event(sections=SECTIONS)
    user = factory.user()
    page = people()
    open_map(page, event.id)
    seat(page, "B-4").click()
    seat(page, "B-5").click()
    page.get_by_role("button", name="Hold seats and check out").click()

    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("link", name=BANNER)).to_have_count(0)
    fill_sign_in(page, user.email)
    expect(page).to_have_url(re.compile(rf"/events/{event.id}$"))
    expect(page.locator("#booking")).to_have_attribute("data-ready", "true")
    for label in ("B-4", "B-5"):
        expect(seat(page, label)).to_have_class(re.compile(r"\bs-selected\b"))
    expect(page.locator("#selection-total")).to_have_text("€90.00")
    expect(page.locator("#hold-selected")).to_be_focused()

    page.get_by_role("button", name="Hold seats and check out").click()
    expect(page).to_have_url(re.compile(r"/checkout/[0-9a-f-]{36}$"))
    checkout_url = page.url
    expect(page.get_by_role("link", name=BANNER)).to_have_count(0)  # not on the checkout it points to
    page.goto("/")
    banner = page.get_by_role("link", name=BANNER)
    expect(banner).to_be_visible()
    assert serious_violations(page) == []
    banner.click()
    expect(page).to_have_url(checkout_url)

    page.get_by_role("button", name="Release seats").click()
    expect(page.get_by_text("You released these seats.")).to_be_visible()
    page.goto("/")
    expect(page.get_by_role("link", name=BANNER)).to_have_count(0)


def test_a_sold_out_event_hides_the_hold_button_and_leads_to_the_waitlist(people, factory, api):
    event = factory.event(seating="general", capacity=2, price_cents=2000)
    holder = factory.user()
    assert api.as_(holder).post(f"/events/{event.id}/holds", json={"quantity": 2}).status == 201
    page = people()
    page.goto(f"/events/{event.id}")
    expect(page.locator("#sold-out")).to_contain_text("Sold out")
    expect(page.get_by_role("button", name="Hold places and check out")).to_be_hidden()
    page.locator("#sold-out").get_by_role("link", name="Join the waitlist").click()
    expect(page.get_by_role("heading", name="Sold out: join the waitlist")).to_be_in_viewport()
    expect(page.get_by_role("button", name="Join the waitlist")).to_be_visible()
    assert serious_violations(page) == []


def test_an_event_selling_out_while_its_page_is_open_swaps_the_hold_button_for_the_waitlist(people, factory, api):
    event = factory.event(seating="general", capacity=2, price_cents=2000)
    page = people()
    page.goto(f"/events/{event.id}")
    expect(page.locator("#booking")).to_have_attribute("data-live", "true")
    hold_button = page.get_by_role("button", name="Hold places and check out")
    expect(hold_button).to_be_visible()
    expect(page.locator("#sold-out")).to_be_hidden()
    expect(page.locator("#waitlist")).to_be_hidden()

    holder = api.as_(factory.user())
    hold = holder.post(f"/events/{event.id}/holds", json={"quantity": 2}).body
    expect(hold_button).to_be_hidden()
    expect(page.locator("#sold-out")).to_be_visible()
    expect(page.get_by_role("button", name="Join the waitlist")).to_be_visible()

    assert holder.delete(f"/holds/{hold['id']}").status == 204
    expect(hold_button).to_be_visible()
    expect(page.locator("#waitlist")).to_be_hidden()
