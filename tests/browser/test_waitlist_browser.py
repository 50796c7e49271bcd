"""The waitlist in the browser: the open event page hears an offer (a status banner with a link), and the offer
page declines it (the places go to the next in line, whose page hears theirs) or accepts it (to checkout); a
partial hold's checkout puts the rest on the waitlist."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.api.test_waitlist_offers import allocate
from tests.browser.conftest import serious_violations, sign_in

OFFER = "See your waitlist offer"


def on_event_page(page: Page, event_id: int) -> None:
    page.goto(f"/events/{event_id}")
    expect(page.locator("#booking")).to_have_attribute("data-live", "true")  # connected, so it hears pushes


def test_the_page_hears_the_offer_and_declining_passes_it_on_and_accepting_leads_to_checkout(people, factory, api, app):
    event = factory.event(seating="general", capacity=2, price_cents=2000)
    holder = api.as_(factory.user())
    held = holder.post(f"/events/{event.id}/holds", json={"quantity": 2}).body
    first, second = factory.user(), factory.user()
    first_page, second_page = people(), people()
    sign_in(first_page, first.email)
    on_event_page(first_page, event.id)
    first_page.get_by_label("Places wanted").fill("2")
    first_page.get_by_role("button", name="Join the waitlist").click()
    expect(first_page.get_by_text("You are number 1 on the waitlist.")).to_be_visible()
    assert api.as_(second).post(f"/events/{event.id}/waitlist", json={"quantity": 2}).status == 201
    on_event_page(first_page, event.id)
    sign_in(second_page, second.email)
    on_event_page(second_page, event.id)

    assert holder.delete(f"/holds/{held['id']}").status == 204
    allocate(app, event.id)
    banner = first_page.get_by_role("status").filter(has_text="2 places are held for you")
    expect(banner).to_be_visible()
    expect(second_page.get_by_role("link", name=OFFER)).to_have_count(0)  # only the offer's owner hears it
    assert serious_violations(first_page) == []
    banner.get_by_role("link", name=OFFER).click()
    expect(first_page.get_by_role("heading", name="2 places are held for you")).to_be_visible()
    first_page.get_by_role("button", name="Decline").click()
    expect(first_page.get_by_text("You declined the offer")).to_be_visible()

    allocate(app, event.id)  # what the allocation message the decline sent makes a worker do, if one runs
    second_page.get_by_role("status").get_by_role("link", name=OFFER).click()
    second_page.get_by_role("button", name="Accept and check out").click()
    offer = api.as_(second).get("/waitlist").body["items"][0]["offer"]
    expect(second_page).to_have_url(re.compile(f"/checkout/{offer['hold_id']}$"))
    expect(second_page.get_by_role("button", name="Pay")).to_be_visible()


def test_a_partial_hold_leads_from_checkout_to_the_waitlist_for_the_rest(people, factory, api):
    event = factory.event(seating="general", capacity=3, price_cents=2000)
    assert api.as_(factory.user()).post(f"/events/{event.id}/holds", json={"quantity": 2}).status == 201
    user = factory.user()
    page = people()
    sign_in(page, user.email)
    on_event_page(page, event.id)
    page.get_by_label("Number of places").fill("3")
    page.get_by_label("If fewer are left, hold what is left").check()
    page.get_by_role("button", name="Hold places and check out").click()
    expect(page.get_by_text("Only 1 place was left; 2 could not be held.")).to_be_visible()
    expect(page.get_by_label("Places wanted")).to_have_value("2")
    page.get_by_role("button", name="Join the waitlist for the rest").click()
    expect(page.get_by_text("You are number 1 on the waitlist.")).to_be_visible()
    (entry,) = api.as_(user).get("/waitlist").body["items"]
    assert (entry["quantity"], entry["accept_partial"]) == (2, True)
