"""Groups and app roles in the claims (scope "groups"): what a relying party reads, per tenant.

The "groups" claim lists the user's group names of their own tenant; "roles" the app roles this
client maps from those groups ("group = role" lines on its admin page). Both only when the client
was granted the "groups" scope.
"""

from urllib.parse import urlsplit

import jwt as pyjwt
import pytest
from authlib.common.security import generate_token

from accounts.services import provision_user
from tenants.services import create_tenant
from tests.support.clients import PASSWORD, client_for
from tests.support.groups import code_flow, groups_client, make_group, sign_in_to
from tests.support.relying_party import Sessions, browser_sign_in, discover, verify_id_token

USERINFO = "/identity/o/api/userinfo"


@pytest.fixture
def sessions():
    opened = Sessions()
    yield opened
    opened.close_all()


@pytest.fixture
def portal(live_server, settings):
    """The live server answers as tenant "rp" on localhost."""
    settings.PLATFORM_HOSTS = ["testserver"]
    port = urlsplit(live_server.url).port
    settings.PORTAL_PUBLIC_PORT = str(port)
    rp = create_tenant(slug="rp", name="RP Corp", hosts=["localhost"])
    rp.policy.nudge_enabled = False
    rp.policy.save()
    return {"rp": rp, "issuer": f"http://localhost:{port}"}


def test_the_groups_claim_reaches_the_relying_partys_verified_id_token(portal, sessions):
    tenant = portal["rp"]
    user = provision_user(tenant=tenant, email="mika@rp.example", password=PASSWORD)
    sales = make_group(tenant, "Sales", user)
    make_group(tenant, "経理", user)
    make_group(tenant, "Engineering")  # not a member
    client, secret = groups_client(tenant, roles=[(sales, "editor")])
    meta = discover(portal["issuer"])
    assert "groups" in meta["scopes_supported"]
    assert {"groups", "roles"} <= set(meta["claims_supported"])

    rp = sessions.relying_party(client.id, secret, "openid groups")
    verifier = generate_token(48)
    url, state = rp.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier,
                                             nonce="n-1")
    callback = browser_sign_in(sessions.browser(), url, user.email)
    token = rp.fetch_token(meta["token_endpoint"], authorization_response=callback,
                           code_verifier=verifier, state=state)

    claims = verify_id_token(token["id_token"], meta, client.id)
    assert claims["groups"] == ["Sales", "経理"]
    assert claims["roles"] == ["editor"]
    info = rp.get(meta["userinfo_endpoint"], timeout=10).json()
    assert info["groups"] == ["Sales", "経理"] and info["roles"] == ["editor"]


def _claims(tenant, client, secret, user, scope="openid groups"):
    browser = client_for(tenant)
    tokens = code_flow(browser, client, secret, user, scope=scope)
    id_token = pyjwt.decode(tokens["id_token"], options={"verify_signature": False})
    info = browser.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert info.status_code == 200
    return id_token, info.json()


def test_a_group_of_another_tenant_never_appears(no_nudge, tenant, other_tenant, make_user):
    user = make_user(tenant, "hanako@demo.example")
    make_group(tenant, "Sales", user)
    # A membership across tenants (the admin never offers one; made here behind its back), and a
    # group of the other tenant that the client even maps to a role: none of it reaches a claim.
    foreign = make_group(other_tenant, "Acme Admins", user)
    client, secret = groups_client(tenant, roles=[(foreign, "superuser")])
    for claims in _claims(tenant, client, secret, user):
        assert claims["groups"] == ["Sales"]
        assert claims["roles"] == []


def test_app_roles_go_to_their_client_only_and_only_with_the_groups_scope(
        no_nudge, tenant, make_user):
    user = make_user(tenant, "hanako@demo.example")
    sales = make_group(tenant, "Sales", user)
    admins = make_group(tenant, "Wiki admins", user)
    make_group(tenant, "Support")
    outsider = make_group(tenant, "Finance")  # the user is not a member
    wiki, wiki_secret = groups_client(tenant, name="Wiki", roles=[
        (sales, "reader"), (admins, "admin"), (admins, "reader"), (outsider, "approver"),
    ])
    crm, crm_secret = groups_client(tenant, name="CRM", roles=[(sales, "crm-user")])
    plain, plain_secret = groups_client(tenant, name="Plain")

    for claims in _claims(tenant, wiki, wiki_secret, user):
        assert claims["groups"] == ["Sales", "Wiki admins"]
        assert claims["roles"] == ["admin", "reader"]
    for claims in _claims(tenant, crm, crm_secret, user):
        assert claims["roles"] == ["crm-user"]
    for claims in _claims(tenant, plain, plain_secret, user):
        assert claims["groups"] == ["Sales", "Wiki admins"] and claims["roles"] == []
    # Without the groups scope: neither claim, even for the client that maps roles.
    for claims in _claims(tenant, wiki, wiki_secret, user, scope="openid profile"):
        assert "groups" not in claims and "roles" not in claims


def test_a_client_not_allowed_the_groups_scope_gets_no_groups(no_nudge, tenant, make_user):
    user = make_user(tenant, "hanako@demo.example")
    make_group(tenant, "Sales", user)
    client, secret = groups_client(tenant, scopes=("openid", "profile", "email"))
    response = sign_in_to(client_for(tenant), client, user, scope="openid groups")
    # allauth refuses a scope the client is not allowed: an OAuth error to the client, no code.
    assert response.status_code == 302 and "error=invalid_scope" in response["Location"]
    assert "code=" not in response["Location"]
