"""Registration and sign-in through the real browser: the page, its CSRF token, the redirect, the error."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.factories import PASSWORD


def test_register_sign_out_and_sign_in_with_wrong_then_right_password(people, live_server):
    page = people()
    page.goto("/register")
    assert page.locator('form input[name="csrf_token"]').get_attribute("value")
    page.get_by_label("Name").fill("Ada Browser")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(live_server + "/")
    expect(page.get_by_text("Your account is ready.")).to_be_visible()
    page.get_by_role("button", name=re.compile("Sign out")).click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()

    page.goto("/login")
    assert page.locator('form input[name="csrf_token"]').get_attribute("value")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".field-error")).to_have_text("Wrong email or password.")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "sign-in-error")

    sign_in(page, "ada@example.com")
    expect(page).to_have_url(live_server + "/")
    expect(page.get_by_role("button", name="Sign out Ada Browser")).to_be_visible()


def test_a_post_without_the_csrf_token_is_refused(people):
    page = people()
    page.goto("/login")
    page.locator('input[name="csrf_token"]').evaluate("el => el.remove()")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="400")).to_be_visible()
