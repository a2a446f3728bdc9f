"""A real browser signs in on a tenant's host, in Japanese and in English, desktop and phone."""

import pytest
from playwright.sync_api import expect

from tests.support.clients import PASSWORD

from .conftest import DESKTOP, PHONE, assert_accessible_basics

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("device,locale,heading", [
    (DESKTOP, "ja", "サインイン"),
    (PHONE, "en", "Sign in"),
])
def test_employee_signs_in_and_out(open_page, shots, no_nudge, tenant, user, device, locale, heading):
    page, base = open_page(tenant, device, locale)
    page.goto(base + "/")
    assert page.locator("h1").inner_text() == heading
    assert "Demo Corporation" in page.locator("header").inner_text()
    assert_accessible_basics(page)
    shots(page, "sign-in")
    page.fill("#id_login", user.email)
    page.fill("#id_password", PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state()
    assert user.email in page.locator("header").inner_text()
    shots(page, "signed-in")
    # Signed in, the portal speaks the user's own language (Japanese for this user).
    with page.expect_navigation():
        page.locator("header").get_by_role("button", name="サインアウト", exact=True).click()
    expect(page.locator("#id_login")).to_be_visible()  # the sign-in page again
    assert user.email not in page.locator("header").inner_text()
    page.goto(base + "/")  # and the session is over: the portal asks to sign in again
    expect(page.locator("#id_login")).to_be_visible()
    assert "/accounts/login/" in page.url and user.email not in page.locator("header").inner_text()
    shots(page, "signed-out")


def test_wrong_password_is_shown_next_to_the_form(open_page, tenant, user):
    page, base = open_page(tenant, DESKTOP, "en")
    page.goto(base + "/accounts/login/")
    page.fill("#id_login", user.email)
    page.fill("#id_password", "not-the-password")
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("[role=alert]").count() == 1
    assert "/accounts/login/" in page.url
