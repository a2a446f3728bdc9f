"""A real relying party (Authlib's OAuth2Session, joserfc for the ID token) against the live
portal: discovery, sign-in through the portal's HTML pages, code + PKCE, JWKS-verified ID token,
userinfo, refresh with rotation, RP-initiated logout.
"""

import base64
import re
from urllib.parse import urljoin, urlsplit

import pyotp
import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from django_otp.plugins.otp_totp.models import TOTPDevice
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from accounts.services import provision_user
from tenants.services import create_tenant
from tests.support.clients import PASSWORD
from tests.support.oidc import LOGOUT_URI, REDIRECT_URI, make_client

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def portal(live_server, settings):
    """The live server answers as tenant "rp" on localhost and tenant "other" on 127.0.0.1."""
    settings.PLATFORM_HOSTS = ["testserver"]
    port = urlsplit(live_server.url).port
    settings.PORTAL_PUBLIC_PORT = str(port)  # the live server's port is the public one
    rp = create_tenant(slug="rp", name="RP Corp", hosts=["localhost"])
    other = create_tenant(slug="other", name="Other Corp", hosts=["127.0.0.1"])
    for tenant in (rp, other):  # the nudge in the authorize flow is tested in test_oidc.py
        tenant.policy.nudge_enabled = False
        tenant.policy.save()
    return {
        "rp": rp, "other": other,
        "issuer": f"http://localhost:{port}", "other_issuer": f"http://127.0.0.1:{port}",
    }


_open_sessions = []


@pytest.fixture(autouse=True)
def _close_sessions():
    # An idle keep-alive connection keeps a server thread, and its database connection, alive.
    yield
    while _open_sessions:
        _open_sessions.pop().close()


def browser_session():
    session = requests.Session()
    _open_sessions.append(session)
    return session


def relying_party(client_id, secret, scope, **kwargs):
    rp = OAuth2Session(client_id, secret, scope=scope, redirect_uri=REDIRECT_URI,
                       code_challenge_method="S256", **kwargs)
    _open_sessions.append(rp)
    return rp


def discover(issuer):
    meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == issuer
    return meta


def follow(browser, response, stop_at, limit=10):
    """Follow the portal's redirects like a browser until the client's URI is the target."""
    for _ in range(limit):
        if response.status_code not in (301, 302, 303):
            return response
        location = urljoin(response.url, response.headers["Location"])
        if location.startswith(stop_at):
            return location
        response = browser.get(location, allow_redirects=False, timeout=10)
    raise AssertionError("too many redirects")


def submit_form(browser, page, data):
    """POST the page's form (to its own URL unless the form says otherwise) with its CSRF token."""
    token = CSRF_INPUT.search(page.text).group(1)
    action = re.search(r'<form method="post" action="([^"]+)" class="form"', page.text)
    url = urljoin(page.url, action.group(1).replace("&amp;", "&")) if action else page.url
    return browser.post(url, data={"csrfmiddlewaretoken": token, **data},
                        headers={"Referer": page.url}, allow_redirects=False, timeout=10)


def browser_sign_in(browser, authorization_url, email, code_for=None):
    """The user's side: authorize URL → sign-in page → (code page) → back to the client."""
    response = browser.get(authorization_url, allow_redirects=False, timeout=10)
    login_page = browser.get(urljoin(authorization_url, response.headers["Location"]), timeout=10)
    assert "password" in login_page.text
    next_url = re.search(r'name="next" value="([^"]+)"', login_page.text).group(1).replace("&amp;", "&")
    response = submit_form(browser, login_page, {"login": email, "password": PASSWORD, "next": next_url})
    if code_for is not None:
        code_page = browser.get(urljoin(login_page.url, response.headers["Location"]), timeout=10)
        assert "accounts/login/code" in code_page.url
        response = submit_form(browser, code_page, {"code": code_for()})
    return follow(browser, response, REDIRECT_URI)


def verify_id_token(id_token, meta, client_id):
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": meta["issuer"]},
        aud={"essential": True, "value": client_id},
        exp={"essential": True}, sub={"essential": True},
    ).validate(token.claims)
    return token.claims


def test_confidential_client_full_flow(portal):
    user = provision_user(tenant=portal["rp"], email="mika@rp.example", name="Mika", password=PASSWORD)
    client, secret = make_client(portal["rp"])
    meta = discover(portal["issuer"])

    rp = relying_party(client.id, secret, "openid profile email")
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback = browser_sign_in(browser_session(), url, user.email)
    token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback,
                           code_verifier=verifier, state=state)

    claims = verify_id_token(token["id_token"], meta, client.id)
    assert claims["nonce"] == nonce
    assert claims["email"] == "mika@rp.example" and claims["name"] == "Mika" and claims["tid"] == "rp"
    assert claims["sub"] == user.subject_identifier and claims["amr"] == ["pwd"] and claims["auth_time"] > 0

    info = rp.get(meta["userinfo_endpoint"], timeout=10).json()
    assert info["sub"] == claims["sub"] and info["email"] == user.email

    # Refresh: a new refresh token each time, the old one no longer works.
    refreshed = rp.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert verify_id_token(refreshed["id_token"], meta, client.id)["amr"] == ["pwd"]
    with pytest.raises(OAuthError) as refused:
        rp.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refused.value.error == "invalid_grant"

    # An ID token signed by someone else does not verify against the JWKS.
    header, payload, _sig = token["id_token"].split(".")
    forged = f"{header}.{payload}.{base64.urlsafe_b64encode(b'x' * 256).rstrip(b'=').decode()}"
    with pytest.raises(BadSignatureError):
        verify_id_token(forged, meta, client.id)


def test_public_client_pkce_and_rp_initiated_logout(portal):
    user = provision_user(tenant=portal["rp"], email="sora@rp.example", password=PASSWORD)
    client, _none = make_client(portal["rp"], public=True)
    meta = discover(portal["issuer"])
    rp = relying_party(client.id, None, "openid email", token_endpoint_auth_method="none")
    verifier = generate_token(48)
    url, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce="n")
    browser = browser_session()
    callback = browser_sign_in(browser, url, user.email)
    token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback,
                           code_verifier=verifier, state=state)
    assert verify_id_token(token["id_token"], meta, client.id)["tid"] == "rp"

    # Logout from the client: the portal asks, the user confirms, back to the registered URI.
    page = browser.get(meta["end_session_endpoint"], params={
        "id_token_hint": token["id_token"], "post_logout_redirect_uri": LOGOUT_URI, "state": "bye",
    }, timeout=10)
    assert page.status_code == 200
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    fields.pop("csrfmiddlewaretoken", None)
    response = submit_form(browser, page, {**{k: v.replace("&amp;", "&") for k, v in fields.items()},
                                           "action": "logout"})
    assert response.headers["Location"] == f"{LOGOUT_URI}?state=bye"
    home = browser.get(f"{portal['issuer']}/", allow_redirects=False, timeout=10)
    assert home.status_code == 302 and "/accounts/login/" in home.headers["Location"]


def test_mfa_tenant_puts_otp_in_amr(portal):
    policy = portal["rp"].policy
    policy.mfa_required = True
    policy.save()
    user = provision_user(tenant=portal["rp"], email="ryo@rp.example", password=PASSWORD)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    totp = pyotp.TOTP(base64.b32encode(device.bin_key).decode())
    client, secret = make_client(portal["rp"])
    meta = discover(portal["issuer"])
    rp = relying_party(client.id, secret, "openid")
    verifier = generate_token(48)
    url, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce="n")
    callback = browser_sign_in(browser_session(), url, user.email, code_for=totp.now)
    token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback,
                           code_verifier=verifier, state=state)
    assert verify_id_token(token["id_token"], meta, client.id)["amr"] == ["pwd", "otp"]


def test_other_tenant_cannot_use_the_client_or_its_tokens(portal):
    user = provision_user(tenant=portal["rp"], email="aoi@rp.example", password=PASSWORD)
    provision_user(tenant=portal["other"], email="eve@other.example", password=PASSWORD)
    client, secret = make_client(portal["rp"])
    meta = discover(portal["issuer"])
    other_meta = discover(portal["other_issuer"])
    assert other_meta["issuer"] != meta["issuer"]

    # A user of the other tenant, on the other tenant's host, asking for the rp tenant's client.
    rp = relying_party(client.id, secret, "openid")
    url, _state = rp.create_authorization_url(other_meta["authorization_endpoint"],
                                              code_verifier=generate_token(48), nonce="n")
    response = requests.get(url, allow_redirects=False, timeout=10)
    assert response.status_code == 400 and "Location" not in response.headers

    # A code issued on the rp host, presented at the other tenant's token endpoint.
    verifier = generate_token(48)
    url, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce="n")
    callback = browser_sign_in(browser_session(), url, user.email)
    with pytest.raises(OAuthError) as refused:
        rp.fetch_token(other_meta["token_endpoint"], authorization_response=callback,
                       code_verifier=verifier, state=state)
    assert refused.value.error == "invalid_client"
    # The ID token of the rp issuer does not verify with the other issuer's expectations.
    token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback,
                           code_verifier=verifier, state=state)
    with pytest.raises(Exception):  # noqa: B017 - joserfc raises InvalidClaimError
        verify_id_token(token["id_token"], other_meta, client.id)
