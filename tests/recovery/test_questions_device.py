"""Security questions are a recovery method, never a second factor: django-otp's verification
(match_token, verify_token, devices_for_user, the verified session) does not see them, and their
own guessing throttle still works."""

import io

import pytest
from django.core.management import call_command
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user, match_token, user_has_device
from django_otp.models import Device

from accounts.otp import authenticator_device
from recovery import services
from recovery.models import SecurityQuestion, SecurityQuestionsDevice
from tests.support.clients import client_for, sign_in
from tests.support.reset import (
    NEW,
    NEW_PASSWORD,
    VERIFY,
    Page,
    answer,
    begin,
    register_app,
    set_password,
)

ANSWERS = ["Tokyo", "Mochi Cat", "Blue Whale"]


def register_questions(user):
    """Registers three bank questions; returns {question text (ja and en): answer}."""
    bank = list(SecurityQuestion.objects.filter(tenant=None).order_by("position")[:3])
    services.register_security_questions(user, dict(zip(bank, ANSWERS, strict=True)))
    return {text: a for q, a in zip(bank, ANSWERS, strict=True) for text in (q.text_ja, q.text_en)}


def right_answers(user):
    """{question_id: answer} for every registered question: what verify_token would be fed."""
    device = services.questions_device(user)
    bank = {q.pk: a for q, a in zip(SecurityQuestion.objects.filter(tenant=None).order_by("position")[:3],
                                    ANSWERS, strict=True)}
    return {a.question_id: bank[a.question_id] for a in device.answers.all()}


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["123456", "", "Tokyo", "0" * 100])
def test_match_token_neither_raises_nor_accepts_anything_for_security_questions(user, token):
    register_questions(user)
    assert match_token(user, token) is None  # raised AttributeError when questions were a Device


@pytest.mark.django_db
def test_match_token_still_finds_the_authenticator_beside_the_questions(user):
    register_questions(user)
    totp = register_app(user)
    assert match_token(user, totp.now()) == authenticator_device(user)
    # Even the right answers, handed over as a token, prove nothing to django-otp.
    assert match_token(user, right_answers(user)) is None


@pytest.mark.django_db
def test_devices_for_user_lists_second_factors_only(user):
    register_questions(user)
    assert list(devices_for_user(user, confirmed=None)) == []
    assert not user_has_device(user, confirmed=None)
    register_app(user)
    assert list(devices_for_user(user, confirmed=None)) == [authenticator_device(user)]
    # Not a django-otp device at all, so it has no persistent id that django_otp.login() could
    # put in a session: nothing can make a session verified with it.
    assert not isinstance(services.questions_device(user), Device)


@pytest.mark.django_db
def test_right_answers_in_the_reset_never_make_a_verified_session(make_tenant, make_user):
    tenant = make_tenant("mfa", mfa_required=True)
    user = make_user(tenant, "ken@mfa.example")
    answers = register_questions(user)
    register_app(user)
    client = client_for(tenant)
    page = Page(begin(client, user.email))
    assert answer(client, page, answers)["Location"] == VERIFY
    after_answers = client.get(NEW_PASSWORD)
    assert after_answers.status_code == 200
    assert after_answers.wsgi_request.user.is_authenticated is False
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert set_password(client).status_code == 302

    # With the new password the sign-in still asks for the authenticator code.
    browser = client_for(tenant)
    assert sign_in(browser, user.email, NEW)["Location"] == "/accounts/login/code/"
    assert browser.get("/").status_code == 302
    assert DEVICE_ID_SESSION_KEY not in browser.session


@pytest.mark.django_db
def test_wrong_answers_are_still_throttled_per_account(tenant, user):
    answers = register_questions(user)
    client = client_for(tenant)
    page = Page(begin(client, user.email))
    response = answer(client, page, {text: "wrong answer" for text in answers})
    assert response.status_code == 200
    device = SecurityQuestionsDevice.objects.get(user=user)
    assert device.throttling_failure_count == 1
    allowed, _why = device.verify_is_allowed()
    assert allowed is False  # django-otp's throttle: the next try waits
    # While throttled, even the right answers are refused.
    assert device.verify_answers(right_answers(user)) is False
    SecurityQuestionsDevice.objects.filter(user=user).update(throttling_failure_timestamp=None)
    device.refresh_from_db()
    assert device.verify_answers(right_answers(user)) is True
    device.refresh_from_db()
    assert device.throttling_failure_count == 0 and device.last_used_at is not None


@pytest.mark.django_db
def test_no_migration_is_needed_so_every_stored_answer_stays_as_it_was():
    """The table keeps the columns it had as a django-otp device: registered answers carry over
    untouched (no new migration, no data to move)."""
    out = io.StringIO()
    call_command("makemigrations", "recovery", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
