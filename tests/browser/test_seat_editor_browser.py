"""The host's seat-map editor in Chromium: marks by click, drag and keyboard, an aisle, the save, and the marks on
the public map once the event is on sale."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import text

from atomicseats.booking import inventory
from atomicseats.extensions import db
from atomicseats.models import User
from tests.browser.conftest import serious_violations, sign_in

SECTIONS = [{"name": "Stalls", "price_cents": 4500, "rows": [{"label": "A", "seats": 8}, {"label": "B", "seats": 8}]}]


def seat(page: Page, label: str):
    return page.locator(f'#seatmap [data-label="{label}"]')


def centre(page: Page, label: str) -> tuple[float, float]:
    box = seat(page, label).locator(".shape").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_editor_marks_a_companion_seat_that_then_shows_on_the_public_map(people, factory, app):
    host = factory.user("host")
    event = factory.event(host=host, publish=False, sections=SECTIONS)
    page = people()
    sign_in(page, host.email)
    page.goto("/host/")
    page.get_by_role("link", name=f"Seat map of {event.name}").click()
    expect(page.locator("#seat-editor")).to_have_attribute("data-ready", "true")
    assert serious_violations(page) == []

    page.get_by_label("Companion seat").check()
    seat(page, "A-2").click()
    expect(seat(page, "A-2")).to_have_attribute("aria-label", re.compile("companion seat"))
    expect(seat(page, "A-2")).to_have_attribute("aria-checked", "true")

    page.get_by_label("Restricted view").check()  # a drag marks every seat it passes over
    page.mouse.move(*centre(page, "B-1"))
    page.mouse.down()
    for label in ("B-2", "B-3"):
        page.mouse.move(*centre(page, label), steps=4)
    page.mouse.up()
    for label in ("B-1", "B-2", "B-3"):
        expect(seat(page, label)).to_have_attribute("aria-label", re.compile("restricted view"))
    expect(seat(page, "B-4")).to_have_attribute("aria-label", re.compile("standard seat"))

    page.get_by_label("Not for sale").check()  # by keyboard: from A-2, two to the right, Enter
    seat(page, "A-2").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.locator(":focus")).to_have_attribute("data-label", "A-4")
    page.keyboard.press("Enter")
    expect(seat(page, "A-4")).to_have_attribute("class", re.compile(r"\bs-off\b"))
    page.get_by_role("button", name="Add an aisle to its right").click()
    expect(page.locator("#pending")).to_have_text(
        "13 seats changed, not saved yet."
    )  # 5 marks; A-5..A-8 and B-5..B-8 moved
    assert serious_violations(page) == []

    page.get_by_role("button", name="Save the seat map").click()
    expect(page.locator("#editor-message")).to_contain_text("Saved. 15 seats are for sale")
    with app.app_context():
        xs = dict(db.session.execute(text("SELECT label, x FROM seats WHERE event_id = :e"), {"e": event.id}).all())
        inventory.publish_event(event.id, db.session.get(User, host.id))
    assert xs["A-5"] - xs["A-4"] == 2 and xs["A-4"] - xs["A-3"] == 1

    buyer = people()
    buyer.goto(f"/events/{event.id}")
    expect(buyer.locator("#booking")).to_have_attribute("data-ready", "true")
    companion = seat(buyer, "A-2")
    expect(companion).to_have_attribute("aria-label", re.compile("companion seat"))
    assert companion.locator(".shape").evaluate("e => e.tagName") == "polygon"
    expect(buyer.locator('#kind-legend [data-kind="companion"]')).to_be_visible()
    expect(seat(buyer, "A-4")).to_have_attribute("aria-label", re.compile("not for sale"))
    expect(seat(buyer, "A-4")).to_have_attribute("aria-disabled", "true")
    expect(buyer.locator("#availability")).to_contain_text("15 of 15 seats available")
