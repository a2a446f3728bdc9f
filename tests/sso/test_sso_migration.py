"""The SSO models moved from tenants/ to sso/ with their rows.

A database migrated by the code before the move (tenants 0004, no sso app) is filled through the
models of that time, then migrated forward: its applications, their tenants and the tenant's
signing key are read by the new models, the tenant's discovery document and JWKS still publish
that key, an application still gets ID tokens it signed, and permissions given on the models
stay given.
"""

import pytest
from allauth.core.internal.jwkkit import load_jwk_from_pem
from allauth.idp.oidc.models import Client
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from joserfc import jwt
from joserfc.jwk import KeySet

from accounts.services import provision_user
from sso.models import TenantOIDCClient, TenantSigningKey
from sso.signing_keys import new_private_key_pem
from tests.support.clients import PASSWORD, client_for
from tests.support.oidc import REDIRECT_URI, tokens_for

pytestmark = pytest.mark.django_db(transaction=True)

# The last migration of tenants before the move; the sso app had none.
TENANTS_BEFORE = ("tenants", "0004_signing_keys_for_existing_tenants")
MOVED_MODELS = ["tenantoidcclient", "tenantsigningkey"]
CLIENT_ID, SECRET = "legacy-app", "legacy-app-secret-2025"


def migrate(targets):
    MigrationExecutor(connection).migrate(targets)
    ContentType.objects.clear_cache()


@pytest.fixture
def before_the_move():
    """The test database as the code before the move left it; the models of that time."""
    graph = MigrationExecutor(connection).loader.graph
    latest = graph.leaf_nodes()
    migrate([TENANTS_BEFORE, ("sso", None)])
    other_apps = [node for node in latest if node[0] not in ("tenants", "sso")]
    loader = MigrationExecutor(connection).loader
    yield loader.project_state([TENANTS_BEFORE, *other_apps]).apps
    migrate(latest)  # whatever the test did, the next one finds the database up to date


def fill_as_before(old):
    """What the code before the move wrote: a tenant with a host and policy, its application
    (allauth's Client and the tenant link) and its signing key; the models' content types and
    a group's permission on them as Django made them then (labelled tenants)."""
    tenant = old.get_model("tenants", "Tenant").objects.create(slug="legacy", name="Legacy Ltd.")
    old.get_model("tenants", "TenantHost").objects.create(tenant=tenant, host="legacy.localhost")
    old.get_model("tenants", "TenantPolicy").objects.create(tenant=tenant, nudge_enabled=False)
    client = old.get_model("allauth_idp_oidc", "Client").objects.create(
        id=CLIENT_ID, name="Legacy App", secret=make_password(SECRET), type="confidential",
        scopes="openid\nprofile\nemail", default_scopes="openid",
        grant_types="authorization_code\nrefresh_token", response_types="code",
        redirect_uris=REDIRECT_URI, skip_consent=True,
    )
    old.get_model("tenants", "TenantOIDCClient").objects.create(client=client, tenant=tenant)
    pem = new_private_key_pem()
    kid = load_jwk_from_pem(pem)[0]["kid"]
    old.get_model("tenants", "TenantSigningKey").objects.create(
        tenant=tenant, kid=kid, private_key_pem=pem,
    )

    ContentType.objects.filter(app_label="sso", model__in=MOVED_MODELS).update(app_label="tenants")
    ContentType.objects.clear_cache()
    content_type = ContentType.objects.get(app_label="tenants", model="tenantsigningkey")
    permission = Permission.objects.get(content_type=content_type, codename="view_tenantsigningkey")
    Group.objects.create(name="Key auditors").permissions.add(permission)
    return tenant.pk, pem, kid, content_type.pk


def test_a_database_from_before_the_move_keeps_its_clients_keys_and_permissions(before_the_move):
    tenant_id, pem, kid, content_type_id = fill_as_before(before_the_move)

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    link = TenantOIDCClient.objects.select_related("tenant", "client").get(client_id=CLIENT_ID)
    assert link.tenant.pk == tenant_id and link.tenant.slug == "legacy"
    assert Client.objects.get(tenant_link__tenant=link.tenant) == link.client
    key = TenantSigningKey.objects.get(tenant=link.tenant)
    assert (key.kid, key.private_key_pem, key.retire_at) == (kid, pem, None)

    browser = client_for("legacy.localhost")
    discovery = browser.get("/.well-known/openid-configuration").json()
    assert discovery["issuer"] == "http://legacy.localhost"
    assert discovery["jwks_uri"] == "http://legacy.localhost/.well-known/jwks.json"
    jwks = browser.get("/.well-known/jwks.json").json()
    assert [published["kid"] for published in jwks["keys"]] == [kid]

    # The application signs its user in and gets an ID token signed by the migrated key.
    user = provision_user(tenant=link.tenant, email="mei@legacy.example", password=PASSWORD)
    id_token = tokens_for(browser, user, link.client, SECRET)["id_token"]
    token = jwt.decode(id_token, KeySet.import_key_set(jwks))
    assert token.header["kid"] == kid
    assert token.claims["iss"] == "http://legacy.localhost" and token.claims["aud"] == CLIENT_ID

    # The content type moved with the model (same row): the group keeps its permission.
    moved = ContentType.objects.get_for_model(TenantSigningKey)
    assert (moved.pk, moved.app_label) == (content_type_id, "sso")
    assert not ContentType.objects.filter(app_label="tenants", model__in=MOVED_MODELS).exists()
    auditors = Group.objects.get(name="Key auditors")
    assert list(auditors.permissions.values_list("content_type__app_label", "codename")) == [
        ("sso", "view_tenantsigningkey"),
    ]
