# An e-mail address is unique per tenant (and among platform superusers), no longer across the
# portal. Existing addresses are unique portal-wide, so the new constraints hold for every row;
# they are added before the old one goes, so no moment allows a duplicate. Nothing is copied or
# dropped from the data.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_outbox_dedupe_key_cancelled'),
        ('account', '0009_emailaddress_unique_primary_email'),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('tenants', '0002_oidc_client'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='user',
            constraint=models.UniqueConstraint(fields=('tenant', 'email'), name='user_email_unique_in_tenant', violation_error_code='unique', violation_error_message='This organisation already has a user with this e-mail address.'),
        ),
        migrations.AddConstraint(
            model_name='user',
            constraint=models.UniqueConstraint(condition=models.Q(('tenant__isnull', True)), fields=('email',), name='user_email_unique_among_platform_users', violation_error_code='unique', violation_error_message='A platform operator with this e-mail address already exists.'),
        ),
        migrations.AlterField(
            model_name='user',
            name='email',
            field=models.EmailField(max_length=254, verbose_name='e-mail address'),
        ),
        # The (tenant, email) constraint's unique index serves the same look-ups.
        migrations.RemoveIndex(
            model_name='user',
            name='accounts_us_tenant__162cd2_idx',
        ),
        # allauth created its portal-wide "one verified address" index while
        # ACCOUNT_UNIQUE_EMAIL was True (account 0003); with False its migrations and model
        # state no longer have it, so only databases migrated before this one still do.
        migrations.RunSQL(
            'DROP INDEX IF EXISTS unique_verified_email',
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
