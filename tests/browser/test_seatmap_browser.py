"""The seat map as people see it: labels, price colours, special-seat marks, the tooltip, zoom and pan."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, serious_violations

SECTIONS = [
    {
        "name": "Stalls",
        "price_cents": 4500,
        "rows": [
            {"label": "A", "seats": 10, "accessible": [1], "companion": [2], "restricted_view": [10]},
            {"label": "B", "seats": 10},
        ],
    },
    {"name": "Circle", "price_cents": 3000, "rows": [{"label": "C", "seats": 8}]},
]
TARGET_PX = 24  # WCAG 2.2 target size


def seat(page: Page, label: str):
    return page.locator(f'#seatmap [data-label="{label}"]')


def open_map(page: Page, event_id: int) -> None:
    page.goto(f"/events/{event_id}")
    expect(page.locator("#booking")).to_have_attribute("data-ready", "true")


def scale(page: Page) -> float:
    return float(page.locator("#seatmap").get_attribute("data-scale"))


def seat_size(page: Page, label: str) -> float:
    box = seat(page, label).locator(".shape").bounding_box()
    return min(box["width"], box["height"])


def test_map_draws_labels_price_tiers_and_special_seat_marks(people, factory):
    event = factory.event(sections=SECTIONS)
    page = people()
    open_map(page, event.id)

    expect(page.locator("#seatmap .section-label")).to_have_text(["Stalls", "Circle"])
    assert set(page.locator("#seatmap .row-label").all_text_contents()) == {"A", "B", "C"}
    expect(seat(page, "B-4")).to_have_class(re.compile(r"\bs-available\b.*\bt0\b"))
    expect(seat(page, "C-4")).to_have_class(re.compile(r"\bs-available\b.*\bt1\b"))
    legend = page.locator(".legend")
    expect(legend).to_contain_text("€45.00 Stalls")
    expect(legend).to_contain_text("€30.00 Circle")

    shapes = {label: seat(page, label).locator(".shape").evaluate("e => e.tagName") for label in ("A-1", "A-2", "A-3")}
    assert shapes == {"A-1": "rect", "A-2": "polygon", "A-3": "circle"}
    restricted = seat(page, "A-10").locator(".shape")
    assert restricted.evaluate("e => e.tagName") == "polygon"
    assert restricted.get_attribute("points") != seat(page, "A-2").locator(".shape").get_attribute("points")
    expect(seat(page, "A-2")).to_have_attribute("aria-label", re.compile("companion seat"))
    expect(seat(page, "A-10")).to_have_attribute("aria-label", re.compile("restricted view"))
    for kind, text in (("accessible", "wheelchair"), ("companion", "companion"), ("restricted_view", "restricted")):
        expect(page.locator(f'#kind-legend [data-kind="{kind}"]')).to_contain_text(text)

    # A gap in a row: the aisle between sections is a map row without seats.
    b_y = seat(page, "B-1").bounding_box()["y"]
    c_y = seat(page, "C-1").bounding_box()["y"]
    row_pitch = b_y - seat(page, "A-1").bounding_box()["y"]
    assert c_y - b_y > 1.5 * row_pitch
    assert serious_violations(page) == []


def test_tooltip_on_hover_and_on_keyboard_focus(people, factory):
    event = factory.event(sections=SECTIONS)
    page = people()
    open_map(page, event.id)
    tip = page.locator("#seat-tip")
    expect(tip).to_be_hidden()

    seat(page, "A-2").hover()
    expect(tip).to_be_visible()
    expect(tip).to_have_text(re.compile(r"Stalls.*Row A, seat 2.*€45\.00.*Companion seat"))

    page.mouse.move(0, 0)
    expect(tip).to_be_hidden()
    seat(page, "A-1").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    expect(tip).to_have_text(re.compile(r"Stalls.*Row B, seat 2.*€45\.00.*Standard seat"))
    assert serious_violations(page) == []


def test_zoom_and_pan_by_keyboard_buttons_and_wheel(people, factory):
    event = factory.event(sections=SECTIONS)
    page = people()
    open_map(page, event.id)
    assert scale(page) == 1
    before = seat_size(page, "B-5")

    seat(page, "B-5").focus()
    page.keyboard.press("+")
    expect(page.locator("#seatmap")).not_to_have_attribute("data-scale", "1.000")
    assert scale(page) > 1.4
    assert seat_size(page, "B-5") > before * 1.4
    expect(page.locator(":focus")).to_have_attribute("data-label", "B-5")  # zooming keeps the seat focused

    view = page.locator("#seatmap").get_attribute("data-view")
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator("#seatmap")).not_to_have_attribute("data-view", view)
    assert float(page.locator("#seatmap").get_attribute("data-view").split()[0]) > float(view.split()[0])
    page.keyboard.press("-")
    expect(page.locator("#seatmap")).to_have_attribute("data-scale", "1.000")

    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("#seatmap")).to_have_attribute("data-scale", "1.500")
    page.get_by_role("button", name="Whole map").click()
    expect(page.locator("#seatmap")).to_have_attribute("data-scale", "1.000")

    box = page.locator("#seatmap").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    expect(page.locator("#seatmap")).not_to_have_attribute("data-scale", "1.000")


def test_on_a_phone_a_tap_zooms_until_seats_are_big_enough_then_picks(people, factory):
    event = factory.event(sections=SECTIONS)
    page = people(viewport=PHONE)
    open_map(page, event.id)
    assert seat_size(page, "B-5") < TARGET_PX

    seat(page, "B-5").click()
    expect(page.locator("#seatmap")).to_have_class(re.compile(r"\bpickable\b"))
    expect(seat(page, "B-5")).to_have_class(re.compile(r"\bs-available\b"))  # the first tap only zoomed
    assert seat_size(page, "B-5") >= TARGET_PX
    seat(page, "B-5").click()
    expect(seat(page, "B-5")).to_have_class(re.compile(r"\bs-selected\b"))

    # The order bar: the selection, the total and the hold button, pinned to the bottom of the screen.
    bar = page.locator("#order-bar")
    expect(bar).to_contain_text("1 seat: B-5")
    expect(bar).to_contain_text("€45.00")
    hold = bar.get_by_role("button", name="Hold seats and check out")
    expect(hold).to_be_enabled()
    for scroll in ("0", "document.body.scrollHeight / 2"):
        page.evaluate(f"window.scrollTo(0, {scroll})")
        box = bar.bounding_box()
        assert abs(box["y"] + box["height"] - PHONE["height"]) < 1  # on the screen's bottom edge
        button = hold.bounding_box()
        assert button["height"] >= TARGET_PX and button["width"] >= TARGET_PX
        assert button["y"] >= 0 and button["y"] + button["height"] <= PHONE["height"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert serious_violations(page) == []


def test_a_large_venue_opens_on_its_sections_and_the_keyboard_zooms_into_one(people, factory):
    wide = [
        {
            "name": f"Block {b}",
            "price_cents": 5000 - 1000 * b,
            "rows": [{"label": f"{b}R{r}", "seats": 150} for r in range(4)],
        }
        for b in (1, 2)
    ]
    event = factory.event(sections=wide)
    page = people()
    open_map(page, event.id)
    expect(page.locator("#seatmap")).to_have_class(re.compile(r"\boverview\b"))
    assert page.locator("#seatmap [data-seat-id]").count() == 0  # no seat elements until a section is opened
    block = page.get_by_role("button", name="Block 2, €30.00: zoom in to choose seats")
    expect(block).to_be_visible()
    assert serious_violations(page) == []

    block.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#seatmap")).not_to_have_class(re.compile(r"\boverview\b"))
    expect(page.locator(":focus")).to_have_attribute("data-label", "2R0-1")
    assert seat_size(page, "2R0-1") >= TARGET_PX
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    expect(seat(page, "2R0-2")).to_have_class(re.compile(r"\bs-selected\b"))
