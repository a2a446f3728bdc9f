"""The models that moved here from tenants (tenants/migrations/0005): state only.

Their tables were made by tenants/migrations/0002 and 0003 and keep their names and rows
(Meta.db_table); nothing is created in the database.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("allauth_idp_oidc", "0003_client_allow_uri_wildcards"),
        ("tenants", "0005_sso_models_moved_to_sso"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='TenantOIDCClient',
                    fields=[
                        ('client', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='tenant_link', serialize=False, to='allauth_idp_oidc.client')),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='oidc_clients', to='tenants.tenant')),
                    ],
                    options={
                        'verbose_name': 'application (SSO client)',
                        'verbose_name_plural': 'applications (SSO clients)',
                        'db_table': 'tenants_tenantoidcclient',
                    },
                ),
                migrations.CreateModel(
                    name='TenantSigningKey',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kid', models.CharField(editable=False, max_length=64, unique=True, verbose_name='key ID')),
                        ('private_key_pem', models.TextField(editable=False)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created')),
                        ('retire_at', models.DateTimeField(blank=True, editable=False, help_text='Empty while the key is in use; set when a newer key replaces it.', null=True, verbose_name='published until')),
                        ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='signing_keys', to='tenants.tenant')),
                    ],
                    options={
                        'verbose_name': 'SSO signing key',
                        'verbose_name_plural': 'SSO signing keys',
                        'ordering': ['-created_at'],
                        'db_table': 'tenants_tenantsigningkey',
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
