import base64

import pyotp
import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from sso import backchannel
from tests.support.clients import client_for
from tests.support.logout_receiver import LogoutReceiver
from tests.support.oidc import make_client


@pytest.fixture
def allow_loopback(settings):
    # The test application listens on 127.0.0.1, which production refuses (SSRF).
    settings.SSO_BACKCHANNEL_ALLOW_PRIVATE_ADDRESSES = True


@pytest.fixture
def app(no_nudge, tenant, allow_loopback):
    """A confidential client whose server takes logout tokens on loopback and checks them.
    Yields (client, secret, receiver)."""
    client, secret = make_client(tenant)
    browser = client_for(tenant)
    issuer = browser.get("/.well-known/openid-configuration").json()["issuer"]
    jwks = browser.get("/.well-known/jwks.json").json()
    with LogoutReceiver(issuer=issuer, client_id=client.id, jwks=jwks) as receiver:
        backchannel.set_logout_uri(client, receiver.uri)
        yield client, secret, receiver


def verified_admin_client(user):
    """Signed in and past the authenticator step, as the admin gate requires."""
    browser = client_for(user.tenant, HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    browser.post("/accounts/verify/", {"code": pyotp.TOTP(base64.b32encode(device.bin_key).decode()).now()})
    return browser


@pytest.fixture
def org_admin(make_user, tenant):
    return make_user(tenant, "admin@demo.example", is_staff=True, language="en")
