"""The Content-Security-Policy blocks nothing the site uses: Swagger UI, the admin charts, the live seat map.

Chromium reports every blocked script, style, image or connection on the console; none may appear.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in


def blocked(page: Page) -> list[str]:
    """The page's console reports of anything the policy refused, as they arrive."""
    reports: list[str] = []
    page.on("console", lambda message: "Content Security Policy" in message.text and reports.append(message.text))
    return reports


def test_swagger_ui_renders_the_api_under_the_policy(people):
    page = people()
    reports = blocked(page)
    page.goto("/api/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.locator(".models")).to_be_visible()  # the schemas, rendered from the fetched document
    assert reports == []


def test_the_admin_charts_draw_under_the_policy(people, factory):
    admin = factory.user("admin")
    factory.event()
    page = people()
    reports = blocked(page)
    sign_in(page, admin.email)
    page.goto("/admin/")
    expect(page.locator("#utilisation-chart")).to_be_visible()
    assert page.evaluate("Chart.getChart('utilisation-chart').data.labels.length") >= 1
    assert reports == []


def test_the_seat_map_goes_live_under_the_policy(people, factory):
    buyer = factory.user()
    event = factory.event()
    page = people()
    reports = blocked(page)
    sign_in(page, buyer.email)
    page.goto(f"/events/{event.id}")
    expect(page.locator("#booking")).to_have_attribute("data-live", "true")
    expect(page.locator("[data-seat-id]").first).to_be_visible()
    assert reports == []
