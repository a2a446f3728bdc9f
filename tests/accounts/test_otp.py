"""The authenticator-code step at sign-in and the step-up page."""

import base64
import re

import pyotp
import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import app_settings
from accounts.otp import Result, authenticator_device, verify_totp
from audit.models import AuditEvent
from tests.support.clients import client_for, sign_in


def add_device(user):
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def current_code(device):
    return pyotp.TOTP(base64.b32encode(device.bin_key).decode()).now()


def session_is_verified(client):
    response = client.get("/")
    return response.wsgi_request.user.is_verified()


@pytest.fixture
def mfa_tenant(make_tenant):
    return make_tenant("mfa", "MFA Corp", mfa_required=True)


@pytest.fixture
def mfa_user(make_user, mfa_tenant):
    return make_user(mfa_tenant, "ken@mfa.example")


def test_sign_in_asks_for_the_code_and_a_correct_code_verifies_the_session(mfa_user):
    device = add_device(mfa_user)
    client = client_for(mfa_user.tenant)
    response = sign_in(client, mfa_user.email)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/code/"
    page = client.get("/accounts/login/code/")
    assert "6 桁のコード" in page.content.decode()
    assert "※コードは30秒ごとに更新されます" in page.content.decode()
    # Not signed in while the code is pending.
    assert client.get("/").status_code == 302

    response = client.post("/accounts/login/code/", {"code": current_code(device)})
    assert response.status_code == 302
    assert session_is_verified(client)
    assert AuditEvent.objects.filter(kind="otp.verified", user=mfa_user).exists()


def test_wrong_code_is_shown_next_to_the_field_and_does_not_sign_in(mfa_user):
    device = add_device(mfa_user)
    client = client_for(mfa_user.tenant, HTTP_ACCEPT_LANGUAGE="en")
    sign_in(client, mfa_user.email)
    wrong = "000000" if current_code(device) != "000000" else "111111"
    response = client.post("/accounts/login/code/", {"code": wrong})
    assert response.status_code == 200
    assert "The code is not correct" in response.content.decode()
    assert f'value="{wrong}"' not in response.content.decode()  # typed once, never shown back
    assert client.get("/").status_code == 302
    event = AuditEvent.objects.get(kind="otp.failed", user=mfa_user)
    assert wrong not in str(event.data)


def test_the_same_code_cannot_be_used_twice(mfa_user):
    device = add_device(mfa_user)
    code = current_code(device)
    first = client_for(mfa_user.tenant)
    sign_in(first, mfa_user.email)
    first.post("/accounts/login/code/", {"code": code})
    assert session_is_verified(first)

    second = client_for(mfa_user.tenant, HTTP_ACCEPT_LANGUAGE="en")
    sign_in(second, mfa_user.email)
    response = second.post("/accounts/login/code/", {"code": code})
    assert "already used" in response.content.decode()
    assert second.get("/").status_code == 302


def test_no_code_step_without_the_policy(make_user, tenant):
    user = make_user(tenant, "plain@demo.example")
    add_device(user)
    client = client_for(tenant)
    response = sign_in(client, user.email)
    assert response["Location"] == "/"


def test_mfa_required_without_a_device_does_not_ask_for_a_code(mfa_user):
    # The registration nudge takes these users to register an authenticator instead.
    client = client_for(mfa_user.tenant)
    response = sign_in(client, mfa_user.email)
    assert response["Location"] != "/accounts/login/code/"


def test_the_next_url_survives_the_code_step(mfa_user):
    device = add_device(mfa_user)
    client = client_for(mfa_user.tenant)
    sign_in(client, mfa_user.email, next_url="/security-info/")
    response = client.post("/accounts/login/code/", {"code": current_code(device)})
    assert response["Location"] == "/security-info/"


def test_code_page_without_a_pending_sign_in_goes_to_sign_in(tenant):
    response = client_for(tenant).get("/accounts/login/code/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_failures_are_capped_and_forgotten_after_the_window(mfa_user):
    device = add_device(mfa_user)
    device.throttling_failure_count = app_settings.TOTP_MAX_FAILURES
    device.throttling_failure_timestamp = device.created_at if hasattr(device, "created_at") else None
    from django.utils import timezone

    device.throttling_failure_timestamp = timezone.now()
    device.save()
    assert verify_totp(device, current_code(device)) is Result.THROTTLED

    # Fifteen minutes after the last failure the device accepts codes again (no hours-long lock).
    device.throttling_failure_timestamp = timezone.now() - timezone.timedelta(minutes=15)
    device.save()
    assert verify_totp(device, current_code(device)) is Result.OK


def test_the_cap_and_window_are_the_deployments_settings(mfa_user, settings):
    """ACCOUNTS_TOTP_MAX_FAILURES / _FAILURE_WINDOW_SECONDS (accounts.app_settings) change the
    cap a guesser meets, read when a code is checked."""
    from django.utils import timezone

    settings.ACCOUNTS_TOTP_MAX_FAILURES = 2
    settings.ACCOUNTS_TOTP_FAILURE_WINDOW_SECONDS = 60
    device = add_device(mfa_user)
    device.throttling_failure_count = 2
    device.throttling_failure_timestamp = timezone.now() - timezone.timedelta(seconds=30)
    device.save()
    assert verify_totp(device, current_code(device)) is Result.THROTTLED
    device.throttling_failure_timestamp = timezone.now() - timezone.timedelta(seconds=60)
    device.save()
    assert verify_totp(device, current_code(device)) is Result.OK


# --- step-up --------------------------------------------------------------------------------

@pytest.fixture
def staff(make_user, tenant):
    return make_user(tenant, "boss@demo.example", is_staff=True)


def test_staff_step_up_verifies_the_session_and_keeps_next(staff):
    client = client_for(staff.tenant)
    client.force_login(staff)
    device = add_device(staff)
    page = client.get("/accounts/verify/?next=/security-info/")
    assert page.status_code == 200 and "6 桁のコード" in page.content.decode()
    old_key = client.session.session_key
    response = client.post(
        "/accounts/verify/", {"code": current_code(device), "next": "/security-info/"}
    )
    assert response["Location"] == "/security-info/"
    assert client.session.session_key != old_key
    assert session_is_verified(client)


def test_step_up_refuses_an_open_redirect(staff):
    client = client_for(staff.tenant)
    client.force_login(staff)
    device = add_device(staff)
    response = client.post(
        "/accounts/verify/?next=https://evil.example/", {"code": current_code(device)}
    )
    assert response["Location"] == "/"
    response = client.get("/accounts/verify/?next=//evil.example/")
    assert response["Location"] == "/"


def test_step_up_without_a_device_says_so(staff):
    staff.language = "en"  # signed-in pages follow the user's language
    staff.save()
    client = client_for(staff.tenant, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(staff)
    response = client.get("/accounts/verify/")
    assert "have not registered an authenticator app" in response.content.decode()


def test_step_up_wrong_code_stays_unverified(staff):
    staff.language = "en"  # signed-in pages follow the user's language
    staff.save()
    client = client_for(staff.tenant, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(staff)
    device = add_device(staff)
    wrong = "000000" if current_code(device) != "000000" else "111111"
    response = client.post("/accounts/verify/", {"code": wrong})
    assert response.status_code == 200 and "The code is not correct" in response.content.decode()
    assert not session_is_verified(client)


# --- One code field everywhere ----------------------------------------------------------------

def code_field(response):
    """The code field as the user meets it: its whole block (label, input, help, errors)."""
    html = response.content.decode()
    block = re.search(r'<div class="field[^"]*">\s*<label for="id_code">.*?</div>\s*'
                      r'(?:<ul class="errorlist".*?</ul>\s*)?</div>', html, re.S)
    assert block, html
    return block.group(0)


def test_every_page_that_asks_for_the_code_shows_the_same_field_and_messages(
    mfa_user, make_user, make_tenant
):
    from tests.support.registration import CODE, in_nudge, scan_page
    from tests.support.reset import VERIFY, begin, register_app

    add_device(mfa_user)
    sign_in_step = client_for(mfa_user.tenant, HTTP_ACCEPT_LANGUAGE="en")
    sign_in(sign_in_step, mfa_user.email)
    staff = make_user(mfa_user.tenant, "boss@mfa.example", is_staff=True, language="en")
    add_device(staff)
    step_up = client_for(mfa_user.tenant, HTTP_ACCEPT_LANGUAGE="en")
    step_up.force_login(staff)
    plain = make_tenant("plain")
    newcomer = make_user(plain, "new@plain.example")
    registration = in_nudge(plain, newcomer, HTTP_ACCEPT_LANGUAGE="en")
    scan_page(registration)
    resetter = make_user(plain, "reset@plain.example")
    register_app(resetter)
    reset = client_for(plain, HTTP_ACCEPT_LANGUAGE="en")
    begin(reset, resetter.email, ("authenticator",))
    pages = {
        "sign-in": (sign_in_step, "/accounts/login/code/"),
        "step-up": (step_up, "/accounts/verify/"),
        "registration": (registration, CODE),
        "reset": (reset, VERIFY),
    }
    fields = {name: code_field(client.get(url)) for name, (client, url) in pages.items()}
    assert len(set(fields.values())) == 1, fields
    field = fields["reset"]
    assert ">6-digit code</label>" in field and "The code changes every 30 seconds." in field
    assert 'autocomplete="one-time-code"' in field and 'inputmode="numeric"' in field
    assert "pattern=" not in field  # full-width digits (phones) must reach the server
    for typed, message in (("12a456", "The code has digits only (0–9)."),
                           ("", "Type the 6-digit code from the app."),
                           ("12345", "The code has exactly 6 digits.")):
        answers = {name: code_field(client.post(url, {"code": typed}))
                   for name, (client, url) in pages.items()}
        assert len(set(answers.values())) == 1, answers
        assert message in answers["reset"]
        assert not typed or typed not in answers["reset"]  # a refused code is never shown back
    assert authenticator_device(newcomer) is None
