# AuditEvent and OutboxEmail now belong to the audit and outbox apps (their 0001 migrations).
# State only: the tables accounts_auditevent and accounts_outboxemail, and their rows, stay.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_user_language_from_settings'),
        ('audit', '0001_initial'),
        ('outbox', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='AuditEvent'),
                migrations.DeleteModel(name='OutboxEmail'),
            ],
            database_operations=[],
        ),
    ]
