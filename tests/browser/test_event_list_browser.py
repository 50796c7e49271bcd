"""The event list: a price to start from, and times in the visitor's own time zone with UTC on hover."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.browser.conftest import serious_violations
from tests.browser.test_seatmap_browser import SECTIONS


def test_event_list_shows_from_prices_and_local_times_with_utc_on_hover(people, factory):
    concert = factory.event(name="Local Time Concert", sections=SECTIONS)
    factory.event(name="Local Time Picnic", seating="general", price_cents=1250)
    page = people(timezone_id="America/New_York", locale="en-GB")
    page.goto("/?q=local time")

    concert_card = page.locator(".event-card", has_text="Local Time Concert")
    expect(concert_card.locator(".price")).to_have_text("from €30.00")  # the cheaper of its two sections
    expect(page.locator(".event-card", has_text="Local Time Picnic").locator(".price")).to_have_text("from €12.50")

    when = concert_card.locator("time")
    local = concert.starts_at.astimezone(ZoneInfo("America/New_York"))
    expect(when).to_contain_text(local.strftime("%H:%M"))
    expect(when).to_contain_text(local.strftime("%Z").replace("EST", "GMT-5").replace("EDT", "GMT-4"))
    assert when.get_attribute("title") == concert.starts_at.strftime("%a %d %b %Y, %H:%M UTC")
    assert serious_violations(page) == []

    page.goto(f"/events/{concert.id}")
    expect(page.locator("header time")).to_contain_text(local.strftime("%H:%M"))
