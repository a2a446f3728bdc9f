"""A relying party for the conformance tests, built on plain `requests` and `jwcrypto`.

tests/test_oidc_rp.py drives the portal with Authlib's OAuth2Session and joserfc; the
conformance tests use other code for every step (discovery, authorization URL, token requests,
the ID token's signature and claims), so a shortcut shared by the portal and one library does
not hide a break of the specification.
"""

import base64
import hashlib
import json
import re
import secrets
import time
from html import unescape
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests
from jwcrypto import jwk, jwt

from tests.support.clients import PASSWORD

REDIRECT_URI = "http://127.0.0.1:8765/callback"
TIMEOUT = 10

_INPUT = re.compile(r"<input\b[^>]*>", re.S)
_ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
_FORM = re.compile(r'(<form\b[^>]*method="post"[^>]*>)(.*?)</form>', re.S | re.I)


def query_of(url):
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


class Browser:
    """A user's browser: one cookie jar, redirects followed by hand (as far as the client)."""

    def __init__(self):
        self.http = requests.Session()
        self.http.headers["Accept-Language"] = "en"

    def close(self):
        self.http.close()

    def get(self, url):
        response = self.http.get(url, allow_redirects=False, timeout=TIMEOUT)
        response.raise_for_status()
        return response

    def follow(self, response, stop_at=REDIRECT_URI, limit=10):
        """Follow redirects until the client's redirect URI (returned as a string) or a page."""
        for _ in range(limit):
            if response.status_code not in (301, 302, 303):
                return response
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(stop_at):
                return location
            response = self.get(location)
        raise AssertionError("too many redirects")

    def submit(self, page, fields, button=None):
        """POST the page's form that has `fields` (or the button): its hidden inputs (CSRF
        token, next, ...) plus `fields`."""
        wanted = [f'name="{name}"' for name in fields] + ([f'value="{button[1]}"'] if button else [])
        forms = [form for form in _FORM.finditer(page.text)
                 if all(mark in form.group(2) for mark in wanted)]
        assert forms, f"no such form on {page.url}"
        action = dict(_ATTR.findall(forms[0].group(1))).get("action")
        data = {}
        for tag in _INPUT.findall(forms[0].group(2)):
            attrs = dict(_ATTR.findall(tag))
            if attrs.get("type") == "hidden" and "name" in attrs:
                data[attrs["name"]] = unescape(attrs.get("value", ""))
        data.update(fields)
        if button:
            data[button[0]] = button[1]
        url = urljoin(page.url, unescape(action)) if action else page.url
        return self.http.post(url, data=data, headers={"Referer": page.url},
                              allow_redirects=False, timeout=TIMEOUT)

    def sign_in(self, authorization_url, email, password=PASSWORD):
        """The authorize URL → the sign-in page → back towards the client; the last response
        (a page such as the consent page) or the callback URL."""
        page = self.follow(self.get(authorization_url), stop_at="\0")
        assert "/accounts/login/" in page.url and 'name="password"' in page.text, page.url
        response = self.submit(page, {"login": email, "password": password})
        return self.follow(response)

    def reauthenticate(self, page, password=PASSWORD):
        assert "/accounts/reauthenticate/" in page.url, page.url
        return self.follow(self.submit(page, {"password": password}))

    def consent(self, page):
        """Allow every scope the consent page asks for."""
        assert 'value="grant"' in page.text, page.url
        scopes = [dict(_ATTR.findall(tag))["value"] for tag in _INPUT.findall(page.text)
                  if 'name="scopes"' in tag]
        return self.follow(self.submit(page, {"scopes": scopes}, button=("action", "grant")))


class RelyingParty:
    """One registered client: authorization requests, token requests, ID token checks."""

    def __init__(self, issuer, client_id, secret, redirect_uri=REDIRECT_URI):
        self.meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT).json()
        assert self.meta["issuer"] == issuer
        self.client_id, self.secret, self.redirect_uri = client_id, secret, redirect_uri
        self.pending = {}  # state → (nonce, code_verifier)

    def authorization_url(self, *, scope="openid profile email", redirect_uri=None, **extra):
        state, nonce, verifier = (secrets.token_urlsafe(16), secrets.token_urlsafe(16),
                                  secrets.token_urlsafe(48))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        params = {
            "response_type": "code", "client_id": self.client_id, "scope": scope,
            "redirect_uri": redirect_uri or self.redirect_uri, "state": state, "nonce": nonce,
            "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256",
            **extra,
        }
        self.pending[state] = (nonce, verifier)
        return f"{self.meta['authorization_endpoint']}?{urlencode(params)}"

    def callback(self, url):
        """The authorization response at the redirect URI: its parameters, state checked."""
        assert isinstance(url, str) and url.startswith(self.redirect_uri), url
        params = query_of(url)
        assert params.get("state") in self.pending, params
        return params

    def redeem_request(self, code, state):
        """(url, form data) of the token request that redeems `code` (client_secret_post)."""
        _nonce, verifier = self.pending[state]
        return self.meta["token_endpoint"], {
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
            "code_verifier": verifier, "client_id": self.client_id, "client_secret": self.secret,
        }

    def redeem(self, code, state):
        url, data = self.redeem_request(code, state)
        return requests.post(url, data=data, timeout=TIMEOUT)

    def tokens_from(self, url):
        """Callback URL → token response JSON (must be a 200) with `claims` of the ID token."""
        params = self.callback(url)
        response = self.redeem(params["code"], params["state"])
        assert response.status_code == 200, response.text
        tokens = response.json()
        tokens["claims"] = self.id_token_claims(tokens["id_token"], nonce=self.pending[params["state"]][0])
        return tokens

    def refresh(self, refresh_token):
        return requests.post(self.meta["token_endpoint"], timeout=TIMEOUT, data={
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": self.client_id, "client_secret": self.secret,
        })

    def userinfo(self, access_token):
        return requests.get(self.meta["userinfo_endpoint"], timeout=TIMEOUT,
                            headers={"Authorization": f"Bearer {access_token}"})

    def id_token_claims(self, id_token, nonce=None):
        keys = jwk.JWKSet.from_json(requests.get(self.meta["jwks_uri"], timeout=TIMEOUT).text)
        checks = {"iss": self.meta["issuer"], "aud": self.client_id, "exp": None, "iat": None,
                  "sub": None}
        if nonce is not None:
            checks["nonce"] = nonce
        token = jwt.JWT(jwt=id_token, key=keys, algs=["RS256"], check_claims=checks)
        claims = json.loads(token.claims)
        assert claims["iat"] <= time.time() + 5
        return claims
