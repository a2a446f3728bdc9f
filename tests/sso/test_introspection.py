"""Token introspection (RFC 7662) for a tenant's own confidential clients.

A resource server of the tenant asks whether a token is active. RFC 7662 2.1: the caller is an
authenticated client; 2.2: an active token's answer carries its scope, client and subject;
2.3 / 4: a token the caller may not know about (another tenant's, another client's) is answered
exactly like an unknown one, `{"active": false}`, so the endpoint is no oracle across tenants or
applications.
"""

import base64
from urllib.parse import urlencode

import pytest

from tests.support.clients import client_for
from tests.support.oidc import make_client, tokens_for

INTROSPECT = "/identity/o/api/introspect"
FORM = "application/x-www-form-urlencoded"
INACTIVE = {"active": False}


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


def _introspect(host, client, secret, token, hint=None):
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    basic = base64.b64encode(f"{client.id}:{secret}".encode()).decode()
    return client_for(host).post(INTROSPECT, urlencode(data), content_type=FORM,
                                 HTTP_AUTHORIZATION=f"Basic {basic}")


def test_rfc7662_2_2_the_owning_client_learns_that_its_token_is_active(user, home_client, tokens):
    client, secret = home_client
    for kind in ("access_token", "refresh_token"):
        response = _introspect(user.tenant, client, secret, tokens[kind], hint=kind)
        assert response.status_code == 200
        answer = response.json()
        assert answer["active"] is True
        assert answer["client_id"] == client.id
        assert answer["token_type"] == kind
        assert set(answer["scope"].split()) == {"openid", "profile", "email"}
        assert answer["iss"] == "http://demo.localhost"


def test_rfc7662_2_1_an_unauthenticated_caller_is_refused(user, tokens):
    response = client_for(user.tenant).post(
        INTROSPECT, urlencode({"token": tokens["access_token"]}), content_type=FORM)
    assert response.status_code == 401
    assert "active" not in response.json()


def test_rfc7662_2_3_a_client_of_another_tenant_learns_nothing(user, other_tenant, tokens):
    foreign, foreign_secret = make_client(other_tenant, name="ACME app")
    for kind in ("access_token", "refresh_token"):
        # At its own tenant's host: authenticated, and told what an unknown token gets.
        response = _introspect(other_tenant, foreign, foreign_secret, tokens[kind])
        assert response.status_code == 200
        assert response.json() == INACTIVE
        # At the token's tenant's host: not a client there at all.
        response = _introspect(user.tenant, foreign, foreign_secret, tokens[kind])
        assert response.status_code == 401
        assert "active" not in response.json()


def test_rfc7662_2_3_another_client_of_the_same_tenant_learns_nothing(user, tenant, tokens):
    neighbour, neighbour_secret = make_client(tenant, name="Another app")
    for kind in ("access_token", "refresh_token"):
        response = _introspect(tenant, neighbour, neighbour_secret, tokens[kind])
        assert response.status_code == 200
        assert response.json() == INACTIVE


def test_rfc7662_2_1_a_public_client_may_not_introspect(user, tenant, tokens):
    spa, _secret = make_client(tenant, public=True, name="Browser app")
    response = client_for(tenant).post(
        INTROSPECT, urlencode({"token": tokens["access_token"], "client_id": spa.id}),
        content_type=FORM)
    assert response.status_code == 401
    assert "active" not in response.json()


def test_rfc7662_2_3_the_owning_client_at_another_tenant_learns_nothing(user, home_client,
                                                                         other_tenant, tokens):
    client, secret = home_client
    response = _introspect(other_tenant, client, secret, tokens["access_token"])
    assert response.status_code == 401
    assert "active" not in response.json()


def test_rfc7662_2_3_a_token_of_a_deactivated_user_is_inactive(user, home_client, tokens):
    client, secret = home_client
    user.is_active = False
    user.save()
    response = _introspect(user.tenant, client, secret, tokens["access_token"])
    assert response.json() == INACTIVE


def test_discovery_advertises_the_introspection_endpoint_of_the_issuer(tenant):
    document = client_for(tenant).get("/.well-known/openid-configuration").json()
    assert document["introspection_endpoint"] == "http://demo.localhost" + INTROSPECT
    assert "client_secret_basic" in document["introspection_endpoint_auth_methods_supported"]
