"""Each tenant's own ID-token signing keys: made, rotated and handed to allauth here only.

allauth asks its adapter for the keys (sso.oidc.OIDCAdapter.list_private_keys, used for the
JWKS, for signing and for checking an id_token_hint); the adapter passes the request's tenant to
private_keys_of(). Nothing reads IDP_OIDC_PRIVATE_KEYS.
"""

from datetime import timedelta

from allauth.idp.oidc import app_settings as oidc_settings
from allauth.idp.oidc.models import PrivateKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from core.compat.allauth import jwk_kid
from tenants.models import Tenant
from tenants.scoping import tenant_scope

from . import app_settings
from .models import TenantSigningKey


def new_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=app_settings.SIGNING_KEY_SIZE)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@sensitive_variables("pem")
def create_signing_key(tenant) -> TenantSigningKey:
    """A fresh key for `tenant`; being the newest, it signs from now on."""
    pem = new_private_key_pem()
    # The kid is allauth's own (the RFC 7638 thumbprint it puts in the JWKS and token headers).
    kid = jwk_kid(pem)
    return TenantSigningKey.objects.create(tenant=tenant, kid=kid, private_key_pem=pem)


def retirement_delay() -> timedelta:
    """How long a replaced key stays published: an ID token it signed is valid that long."""
    return timedelta(seconds=oidc_settings.ID_TOKEN_EXPIRES_IN)


@transaction.atomic
def rotate_signing_key(tenant) -> TenantSigningKey:
    """A new key signs at once; the keys it replaces stay published for retirement_delay().

    Keys already past their retirement are deleted: nothing they signed is valid any more.
    """
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # one rotation at a time
    now = timezone.now()
    with tenant_scope(tenant):
        keys = TenantSigningKey.objects.all()
    keys.filter(retire_at__lte=now).delete()
    keys.filter(retire_at__isnull=True).update(retire_at=now + retirement_delay())
    return create_signing_key(tenant)


def private_keys_of(tenant, *, published_only=False) -> list[PrivateKey]:
    """allauth's view of a tenant's keys: issued_at picks the signing key, expires_at ends
    publication."""
    with tenant_scope(tenant):
        keys = TenantSigningKey.objects.all()
    if published_only:
        keys = keys.published()
    return [
        PrivateKey(pem=pem, issued_at=created_at, expires_at=retire_at)
        for pem, created_at, retire_at in keys.values_list("private_key_pem", "created_at", "retire_at")
    ]
