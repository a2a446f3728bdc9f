# AuditEvent moved here from the accounts app. Its table (accounts_auditevent) and its rows stay
# as they are: this migration only tells Django's state that the model is now audit.AuditEvent
# (accounts 0005 takes it out of the accounts app's state), and relabels its content type, so
# the permissions and admin log entries that point at it follow it.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def _relabel_content_type(apps, schema_editor, source, target):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    types = ContentType.objects.using(schema_editor.connection.alias)
    # A database that already has the target row (a partial migrate made it) keeps it; the old
    # row is then stale, for remove_stale_contenttypes.
    if not types.filter(app_label=target, model='auditevent').exists():
        types.filter(app_label=source, model='auditevent').update(app_label=target)


def content_type_to_audit(apps, schema_editor):
    _relabel_content_type(apps, schema_editor, 'accounts', 'audit')


def content_type_to_accounts(apps, schema_editor):
    _relabel_content_type(apps, schema_editor, 'audit', 'accounts')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0004_user_language_from_settings'),  # the table as the accounts app left it
        ('contenttypes', '0002_remove_content_type_name'),
        ('tenants', '0004_signing_keys_for_existing_tenants'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(max_length=64, verbose_name='event')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='time')),
                        ('ip_address', models.GenericIPAddressField(blank=True, null=True, verbose_name='client address')),
                        ('user_agent', models.CharField(blank=True, max_length=300, verbose_name='user agent')),
                        ('data', models.JSONField(blank=True, default=dict, verbose_name='details')),
                        ('tenant', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='audit_events', to='tenants.tenant', verbose_name='organisation')),
                        ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='audit_events', to=settings.AUTH_USER_MODEL, verbose_name='user')),
                    ],
                    options={
                        'verbose_name': 'audit event',
                        'verbose_name_plural': 'audit events',
                        'db_table': 'accounts_auditevent',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(fields=['tenant', '-created_at'], name='accounts_au_tenant__fe2ed1_idx'), models.Index(fields=['tenant', 'kind', '-created_at'], name='accounts_au_tenant__cba91b_idx'), models.Index(fields=['user', '-created_at'], name='accounts_au_user_id_adbc45_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_audit, content_type_to_accounts),
    ]
