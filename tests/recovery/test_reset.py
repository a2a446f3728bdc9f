"""Self-service password reset (docs/product.md flow E): the flows a user walks and what an attacker sees."""

import time

import pytest
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from outbox.models import OutboxEmail
from recovery import reset, services
from recovery.models import (
    RecoveryProfile,
    ResetThrottle,
    SecurityQuestionsDevice,
)
from tests.support.clients import PASSWORD, client_for, sign_in
from tests.support.reset import (
    ANSWERS,
    DONE,
    METHOD,
    NEW,
    NEW_PASSWORD,
    RESET,
    VERIFY,
    Page,
    answer,
    begin,
    register_app,
    register_questions,
    set_password,
)

WRONG_ANSWERS = {"answer_1": "wrong one", "answer_2": "wrong two", "answer_3": "wrong three"}


def is_signed_in(client):
    return client.get("/").status_code == 200


# --- Full resets ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_sign_in_page_links_to_the_reset(tenant):
    page = client_for(tenant).get("/accounts/login/").content.decode()
    assert f'href="{RESET}"' in page and "パスワードを忘れた場合" in page
    english = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en").get(RESET)
    assert english.status_code == 200 and "Reset your password" in english.content.decode()


@pytest.mark.django_db
def test_full_reset_with_security_questions_ends_every_session(tenant, user, bank):
    answers = register_questions(user, bank[:3])
    signed_in = client_for(tenant)
    assert sign_in(signed_in, user.email).status_code == 302
    assert UserSession.objects.filter(user=user).count() == 1  # allauth recorded the sign-in
    signed_in_elsewhere = client_for(tenant)
    signed_in_elsewhere.force_login(user)  # a session allauth never saw: the hash check ends it
    assert is_signed_in(signed_in) and is_signed_in(signed_in_elsewhere)
    session_keys = [signed_in.session.session_key]

    client = client_for(tenant)
    page = Page(begin(client, "  Hanako@Demo.Example "))
    assert len(page.questions) == 3 and set(page.questions) < set(answers)
    # Full-width and upper case, extra spaces: compared after normalisation.
    to_full_width = lambda a: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in a)  # noqa: E731
    response = answer(client, page, answers, lambda a: f"  {to_full_width(a.upper())} ")
    assert response.status_code == 302 and response["Location"] == VERIFY
    assert client.get(VERIFY)["Location"] == NEW_PASSWORD
    assert "新しいパスワード" in client.get(NEW_PASSWORD).content.decode()
    response = set_password(client)
    assert response.status_code == 302 and response["Location"] == DONE
    done = client.get(DONE)
    assert done.status_code == 200 and "パスワードが変更されました" in done.content.decode()

    assert not is_signed_in(client)  # the reset never signs anyone in
    assert not is_signed_in(signed_in) and not is_signed_in(signed_in_elsewhere)
    assert not Session.objects.filter(session_key__in=session_keys).exists()
    assert not any(cache.has_key(f"django.contrib.sessions.cached_db{key}") for key in session_keys)
    assert not UserSession.objects.filter(user=user).exists()
    assert sign_in(client_for(tenant), user.email, PASSWORD).status_code == 200  # old one refused
    assert sign_in(client_for(tenant), user.email, NEW).status_code == 302
    profile = RecoveryProfile.objects.get(user=user)
    assert profile.last_reset_method == "questions" and profile.last_reset_at is not None
    events = AuditEvent.objects.filter(user=user, kind__startswith="reset.")
    assert list(events.order_by("id").values_list("kind", flat=True)) == [
        "reset.started", "reset.method_chosen", "reset.verify_passed", "reset.completed",
    ]
    logged = repr(list(AuditEvent.objects.values_list("data", flat=True))).lower()
    assert not any(a.lower() in logged for a in ANSWERS)
    # The attempt is over: its steps cannot be replayed.
    assert client.get(NEW_PASSWORD)["Location"] == RESET
    assert client.get(DONE)["Location"] == RESET


@pytest.mark.django_db
def test_full_reset_with_the_authenticator_app(tenant, user, bank):
    totp = register_app(user)
    register_questions(user, bank[:3])
    questions = SecurityQuestionsDevice.objects.get(user=user)
    questions.throttle_increment()  # someone guessed at the questions earlier
    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    page = Page(begin(client, user.email, ("authenticator",)))
    assert "code" in page.fields and not page.questions

    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    response = client.post(VERIFY, {"code": wrong})
    assert response.status_code == 200 and "The code is not correct" in response.content.decode()
    # django-otp throttles the device after the failure (the name's counter mirrors it); let
    # its short wait pass.
    TOTPDevice.objects.filter(user=user).update(throttling_failure_timestamp=None)
    ResetThrottle.objects.update(last_failure_at=None)
    response = client.post(VERIFY, {"code": totp.now()[:3] + " " + totp.now()[3:]})
    assert response["Location"] == VERIFY
    assert set_password(client)["Location"] == DONE
    assert sign_in(client_for(tenant), user.email, NEW).status_code == 302
    questions.refresh_from_db()
    assert questions.throttling_failure_count == 0
    assert RecoveryProfile.objects.get(user=user).last_reset_method == "authenticator"
    failed = AuditEvent.objects.get(user=user, kind="reset.verify_failed")
    assert failed.data == {"method": "authenticator"}


@pytest.mark.django_db
def test_the_same_code_cannot_be_used_twice(tenant, user):
    totp = register_app(user)
    code = totp.now()
    first = client_for(tenant)
    begin(first, user.email, ("authenticator",))
    assert first.post(VERIFY, {"code": code})["Location"] == VERIFY
    second = client_for(tenant)
    begin(second, user.email, ("authenticator",))
    response = second.post(VERIFY, {"code": code})
    assert response.status_code == 200 and "コードが正しくありません" in response.content.decode()


@pytest.mark.django_db
def test_new_password_is_checked_by_the_validators_and_the_tenant_minimum(make_tenant, make_user, bank):
    tenant = make_tenant("strict", min_password_length=16)
    user = make_user(tenant, "taro@strict.example", name="Taro")
    answers = register_questions(user, bank[:3])
    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    answer(client, Page(begin(client, user.email)), answers)
    page = client.get(NEW_PASSWORD).content.decode()
    assert "At least 16 characters" in page
    for first, second, message in [
        ("Short-pass-1", "Short-pass-1", "at least 16 characters"),
        ("Long-enough-pass-123", "Long-enough-pass-124", "do not match"),
        ("12345678901234567", "12345678901234567", "entirely numeric"),
        # Only looks long: the rules count and compare what is visible (accounts/validators.py).
        (" " * 20, " " * 20, "only spaces"),
        ("\u200b" * 20, "\u200b" * 20, "invisible or control characters"),
        ("\u202epassword1234567890", "\u202epassword1234567890", "invisible or control characters"),
        ("My-STRICT-passphrase-2026", "My-STRICT-passphrase-2026", "name of your organisation"),
    ]:
        response = client.post(NEW_PASSWORD, {"new_password1": first, "new_password2": second})
        assert response.status_code == 200 and message in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --- No enumeration ---------------------------------------------------------------------------

def walk(client, email, method, failing_data):
    """Every page of an attempt that fails, as (status, location, field names, text)."""
    seen = []

    def keep(response, page=None):
        page = page or (Page(response) if response.status_code == 200 else None)
        seen.append((
            response.status_code,
            response.get("Location"),
            page.fields if page else None,
            page.text_without_questions() if page else None,
            len(page.questions) if page else None,
        ))
        return page

    keep(client.get(RESET))
    keep(client.post(RESET, {"email": email}))
    keep(client.get(METHOD))
    keep(client.post(METHOD, {"method": method}))
    first = keep(client.get(VERIFY))
    keep(client.get(VERIFY))
    keep(client.post(VERIFY, failing_data))
    keep(client.get(NEW_PASSWORD))
    return seen, first


@pytest.mark.django_db
@pytest.mark.parametrize("decoy", ["unknown", "other tenant", "disabled", "nothing registered"])
@pytest.mark.parametrize("method", ["questions", "authenticator"])
def test_pages_are_the_same_for_a_real_and_a_decoy_account(
    tenant, other_tenant, make_user, user, bank, decoy, method
):
    register_questions(user, bank[:3])
    register_app(user)
    if decoy == "unknown":
        email = "nobody@demo.example"
    elif decoy == "other tenant":
        outsider = make_user(other_tenant, "jiro@acme.example")
        register_questions(outsider, bank[:3])
        register_app(outsider)
        email = outsider.email
    elif decoy == "disabled":
        disabled = make_user(tenant, "gone@demo.example", is_active=False)
        register_questions(disabled, bank[:3])
        email = disabled.email
    else:
        email = make_user(tenant, "new@demo.example").email
    failing = WRONG_ANSWERS if method == "questions" else {"code": "000000"}

    real, real_page = walk(client_for(tenant), user.email, method, failing)
    fake, fake_page = walk(client_for(tenant), email, method, failing)
    assert fake == real
    if method == "questions":
        assert len(fake_page.questions) == 3
        # Decoy questions come from the questions this organisation offers.
        assert set(fake_page.questions) <= {q.text_ja for q in services.questions_offered(tenant)}
    assert AuditEvent.objects.filter(kind="reset.verify_failed").count() == 2


def asked(tenant, email):
    client = client_for(tenant)
    first = Page(begin(client, email)).questions
    assert Page(client.get(VERIFY)).questions == first  # a reload asks the same ones
    return first


@pytest.mark.django_db
def test_decoy_questions_are_stable_for_a_name(tenant, user, bank):
    answers = register_questions(user, bank[:3])
    assert set(asked(tenant, user.email)) < set(answers)
    decoy = asked(tenant, "nobody@demo.example")
    assert len(decoy) == 3 and set(decoy) <= {q.text_ja for q in services.questions_offered(tenant)}
    assert asked(tenant, "NOBODY@demo.example") == decoy == asked(tenant, "nobody@demo.example")
    others = {tuple(asked(tenant, f"someone{i}@demo.example")) for i in range(4)}
    assert len(others | {tuple(decoy)}) > 1  # not one fixed set for every unknown name


@pytest.mark.django_db
def test_with_more_questions_registered_than_asked_a_decoy_draws_like_a_real_user(
    make_tenant, make_user, bank
):
    """N=5 registered, M=3 asked: a real user gets 3 of their 5 at random, so a decoy gets 3 of
    a stable set of 5 - a decoy that always showed the same 3 would stand out."""
    tenant = make_tenant("five", questions_to_register=5)
    user = make_user(tenant, "five@five.example")
    answers = register_questions(user, bank[:5])
    client = client_for(tenant)
    drawn = Page(begin(client, user.email)).questions
    for _ in range(4):  # back to the method page and on again: the same questions
        client.post(METHOD, {"method": "authenticator"})
        client.post(METHOD, {"method": "questions"})
        assert Page(client.get(VERIFY)).questions == drawn
    real = [asked(tenant, user.email) for _ in range(6)]
    decoy = [asked(tenant, "nobody@five.example") for _ in range(6)]
    assert all(len(q) == 3 for q in real + decoy)
    assert set().union(*real) <= set(answers)
    assert len(set().union(*decoy)) <= 5
    assert len({tuple(q) for q in real}) > 1 and len({tuple(q) for q in decoy}) > 1


# --- Wizard state -----------------------------------------------------------------------------

@pytest.mark.django_db
def test_no_step_can_be_skipped(tenant, user, bank):
    answers = register_questions(user, bank[:3])
    client = client_for(tenant)
    for url in (METHOD, VERIFY, NEW_PASSWORD, DONE):
        assert client.get(url)["Location"] == RESET
    assert client.post(NEW_PASSWORD, {"new_password1": NEW, "new_password2": NEW})["Location"] == RESET
    page = client.get(RESET, follow=True)
    assert "最初からやり直してください" in page.content.decode()

    client.post(RESET, {"email": user.email})
    assert client.get(VERIFY)["Location"] == RESET  # no method chosen yet
    verify_page = Page(begin(client, user.email))
    answer(client, verify_page, {q: "wrong" for q in answers})
    response = client.post(NEW_PASSWORD, {"new_password1": NEW, "new_password2": NEW})
    assert response["Location"] == RESET
    assert client.get(VERIFY)["Location"] == RESET  # the refused attempt is gone
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.django_db
def test_an_attempt_expires_after_15_minutes(tenant, user, bank):
    answers = register_questions(user, bank[:3])
    client = client_for(tenant)
    page = Page(begin(client, user.email))
    assert answer(client, page, answers)["Location"] == VERIFY

    session = client.session
    session[reset.STATE_KEY]["started"] = time.time() - 15 * 60 - 1
    session.save()
    response = client.get(NEW_PASSWORD, follow=True)
    assert response.redirect_chain == [(RESET, 302)]
    assert "15 分" in response.content.decode()
    assert client.post(NEW_PASSWORD, {"new_password1": NEW, "new_password2": NEW})["Location"] == RESET
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.django_db
def test_the_attempt_belongs_to_one_browser_and_one_tenant(tenant, other_tenant, user, bank):
    answers = register_questions(user, bank[:3])
    client = client_for(tenant)
    page = Page(begin(client, user.email))
    planted = client.session.session_key  # e.g. fixed in the victim's browser beforehand
    answer(client, page, answers)
    assert client.session.session_key != planted
    attacker = client_for(tenant)
    attacker.cookies[settings.SESSION_COOKIE_NAME] = planted
    assert attacker.get(NEW_PASSWORD)["Location"] == RESET
    assert client_for(tenant).get(NEW_PASSWORD)["Location"] == RESET  # another browser
    stolen = client_for(other_tenant)
    stolen.cookies = client.cookies  # the same cookie presented on another tenant's host
    assert stolen.get(NEW_PASSWORD)["Location"] == RESET


@pytest.mark.django_db
def test_the_platform_host_has_no_reset(db):
    response = client_for("localhost").get(RESET)
    assert response.status_code == 200 and "組織のサインインページ" in response.content.decode()


# --- The weakest method -----------------------------------------------------------------------

@pytest.mark.django_db
def test_staff_cannot_reset_with_security_questions_alone(tenant, make_user, user, bank):
    admin = make_user(tenant, "admin@demo.example", is_staff=True)
    answers = register_questions(admin, bank[:3])
    totp = register_app(admin)
    register_questions(user, bank[:3])

    client = client_for(tenant)
    # Before anything is verified, staff and employees see the same choices.
    client.post(RESET, {"email": admin.email})
    staff_choices = Page(client.get(METHOD))
    other = client_for(tenant)
    other.post(RESET, {"email": user.email})
    assert Page(other.get(METHOD)).text == staff_choices.text

    page = Page(begin(client, admin.email))
    assert answer(client, page, answers)["Location"] == VERIFY
    assert client.get(NEW_PASSWORD)["Location"] == RESET  # the questions were not enough

    page = Page(begin(client, admin.email))
    answer(client, page, answers)
    app_page = client.get(VERIFY)
    assert "code" in Page(app_page).fields
    assert "認証アプリのコードも必要です" in app_page.content.decode()
    assert client.post(VERIFY, {"code": totp.now()})["Location"] == VERIFY
    assert set_password(client)["Location"] == DONE
    assert RecoveryProfile.objects.get(user=admin).last_reset_method == "questions+authenticator"


@pytest.mark.django_db
def test_staff_without_the_app_cannot_reset_with_questions(tenant, make_user, bank):
    admin = make_user(tenant, "admin@demo.example", is_staff=True)
    answers = register_questions(admin, bank[:3])
    client = client_for(tenant)
    answer(client, Page(begin(client, admin.email)), answers)
    for code in ("000000", "123456"):
        assert client.post(VERIFY, {"code": code}).status_code == 200
    assert client.get(NEW_PASSWORD)["Location"] == RESET
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD)


@pytest.mark.django_db
def test_a_tenant_can_require_both_methods(make_tenant, make_user, bank):
    tenant = make_tenant("both", methods_required_for_reset=2)
    user = make_user(tenant, "both@both.example")
    answers = register_questions(user, bank[:3])
    totp = register_app(user)
    client = client_for(tenant)
    client.post(RESET, {"email": user.email})
    assert "method" not in Page(client.get(METHOD)).fields
    page = Page(begin(client, user.email, ("questions", "authenticator")))
    assert answer(client, page, answers)["Location"] == VERIFY
    assert client.get(NEW_PASSWORD)["Location"] == RESET  # one of two is not enough

    page = Page(begin(client, user.email, ("questions", "authenticator")))
    answer(client, page, answers)
    assert "認証アプリのコードも必要です" not in client.get(VERIFY).content.decode()
    assert client.post(VERIFY, {"code": totp.now()})["Location"] == VERIFY
    assert set_password(client)["Location"] == DONE


# --- After the reset -----------------------------------------------------------------------

def reset_with_questions(tenant, user, bank):
    answers = register_questions(user, bank[:3])
    client = client_for(tenant)
    page = Page(begin(client, user.email, ("questions",)))
    answer(client, page, answers)
    assert set_password(client).status_code == 302


@pytest.mark.django_db
def test_a_reset_owes_the_user_a_password_changed_email(tenant, user, bank):
    reset_with_questions(tenant, user, bank)
    notice = OutboxEmail.objects.get(user=user)
    assert notice.to_email == user.email
    assert notice.kind == "password_changed"
    assert notice.language == user.language


@pytest.mark.django_db
def test_a_reset_never_bypasses_mfa_at_sign_in(tenant, user, bank):
    tenant.policy.mfa_required = True
    tenant.policy.save()
    totp = register_app(user)
    reset_with_questions(tenant, user, bank)

    client = client_for(tenant)
    response = sign_in(client, user.email, NEW)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/code/")
    assert client.get("/").status_code == 302  # not signed in without the code
    client.post("/accounts/login/code/", {"code": totp.now()})
    home = client.get("/")
    assert home.status_code == 200
    assert user.email in home.text


@pytest.mark.django_db
def test_a_reset_lifts_the_lock_out_that_wrong_passwords_caused(tenant, user, bank):
    # Entra's self-service reset unlocks the account too: whoever forgot the password and
    # tried five wrong ones can sign in right after the reset.
    client = client_for(tenant)
    for attempt in range(5):
        sign_in(client, user.email, f"wrong-{attempt}")
    assert sign_in(client, user.email, PASSWORD).status_code == 200  # locked out: the form again
    assert not is_signed_in(client)

    reset_with_questions(tenant, user, bank)
    assert sign_in(client, user.email, NEW).status_code == 302
    assert is_signed_in(client)
