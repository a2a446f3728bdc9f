"""The content types of the moved models follow them from tenants to sso.

Renaming the rows (rather than letting Django make new ones) keeps their ids: the permissions
given to users and groups, and the admin's history, stay attached to the models. Where sso's
row already exists (a database migrated back and forth), the tenants row is left alone; Django's
remove_stale_contenttypes command removes it.
"""

from django.db import migrations

MODELS = ("tenantoidcclient", "tenantsigningkey")


def relabel(from_label, to_label):
    def run(apps, schema_editor):
        content_types = apps.get_model("contenttypes", "ContentType").objects.db_manager(
            schema_editor.connection.alias
        )
        for model in MODELS:
            if not content_types.filter(app_label=to_label, model=model).exists():
                content_types.filter(app_label=from_label, model=model).update(app_label=to_label)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("sso", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(relabel("tenants", "sso"), relabel("sso", "tenants")),
    ]
