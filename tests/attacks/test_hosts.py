"""Host header spellings, as an attacker sends them: one tenant is one counter and one issuer.

An attacker who may choose the Host header tries every spelling of the tenant's host name
(case, a trailing dot, a port) and its other host names, hoping that each one gets its own
failed-sign-in count or names another OpenID Connect issuer. The portal reads the host once,
canonically (tenants.middleware.CanonicalHostMiddleware): the spellings below are one tenant,
one per-account count and one issuer; a port that is not configured is refused before any view.
"""

import base64
import json

import pytest
from allauth.account import app_settings as account_settings
from allauth.core.internal.ratelimit import parse_rates
from django.test import Client

from tenants.models import TenantHost
from tests.support.clients import PASSWORD, client_for, sign_in
from tests.support.oidc import REDIRECT_URI, authorize_url, make_client, query_of, sign_in_through

from .conftest import NEEDS_TWO_NODES

SECOND_HOST = "login.demo.example"
ISSUER = "http://demo.localhost"  # the tenant's canonical URL (primary host, no port in tests)
# Every one of these reaches the demo tenant, over HTTP (80 is the scheme's default port); its
# two host names take turns, so a count per host name is never reached first by either alone.
ACCEPTED = [
    "demo.localhost", SECOND_HOST, "DEMO.localhost", "Login.Demo.Example.", "Demo.Localhost",
    f"{SECOND_HOST}:80", "demo.localhost.", "demo.localhost:80", "DEMO.LOCALHOST.:80",
]
# Ports nobody configured (the tests' PORTAL_PUBLIC_PORT is empty: only the scheme's default).
REFUSED = [
    "demo.localhost:1", "demo.localhost:443", "demo.localhost:65535", "demo.localhost:8000",
    "demo.localhost:080", "DEMO.localhost.:1", f"{SECOND_HOST}:443", "demo.localhost:",
]
RATE_LIMITED = "Too many failed sign-ins"
WRONG = "wrong-password"
DISCOVERY = "/.well-known/openid-configuration"
TOKEN = "/identity/o/api/token"


def per_account_limit() -> int:
    """allauth's failed sign-ins allowed per account (the "key" rate of login_failed)."""
    rates = parse_rates(account_settings.RATE_LIMITS["login_failed"])
    return next(rate.amount for rate in rates if rate.per == "key")


LIMIT = per_account_limit()


def needs_two_nodes(test):
    for mark in NEEDS_TWO_NODES:
        test = mark(test)
    return test


@pytest.fixture
def second_host(tenant):
    return TenantHost.objects.create(tenant=tenant, host=SECOND_HOST, is_primary=False)


def guess(host, login, password, number):
    # Each guess from its own address: only the per-account limit can refuse it.
    address = f"198.51.100.{number % 250 + 1}"
    client = Client(HTTP_HOST=host, HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR=address)
    response = client.post("/accounts/login/", {"login": login, "password": password})
    return client, response


def guesses_before_refusal(email, hosts):
    """Wrong passwords, taking turns over the host spellings (and spellings of the e-mail
    address); return how many were judged before the per-account limit refused one."""
    logins = [email, email.upper(), f"  {email.title()} "]
    for number in range(LIMIT + 2 * len(hosts)):
        host = hosts[number % len(hosts)]
        _client, response = guess(host, logins[number % len(logins)], WRONG, number)
        assert response.status_code == 200, (host, response.status_code)
        if RATE_LIMITED in response.text:
            return number
    return None  # never refused


def endpoints(document):
    return {key: value for key, value in document.items()
            if key.endswith("_endpoint") or key == "jwks_uri"}


def id_token_claims(id_token):
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# --- the per-account failure limit -------------------------------------------------------------

def test_wrong_passwords_on_every_spelling_count_against_one_account(no_nudge, make_user, second_host):
    tenant = no_nudge
    control = make_user(tenant, "control@demo.example")
    victim = make_user(tenant, "victim@demo.example")
    assert guesses_before_refusal(control.email, ["demo.localhost"]) == LIMIT
    # Spread over every spelling and both host names, the same number of guesses and no more.
    assert guesses_before_refusal(victim.email, ACCEPTED) == LIMIT
    # Now the account is refused whatever the spelling, even with the right password.
    for number, host in enumerate(ACCEPTED):
        client, response = guess(host, victim.email, PASSWORD, 100 + number)
        assert RATE_LIMITED in response.text, host
        assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("host", REFUSED)
def test_a_port_that_is_not_configured_is_refused_before_any_view(no_nudge, user, second_host, host):
    client = Client(HTTP_HOST=host, HTTP_ACCEPT_LANGUAGE="en")
    assert client.get("/accounts/login/").status_code == 400
    assert client.get(DISCOVERY).status_code == 400
    for _ in range(LIMIT + 1):
        refused = client.post("/accounts/login/", {"login": user.email, "password": WRONG})
        assert refused.status_code == 400 and RATE_LIMITED not in refused.text
    refused = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert refused.status_code == 400 and "_auth_user_id" not in client.session
    # The refused guesses counted nothing: the owner still signs in.
    assert sign_in(client_for(no_nudge), user.email).status_code == 302


def test_https_accepts_its_own_default_port_only(no_nudge, user):
    assert Client(HTTP_HOST="demo.localhost:443").get("/accounts/login/", secure=True).status_code == 200
    assert Client(HTTP_HOST="demo.localhost:80").get("/accounts/login/", secure=True).status_code == 400


def test_behind_a_proxy_the_forwarded_host_is_read_the_same_way(settings, no_nudge, user, second_host):
    settings.USE_X_FORWARDED_HOST = True
    refused = Client(HTTP_HOST="demo.localhost", HTTP_X_FORWARDED_HOST="demo.localhost:1")
    assert refused.get("/accounts/login/").status_code == 400
    forwarded = Client(HTTP_HOST="10.0.0.5:8080", HTTP_X_FORWARDED_HOST="Login.Demo.Example.:80")
    document = forwarded.get(DISCOVERY).json()
    assert document["issuer"] == ISSUER
    assert all(url.startswith(ISSUER + "/") for url in endpoints(document).values())


def test_every_later_reader_sees_the_canonical_host(settings, tenant):
    # SecurityMiddleware's HTTPS redirect is built from request.get_host().
    settings.SECURE_SSL_REDIRECT = True
    redirect = Client(HTTP_HOST="DEMO.LocalHost.:80").get("/accounts/login/")
    assert redirect.status_code == 301
    assert redirect["Location"] == "https://demo.localhost/accounts/login/"


def test_the_public_port_is_served_and_named_in_every_url(settings, tenant, second_host):
    settings.PORTAL_PUBLIC_PORT = "8000"  # as `make run` serves the portal
    hosts = ["demo.localhost:8000", "DEMO.localhost.:8000", "demo.localhost", f"{SECOND_HOST}:8000"]
    documents = [Client(HTTP_HOST=host).get(DISCOVERY).json() for host in hosts]
    assert documents[0]["issuer"] == "http://demo.localhost:8000"
    assert all(url.startswith("http://demo.localhost:8000/") for url in endpoints(documents[0]).values())
    assert all(document == documents[0] for document in documents)
    for host in ("demo.localhost:8001", "demo.localhost:1", "demo.localhost:443"):
        assert Client(HTTP_HOST=host).get("/accounts/login/").status_code == 400, host


# --- one issuer ------------------------------------------------------------------------------

def test_discovery_is_one_document_on_every_spelling_and_host_name(tenant, second_host):
    documents = {host: Client(HTTP_HOST=host).get(DISCOVERY).json() for host in ACCEPTED}
    https = Client(HTTP_HOST="demo.localhost:443").get(DISCOVERY, secure=True)
    documents["demo.localhost:443 (https)"] = https.json()
    first = documents["demo.localhost"]
    assert first["issuer"] == ISSUER
    assert endpoints(first) and all(url.startswith(ISSUER + "/") for url in endpoints(first).values())
    for host, document in documents.items():
        assert document == first, host


@pytest.mark.parametrize("host", ["DEMO.LOCALHOST.:80", "Login.Demo.Example."])
def test_id_tokens_name_the_canonical_issuer_whatever_the_spelling(no_nudge, user, second_host, host):
    client, secret = make_client(no_nudge)
    browser = Client(HTTP_HOST=host)
    at_client = sign_in_through(browser, authorize_url(client.id), user.email)
    assert at_client.status_code == 302 and at_client["Location"].startswith(REDIRECT_URI)
    tokens = browser.post(TOKEN, {
        "grant_type": "authorization_code", "code": query_of(at_client["Location"])["code"],
        "redirect_uri": REDIRECT_URI, "client_id": client.id, "client_secret": secret,
    })
    assert tokens.status_code == 200, tokens.content
    assert id_token_claims(tokens.json()["id_token"])["iss"] == ISSUER


# --- the deployed shape: two gunicorn nodes --------------------------------------------------

@needs_two_nodes
def test_two_nodes_alternating_spellings_count_one_account_and_name_one_issuer(
        two_nodes, browser_for, no_nudge, user, second_host):
    judged = None
    for number in range(LIMIT + 2 * len(ACCEPTED)):
        node, host = two_nodes[number % 2], ACCEPTED[number % len(ACCEPTED)]
        response = browser_for(host).sign_in(node, user.email, f"{WRONG}-{number}")
        assert response.status_code == 200, (host, response.status_code)
        if RATE_LIMITED in response.text:
            judged = number
            break
    # One address, so allauth's per-address limit (10 a minute) would stop a per-spelling count
    # at 10; the per-account limit stops it at LIMIT.
    assert judged == LIMIT
    for node in two_nodes:
        for host in ("demo.localhost:1", "demo.localhost:443", "demo.localhost:65535"):
            assert browser_for(host).get(node, "/accounts/login/").status_code == 400
            assert browser_for(host).get(node, DISCOVERY).status_code == 400
        refused = browser_for(SECOND_HOST).sign_in(node, user.email, PASSWORD)
        assert RATE_LIMITED in refused.text and "sessionid" not in refused.cookies

    documents = [browser_for(host).get(node, DISCOVERY).json() for node in two_nodes for host in ACCEPTED]
    assert documents[0]["issuer"] == ISSUER
    assert all(document == documents[0] for document in documents)
