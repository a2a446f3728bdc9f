"""The password reset's failure counters and locks, moved from the cache to the database."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('recovery', '0003_totp_drift_reset'),
    ]

    operations = [
        migrations.CreateModel(
            name='ResetThrottle',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('scope', models.CharField(choices=[('account', 'Account'), ('address', 'Address')], max_length=16)),
                ('key', models.CharField(max_length=64)),
                ('failures', models.PositiveIntegerField(default=0)),
                ('window_started', models.DateTimeField(blank=True, null=True)),
                ('locked_until', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('scope', 'key'), name='one_reset_throttle_per_key')],
            },
        ),
    ]
