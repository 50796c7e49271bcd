"""Best available in the browser: a wheelchair user asks for a wheelchair space and gets it with a companion seat."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import serious_violations, sign_in

SECTIONS = [
    {
        "name": "Stalls",
        "price_cents": 4500,
        # The middle of row A, where plain best available would sit a pair, is standard; the wheelchair spaces
        # and their companion seats are at its ends.
        "rows": [{"label": "A", "seats": 10, "accessible": [1, 10], "companion": [2, 9]}, {"label": "B", "seats": 10}],
    }
]


def test_asking_for_a_wheelchair_space_holds_one_with_its_companion_seat(people, factory):
    event = factory.event(sections=SECTIONS)
    buyer = factory.user()
    page = people()
    sign_in(page, buyer.email)
    page.goto(f"/events/{event.id}")
    expect(page.locator("#booking")).to_have_attribute("data-ready", "true")
    wheelchair = page.get_by_label("I need a wheelchair space")
    expect(wheelchair).to_be_visible()
    assert serious_violations(page) == []
    wheelchair.check()
    page.locator("#best-quantity").fill("2")
    page.get_by_role("button", name="Best available").click()
    expect(page).to_have_url(re.compile(r"/checkout/[0-9a-f-]{36}$"))
    held = sorted(page.locator("table.summary tbody td:first-child").all_text_contents())
    assert held in (["A-1", "A-2"], ["A-10", "A-9"]), held


def test_the_wheelchair_choice_is_offered_only_where_the_venue_has_wheelchair_spaces(people, factory):
    event = factory.event(sections=[{"name": "Stalls", "price_cents": 4500, "rows": [{"label": "A", "seats": 6}]}])
    page = people()
    page.goto(f"/events/{event.id}")
    expect(page.locator("#booking")).to_have_attribute("data-ready", "true")
    expect(page.get_by_label("I need a wheelchair space")).to_be_hidden()
