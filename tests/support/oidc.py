"""Helpers for the OpenID Connect tests: a registered client and a browser-side sign-in."""

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from sso.oidc import register_client

from .clients import PASSWORD

REDIRECT_URI = "http://127.0.0.1:8765/callback"
LOGOUT_URI = "http://127.0.0.1:8765/signed-out"


def make_client(tenant, *, public=False, skip_consent=True, name="Demo Teams"):
    return register_client(
        tenant=tenant, name=name, redirect_uris=[REDIRECT_URI],
        client_type="public" if public else "confidential", skip_consent=skip_consent,
        post_logout_redirect_uris=[LOGOUT_URI],
    )


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


def authorize_url(client_id, *, challenge=None, state="st-1", **extra):
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email", "state": state, "nonce": "n-1",
    }
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return "/identity/o/authorize?" + urlencode(params)


def query_of(location):
    return {k: v[-1] for k, v in parse_qs(urlsplit(location).query).items()}


def follow_until_callback(browser, response, limit=10):
    """Follow the portal's redirects (Django test client) until the client's redirect URI."""
    for _ in range(limit):
        if response.status_code != 302:
            return response
        location = response["Location"]
        if location.startswith(REDIRECT_URI) or location.startswith(LOGOUT_URI):
            return response
        response = browser.get(location)
    raise AssertionError("too many redirects")


def sign_in_through(browser, url, email, password=PASSWORD):
    """GET the authorize URL; sign in on the portal's page; return the last response."""
    response = browser.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    login_url = response["Location"]
    next_url = query_of(login_url)["next"]
    response = browser.post(login_url, {"login": email, "password": password, "next": next_url})
    return follow_until_callback(browser, response)


TOKEN_PATH = "/identity/o/api/token"


def exchange_code(browser, client, secret, code, **extra):
    """POST the code to the token endpoint as the client's server does (secret in the body)."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": client.id, **extra}
    if secret:
        data["client_secret"] = secret
    return browser.post(TOKEN_PATH, data)


def tokens_for(browser, user, client, secret):
    """The code flow of `client` for `user` on `browser`'s host (signing in unless already
    signed in there); the token endpoint's JSON."""
    response = browser.get(authorize_url(client.id))
    if response["Location"].startswith("/accounts/login/"):
        response = sign_in_through(browser, authorize_url(client.id), user.email)
    assert response.status_code == 302 and response["Location"].startswith(REDIRECT_URI), response
    exchanged = exchange_code(browser, client, secret, query_of(response["Location"])["code"])
    assert exchanged.status_code == 200, exchanged.content
    return exchanged.json()
