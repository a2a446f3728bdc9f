"""Tokens of one tenant (or one client) used where they do not belong.

The attacker holds a valid access or refresh token of tenant A (demo) and tries it at tenant B
(acme) and on the platform host, in every spelling the OAuth library accepts; or holds the
credentials of another client (of B, or of A) and asks the revocation endpoint to kill A's
tokens. A foreign token must look exactly like an unknown one, and a revocation by a client that
does not own the token must change nothing.
"""

import base64
import secrets
from urllib.parse import urlencode

import pytest

from tests.support.clients import client_for
from tests.support.faults import Browser
from tests.support.oidc import LOGOUT_URI, TOKEN_PATH, make_client, tokens_for

from .conftest import NEEDS_TWO_NODES

USERINFO = "/identity/o/api/userinfo"
REVOKE = "/identity/o/api/revoke"
LOGOUT = "/identity/o/logout"
FORM = "application/x-www-form-urlencoded"


def _header(template):
    def send(browser, token):
        return browser.get(USERINFO, HTTP_AUTHORIZATION=template.format(token))
    return send


def _form_body(browser, token):
    return browser.post(USERINFO, urlencode({"access_token": token}), content_type=FORM)


def _query(browser, token):
    return browser.get(USERINFO, {"access_token": token})


def _post_with_header(browser, token):
    return browser.post(USERINFO, "", content_type=FORM, HTTP_AUTHORIZATION=f"Bearer {token}")


# Every way of presenting a bearer token that the library might read, and whether the library
# accepts it at the token's own tenant (a query parameter never: tokens leak from URLs).
VARIANTS = {
    "Bearer<SP>": (_header("Bearer {}"), True),
    "Bearer<TAB>": (_header("Bearer\t{}"), True),
    "bearer lower-case": (_header("bearer {}"), True),
    "BEARER upper-case": (_header("BEARER {}"), True),
    "double space": (_header("Bearer  {}"), True),
    "trailing space": (_header("Bearer {} "), True),
    "POST with the header": (_post_with_header, True),
    "form body access_token": (_form_body, True),
    "query access_token": (_query, False),
}


@pytest.fixture(autouse=True)
def _no_nudge(no_nudge, other_tenant):
    other_tenant.policy.nudge_enabled = False
    other_tenant.policy.save()


@pytest.fixture
def home_client(tenant):
    return make_client(tenant, name="Demo app")


@pytest.fixture
def tokens(user, home_client):
    client, secret = home_client
    return tokens_for(client_for(user.tenant), user, client, secret)


def _userinfo_works(user, access_token):
    response = client_for(user.tenant).get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return response.status_code == 200 and response.json()["email"] == user.email


def _as_seen(response):
    """What the caller learns from a refusal: status, JSON body and the challenge header."""
    return response.status_code, response.json(), response.get("WWW-Authenticate")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_variant_behaves_at_home_as_the_library_reads_it(variant, user, tokens):
    # The control: each spelling is really accepted at the token's own tenant (or, for the
    # query, refused everywhere), so the refusals below are the tenant check's doing.
    send, accepted_at_home = VARIANTS[variant]
    response = send(client_for(user.tenant), tokens["access_token"])
    if accepted_at_home:
        assert response.status_code == 200 and response.json()["email"] == user.email
    else:
        assert response.status_code == 401 and response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("host", ["acme.localhost", "localhost"], ids=["other tenant", "platform host"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_token_of_another_tenant_is_answered_like_an_unknown_token(variant, host, user, tokens):
    send, _accepted_at_home = VARIANTS[variant]
    there = client_for(host)
    foreign = send(there, tokens["access_token"])
    unknown = send(there, secrets.token_urlsafe(64))
    assert foreign.status_code == 401
    assert _as_seen(foreign) == _as_seen(unknown)
    assert foreign.json()["error"] == "invalid_token"
    assert user.email not in foreign.text
    # Refused there, still the user's token at home.
    assert _userinfo_works(user, tokens["access_token"])


# --- revocation (RFC 7009) ------------------------------------------------------------------

def _revoke(host, client, secret, token, hint=None, basic=False):
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    headers = {}
    if basic:
        pair = f"{client.id}:{secret}".encode()
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(pair).decode()
    else:
        data["client_id"] = client.id
        if secret:
            data["client_secret"] = secret
    return client_for(host).post(REVOKE, urlencode(data), content_type=FORM, **headers)


def _refresh_works(user, client, secret, refresh_token):
    response = client_for(user.tenant).post(TOKEN_PATH, {
        "grant_type": "refresh_token", "refresh_token": refresh_token,
        "client_id": client.id, "client_secret": secret,
    })
    return response.status_code == 200


REVOCATIONS = [
    pytest.param("access_token", None, False, id="access token, no hint, secret in body"),
    pytest.param("access_token", "access_token", True, id="access token, hinted, Basic"),
    pytest.param("access_token", "refresh_token", False, id="access token, wrong hint"),
    pytest.param("refresh_token", None, True, id="refresh token, no hint, Basic"),
    pytest.param("refresh_token", "refresh_token", False, id="refresh token, hinted"),
]


def _assert_both_tokens_still_work(user, home_client, tokens):
    client, secret = home_client
    assert _userinfo_works(user, tokens["access_token"])
    assert _refresh_works(user, client, secret, tokens["refresh_token"])


@pytest.mark.parametrize(("kind", "hint", "basic"), REVOCATIONS)
def test_a_client_of_another_tenant_cannot_revoke_the_tokens(kind, hint, basic, user, home_client,
                                                             tokens, other_tenant):
    attacker, attacker_secret = make_client(other_tenant, name="Acme app")
    response = _revoke("acme.localhost", attacker, attacker_secret, tokens[kind], hint, basic)
    # Answered like a token it never saw (RFC 7009 2.2: no error for an invalid token) ...
    unknown = _revoke("acme.localhost", attacker, attacker_secret, secrets.token_urlsafe(64), hint, basic)
    assert (response.status_code, response.content) == (unknown.status_code, unknown.content) == (200, b"")
    # ... and nothing was revoked.
    _assert_both_tokens_still_work(user, home_client, tokens)


@pytest.mark.parametrize(("kind", "hint", "basic"), REVOCATIONS)
def test_another_client_of_the_same_tenant_cannot_revoke_the_tokens(kind, hint, basic, user, tenant,
                                                                    home_client, tokens):
    other, other_secret = make_client(tenant, name="Another demo app")
    response = _revoke("demo.localhost", other, other_secret, tokens[kind], hint, basic)
    assert response.status_code == 200
    _assert_both_tokens_still_work(user, home_client, tokens)


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_public_client_of_the_same_tenant_cannot_revoke_the_tokens(kind, user, tenant, home_client,
                                                                     tokens):
    public, _no_secret = make_client(tenant, public=True, name="Demo mobile app")
    response = _revoke("demo.localhost", public, None, tokens[kind])
    assert response.status_code == 200
    _assert_both_tokens_still_work(user, home_client, tokens)


def test_the_owning_clients_credentials_at_another_tenant_revoke_nothing(user, home_client, tokens):
    client, secret = home_client
    for host in ("acme.localhost", "localhost"):
        response = _revoke(host, client, secret, tokens["access_token"])
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    _assert_both_tokens_still_work(user, home_client, tokens)


@pytest.mark.parametrize(("kind", "hint", "basic"), REVOCATIONS)
def test_the_owning_client_revokes_its_own_token(kind, hint, basic, user, home_client, tokens):
    # The control for the two tests above: the same requests from the owner do revoke.
    client, secret = home_client
    assert _revoke("demo.localhost", client, secret, tokens[kind], hint, basic).status_code == 200
    if kind == "access_token":
        assert not _userinfo_works(user, tokens["access_token"])
        assert _refresh_works(user, client, secret, tokens["refresh_token"])
    else:
        assert not _refresh_works(user, client, secret, tokens["refresh_token"])


# --- the same on the deployed shape: two gunicorn nodes -----------------------------------

class TestOnTwoNodes:
    pytestmark = NEEDS_TWO_NODES

    @pytest.mark.parametrize("variant", ["Bearer\t{}", "Bearer {}"], ids=["Bearer<TAB>", "Bearer<SP>"])
    def test_replay_on_the_other_node(self, variant, two_nodes, user, home_client, other_tenant):
        first, second = two_nodes
        client, secret = home_client
        tokens = tokens_for(client_for(user.tenant), user, client, secret)
        header = {"Authorization": variant.format(tokens["access_token"])}
        unknown = {"Authorization": variant.format(secrets.token_urlsafe(64))}
        at_b = Browser("acme.localhost")
        for node in (first, second):
            refused = at_b.get(node, USERINFO, headers=header)
            expected = at_b.get(node, USERINFO, headers=unknown)
            assert refused.status_code == expected.status_code == 401
            assert (refused.json(), refused.headers.get("WWW-Authenticate")) == (
                expected.json(), expected.headers.get("WWW-Authenticate"))

        # B's client revokes A's token on the first node; it still works on the second.
        attacker, attacker_secret = make_client(other_tenant, name="Acme app")
        revoked = at_b.http.post(first.base + REVOKE, timeout=10, data={
            "token": tokens["access_token"], "client_id": attacker.id,
            "client_secret": attacker_secret,
        })
        assert revoked.status_code == 200
        at_a = Browser("demo.localhost").get(second, USERINFO, headers=header)
        assert at_a.status_code == 200 and at_a.json()["email"] == user.email


# --- the ID token as id_token_hint (RP-initiated logout) -------------------------------------

def test_an_id_token_of_another_tenant_is_no_hint_at_its_logout(user, home_client, tokens):
    # Signed with A's key and naming A's issuer: at B it identifies no client, so B never
    # sends the browser to A's post-logout URI.
    hint = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": LOGOUT_URI}
    at_home = client_for(user.tenant).get(LOGOUT, hint)
    assert at_home.status_code == 302 and at_home["Location"].startswith(LOGOUT_URI)
    for host in ("acme.localhost", "localhost"):
        response = client_for(host).get(LOGOUT, hint)
        assert not response.get("Location", "").startswith(LOGOUT_URI), host
