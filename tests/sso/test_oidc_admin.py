"""Organisation admins register their SSO applications in Django admin, for their tenant only."""

import base64
import html
import re

import pyotp
import pytest
from allauth.idp.oidc.models import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from sso.models import TenantOIDCClient
from tests.support.clients import client_for
from tests.support.oidc import make_client

ADD_URL = "/admin/allauth_idp_oidc/client/add/"
LIST_URL = "/admin/allauth_idp_oidc/client/"


def verified_admin_client(user):
    """Signed in and past the authenticator step, as the admin gate requires."""
    browser = client_for(user.tenant, HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(user)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    code = pyotp.TOTP(base64.b32encode(device.bin_key).decode()).now()
    browser.post("/accounts/verify/", {"code": code})
    return browser


@pytest.fixture
def org_admin(make_user, tenant):
    return make_user(tenant, "admin@demo.example", is_staff=True, language="en")


def shown_secret(response):
    return html.unescape(re.search(r'<code id="client-secret">([^<]+)</code>', response.content.decode()).group(1))


def add_form(**overrides):
    data = {
        "name": "Teams", "type": "confidential",
        "redirect_uris": "https://teams.demo.example/callback\nhttp://127.0.0.1:8765/callback",
        "allowed_scopes": ["openid", "email", "profile"], "post_logout_uris": "",
        "skip_consent": "on",
    }
    data.update(overrides)
    return data


def test_new_client_shows_its_secret_once_and_stores_it_hashed(org_admin, tenant):
    browser = verified_admin_client(org_admin)
    response = browser.post(ADD_URL, add_form())
    assert response.status_code == 200
    client = Client.objects.get(name="Teams")
    secret = shown_secret(response)
    assert client.check_secret(secret) and secret not in client.secret
    assert TenantOIDCClient.objects.get(client=client).tenant == tenant
    assert client.get_scopes() == ["openid", "profile", "email"]
    assert "no-store" in response["Cache-Control"]
    # Not shown again on the change page.
    assert secret not in browser.get(f"{LIST_URL}{client.pk}/change/").content.decode()


def test_public_client_has_no_secret(org_admin):
    browser = verified_admin_client(org_admin)
    response = browser.post(ADD_URL, add_form(type="public"))
    assert response.status_code == 302
    assert "client-secret" not in browser.get(response["Location"]).content.decode()


def test_bad_redirect_uris_are_refused_next_to_the_field(org_admin):
    browser = verified_admin_client(org_admin)
    response = browser.post(ADD_URL, add_form(redirect_uris="http://teams.example/cb\nnot a url"))
    assert response.status_code == 200
    assert "use https" in response.content.decode()
    assert not Client.objects.exists()


def test_admin_sees_and_edits_only_own_tenant_clients(org_admin, tenant, other_tenant):
    mine, _ = make_client(tenant, name="Ours")
    theirs, _ = make_client(other_tenant, name="Theirs")
    browser = verified_admin_client(org_admin)
    listing = browser.get(LIST_URL).content.decode()
    assert "Ours" in listing and "Theirs" not in listing
    assert browser.get(f"{LIST_URL}{theirs.pk}/change/").status_code == 404
    assert browser.post(f"{LIST_URL}{theirs.pk}/delete/", {"post": "yes"}).status_code == 404
    assert Client.objects.filter(pk=theirs.pk).exists()


def test_new_secret_action_replaces_the_secret(org_admin, tenant):
    client, old_secret = make_client(tenant)
    browser = verified_admin_client(org_admin)
    response = browser.post(LIST_URL, {"action": "new_secret", "_selected_action": [client.pk]})
    secret = shown_secret(response)
    client.refresh_from_db()
    assert client.check_secret(secret) and not client.check_secret(old_secret)


def test_employees_cannot_manage_clients(user):
    browser = client_for(user.tenant)
    browser.force_login(user)
    assert browser.get(LIST_URL).status_code == 302


def test_the_admin_shows_the_issuer_and_discovery_url_to_copy(org_admin, tenant):
    browser = verified_admin_client(org_admin)
    shown = browser.post(ADD_URL, add_form()).content.decode()
    issuer = "http://demo.localhost"
    assert f'<code id="issuer">{issuer}</code>' in shown
    assert f'<code id="discovery-url">{issuer}/.well-known/openid-configuration</code>' in shown
    client = Client.objects.get(name="Teams")
    page = browser.get(f"{LIST_URL}{client.pk}/change/").content.decode()
    assert f"{issuer}/.well-known/openid-configuration" in page
    # The document there names the same issuer.
    document = client_for(tenant).get("/.well-known/openid-configuration").json()
    assert document["issuer"] == issuer
