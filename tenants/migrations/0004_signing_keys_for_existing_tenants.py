"""Every existing tenant gets its own signing key (until now all shared IDP_OIDC_PRIVATE_KEYS).

ID tokens signed with the shared key before this migration no longer verify against any tenant's
JWKS; they live five minutes.
"""

from django.db import migrations


def give_each_tenant_a_key(apps, schema_editor):
    # The key is made as tenants.signing_keys makes it, written out here so that later changes
    # to that module do not change what this migration did. The kid is allauth's own.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from core.compat.allauth import jwk_kid

    Tenant = apps.get_model("tenants", "Tenant")
    TenantSigningKey = apps.get_model("tenants", "TenantSigningKey")
    for tenant in Tenant.objects.filter(signing_keys__isnull=True):
        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        TenantSigningKey.objects.create(
            tenant=tenant, kid=jwk_kid(pem), private_key_pem=pem,
        )


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0003_tenant_signing_key"),
    ]

    operations = [
        migrations.RunPython(give_each_tenant_a_key, migrations.RunPython.noop),
    ]
