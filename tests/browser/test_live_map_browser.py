"""A seat map in the browser whose realtime process dies and comes back while seats change: the page notices, comes
back by itself and shows the database's state, not the changes it happened to hear."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.factories import LiveApi
from tests.services import RestartableRealtime, start_web


@pytest.fixture
def site_with_restartable_realtime(
    server_env: dict[str, str], run_dir: Path, app
) -> Iterator[tuple[str, RestartableRealtime]]:
    """A web server whose pages connect their maps to a realtime process of this test's own, which it may kill."""
    log_dir = run_dir / "browser-realtime-restart"
    log_dir.mkdir(exist_ok=True)
    realtime = RestartableRealtime(server_env, log_dir).start()
    web, url = start_web({**server_env, "REALTIME_URL": realtime.url}, log_dir)
    yield url, realtime
    web.stop()
    realtime.stop()


def shown(page: Page) -> dict[str, str]:
    """Each seat's status as the map paints it (its ``s-<status>`` class), by label."""
    return page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('#seatmap [data-label]'), el =>
             [el.dataset.label, (el.getAttribute('class').match(/\\bs-(\\w+)/) || [])[1]]))"""
    )


def test_a_map_that_loses_its_realtime_process_while_seats_change_comes_back_showing_the_true_state(
    browser: Browser, site_with_restartable_realtime, factory
) -> None:
    url, realtime = site_with_restartable_realtime
    event = factory.event()
    buyer = LiveApi(url, factory.token(factory.user()))
    other = LiveApi(url, factory.token(factory.user()))
    labels = {s["id"]: s["label"] for s in buyer.get(f"/events/{event.id}/seats").body["items"]}
    seats = list(labels)
    context = browser.new_context(base_url=url)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto(f"/events/{event.id}")
        booking = page.locator("#booking")
        expect(booking).to_have_attribute("data-ready", "true")
        expect(booking).to_have_attribute("data-live", "true")
        first = buyer.post(f"/events/{event.id}/holds", json={"seat_ids": seats[:2]})
        assert first.status == 201
        expect(page.locator(f'#seatmap [data-label="{labels[seats[0]]}"]')).to_have_class(re.compile(r"\bs-held\b"))

        realtime.kill()
        expect(booking).to_have_attribute("data-live", "false")
        assert buyer.delete(f"/holds/{first.body['id']}").status == 204
        assert other.post(f"/events/{event.id}/holds", json={"seat_ids": seats[2:5]}).status == 201
        assert shown(page)[labels[seats[0]]] == "held"  # the map heard none of it

        realtime.start()
        expect(booking).to_have_attribute("data-live", "true", timeout=40_000)  # jittered backoff, up to ~20 s
        truth = {labels[s["id"]]: s["status"] for s in buyer.get(f"/events/{event.id}/seats").body["items"]}
        assert [truth[labels[s]] for s in seats[:5]] == ["available", "available", "held", "held", "held"]
        # The page's join answers with the full state before it acknowledges: wait for the paint all the same.
        page.wait_for_function(
            """truth => Object.entries(truth).every(([label, status]) =>
                 document.querySelector(`#seatmap [data-label="${label}"]`).classList.contains('s-' + status))""",
            arg=truth,
        )
        assert shown(page) == truth
    finally:
        context.close()
