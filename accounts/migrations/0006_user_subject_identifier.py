"""Every user gets a stable OpenID Connect subject identifier.

New users get a random UUID. Existing users keep the "sub" that applications already store for
them (their row id, which the provider emitted until now): changing it would make every
connected application see a new person and lose the link to the old account (OIDC Core 5.7:
sub is "never reassigned"). README, "Single sign-on", says so.
"""

from django.db import migrations, models

import accounts.models


def keep_the_subject_applications_know(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    for pk in User.objects.values_list("pk", flat=True).iterator():
        User.objects.filter(pk=pk).update(subject_identifier=str(pk))


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0005_audit_and_outbox_moved_to_their_apps"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="subject_identifier",
            field=models.CharField(editable=False, max_length=64, null=True, verbose_name="subject identifier"),
        ),
        migrations.RunPython(keep_the_subject_applications_know, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="user",
            name="subject_identifier",
            field=models.CharField(default=accounts.models.new_subject_identifier, editable=False, max_length=64, unique=True, verbose_name="subject identifier"),
        ),
    ]
