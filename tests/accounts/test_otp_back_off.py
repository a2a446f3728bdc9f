"""The sign-in's authenticator step under django-otp's back-off: a code refused because it came
too soon after a wrong one says "wait N seconds", never "wrong", and is not counted."""

import base64
import time

import pyotp
import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.support.clients import client_for, sign_in

CODE_PAGE = "/accounts/login/code/"


@pytest.fixture
def mfa_user(make_tenant, make_user):
    return make_user(make_tenant("mfa", "MFA Corp", mfa_required=True), "ken@mfa.example")


def codes_of(device):
    return pyotp.TOTP(base64.b32encode(device.bin_key).decode())


@pytest.mark.django_db
@pytest.mark.parametrize("language, wait, wrong", [
    ("en", "Please wait 1 second", "not correct"),
    ("ja", "1 秒待ってから", "正しくな"),
])
def test_a_right_code_right_after_a_wrong_one_is_told_to_wait_then_passes(mfa_user, language, wait, wrong):
    device = TOTPDevice.objects.create(user=mfa_user, name="phone", confirmed=True)
    totp = codes_of(device)
    client = client_for(mfa_user.tenant, HTTP_ACCEPT_LANGUAGE=language)
    assert sign_in(client, mfa_user.email)["Location"] == CODE_PAGE
    first = client.post(CODE_PAGE, {"code": f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"})
    assert wrong in first.content.decode()
    second = client.post(CODE_PAGE, {"code": totp.now()})  # at once: well within 100 ms
    text = second.content.decode()
    assert second.status_code == 200 and wait in text and wrong not in text
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # the refused code did not count
    time.sleep(1.05)
    assert client.post(CODE_PAGE, {"code": totp.now()}).status_code == 302
