"""TenantOIDCClient and TenantSigningKey now belong to the sso app (sso/migrations/0001).

Only Django's model state changes: the tables, their rows and constraints stay as they are,
now read by sso's models (Meta.db_table).
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0004_signing_keys_for_existing_tenants"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="TenantOIDCClient"),
                migrations.DeleteModel(name="TenantSigningKey"),
            ],
            database_operations=[],
        ),
    ]
