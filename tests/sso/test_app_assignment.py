"""Who may use which application: a client limited to assigned users and groups.

Anyone else of the tenant is told so on the portal's page (in their language), and the
application gets access_denied (OIDC Core 3.1.2.6) only through the page's link back, to its
registered redirect URI; with prompt=none, at once. Each refusal is in the audit trail. A user
removed from the application afterwards loses it at the token endpoint (refresh) and userinfo.
"""

from html import unescape

import pytest

from audit.models import AuditEvent
from tests.support.clients import client_for
from tests.support.groups import code_flow, groups_client, make_group, sign_in_to
from tests.support.oidc import REDIRECT_URI, TOKEN_PATH, authorize_url, query_of

USERINFO = "/identity/o/api/userinfo"


@pytest.fixture(autouse=True)
def _no_nudge(no_nudge):
    pass


def _back_link(page):
    text = page.content.decode()
    start = text.index(f'href="{REDIRECT_URI}') + len('href="')
    return unescape(text[start:text.index('"', start)])


def test_an_unassigned_user_is_told_and_the_app_gets_access_denied(tenant, make_user):
    user = make_user(tenant, "hanako@demo.example", language="en")
    make_group(tenant, "Sales", user)
    finance = make_group(tenant, "Finance")
    client, _secret = groups_client(tenant, name="Payroll", required=True, groups=[finance])
    browser = client_for(tenant)

    page = sign_in_to(browser, client, user)
    assert page.status_code == 403
    text = page.content.decode()
    assert "Your organisation has not given you access to Payroll." in text
    back = query_of(_back_link(page))
    assert back == {"error": "access_denied",
                    "error_description": "The user is not assigned to this application.",
                    "state": "st-1"}
    assert "code" not in back

    event = AuditEvent.objects.get(kind="sso.access_denied")
    assert event.user == user and event.tenant == tenant
    assert event.data["client_id"] == client.id and event.data["application"] == "Payroll"


def test_the_page_speaks_the_users_language(tenant, make_user):
    user = make_user(tenant, "hanako@demo.example", language="ja")
    client, _secret = groups_client(tenant, name="経費精算", required=True)
    page = sign_in_to(client_for(tenant), client, user)
    assert page.status_code == 403
    text = page.content.decode()
    assert "所属組織から 経費精算 の利用を許可されていません。" in text
    assert "経費精算 に戻る" in text


def test_a_foreign_redirect_uri_gets_no_link_back(tenant, make_user):
    user = make_user(tenant, "hanako@demo.example", language="en")
    client, _secret = groups_client(tenant, name="Payroll", required=True)
    browser = client_for(tenant)
    browser.force_login(user)
    page = browser.get(authorize_url(client.id, scope="openid", redirect_uri="https://evil.example/cb"))
    # Refused on the portal's own page (this one, or the redirect-URI error first): nothing is
    # sent to, or linked to, an address the client did not register.
    assert page.status_code in (400, 403) and "Location" not in page
    text = page.content.decode()
    assert 'href="https://evil' not in text and "access_denied" not in text


def test_prompt_none_sends_access_denied_back_at_once(tenant, make_user):
    user = make_user(tenant, "hanako@demo.example")
    client, _secret = groups_client(tenant, required=True)
    browser = client_for(tenant)
    browser.force_login(user)
    response = browser.get(authorize_url(client.id, scope="openid", prompt="none"))
    assert response.status_code == 302 and response["Location"].startswith(REDIRECT_URI)
    assert query_of(response["Location"])["error"] == "access_denied"
    assert "code" not in query_of(response["Location"])


def test_assigned_group_members_and_assigned_users_get_in(tenant, make_user):
    member = make_user(tenant, "member@demo.example")
    direct = make_user(tenant, "direct@demo.example")
    outsider = make_user(tenant, "outsider@demo.example")
    finance = make_group(tenant, "Finance", member)
    client, secret = groups_client(tenant, required=True, groups=[finance], users=[direct])
    for user in (member, direct):
        tokens = code_flow(client_for(tenant), client, secret, user, scope="openid")
        assert tokens["id_token"]
    assert sign_in_to(client_for(tenant), client, outsider).status_code == 403
    # A client without the limit stays open to everyone of the tenant.
    open_client, open_secret = groups_client(tenant, name="Intranet")
    assert code_flow(client_for(tenant), open_client, open_secret, outsider, scope="openid")


def test_a_group_or_user_of_another_tenant_assigns_nobody(tenant, other_tenant, make_user):
    user = make_user(tenant, "hanako@demo.example")
    # The other tenant's group (with this user in it) and an assignment made behind the admin's
    # back: grants nothing.
    foreign = make_group(other_tenant, "Finance", user)
    client, _secret = groups_client(tenant, required=True)
    client.tenant_link.assigned_groups.add(foreign)
    assert sign_in_to(client_for(tenant), client, user).status_code == 403


def test_a_user_removed_from_the_app_cannot_refresh_or_read_userinfo(tenant, make_user):
    user = make_user(tenant, "hanako@demo.example")
    finance = make_group(tenant, "Finance", user)
    client, secret = groups_client(tenant, required=True, groups=[finance])
    browser = client_for(tenant)
    tokens = code_flow(browser, client, secret, user, scope="openid")

    finance.members.remove(user)
    refreshed = browser.post(TOKEN_PATH, {
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": client.id, "client_secret": secret,
    })
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert "access_token" not in refreshed.json()
    event = AuditEvent.objects.get(kind="sso.access_denied")
    assert event.user == user and event.data["at"] == "token"
    info = browser.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert info.status_code == 401

    # Assigned again: the same refresh token works.
    finance.members.add(user)
    again = browser.post(TOKEN_PATH, {
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": client.id, "client_secret": secret,
    })
    assert again.status_code == 200 and again.json()["access_token"]
