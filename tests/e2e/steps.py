"""What an employee does in the browser, shared by the scenarios of the seed."""

import re

from playwright.sync_api import expect

from tests.support.clients import PASSWORD

from .conftest import assert_accessible_basics

NARROW = {"width": 360, "height": 740}
NUDGE = "/security-info/keep-your-account-secure/"


def check_page(page):
    """The accessibility smoke on the page as shown, then again at the narrowest phone width."""
    page.wait_for_load_state()
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px", "portal.css not loaded"
    assert_accessible_basics(page)
    shown = page.viewport_size
    if shown["width"] > NARROW["width"]:
        page.set_viewport_size(NARROW)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{page.url}: horizontal scroll of {overflow}px at 360px"
        page.set_viewport_size(shown)


def button(page, name):
    """The one button (or link styled as one) in the page's main content with this exact name."""
    main = page.locator("main")
    found = main.get_by_role("button", name=name, exact=True).or_(
        main.get_by_role("link", name=name, exact=True))
    expect(found).to_have_count(1)
    return found


def click(page, name, tap=False):
    """Click (or, on a phone, tap) a button that loads the next page, then check that page."""
    target = button(page, name)
    with page.expect_navigation():
        target.tap() if tap else target.click()
    check_page(page)


def sign_in(page, base, email, password=PASSWORD, path="/"):
    """Open a page of the portal while signed out, and sign in on the page it sends us to."""
    page.goto(base + path)
    expect(page.locator("#id_login")).to_be_visible()
    check_page(page)
    page.fill("#id_login", email)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()
    check_page(page)


def sign_out(page, label):
    with page.expect_navigation():
        page.locator("header").get_by_role("button", name=label).click()
    expect(page.locator("#id_login")).to_be_visible()


def path_of(page):
    return re.sub(r"^https?://[^/]+", "", page.url)
