"""The purpose of it all (SPEC E): "Forgot my password", walked in a real browser.

Page texts come from the portal's own translations (gettext in the page's language), so these
tests follow wording changes; the seed's wording is pinned where the seed has it.
"""


import pyotp
import pytest
from django.utils import translation
from playwright.sync_api import expect

from recovery import services
from recovery.models import SecurityQuestion
from tests.support.clients import PASSWORD

from .conftest import DESKTOP, PHONE
from .steps import NARROW, check_page, click, path_of, sign_in

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("question_bank", "fast_hashing"),
]

NEW_PASSWORD = "Kaede-Momiji-2026!"
ANSWERS = ["Sapporo", "Onigiri", "Red panda"]
NARROW_PHONE = {**PHONE, "viewport": NARROW}


def texts(locale):
    """t("Next") -> the page's wording in this language."""
    def t(msgid):
        with translation.override(locale):
            return str(translation.gettext(msgid))
    return t


def register_both_methods(user):
    """The seed: both methods may be registered; a reset uses only one. Returns the app's TOTP."""
    bank = SecurityQuestion.objects.filter(tenant=None).order_by("position")[:3]
    answers = dict(zip(bank, ANSWERS, strict=True))
    services.register_security_questions(user, answers)
    device = services.confirm_authenticator(services.start_authenticator_setup(user))
    by_wording = {text: answer for q, answer in answers.items() for text in (q.text_ja, q.text_en)}
    return pyotp.TOTP(services.authenticator_secret(device)), by_wording


def start_reset(page, base, t, email, method):
    page.goto(base + "/accounts/login/")
    check_page(page)
    with page.expect_navigation():
        page.locator("main").get_by_role("link", name=t("Forgot my password")).click()
    check_page(page)
    page.get_by_label(t("Sign-in name (e-mail address)")).fill(email)
    click(page, t("Next"))
    page.get_by_label(t(method), exact=True).check()
    click(page, t("Next"))


def answer_questions(page, by_wording, wrong=None):
    """Type the registered answer under each question the page asks (chosen at random)."""
    fields = page.locator("main form input[type=text]")
    count = fields.count()
    assert count == 3
    for index in range(count):
        field = fields.nth(index)
        question = field.evaluate("el => el.labels[0].textContent").strip()
        field.fill("wrong answer" if index == wrong else by_wording[question])


def choose_new_password_then_sign_in(page, base, t, user, shots):
    expect(page.locator("h1")).to_have_text(t("Choose a new password"))
    page.get_by_label(t("New password"), exact=True).fill(NEW_PASSWORD)
    page.get_by_label(t("New password (again)"), exact=True).fill(NEW_PASSWORD)
    shots(page, "new-password")
    click(page, t("Change password"))
    expect(page.get_by_role("status")).to_be_visible()
    shots(page, "password-changed")

    sign_in(page, base, user.email, password=PASSWORD)  # the old password no longer works
    expect(page.locator("main [role=alert]")).to_be_visible()
    assert path_of(page).startswith("/accounts/login/")
    shots(page, "old-password-refused")
    sign_in(page, base, user.email, password=NEW_PASSWORD)
    expect(page.locator("header")).to_contain_text(user.email)
    shots(page, "signed-in-with-new-password")


def test_5_forgot_password_with_the_authenticator_app(open_page, shots, tenant, user):
    totp, _ = register_both_methods(user)
    t = texts("en")
    page, base = open_page(tenant, DESKTOP, "en")
    start_reset(page, base, t, user.email, "Authenticator app")
    expect(page.locator("h1")).to_have_text(t("Verify it is you"))
    page.get_by_label(t("6-digit code")).fill(totp.now())
    shots(page, "code")
    click(page, t("Verify"))
    choose_new_password_then_sign_in(page, base, t, user, shots)


def test_6_forgot_password_with_security_questions_on_a_small_phone(open_page, shots, tenant, user):
    _, by_wording = register_both_methods(user)
    t = texts("ja")
    page, base = open_page(tenant, NARROW_PHONE, "ja")
    page.goto(base + "/accounts/login/")
    expect(page.locator("main")).to_contain_text("パスワードを忘れた場合")  # the seed's wording
    start_reset(page, base, t, user.email, "Security questions")

    answer_questions(page, by_wording, wrong=1)
    click(page, t("Verify"))
    expect(page.locator("main [role=alert]")).to_contain_text(
        t("The answers are not correct. Check them and try again."))
    expect(page.locator("main [role=alert]")).to_contain_text("あと 4 回試せます")  # tries left
    expect(page.locator("h1")).to_have_text(t("Verify it is you"))
    shots(page, "wrong-answer")
    answers_shown = page.locator("main form input[type=text]").evaluate_all("els => els.map(el => el.value)")
    assert answers_shown == ["", "", ""], "answers are never sent back to the browser"

    page.wait_for_timeout(1100)  # django-otp throttles 1 s after a failure; a person is slower
    answer_questions(page, by_wording)
    shots(page, "answers")
    click(page, t("Verify"))
    choose_new_password_then_sign_in(page, base, t, user, shots)
