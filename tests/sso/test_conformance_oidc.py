"""Conformance of the portal's OpenID provider to the MUSTs of OpenID Connect Core 1.0, RFC 6749
and RFC 9700 (issue 16), tested from the outside: a live server, a browser (requests) and a
relying party of its own (tests/support/oidc_rp.py: requests + jwcrypto, not the Authlib and
joserfc of tests/test_oidc_rp.py). One test per MUST, named after its section.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from accounts.services import provision_user
from sso.oidc import register_client
from tests.support.clients import PASSWORD
from tests.support.oidc_rp import REDIRECT_URI, RelyingParty


def _user(op, email="mio@conf.example"):
    return provision_user(tenant=op["tenant"], email=email, name="Mio", password=PASSWORD)


def _rp(op, name="Conformance app", *, skip_consent=True, redirect_uris=(REDIRECT_URI,)):
    client, secret = register_client(tenant=op["tenant"], name=name, redirect_uris=list(redirect_uris),
                                     skip_consent=skip_consent)
    return RelyingParty(op["issuer"], client.id, secret, redirect_uri=redirect_uris[0])


def _error_at_client(rp, location):
    params = rp.callback(location)
    assert "code" not in params, params
    return params["error"]


# --- OpenID Connect Core 1.0 -------------------------------------------------------------------

def test_oidc_core_3_1_2_6_prompt_none_without_consent_for_this_client_returns_consent_required(op, browser):
    user = _user(op)
    calendar = _rp(op, "Calendar", skip_consent=False)
    payroll = _rp(op, "Payroll", skip_consent=False)
    # The user allows Calendar (openid email) and Calendar redeems its code.
    page = browser.sign_in(calendar.authorization_url(scope="openid email"), user.email)
    calendar.tokens_from(browser.consent(page))

    # Payroll was never allowed: a silent request must not hand it a code.
    location = browser.follow(browser.get(payroll.authorization_url(scope="openid", prompt="none")))
    assert _error_at_client(payroll, location) == "consent_required"
    # Nor may Calendar silently get more than the user allowed it.
    location = browser.follow(browser.get(calendar.authorization_url(scope="openid email profile",
                                                                     prompt="none")))
    assert _error_at_client(calendar, location) == "consent_required"
    # What the user did allow Calendar is still given silently.
    location = browser.follow(browser.get(calendar.authorization_url(scope="openid email", prompt="none")))
    assert calendar.tokens_from(location)["claims"]["sub"] == user.subject_identifier


def test_oidc_core_2_auth_time_is_when_the_user_authenticated(op, browser):
    user = _user(op)
    rp = _rp(op)
    before = time.time()
    rp.tokens_from(browser.sign_in(rp.authorization_url(), user.email))
    after = time.time()
    time.sleep(2.5)
    # A later code for the same sign-in carries the time of the sign-in, not of the code.
    claims = rp.tokens_from(browser.follow(browser.get(rp.authorization_url())))["claims"]
    assert int(before) <= claims["auth_time"] <= after + 1
    assert claims["iat"] - claims["auth_time"] >= 2


def test_oidc_core_3_1_2_1_max_age_older_than_the_sign_in_requires_a_new_authentication(op, browser):
    user = _user(op)
    rp = _rp(op)
    rp.tokens_from(browser.sign_in(rp.authorization_url(), user.email))
    time.sleep(2.5)
    # The sign-in is older than max_age: the user must authenticate again before a code.
    page = browser.follow(browser.get(rp.authorization_url(max_age="1")))
    assert not isinstance(page, str), "a code was issued for a sign-in older than max_age"
    page = browser.follow(page, stop_at="\0") if page.status_code in (301, 302, 303) else page
    before = time.time()
    claims = rp.tokens_from(browser.reauthenticate(page))["claims"]
    assert claims["auth_time"] >= int(before)


def test_oidc_core_3_1_2_1_prompt_none_with_max_age_exceeded_returns_login_required(op, browser):
    user = _user(op)
    rp = _rp(op)
    rp.tokens_from(browser.sign_in(rp.authorization_url(), user.email))
    time.sleep(2.5)
    # prompt=none: no page may be shown, so the client is told a sign-in is needed.
    location = browser.follow(browser.get(rp.authorization_url(max_age="1", prompt="none")))
    assert _error_at_client(rp, location) == "login_required"


def test_oidc_core_3_1_2_1_redirect_uri_must_exactly_match_a_registered_one(op, browser):
    """Also RFC 9700 4.1.3: exact string matching of redirect URIs."""
    user = _user(op)
    registered = REDIRECT_URI + "?tenant=conf"
    rp = _rp(op, redirect_uris=(registered,))
    rp.tokens_from(browser.sign_in(rp.authorization_url(), user.email))  # the registered one works
    for variant in (registered + "&next=https://evil.example/", REDIRECT_URI + "?tenant=conf&x=1",
                    REDIRECT_URI + "?x=1&tenant=conf"):
        response = browser.http.get(rp.authorization_url(redirect_uri=variant), allow_redirects=False,
                                    timeout=10)
        assert response.status_code == 400 and "Location" not in response.headers, variant


# --- RFC 6749 / RFC 9700: authorization codes and refresh tokens --------------------------------

def test_rfc6749_4_1_2_a_second_use_of_a_code_is_refused_and_revokes_its_tokens(op, browser):
    user = _user(op)
    rp = _rp(op)
    params = rp.callback(browser.sign_in(rp.authorization_url(), user.email))
    first = rp.redeem(params["code"], params["state"])
    assert first.status_code == 200
    tokens = first.json()
    assert rp.userinfo(tokens["access_token"]).status_code == 200

    again = rp.redeem(params["code"], params["state"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert rp.userinfo(tokens["access_token"]).status_code == 401
    assert rp.refresh(tokens["refresh_token"]).json().get("error") == "invalid_grant"


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_rfc6749_4_1_2_a_code_redeemed_by_eight_concurrent_requests_gives_one_token_set(op_on_gunicorn, browser):
    op = op_on_gunicorn
    user = _user(op)
    rp = _rp(op)
    params = rp.callback(browser.sign_in(rp.authorization_url(), user.email))
    url, data = rp.redeem_request(params["code"], params["state"])
    sessions = [requests.Session() for _ in range(8)]
    for session in sessions:  # connected beforehand, so that the eight POSTs leave together
        session.get(op["issuer"] + "/.well-known/openid-configuration", timeout=10)
    start = threading.Barrier(8)

    def redeem(session):
        start.wait(timeout=30)
        return session.post(url, data=data, timeout=30)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(redeem, sessions))
    for session in sessions:
        session.close()
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [400] * 7, (statuses, op["node"].output()[-2000:])
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code == 400)
    # The other seven were uses of a used code: the one token set is revoked too.
    winner = next(r.json() for r in responses if r.status_code == 200)
    assert rp.userinfo(winner["access_token"]).status_code == 401


def test_rfc9700_4_14_2_a_reused_rotated_refresh_token_revokes_the_token_family(op, browser):
    user = _user(op)
    rp = _rp(op)
    tokens = rp.tokens_from(browser.sign_in(rp.authorization_url(), user.email))
    rotated = rp.refresh(tokens["refresh_token"])
    assert rotated.status_code == 200
    current = rotated.json()
    assert current["refresh_token"] != tokens["refresh_token"]
    assert rp.userinfo(current["access_token"]).status_code == 200

    # The old refresh token comes back (stolen, or replayed): refused, and the whole family goes.
    replay = rp.refresh(tokens["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert rp.userinfo(current["access_token"]).status_code == 401
    assert rp.refresh(current["refresh_token"]).json().get("error") == "invalid_grant"
    # Another sign-in of the same user (a new family) is not affected.
    fresh = rp.tokens_from(browser.follow(browser.get(rp.authorization_url())))
    assert rp.refresh(fresh["refresh_token"]).status_code == 200

