# OutboxEmail moved here from the accounts app. Its table (accounts_outboxemail) and its rows stay
# as they are: this migration only tells Django's state that the model is now outbox.OutboxEmail
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
    if not types.filter(app_label=target, model='outboxemail').exists():
        types.filter(app_label=source, model='outboxemail').update(app_label=target)


def content_type_to_outbox(apps, schema_editor):
    _relabel_content_type(apps, schema_editor, 'accounts', 'outbox')


def content_type_to_accounts(apps, schema_editor):
    _relabel_content_type(apps, schema_editor, 'outbox', 'accounts')


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
                    name='OutboxEmail',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('to_email', models.EmailField(max_length=254, verbose_name='recipient')),
                        ('kind', models.CharField(max_length=64, verbose_name='kind')),
                        ('language', models.CharField(default='ja', max_length=8, verbose_name='language')),
                        ('context', models.JSONField(blank=True, default=dict, verbose_name='context')),
                        ('state', models.CharField(choices=[('pending', 'pending'), ('sent', 'sent'), ('failed', 'failed'), ('cancelled', 'cancelled (no longer needed)')], default='pending', max_length=16, verbose_name='state')),
                        ('attempts', models.PositiveIntegerField(default=0, verbose_name='attempts')),
                        ('last_error', models.TextField(blank=True, verbose_name='last error')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created')),
                        ('next_attempt_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='next attempt')),
                        ('sent_at', models.DateTimeField(blank=True, null=True, verbose_name='sent')),
                        ('dedupe_key', models.CharField(blank=True, editable=False, max_length=200, null=True, unique=True)),
                        ('tenant', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='outbox', to='tenants.tenant', verbose_name='organisation')),
                        ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='outbox', to=settings.AUTH_USER_MODEL, verbose_name='user')),
                    ],
                    options={
                        'verbose_name': 'outgoing e-mail',
                        'verbose_name_plural': 'outgoing e-mails',
                        'db_table': 'accounts_outboxemail',
                        'ordering': ['-created_at'],
                        'indexes': [models.Index(fields=['state', 'next_attempt_at'], name='accounts_ou_state_8e2d18_idx'), models.Index(fields=['user', 'kind', '-created_at'], name='accounts_ou_user_id_c42a59_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_outbox, content_type_to_accounts),
    ]
