"""A host builds an event with the forms, publishes it, and it goes on the list; bad input changes nothing."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from atomicseats.extensions import db
from atomicseats.models import Event
from tests.browser.conftest import screenshot, serious_violations, sign_in
from tests.factories import PASSWORD

SECTIONS = [("Stalls", "45", "3", "10"), ("Circle", "30", "2", "12"), ("Balcony", "15.50", "2", "8")]


def fill_details(page: Page, name: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Venue").fill("Browser Hall")
    page.get_by_label("Starts").fill("2031-03-01T19:30")
    page.get_by_label("Ends").fill("2031-03-01T22:00")


def fill_section(page: Page, index: int, values: tuple[str, str, str, str]) -> None:
    for field, value in zip(("name", "price", "rows", "seats_per_row"), values, strict=True):
        page.locator(f"#sections-{index}-{field}").fill(value)


def event_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Event))


def test_host_creates_three_section_event_publishes_it_and_it_is_listed(people, factory, app):
    host = factory.user("host", name="Hana Host")
    page = people()
    sign_in(page, host.email)
    page.goto("/host/")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Create an event").click()
    fill_details(page, "Browser Built Show")
    page.get_by_role("button", name="Add a section").click()
    page.get_by_role("button", name="Add a section").click()
    for i, values in enumerate(SECTIONS):
        fill_section(page, i, values)
    screenshot(page, "host-event-form")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Save event").click()
    expect(page.get_by_text("is saved as a draft")).to_be_visible()

    page.get_by_role("button", name="Publish Browser Built Show").click()
    expect(page.get_by_text("“Browser Built Show” is on sale.")).to_be_visible()
    screenshot(page, "host-dashboard")
    page.goto("/")
    card = page.locator(".event-card", has_text="Browser Built Show")
    expect(card.locator(".availability")).to_have_text("70 of 70 seats available")  # 30 + 24 + 16


def test_invalid_event_form_shows_errors_beside_fields_and_creates_nothing(people, factory, app):
    host = factory.user("host")
    page = people()
    sign_in(page, host.email)
    page.goto("/host/events/new")
    fill_details(page, "")
    page.get_by_label("Ends").fill("2031-03-01T18:00")
    fill_section(page, 0, ("Stalls", "-5", "0", "10"))
    page.get_by_role("button", name="Save event").click()

    expect(page.locator("#name-error")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_be_focused()  # focus lands on the first error
    expect(page.locator("#ends_at-error")).to_have_text("The end must be after the start.")
    expect(page.locator("#name-error")).to_have_text("This cannot be empty.")
    expect(page.locator("#sections-0-price-error")).to_be_visible()
    expect(page.locator("#sections-0-rows-error")).to_be_visible()
    expect(page.get_by_label("Price (€)", exact=True)).to_have_value("-5")
    screenshot(page, "host-form-errors")
    assert event_count(app) == 0


def test_signed_out_host_page_sends_to_sign_in_and_back(people, factory):
    host = factory.user("host")
    page = people()
    response = page.goto("/host/")
    assert response.ok
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fhost%2F$"))
    page.get_by_label("Email").fill(host.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/host/$"))
    favicon = page.locator('link[rel="icon"]').get_attribute("href")
    assert page.request.get(favicon).headers["content-type"].startswith("image/svg+xml")


def test_a_host_in_berlin_types_local_times_and_cannot_publish_a_past_event(people, factory, app):
    host = factory.user("host")
    page = people(timezone_id="Europe/Berlin")
    sign_in(page, host.email)
    page.goto("/host/events/new")
    expect(page.locator("#tz-name")).to_have_text("Europe/Berlin")
    fill_details(page, "Berlin Evening")
    page.get_by_label("Hold time (minutes)").fill("10")
    fill_section(page, 0, ("Stalls", "20", "1", "5"))
    page.get_by_role("button", name="Save event").click()
    expect(page.get_by_text("is saved as a draft")).to_be_visible()
    with app.app_context():
        event = db.session.scalar(select(Event).where(Event.name == "Berlin Evening"))
        assert event.starts_at == datetime(2031, 3, 1, 18, 30, tzinfo=UTC)  # 19:30 in Berlin (CET, UTC+1)
        assert event.hold_seconds == 600
        event_id = event.id

    page.goto(f"/host/events/{event_id}/edit")
    expect(page.get_by_label("Starts")).to_have_value("2031-03-01T19:30")  # shown back in the host's zone
    page.get_by_label("Starts").fill("2020-03-01T19:30")
    page.get_by_label("Ends").fill("2020-03-01T22:00")
    page.get_by_role("button", name="Save event").click()
    expect(page.get_by_text("is saved")).to_be_visible()
    page.get_by_role("button", name="Publish Berlin Evening").click()
    expect(page.get_by_text("This event's start has passed, so it cannot go on sale.")).to_be_visible()
    assert serious_violations(page) == []
