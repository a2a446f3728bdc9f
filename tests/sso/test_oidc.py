"""The portal as OpenID Connect provider: tenant isolation and bad input (Django test client).

The end-to-end run with a real relying party library is in test_oidc_rp.py.
"""

import time

import pyotp
import pytest
from allauth.idp.oidc.models import Client, Token
from django.core.cache import cache
from django.core.management import call_command
from joserfc import jwt
from joserfc.jwk import KeySet

from recovery import services
from sso.oidc import OIDCAdapter
from sso.signing_keys import rotate_signing_key
from tests.support.clients import PASSWORD, client_for, sign_in
from tests.support.oidc import (
    REDIRECT_URI,
    authorize_url,
    follow_until_callback,
    make_client,
    pkce_pair,
    query_of,
    sign_in_through,
)

TOKEN = "/identity/o/api/token"


@pytest.fixture(autouse=True)
def _sign_in_without_nudge(no_nudge, other_tenant):
    # The nudge inside the authorize flow has its own test below.
    other_tenant.policy.nudge_enabled = False
    other_tenant.policy.save()


@pytest.fixture
def confidential(tenant):
    return make_client(tenant)


def test_nudge_appears_inside_the_authorize_flow_and_skip_returns_to_the_client(user, confidential):
    client, secret = confidential
    user.tenant.policy.nudge_enabled = True
    user.tenant.policy.save()
    browser = client_for(user.tenant)
    response = sign_in_through(browser, authorize_url(client.id), user.email)
    assert response.status_code == 200
    assert "アカウントのセキュリティ保護" in response.text
    assert "セットアップをスキップします" in response.text
    skipped = browser.post("/security-info/keep-your-account-secure/skip/")
    at_client = follow_until_callback(browser, skipped)
    assert at_client["Location"].startswith(REDIRECT_URI)
    params = query_of(at_client["Location"])
    assert params["state"] == "st-1"
    assert exchange(browser, client, secret, params["code"]).status_code == 200


def exchange(browser, client, secret, code, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": client.id, **extra}
    if secret:
        data["client_secret"] = secret
    return browser.post(TOKEN, data)


def get_code(browser, client, user, **params):
    response = sign_in_through(browser, authorize_url(client.id, **params), user.email)
    assert response.status_code == 302 and response["Location"].startswith(REDIRECT_URI)
    return query_of(response["Location"])


def test_discovery_names_the_tenant_host_as_issuer(tenant, other_tenant):
    for t in (tenant, other_tenant):
        data = client_for(t).get("/.well-known/openid-configuration").json()
        assert data["issuer"] == f"http://{t.slug}.localhost"
        assert data["authorization_endpoint"] == f"http://{t.slug}.localhost/identity/o/authorize"
        assert data["code_challenge_methods_supported"] == ["S256"]
        assert data["grant_types_supported"] == ["authorization_code", "refresh_token"]
        assert "device_authorization_endpoint" not in data


def test_code_flow_gives_tokens_with_tenant_claims(user, confidential, django_assert_max_num_queries):
    client, secret = confidential
    browser = client_for(user.tenant)
    params = get_code(browser, client, user)
    assert params["state"] == "st-1"
    response = exchange(browser, client, secret, params["code"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert {"access_token", "id_token", "refresh_token"} <= body.keys()
    # As the application's server calls it (no session): allauth's look-up of the token, its
    # user and its client; the client's tenant (the tenant check); the e-mail address.
    with django_assert_max_num_queries(5):
        info = client_for(user.tenant).get("/identity/o/api/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    claims = info.json()
    assert claims["email"] == user.email and claims["tid"] == "demo" and claims["name"] == user.name


def test_code_cannot_be_used_twice(user, confidential):
    client, secret = confidential
    browser = client_for(user.tenant)
    code = get_code(browser, client, user)["code"]
    assert exchange(browser, client, secret, code).status_code == 200
    again = exchange(browser, client, secret, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_expired_code_is_refused(user, confidential):
    client, secret = confidential
    browser = client_for(user.tenant)
    code = get_code(browser, client, user)["code"]
    # Codes live in the cache for 60 s; expiry is the cache entry going away.
    cache.delete(f"allauth.idp.oidc.authorization_code[{client.id}:{code}]")
    response = exchange(browser, client, secret, code)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_wrong_redirect_uri_shows_an_error_page_and_never_redirects(user, confidential):
    client, _secret = confidential
    browser = client_for(user.tenant)
    sign_in(browser, user.email)
    response = browser.get(authorize_url(client.id, redirect_uri="https://evil.example/cb"))
    assert response.status_code == 400 and "Location" not in response  # the portal's error page
    assert "Mismatching redirect URI" in response.content.decode()


def test_unknown_client_shows_an_error_page(user):
    browser = client_for(user.tenant)
    sign_in(browser, user.email)
    response = browser.get(authorize_url("no-such-client"))
    assert response.status_code == 200 and "Location" not in response


def test_missing_state_is_an_oauth_error_at_the_registered_uri_only(user, confidential):
    client, _secret = confidential
    browser = client_for(user.tenant)
    sign_in(browser, user.email)
    response = browser.get(authorize_url(client.id, state=""))
    assert response["Location"].startswith(REDIRECT_URI)
    params = query_of(response["Location"])
    assert params["error"] == "invalid_request" and "code" not in params
    response = browser.get(authorize_url(client.id, state="", redirect_uri="https://evil.example/"))
    assert response.status_code == 400 and "Location" not in response  # the portal's error page


def test_public_client_needs_pkce_s256(user, tenant):
    client, secret = make_client(tenant, public=True)
    assert secret is None
    browser = client_for(user.tenant)
    sign_in(browser, user.email)
    # No challenge: an OAuth error back at the registered redirect URI.
    response = browser.get(authorize_url(client.id))
    assert response["Location"].startswith(REDIRECT_URI)
    assert query_of(response["Location"])["error"] == "invalid_request"
    # plain is refused on our page.
    response = browser.get(authorize_url(client.id, code_challenge="x" * 43, code_challenge_method="plain"))
    assert response.status_code == 400 and "S256" in response.content.decode()

    verifier, challenge = pkce_pair()
    code = query_of(browser.get(authorize_url(client.id, challenge=challenge))["Location"])["code"]
    missing = exchange(browser, client, None, code)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    code = query_of(browser.get(authorize_url(client.id, challenge=challenge))["Location"])["code"]
    wrong = exchange(browser, client, None, code, code_verifier=pkce_pair()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = query_of(browser.get(authorize_url(client.id, challenge=challenge))["Location"])["code"]
    assert exchange(browser, client, None, code, code_verifier=verifier).status_code == 200


def test_client_of_another_tenant_is_unknown_here(user, other_tenant):
    foreign, foreign_secret = make_client(other_tenant, name="Acme app")
    browser = client_for(user.tenant)
    sign_in(browser, user.email)
    response = browser.get(authorize_url(foreign.id))
    assert response.status_code == 400 and "Location" not in response  # the portal's error page
    # Its credentials do not work at this tenant's token endpoint either.
    response = exchange(browser, foreign, foreign_secret, "whatever")
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_code_issued_on_one_tenant_is_refused_on_another(user, confidential, make_user, other_tenant):
    client, secret = confidential
    code = get_code(client_for(user.tenant), client, user)["code"]
    # The same client's credentials, presented at the other tenant's host.
    response = exchange(client_for(other_tenant), client, secret, code)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    # And the code still works where it was issued only once.
    assert exchange(client_for(user.tenant), client, secret, code).status_code == 200


def test_access_token_of_one_tenant_is_refused_at_another_tenants_userinfo(user, confidential, other_tenant):
    client, secret = confidential
    browser = client_for(user.tenant)
    body = exchange(browser, client, secret, get_code(browser, client, user)["code"]).json()
    response = client_for(other_tenant).get(
        "/identity/o/api/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}"
    )
    assert response.status_code == 401


def test_consent_screen_for_third_party_clients(user, tenant):
    client, secret = make_client(tenant, skip_consent=False, name="Partner app")
    browser = client_for(user.tenant, HTTP_ACCEPT_LANGUAGE="en")
    page = sign_in_through(browser, authorize_url(client.id), user.email)
    assert page.status_code == 200 and "Partner app" in page.content.decode()
    signed = page.context["form"]["request"].value()
    denied = browser.post("/identity/o/authorize", {"request": signed, "action": "cancel",
                                                     "scopes": ["openid"]})
    assert query_of(denied["Location"])["error"] == "access_denied"
    granted = browser.post("/identity/o/authorize", {"request": signed, "action": "grant",
                                                      "scopes": ["openid", "email"]})
    assert "code" in query_of(granted["Location"])


def test_prompt_login_asks_for_the_password_again_then_returns_to_the_client(user, confidential):
    client, _secret = confidential
    browser = client_for(user.tenant)
    sign_in(browser, user.email)
    reauth_url = browser.get(authorize_url(client.id, prompt="login"))["Location"]
    assert reauth_url.startswith("/accounts/reauthenticate/")
    response = browser.post(reauth_url, {"password": PASSWORD, "next": query_of(reauth_url)["next"]})
    response = follow_until_callback(browser, response)
    assert "code" in query_of(response["Location"])


def test_prompt_login_asks_an_mfa_user_for_a_fresh_code_too(user, confidential):
    client, secret = confidential
    user.tenant.policy.mfa_required = True
    user.tenant.policy.save()
    device = services.start_authenticator_setup(user)
    services.confirm_authenticator(device)
    totp = pyotp.TOTP(services.authenticator_secret(device))
    browser = client_for(user.tenant)
    sign_in(browser, user.email)
    browser.post("/accounts/login/code/", {"code": totp.now()})
    assert browser.get("/").wsgi_request.user.is_verified()

    reauth_url = browser.get(authorize_url(client.id, prompt="login"))["Location"]
    assert reauth_url.startswith("/accounts/reauthenticate/")
    assert not browser.get("/").wsgi_request.user.is_verified()  # the old code no longer counts
    response = browser.post(reauth_url, {"password": PASSWORD, "next": query_of(reauth_url)["next"]})
    assert response["Location"].startswith("/accounts/verify/")
    page = browser.get(response["Location"])
    assert page.status_code == 200 and 'name="code"' in page.text
    # The next time step: the code used at sign-in cannot be replayed.
    fresh = totp.at(int(time.time()) + 30)
    response = browser.post(response["Location"], {"code": fresh})
    at_client = follow_until_callback(browser, response)
    code = query_of(at_client["Location"])["code"]
    tokens = exchange(browser, client, secret, code).json()
    keys = KeySet.import_key_set(browser.get("/.well-known/jwks.json").json())
    assert "otp" in jwt.decode(tokens["id_token"], keys).claims["amr"]


def test_max_age_zero_asks_for_the_password_again(user, confidential):
    client, _secret = confidential
    browser = client_for(user.tenant)
    sign_in(browser, user.email)
    response = browser.get(authorize_url(client.id, max_age="0"))
    assert response["Location"].startswith("/accounts/reauthenticate/")
    assert "max_age" not in query_of(response["Location"])["next"]
    # A generous max_age lets the signed-in user straight through.
    response = browser.get(authorize_url(client.id, max_age="3600"))
    assert response["Location"].startswith(REDIRECT_URI)


def test_login_hint_prefills_the_sign_in_page(tenant, confidential):
    client, _secret = confidential
    browser = client_for(tenant)
    response = browser.get(authorize_url(client.id, login_hint="hanako@demo.example"))
    page = browser.get(response["Location"])
    assert 'value="hanako@demo.example"' in page.content.decode()


def test_refresh_rotates_and_old_refresh_token_is_refused(user, confidential):
    client, secret = confidential
    browser = client_for(user.tenant)
    body = exchange(browser, client, secret, get_code(browser, client, user)["code"]).json()
    data = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
            "client_id": client.id, "client_secret": secret}
    rotated = browser.post(TOKEN, data)
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != body["refresh_token"]
    again = browser.post(TOKEN, data)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    # The reuse revoked the whole family, the rotated token too (RFC 9700 4.14.2).
    assert Token.objects.filter(type=Token.Type.REFRESH_TOKEN).count() == 0


def test_tampered_id_token_hint_is_refused_at_logout(user, confidential):
    client, secret = confidential
    browser = client_for(user.tenant)
    body = exchange(browser, client, secret, get_code(browser, client, user)["code"]).json()
    header, payload, signature = body["id_token"].split(".")
    tampered = ".".join([header, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), signature])
    response = browser.get("/identity/o/logout", {
        "id_token_hint": tampered, "post_logout_redirect_uri": "http://127.0.0.1:8765/signed-out",
    })
    assert response.status_code == 200 and "Location" not in response


def test_garbage_at_the_token_endpoint_is_an_oauth_error(tenant, confidential):
    client, secret = confidential
    browser = client_for(tenant)
    for data in ({}, {"grant_type": "password", "username": "x", "password": "y"},
                 {"grant_type": "authorization_code", "client_id": client.id, "client_secret": secret}):
        response = browser.post(TOKEN, data)
        assert 400 <= response.status_code < 500
        assert "error" in response.json()


def test_authorize_and_token_on_the_platform_host_are_refused(confidential, user):
    client, secret = confidential
    platform = client_for("localhost")
    response = platform.get(authorize_url(client.id))
    assert response.status_code == 400 and "Location" not in response  # the portal's error page
    code = get_code(client_for(user.tenant), client, user)["code"]
    for data in ({"client_id": client.id, "client_secret": secret}, {}):
        response = platform.post(TOKEN, {"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": REDIRECT_URI, **data})
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_signing_key_rotation_publishes_both_and_signs_with_the_new_one(user, confidential):
    new = rotate_signing_key(user.tenant)
    client, secret = confidential
    browser = client_for(user.tenant)
    keys = browser.get("/.well-known/jwks.json").json()["keys"]
    assert len(keys) == 2 and new.kid in {key["kid"] for key in keys}
    body = exchange(browser, client, secret, get_code(browser, client, user)["code"]).json()
    kid = jwt.decode(body["id_token"], KeySet.import_key_set({"keys": keys})).header["kid"]
    assert kid == new.kid


def test_seed_demo_registers_the_demo_teams_client(db, capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "demo-teams" in out and "demo-teams-secret-2026" in out
    client = Client.objects.get(id="demo-teams")
    assert client.check_secret("demo-teams-secret-2026")
    assert client.get_redirect_uris() == ["http://127.0.0.1:8765/callback"]
    assert client.tenant_link.tenant.slug == "demo"


def test_subject_of_another_tenant_is_unknown_to_a_client(user, make_user, other_tenant, confidential):
    client, _secret = confidential
    stranger = make_user(other_tenant, "eve@acme.example")
    adapter = OIDCAdapter()
    assert adapter.get_user_by_sub(client, adapter.get_user_sub(client, user)) == user
    assert adapter.get_user_by_sub(client, adapter.get_user_sub(client, stranger)) is None
