"""Each tenant signs its ID tokens with its own key, and publishes only its own keys.

An application of tenant B that trusts B's JWKS must never accept an ID token minted at tenant A
(or by anything else holding A's key), so no key may be shared between tenants, and no key from
the deployment's settings may appear in any tenant's JWKS. Tokens are checked the way a relying
party does, with Authlib's JOSE code (not the library that signs them, PyJWT).
"""

import importlib
import warnings

import pytest
from authlib.deprecate import AuthlibDeprecationWarning
from django.core.management import call_command
from django.core.management.base import CommandError
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from sso.models import TenantSigningKey
from sso.signing_keys import new_private_key_pem, rotate_signing_key
from tenants.models import Tenant
from tests.support.clients import PASSWORD, client_for
from tests.support.oidc import make_client, tokens_for

with warnings.catch_warnings():
    # authlib.jose is deprecated in favour of joserfc (which tests/sso/test_oidc.py uses); it is
    # still a second, independent implementation of JWS, which is what this file wants.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.jose import JsonWebKey, JsonWebToken
    from authlib.jose.errors import BadSignatureError

JWKS = "/.well-known/jwks.json"
RS256 = JsonWebToken(["RS256"])


@pytest.fixture(autouse=True)
def _no_nudge(no_nudge, other_tenant):
    other_tenant.policy.nudge_enabled = False
    other_tenant.policy.save()


def jwks(host):
    response = client_for(host).get(JWKS)
    assert response.status_code == 200
    return response.json()


def verifies(id_token, key_set):
    """True if a key of `key_set` (JWKS JSON) verifies the token's signature, tried one by one
    (so a kid that merely matches proves nothing)."""
    for key in key_set["keys"]:
        try:
            RS256.decode(id_token, JsonWebKey.import_key(key))
        except BadSignatureError:
            continue
        return True
    return False


def id_token_at(tenant, user, name="App"):
    client, secret = make_client(tenant, name=name)
    return tokens_for(client_for(tenant), user, client, secret)["id_token"]


def test_two_tenants_share_no_key(tenant, other_tenant):
    demo, acme = jwks("demo.localhost"), jwks("acme.localhost")
    assert demo["keys"] and acme["keys"]
    assert not {k["kid"] for k in demo["keys"]} & {k["kid"] for k in acme["keys"]}
    assert not {k["n"] for k in demo["keys"]} & {k["n"] for k in acme["keys"]}
    # Published as public keys only.
    assert not any("d" in key or "p" in key for key in demo["keys"] + acme["keys"])


def test_no_key_from_the_settings_is_published_anywhere(tenant, other_tenant, settings):
    from allauth.core.internal.jwkkit import load_jwk_from_pem

    pem = new_private_key_pem()
    settings.IDP_OIDC_PRIVATE_KEYS = [{"pem": pem}]
    settings.IDP_OIDC_PRIVATE_KEY = new_private_key_pem()
    configured = {load_jwk_from_pem(p)[0]["n"] for p in (pem, settings.IDP_OIDC_PRIVATE_KEY)}
    for host in ("demo.localhost", "acme.localhost", "localhost"):
        assert not configured & {k["n"] for k in jwks(host)["keys"]}
    assert jwks("localhost")["keys"] == []  # the platform host is no issuer


def test_an_id_token_of_a_verifies_with_as_jwks_and_not_with_bs(user, tenant, other_tenant):
    id_token = id_token_at(tenant, user)
    demo_keys, acme_keys = jwks("demo.localhost"), jwks("acme.localhost")
    claims = RS256.decode(id_token, JsonWebKey.import_key_set(demo_keys))
    claims.validate()
    assert claims["iss"] == "http://demo.localhost" and claims["email"] == user.email
    assert not verifies(id_token, acme_keys)
    with pytest.raises(ValueError):  # Authlib: no key with that kid in B's set
        RS256.decode(id_token, JsonWebKey.import_key_set(acme_keys))


def test_each_tenant_signs_with_its_own_newest_key(user, make_user, tenant, other_tenant):
    eve = make_user(other_tenant, "eve@acme.example")
    demo_token, acme_token = id_token_at(tenant, user), id_token_at(other_tenant, eve)
    demo_kid = RS256.decode(demo_token, JsonWebKey.import_key_set(jwks("demo.localhost"))).header["kid"]
    acme_kid = RS256.decode(acme_token, JsonWebKey.import_key_set(jwks("acme.localhost"))).header["kid"]
    assert demo_kid == TenantSigningKey.objects.filter(tenant=tenant).latest("created_at").kid
    assert acme_kid == TenantSigningKey.objects.filter(tenant=other_tenant).latest("created_at").kid
    assert not verifies(acme_token, jwks("demo.localhost"))


def test_rotation_publishes_the_new_key_at_once_and_keeps_old_tokens_verifiable(
        user, tenant, other_tenant):
    before = id_token_at(tenant, user, name="Before")
    old_kids = {k["kid"] for k in jwks("demo.localhost")["keys"]}
    acme_before = jwks("acme.localhost")

    call_command("rotate_oidc_signing_key", "demo")

    published = jwks("demo.localhost")
    new_kids = {k["kid"] for k in published["keys"]} - old_kids
    assert len(new_kids) == 1 and old_kids <= {k["kid"] for k in published["keys"]}
    RS256.decode(before, JsonWebKey.import_key_set(published)).validate()
    after = id_token_at(tenant, user, name="After")
    assert RS256.decode(after, JsonWebKey.import_key_set(published)).header["kid"] in new_kids
    # The old key stays only as long as an ID token it signed can be valid, and the JWKS may be
    # cached no longer than that.
    old = TenantSigningKey.objects.get(kid__in=old_kids)
    lifetime = old.retire_at - TenantSigningKey.objects.get(kid__in=new_kids).created_at
    assert 0 < lifetime.total_seconds() <= 300 + 5  # allauth's ID token lifetime (5 min)
    cache_control = client_for("demo.localhost").get(JWKS)["Cache-Control"]
    assert int(cache_control.split("max-age=")[1].split(",")[0]) <= 300
    # The other tenant is untouched.
    assert jwks("acme.localhost") == acme_before


def test_a_retired_key_is_no_longer_published(user, tenant):
    old_kid = TenantSigningKey.objects.get(tenant=tenant).kid
    new = rotate_signing_key(tenant)
    TenantSigningKey.objects.filter(kid=old_kid).update(retire_at=new.created_at)  # lifetime over
    assert [k["kid"] for k in jwks("demo.localhost")["keys"]] == [new.kid]
    # The next rotation forgets the retired private key altogether.
    rotate_signing_key(tenant)
    assert not TenantSigningKey.objects.filter(kid=old_kid).exists()


def test_a_new_tenant_gets_its_own_key(db):
    from tenants.services import create_tenant

    created = create_tenant(slug="newco", name="NewCo", hosts=["newco.localhost"])
    keys = jwks("newco.localhost")["keys"]
    assert [k["kid"] for k in keys] == [TenantSigningKey.objects.get(tenant=created).kid]


def test_tenants_from_before_get_their_own_key_from_the_data_migration(tenant, other_tenant):
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    migration = importlib.import_module("tenants.migrations.0004_signing_keys_for_existing_tenants")
    # The models as the migration sees them (the key model was in tenants then; same table).
    apps = MigrationLoader(connection).project_state(("tenants", "0003_tenant_signing_key")).apps
    kept = TenantSigningKey.objects.get(tenant=other_tenant).kid
    TenantSigningKey.objects.filter(tenant=tenant).delete()  # as before the migration
    assert jwks("demo.localhost")["keys"] == []
    migration.give_each_tenant_a_key(apps, None)
    assert [k["kid"] for k in jwks("demo.localhost")["keys"]] == [TenantSigningKey.objects.get(tenant=tenant).kid]
    assert [k["kid"] for k in jwks("acme.localhost")["keys"]] == [kept]


def test_the_command_names_the_key_never_its_private_part(tenant, capsys):
    call_command("rotate_oidc_signing_key", "demo")
    out, err = capsys.readouterr()
    newest = TenantSigningKey.objects.filter(tenant=tenant).latest("created_at")
    assert newest.kid in out
    assert "PRIVATE KEY" not in out + err and newest.private_key_pem[40:80] not in out + err
    with pytest.raises(CommandError, match="nowhere"):
        call_command("rotate_oidc_signing_key", "nowhere")


def _platform_admin():
    root = User.objects.create_superuser("root@platform.example", PASSWORD)
    device = TOTPDevice.objects.create(user=root, name="Authenticator app", confirmed=True)
    browser = client_for("localhost", HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(root)
    session = browser.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return browser


def test_the_admin_shows_key_ids_and_rotates_but_never_shows_a_private_key(tenant, other_tenant):
    browser = _platform_admin()
    key = TenantSigningKey.objects.get(tenant=tenant)
    page = browser.get(f"/admin/tenants/tenant/{tenant.pk}/change/")
    assert page.status_code == 200 and key.kid in page.text
    assert "PRIVATE KEY" not in page.text and key.private_key_pem[40:80] not in page.text

    response = browser.post("/admin/tenants/tenant/", {
        "action": "rotate_signing_key", "_selected_action": [tenant.pk],
    }, follow=True)
    assert response.status_code == 200
    assert TenantSigningKey.objects.filter(tenant=tenant).count() == 2
    assert TenantSigningKey.objects.filter(tenant=other_tenant).count() == 1
    newest = TenantSigningKey.objects.filter(tenant=tenant).latest("created_at")
    assert newest.kid in response.text and "PRIVATE KEY" not in response.text
    assert Tenant.objects.count() == 2


def test_an_org_admin_cannot_rotate(make_user, tenant):
    boss = make_user(tenant, "boss@demo.example", is_staff=True, language="en")
    device = TOTPDevice.objects.create(user=boss, name="Authenticator app", confirmed=True)
    browser = client_for(tenant, HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(boss)
    session = browser.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    browser.post("/admin/tenants/tenant/", {"action": "rotate_signing_key", "_selected_action": [tenant.pk]})
    assert TenantSigningKey.objects.filter(tenant=tenant).count() == 1
