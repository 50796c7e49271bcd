"""Headless Debian Chromium driven by Playwright against the real running stack.

One browser per session (starting Chromium is the slow part), a fresh context per simulated person,
its profile and caches in a temporary HOME so that runs never share state.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.factories import PASSWORD
from tests.services import ROOT

CHROMIUM = "/usr/lib/chromium/chromium" if Path("/usr/lib/chromium/chromium").exists() else "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = ROOT / "tests" / "screenshots"
PHONE = {"width": 390, "height": 844}

BROWSER_TESTS = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``browser`` before ``-m`` selects (``pytestmark`` in a conftest marks nothing)."""
    for item in items:
        if item.path.is_relative_to(BROWSER_TESTS):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright(run_dir: Path) -> Iterator[Playwright]:
    home = run_dir / "browser-home"
    home.mkdir(exist_ok=True)
    saved = {k: os.environ.get(k) for k in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME")}
    os.environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
    )
    try:
        with sync_playwright() as p:
            yield p
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def people(browser: Browser, live_server: str) -> Iterator[Callable[..., Page]]:
    """``people()`` opens a page in a new, separate browser context (its own cookies): one per person."""
    contexts: list[BrowserContext] = []
    expect.set_options(timeout=10_000)

    def open_page(viewport: dict | None = None, **options: str) -> Page:
        """``options``: more of Playwright's context options, such as ``timezone_id`` or ``locale``."""
        context = browser.new_context(
            base_url=live_server, viewport=viewport or {"width": 1280, "height": 900}, **options
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Welcome back")).to_be_visible()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical findings for the page as it is now."""
    page.add_script_tag(url="/static/vendor/axe.min.js")  # served, not inlined: the CSP allows only 'self' scripts
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]
