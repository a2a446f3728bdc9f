"""Lockout without denial of service in a real browser, on a 360 px phone: the proof of work is
solved by our own static/js/pow.js under the portal's CSP, and the lock page says until when and
whom to ask."""

import pyotp
import pytest
from django.utils import translation
from playwright.sync_api import expect

from recovery import services
from tests.support.clients import client_for
from tests.support.reset_flow import begin, wrong_code

from .conftest import PHONE
from .steps import NARROW, check_page, click, path_of

pytestmark = pytest.mark.django_db(transaction=True)
NARROW_PHONE = {**PHONE, "viewport": NARROW}


@pytest.fixture(autouse=True)
def quick(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the failures below come quickly, one after another
    settings.RECOVERY_RESET_CHALLENGE_MAX_NUMBER = 20_000


def t(msgid, locale="ja"):
    with translation.override(locale):
        return str(translation.gettext(msgid))


def app_for(user):
    device = services.confirm_authenticator(services.start_authenticator_setup(user))
    return pyotp.TOTP(services.authenticator_secret(device))


def open_verify_page(page, base, email):
    page.goto(base + "/accounts/password/reset/")
    check_page(page)
    page.get_by_label(t("Sign-in name (e-mail address)")).fill(email)
    click(page, t("Next"))
    page.get_by_label(t("Authenticator app"), exact=True).check()
    click(page, t("Next"))


def test_a_colleague_behind_a_noisy_address_solves_the_puzzle_and_resets(open_page, tenant, make_user, shots):
    colleague = make_user(tenant, "colleague@demo.example")
    totp = app_for(colleague)
    # Someone at this address (the browser's, 127.0.0.1) failed ten times on other names.
    noisy = client_for(tenant, REMOTE_ADDR="127.0.0.1")
    for name in ("guess1@demo.example", "guess2@demo.example"):
        begin(noisy, name)
        for _try in range(5):
            noisy.post("/accounts/password/reset/verify/", {"code": "000000"})

    page, base = open_page(tenant, device=NARROW_PHONE)
    blocked = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None)
    open_verify_page(page, base, colleague.email)
    expect(page.locator("[data-pow-status]")).to_have_text(t("Done. You can send your answer now."), timeout=30_000)
    shots(page, "puzzle solved")
    assert not blocked, blocked
    page.get_by_label(t("6-digit code")).fill(totp.now())
    click(page, t("Verify"))
    assert path_of(page) == "/accounts/password/reset/password/"


def test_the_lock_page_on_a_phone_says_until_when_and_whom_to_ask(open_page, tenant, user, shots):
    totp = app_for(user)
    tenant.policy.helpdesk_text = "情報システム部ヘルプデスク：内線 1234（平日 9:00～17:00）"
    tenant.policy.save()
    page, base = open_page(tenant, device=NARROW_PHONE)
    open_verify_page(page, base, user.email)
    for _try in range(tenant.policy.reset_lock_threshold):
        page.get_by_label(t("6-digit code")).fill(wrong_code(totp))
        click(page, t("Verify"))
    expect(page.locator("h1")).to_have_text(t("Password reset is locked"))
    text = page.locator("main").inner_text()
    assert "以降にもう一度お試しください" in text and "Asia/Tokyo" in text
    assert "内線 1234" in text
    shots(page, "locked")
