"""Recovery codes (NIST SP 800-63B look-up secrets): 10 single-use codes, shown once, stored as
keyed digests, for the password reset and instead of the authenticator code at sign-in."""

import csv
import io
import re

import pyotp
import pytest
from django.contrib.sessions.models import Session
from django.core import mail as django_mail
from django.core.exceptions import ValidationError
from django.db import connection
from django_otp import DEVICE_ID_SESSION_KEY

from audit.models import AuditEvent
from outbox import mail
from outbox.models import OutboxEmail
from outbox.tasks import deliver_email
from recovery import reports, services, status
from recovery.models import RecoveryCode, RecoveryCodeDevice, RecoveryProfile
from recovery.status import registration_status
from tests.support.clients import client_for, sign_in

CODES_PAGE = "/security-info/recovery-codes/"
INFO = "/security-info/"
PICKER = "/security-info/methods/"
RESET = "/accounts/password/reset/"
METHOD = RESET + "method/"
VERIFY = RESET + "verify/"
NEW_PASSWORD = RESET + "password/"
OTP_PAGE = "/accounts/login/code/"
USE_CODE = OTP_PAGE + "?use=recovery-code"
NEW = "Fresh-meadow-horizon-71"
CODE_SHAPE = re.compile(r"\b[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}\b")


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]


@pytest.fixture
def codes_tenant(make_tenant):
    return make_tenant("codes", "Codes Corp", recovery_codes_enabled=True, nudge_enabled=False)


@pytest.fixture
def codes_user(make_user, codes_tenant):
    return make_user(codes_tenant, "hanako@codes.example", name="山田 花子")


def signed_in(tenant, user, **headers):
    client = client_for(tenant, **headers)
    assert sign_in(client, user.email)["Location"] == "/"
    return client


def shown_codes(response):
    return CODE_SHAPE.findall(response.content.decode())


def register_app(user):
    device = services.start_authenticator_setup(user)
    services.confirm_authenticator(device)
    return pyotp.TOTP(services.authenticator_secret(device))


def reset_with_code(tenant, email, code):
    """A reset choosing the recovery codes; returns the response to the code."""
    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    assert client.post(RESET, {"email": email})["Location"] == METHOD
    assert client.post(METHOD, {"method": "recovery_codes"})["Location"] == VERIFY
    return client, client.post(VERIFY, {"code": code})


def all_stored_text():
    """Every row of every table of the portal, as text (sessions decoded)."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the schema
            chunks.append(repr(cursor.fetchall()))
    chunks.extend(repr(s.get_decoded()) for s in Session.objects.all())
    return "\n".join(chunks).lower()


# --- Generation: ten codes, shown once --------------------------------------------------------

@pytest.mark.django_db
def test_generation_shows_ten_codes_once_with_download_and_print(codes_tenant, codes_user):
    client = signed_in(codes_tenant, codes_user)
    intro = client.get(CODES_PAGE)
    assert intro.status_code == 200 and not shown_codes(intro)
    assert "回復コード" in intro.content.decode()

    page = client.post(CODES_PAGE)
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    codes = shown_codes(page)
    assert len(codes) == 10 == len(set(codes))
    html = page.content.decode()
    assert "この画面を閉じると、コードは二度と表示されません" in html
    download = re.search(r'href="(data:text/plain;charset=utf-8,[^"]+)" download="([^"]+)"', html)
    assert download and download.group(2) == "recovery-codes-codes.txt"
    assert all(code in download.group(1) for code in codes)
    assert "data-print" in html and "印刷" in html

    # Never again: not on the page, not on the security-info page, not after a reload.
    for later in (client.get(CODES_PAGE), client.get(INFO)):
        assert not set(shown_codes(later)) & set(codes)
    assert "残り 10 個" in client.get(INFO).content.decode()


@pytest.mark.django_db
def test_codes_are_stored_only_as_keyed_digests(codes_tenant, codes_user):
    client = signed_in(codes_tenant, codes_user)
    codes = shown_codes(client.post(CODES_PAGE))
    digests = list(RecoveryCode.objects.values_list("digest", flat=True))
    assert len(digests) == 10 and all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)
    stored = all_stored_text()
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored


# --- Use: once at the reset, once at the sign-in's code step ----------------------------------

@pytest.mark.django_db
def test_a_code_resets_the_password_once(codes_tenant, codes_user):
    codes = services.generate_recovery_codes(codes_user)
    client, response = reset_with_code(codes_tenant, codes_user.email, codes[0].upper().replace("-", " "))
    assert response["Location"] == VERIFY
    assert client.post(NEW_PASSWORD, {"new_password1": NEW, "new_password2": NEW})["Location"] == RESET + "done/"
    assert sign_in(client_for(codes_tenant), codes_user.email, NEW)["Location"] == "/"
    assert RecoveryProfile.objects.get(user=codes_user).last_reset_method == "recovery_codes"

    _client, again = reset_with_code(codes_tenant, codes_user.email, codes[0])
    assert again.status_code == 200
    assert "The recovery code is not correct, or it was already used" in again.content.decode()
    assert services.recovery_codes_left(codes_user) == 9
    # The report counts the reset under the method.
    assert reports.reset_outcomes(codes_tenant)[("recovery_codes", "reset.completed")] == 1


@pytest.mark.django_db
def test_a_recovery_code_is_something_staff_have(codes_tenant, make_user):
    """Staff never reset without something they have: a recovery code is one, so the app is not
    asked for on top of it."""
    boss = make_user(codes_tenant, "boss@codes.example", is_staff=True)
    register_app(boss)
    codes = services.generate_recovery_codes(boss)
    client, response = reset_with_code(codes_tenant, boss.email, codes[0])
    assert response["Location"] == VERIFY and client.get(VERIFY)["Location"] == NEW_PASSWORD


@pytest.fixture
def mfa_user(codes_tenant, codes_user):
    codes_tenant.policy.mfa_required = True
    codes_tenant.policy.save()
    register_app(codes_user)
    return codes_user


def code_step(user, **headers):
    client = client_for(user.tenant, **headers)
    assert sign_in(client, user.email)["Location"] == OTP_PAGE
    return client


@pytest.mark.django_db
def test_a_code_signs_in_once_instead_of_the_app(mfa_user):
    codes = services.generate_recovery_codes(mfa_user)
    client = code_step(mfa_user)
    page = client.get(OTP_PAGE).content.decode()
    assert f'href="{USE_CODE}"' in page and "回復コードを使用" in page
    form = client.get(USE_CODE).content.decode()
    assert "回復コードの入力" in form and 'autocomplete="off"' in form
    response = client.post(USE_CODE, {"code": codes[3]})
    assert response.status_code == 302
    assert client.get("/").wsgi_request.user.is_verified()
    assert AuditEvent.objects.filter(kind="otp.verified", user=mfa_user, data__method="recovery_code").exists()

    again = code_step(mfa_user, HTTP_ACCEPT_LANGUAGE="en")
    refused = again.post(USE_CODE, {"code": codes[3]})
    assert refused.status_code == 200
    assert "The recovery code is not correct, or it was already used" in refused.content.decode()
    assert again.get("/").status_code == 302  # not signed in
    # A typo is a message next to the field and costs no try.
    typo = again.post(USE_CODE, {"code": "abcd-efgh"})
    assert "A recovery code has 12 letters and digits" in typo.content.decode()
    assert RecoveryCodeDevice.objects.get(user=mfa_user).throttling_failure_count == 1


@pytest.mark.django_db
def test_guessing_codes_at_sign_in_is_capped(mfa_user, settings):
    settings.ACCOUNTS_TOTP_MAX_FAILURES = 3
    codes = services.generate_recovery_codes(mfa_user)
    client = code_step(mfa_user, HTTP_ACCEPT_LANGUAGE="en")
    for guess in ("aaaa-aaaa-aaaa", "bbbb-bbbb-bbbb", "cccc-cccc-cccc"):
        RecoveryCodeDevice.objects.filter(user=mfa_user).update(throttling_failure_timestamp=None)
        assert client.post(USE_CODE, {"code": guess}).status_code == 200
    RecoveryCodeDevice.objects.filter(user=mfa_user).update(throttling_failure_timestamp=None)
    refused = client.post(USE_CODE, {"code": codes[0]})
    # Refused unchecked: told to wait, never that the right code is wrong.
    assert "Please wait" in refused.content.decode()
    assert services.recovery_codes_left(mfa_user) == 10  # the right code was not spent


# --- Regeneration, count, nudge and e-mails ----------------------------------------------------

@pytest.mark.django_db
def test_regenerating_kills_the_old_set(codes_tenant, codes_user):
    client = signed_in(codes_tenant, codes_user)
    old = shown_codes(client.post(CODES_PAGE))
    intro = client.get(CODES_PAGE).content.decode()
    assert "新しいコードを生成すると、今までのコードはすべて使えなくなります" in intro
    new = shown_codes(client.post(CODES_PAGE))
    assert len(new) == 10 and not set(old) & set(new)
    assert services.verify_recovery_code(codes_user, new[0])
    assert not services.verify_recovery_code(codes_user, old[0])
    assert RecoveryCodeDevice.objects.filter(user=codes_user).count() == 1


@pytest.mark.django_db
def test_codes_left_are_counted_and_two_or_fewer_ask_for_new_ones(codes_tenant, codes_user):
    codes = services.generate_recovery_codes(codes_user)
    for code in codes[:7]:
        assert services.verify_recovery_code(codes_user, code)
    client = signed_in(codes_tenant, codes_user)
    page = client.get(INFO).content.decode()
    assert "残り 3 個" in page and "回復コードが残り" not in page
    assert services.verify_recovery_code(codes_user, codes[7])
    page = client.get(INFO).content.decode()
    assert "回復コードが残り 2 個になりました" in page and f'href="{CODES_PAGE}"' in page
    for code in codes[8:]:
        assert services.verify_recovery_code(codes_user, code)
    english_client = signed_in(codes_tenant, codes_user, HTTP_ACCEPT_LANGUAGE="en")
    english_client.cookies["django_language"] = "en"
    english = english_client.get(INFO).content.decode()
    assert "You have used all your recovery codes." in english and "Generate new recovery codes" in english


def delivered(row):
    django_mail.outbox.clear()
    try:
        assert deliver_email(row.pk) == "sent"
    finally:
        mail.close_connection()
    [message] = django_mail.outbox
    return message


@pytest.mark.django_db
def test_emails_on_generation_regeneration_and_running_low(codes_tenant, codes_user):
    codes = services.generate_recovery_codes(codes_user)
    first = OutboxEmail.objects.get(kind="recovery_codes_generated")
    message = delivered(first)
    assert "回復コードが生成されました" in message.subject and "http://codes.localhost/security-info/" in message.body
    assert not any(code in message.body for code in codes)

    codes = services.generate_recovery_codes(codes_user)
    second = OutboxEmail.objects.filter(kind="recovery_codes_generated").latest("id")
    assert "今までの回復コードは使えなくなりました" in delivered(second).body

    for code in codes[:7]:
        services.verify_recovery_code(codes_user, code)
    assert not OutboxEmail.objects.filter(kind="recovery_codes_low").exists()
    services.verify_recovery_code(codes_user, codes[7])
    services.verify_recovery_code(codes_user, codes[8])  # once per set, not once per code
    [low] = OutboxEmail.objects.filter(kind="recovery_codes_low")
    message = delivered(low)
    assert "回復コードの残りが少なくなっています" in message.subject
    assert "残り 2 個" in message.body


# --- The tenant's policy -----------------------------------------------------------------------

@pytest.mark.django_db
def test_a_tenant_that_disables_the_codes_offers_them_nowhere(codes_tenant, codes_user):
    register_app(codes_user)
    codes = services.generate_recovery_codes(codes_user)
    signed = signed_in(codes_tenant, codes_user)
    assert "回復コード" in signed.get(INFO).content.decode()
    codes_tenant.policy.recovery_codes_enabled = False
    codes_tenant.policy.save()

    # The security-info page, the picker and the codes page hide the method.
    assert "回復コード" not in signed.get(INFO).content.decode()
    assert "回復コード" not in signed.get(PICKER).content.decode()
    assert signed.get(CODES_PAGE)["Location"] == INFO
    assert signed.post(CODES_PAGE)["Location"] == INFO
    # The reset does not offer them, and refuses them when posted anyway.
    reset = client_for(codes_tenant)
    reset.post(RESET, {"email": codes_user.email})
    assert "回復コード" not in reset.get(METHOD).content.decode()
    assert reset.post(METHOD, {"method": "recovery_codes"}).status_code == 200
    # The sign-in's code step offers only the app.
    codes_tenant.policy.mfa_required = True
    codes_tenant.policy.save()
    client = code_step(codes_user)
    assert USE_CODE not in client.get(OTP_PAGE).content.decode()
    refused = client.post(USE_CODE, {"code": codes[0]})  # the app's code form, not the codes'
    assert refused.status_code == 200 and client.get("/").status_code == 302
    assert services.recovery_codes_left(codes_user) == 10


# --- Registered, the admin's list and report, two methods of three -----------------------------

@pytest.mark.django_db
def test_codes_count_as_registered_while_a_code_is_left_and_the_tenant_enables_them(
    codes_tenant, codes_user
):
    assert registration_status(codes_user).state == status.NOT_REGISTERED
    codes = services.generate_recovery_codes(codes_user)
    assert registration_status(codes_user).state == status.REGISTERED
    assert registration_status(codes_user).methods == {services.RECOVERY_CODES}
    codes_tenant.policy.recovery_codes_enabled = False
    codes_tenant.policy.save()
    assert registration_status(codes_user).state == status.NOT_REGISTERED
    codes_tenant.policy.recovery_codes_enabled = True
    codes_tenant.policy.save()
    for code in codes:
        assert services.verify_recovery_code(codes_user, code)
    assert registration_status(codes_user).state == status.NOT_REGISTERED  # a used-up set


def verified_admin_client(tenant, admin):
    device = services.confirm_authenticator(services.start_authenticator_setup(admin))
    client = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(admin)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.mark.django_db
def test_admin_user_list_and_report_show_the_codes(codes_tenant, codes_user, make_user):
    admin = make_user(codes_tenant, "boss@codes.example", is_staff=True, language="en")
    other = make_user(codes_tenant, "taro@codes.example")
    codes = services.generate_recovery_codes(codes_user)
    client = verified_admin_client(codes_tenant, admin)
    listing = client.get("/admin/accounts/user/")
    assert listing.status_code == 200 and "Codes ✓" in listing.text
    filtered = client.get("/admin/accounts/user/?recovery_codes=yes").text
    assert codes_user.email in filtered and other.email in listing.text and other.email not in filtered

    _client, response = reset_with_code(codes_tenant, codes_user.email, codes[0])
    assert response["Location"] == VERIFY
    reset_with_code(codes_tenant, codes_user.email, "zzzz-zzzz-zzzz")
    page = client.get("/admin/report/?refresh=1").text
    assert "Recovery codes" in page
    rows = list(csv.reader(io.StringIO(client.get("/admin/report/?format=csv&refresh=1").content.decode("utf-8-sig"))))
    assert ["recovery_codes", "0", "1", "1"] in rows


@pytest.mark.django_db
def test_a_tenant_requiring_two_of_three_methods_lets_the_user_pick_two(codes_tenant, codes_user):
    codes_tenant.policy.methods_required_for_reset = 2
    codes_tenant.policy.full_clean()
    codes_tenant.policy.save()
    totp = register_app(codes_user)
    codes = services.generate_recovery_codes(codes_user)
    client = client_for(codes_tenant, HTTP_ACCEPT_LANGUAGE="en")
    client.post(RESET, {"email": codes_user.email})
    page = client.get(METHOD).content.decode()
    assert page.count('type="checkbox"') == 3 and "Choose 2 methods" in page
    one = client.post(METHOD, {"methods": ["recovery_codes"]})
    assert one.status_code == 200 and "Choose 2 methods." in one.content.decode()
    chosen = client.post(METHOD, {"methods": ["recovery_codes", "authenticator"]})
    assert chosen["Location"] == VERIFY
    assert client.post(VERIFY, {"code": totp.now()})["Location"] == VERIFY
    assert "recovery code" in client.get(VERIFY).content.decode().lower()
    assert client.post(VERIFY, {"code": codes[0]})["Location"] == VERIFY
    assert client.get(VERIFY)["Location"] == NEW_PASSWORD


@pytest.mark.django_db
def test_a_policy_needs_two_enabled_methods_to_require_two(codes_tenant):
    policy = codes_tenant.policy
    policy.questions_enabled = policy.authenticator_enabled = False
    policy.methods_required_for_reset = 2
    with pytest.raises(ValidationError) as refused:
        policy.full_clean()
    assert "methods_required_for_reset" in refused.value.message_dict
    policy.authenticator_enabled = True
    policy.full_clean()  # the app and the codes: two methods


@pytest.mark.django_db
def test_codes_can_be_the_method_set_up_in_the_sign_in_nudge(make_tenant, make_user):
    tenant = make_tenant("nudged", "Nudged Corp", recovery_codes_enabled=True)
    user = make_user(tenant, "jiro@nudged.example")
    client = client_for(tenant)
    assert sign_in(client, user.email, next_url="/security-info/")["Location"] == "/security-info/keep-your-account-secure/"
    picker = client.get(PICKER).content.decode()
    assert 'value="recovery_codes"' in picker
    assert client.post(PICKER, {"method": "recovery_codes"})["Location"] == CODES_PAGE
    assert len(shown_codes(client.post(CODES_PAGE))) == 10
    done = client.post("/security-info/finish/")
    assert done["Location"] == "/security-info/"  # on to where the sign-in was going
    assert client.get("/security-info/").status_code == 200
    assert registration_status(user).state == status.REGISTERED


@pytest.mark.django_db
def test_removing_the_codes_or_an_admin_clearing_the_methods_kills_them(codes_tenant, codes_user):
    codes = services.generate_recovery_codes(codes_user)
    client = signed_in(codes_tenant, codes_user)
    assert 'action="/security-info/remove/recovery_codes/"' in client.get(INFO).content.decode()
    assert client.post("/security-info/remove/recovery_codes/")["Location"] == INFO
    assert not services.verify_recovery_code(codes_user, codes[0])
    codes = services.generate_recovery_codes(codes_user)
    services.require_reregistration(codes_user)
    assert not services.verify_recovery_code(codes_user, codes[0])
    assert not RecoveryCode.objects.exists()
