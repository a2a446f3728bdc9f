"""Groups, clients with the groups scope, and the code flow on the Django test client."""

from accounts.models import TenantGroup
from sso.access import save_assignment
from sso.oidc import register_client
from tests.support.oidc import (
    LOGOUT_URI,
    REDIRECT_URI,
    authorize_url,
    exchange_code,
    query_of,
    sign_in_through,
)

ALL_SCOPES = ("openid", "profile", "email", "groups")


def make_group(tenant, name, *members):
    group = TenantGroup.objects.create(tenant=tenant, name=name)
    group.members.add(*members)
    return group


def groups_client(tenant, *, name="Demo Teams", scopes=ALL_SCOPES, required=False,
                  groups=(), users=(), roles=()):
    client, secret = register_client(
        tenant=tenant, name=name, redirect_uris=[REDIRECT_URI], skip_consent=True,
        scopes=scopes, post_logout_redirect_uris=[LOGOUT_URI],
    )
    save_assignment(client, required=required, groups=groups, users=users, roles=roles)
    return client, secret


def sign_in_to(browser, client, user, scope="openid groups", **extra):
    """The authorize request of `client` for `user` (signing in when needed): the last response."""
    url = authorize_url(client.id, scope=scope, **extra)
    response = browser.get(url)
    if response.status_code == 302 and response["Location"].startswith("/accounts/login/"):
        response = sign_in_through(browser, url, user.email)
    return response


def code_flow(browser, client, secret, user, scope="openid groups"):
    """The token endpoint's JSON for a signed-in code flow."""
    response = sign_in_to(browser, client, user, scope=scope)
    assert response.status_code == 302 and response["Location"].startswith(REDIRECT_URI), response
    exchanged = exchange_code(browser, client, secret, query_of(response["Location"])["code"])
    assert exchanged.status_code == 200, exchanged.content
    return exchanged.json()
