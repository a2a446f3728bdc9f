"""A relying party's side of the live-server OIDC tests (Authlib + joserfc), shared by modules.

The same steps as tests/test_oidc_rp.py (a test module, which other modules may not import).
"""

import re
from urllib.parse import urljoin

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.clients import PASSWORD
from tests.support.oidc import REDIRECT_URI

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Sessions(list):
    """Every HTTP session a test opened, closed at its end (an idle keep-alive connection keeps
    a live-server thread and its database connection)."""

    def browser(self):
        session = requests.Session()
        self.append(session)
        return session

    def relying_party(self, client_id, secret, scope, **kwargs):
        rp = OAuth2Session(client_id, secret, scope=scope, redirect_uri=REDIRECT_URI,
                           code_challenge_method="S256", **kwargs)
        self.append(rp)
        return rp

    def close_all(self):
        while self:
            self.pop().close()


def discover(issuer):
    meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    assert meta["issuer"] == issuer
    return meta


def follow(browser, response, stop_at, limit=10):
    """Follow the portal's redirects like a browser until the client's URI (or a page)."""
    for _ in range(limit):
        if response.status_code not in (301, 302, 303):
            return response
        location = urljoin(response.url, response.headers["Location"])
        if location.startswith(stop_at):
            return location
        response = browser.get(location, allow_redirects=False, timeout=10)
    raise AssertionError("too many redirects")


def submit_form(browser, page, data):
    token = CSRF_INPUT.search(page.text).group(1)
    return browser.post(page.url, data={"csrfmiddlewaretoken": token, **data},
                        headers={"Referer": page.url}, allow_redirects=False, timeout=10)


def browser_sign_in(browser, authorization_url, email):
    """authorize URL -> sign-in page -> back to the client (its callback URL), or the last page."""
    response = browser.get(authorization_url, allow_redirects=False, timeout=10)
    login_page = browser.get(urljoin(authorization_url, response.headers["Location"]), timeout=10)
    next_url = re.search(r'name="next" value="([^"]+)"', login_page.text).group(1).replace("&amp;", "&")
    response = submit_form(browser, login_page, {"login": email, "password": PASSWORD, "next": next_url})
    return follow(browser, response, REDIRECT_URI)


def verify_id_token(id_token, meta, client_id):
    """The ID token's claims, once its signature (the issuer's JWKS) and iss/aud/exp check out."""
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": meta["issuer"]},
        aud={"essential": True, "value": client_id},
        exp={"essential": True}, sub={"essential": True},
    ).validate(token.claims)
    return token.claims
