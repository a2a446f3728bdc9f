"""The claims relying parties map (OIDC Core 5.1, 5.7): who the user is, stably, per tenant.

`sub` is a random UUID for users made by the provider now (no counter that tells an
application how many users an organisation has, or lets it guess another user's), the same in
the ID token and userinfo for every application of the tenant, and never the subject of a user
of another tenant. Users from before keep theirs (tests/test_migrations.py).
"""

import uuid

import pytest

from tests.support.clients import client_for
from tests.support.oidc import make_client, tokens_for

USERINFO = "/identity/o/api/userinfo"


@pytest.fixture(autouse=True)
def _no_nudge(no_nudge):
    pass


def _userinfo(user, access_token):
    response = client_for(user.tenant).get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert response.status_code == 200
    return response.json()


def test_oidc_core_5_7_sub_is_a_random_identifier_not_the_row_id(make_user, tenant):
    first = make_user(tenant, "first@demo.example")
    second = make_user(tenant, "second@demo.example")
    for user in (first, second):
        assert str(uuid.UUID(user.subject_identifier)) == user.subject_identifier
        assert user.subject_identifier != str(user.pk)
    assert first.subject_identifier != second.subject_identifier


def test_oidc_core_5_7_sub_is_stable_and_the_same_for_every_application_of_the_tenant(user, tenant):
    subjects = set()
    for name in ("Teams", "Wiki"):
        client, secret = make_client(tenant, name=name)
        tokens = tokens_for(client_for(tenant), user, client, secret)
        subjects.add(_userinfo(user, tokens["access_token"])["sub"])
    assert subjects == {user.subject_identifier}
    user.name = "山田 花子 (営業)"
    user.save()
    user.refresh_from_db()
    assert subjects == {user.subject_identifier}


def test_oidc_core_5_1_profile_claims_that_integrators_map(user, tenant):
    client, secret = make_client(tenant)
    info = _userinfo(user, tokens_for(client_for(tenant), user, client, secret)["access_token"])
    assert info["preferred_username"] == "hanako@demo.example"
    assert info["name"] == "山田 花子"
    assert info["locale"] == user.language
    assert info["email"] == "hanako@demo.example"
    assert info["email_verified"] is True
    document = client_for(tenant).get("/.well-known/openid-configuration").json()
    assert {"preferred_username", "locale", "email_verified"} <= set(document["claims_supported"])
