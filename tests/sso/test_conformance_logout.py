"""RP-Initiated Logout 1.0: where the provider sends the browser after signing it out.

Section 2: post_logout_redirect_uri "MUST have been previously registered with the OP"; the
comparison is exact (as for redirect URIs, OIDC Core 3.1.2.1), so a registered URI with extra
query parameters, another application's URI or a look-alike is never followed: the provider
would otherwise be an open redirector that carries the user's trust in the sign-in page.
"""

import pytest

from sso.oidc import register_client
from tests.support.clients import client_for
from tests.support.oidc import LOGOUT_URI, REDIRECT_URI, make_client, tokens_for

LOGOUT = "/identity/o/logout"


@pytest.fixture(autouse=True)
def _no_nudge(no_nudge):
    pass


@pytest.fixture
def app(tenant):
    return make_client(tenant, name="Demo app")


@pytest.fixture
def id_token(user, app):
    client, secret = app
    return tokens_for(client_for(user.tenant), user, client, secret)["id_token"]


def _logout(tenant, id_token, uri, **extra):
    return client_for(tenant).get(LOGOUT, {"id_token_hint": id_token, "post_logout_redirect_uri": uri,
                                           "state": "s-1", **extra})


def _sent_to(response):
    return response.get("Location", "") if response.status_code in (301, 302, 303) else ""


def test_rp_initiated_logout_2_a_registered_uri_is_followed_with_state(tenant, id_token):
    response = _logout(tenant, id_token, LOGOUT_URI)
    assert response.status_code == 302
    assert response["Location"] == LOGOUT_URI + "?state=s-1"


@pytest.mark.parametrize("uri", [
    LOGOUT_URI + "?next=https://evil.example/",
    LOGOUT_URI + "/../../evil",
    LOGOUT_URI.replace("/signed-out", "/signed-out/"),
    LOGOUT_URI.upper(),
    "http://127.0.0.1:8765/",  # the application's origin, not a registered URI
    REDIRECT_URI,  # the sign-in callback is not a post-logout URI
])
def test_rp_initiated_logout_2_an_unregistered_uri_is_never_followed(tenant, id_token, uri):
    response = _logout(tenant, id_token, uri)
    assert not _sent_to(response).startswith("http"), _sent_to(response)
    assert response.status_code == 400


def test_rp_initiated_logout_2_another_applications_uri_is_never_followed(tenant, id_token):
    register_client(tenant=tenant, name="Other app", redirect_uris=["https://other.example/cb"],
                    post_logout_redirect_uris=["https://other.example/bye"])
    response = _logout(tenant, id_token, "https://other.example/bye")
    assert not _sent_to(response).startswith("https://other.example")
