"""Recovery codes in a real browser: generate them on the security-info page, keep the file, then
sign in with one of them instead of the authenticator code, in Japanese and in English."""

import re

import pyotp
import pytest
from django.utils import translation
from playwright.sync_api import expect

from recovery import services

from .conftest import DESKTOP, PHONE
from .steps import NARROW, check_page, click, path_of, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

NARROW_PHONE = {**PHONE, "viewport": NARROW}
CODE_SHAPE = re.compile(r"\b[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}\b")


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


def texts(locale):
    """t("Next") -> the page's wording in this language."""
    def t(msgid):
        with translation.override(locale):
            return str(translation.gettext(msgid))
    return t


@pytest.mark.parametrize("device,locale", [(NARROW_PHONE, "ja"), (DESKTOP, "en")])
def test_generate_codes_then_sign_in_with_one(
    open_page, shots, make_tenant, make_user, device, locale
):
    t = texts(locale)
    tenant = make_tenant("codes", "Codes Corp", recovery_codes_enabled=True, mfa_required=True)
    user = make_user(tenant, "hanako@codes.example", name="山田 花子", language=locale)
    app = services.confirm_authenticator(services.start_authenticator_setup(user))
    totp = pyotp.TOTP(services.authenticator_secret(app))
    page, base = open_page(tenant, device, locale)

    # Sign in with the app, then add the recovery codes from the security-info page.
    sign_in(page, base, user.email, path="/security-info/")
    page.get_by_label(t("6-digit code")).fill(totp.now())
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()
    check_page(page)
    assert path_of(page) == "/security-info/"
    click(page, t("Add method"))
    page.get_by_label(t("Choose a method")).select_option("recovery_codes")
    click(page, t("Confirm"))
    expect(page.locator("main")).to_contain_text(t("Recovery codes"))
    click(page, t("Generate codes"))

    codes = CODE_SHAPE.findall(page.locator("main ol").inner_text())
    assert len(codes) == 10
    expect(page.locator("main [role=status]")).to_contain_text(
        t("This is the only time these codes are shown. Download or print them now, before you leave this page.")
    )
    page.set_viewport_size(NARROW)
    shots(page, f"codes-{locale}-360px")
    with page.expect_download() as download_info:
        button_link = page.locator("main").get_by_role("link", name=t("Download (text file)"))
        button_link.click()
    download = download_info.value
    assert download.suggested_filename == "recovery-codes-codes.txt"
    saved = open(download.path(), encoding="utf-8").read()
    assert all(code in saved for code in codes) and user.email in saved
    click(page, t("I saved my codes"))
    assert path_of(page) == "/security-info/"
    assert not set(CODE_SHAPE.findall(page.content())) & set(codes)  # never shown again
    expect(page.locator("main")).to_contain_text(t("Recovery codes"))

    # Next sign-in: no phone at hand, so one of the saved codes instead of the app's code.
    with page.expect_navigation():
        page.locator("header").get_by_role("button", name=t("Sign out")).click()
    sign_in(page, base, user.email)
    click(page, t("Don't have your phone? Use a recovery code"))
    page.get_by_label(t("Recovery code")).fill(codes[0].upper())
    shots(page, f"sign-in-with-code-{locale}")
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()
    check_page(page)
    expect(page.locator("header")).to_contain_text(user.email)
    page.set_viewport_size(NARROW)
    shots(page, f"signed-in-{locale}-360px")
    assert services.recovery_codes_left(user) == 9
