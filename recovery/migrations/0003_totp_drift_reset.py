"""Authenticators registered before OTP_TOTP_SYNC was turned off may have a stored drift: a code
one step ahead, once accepted, moved their window forward for good. Put every window back on
the server's clock (drift 0), where it now stays."""

from django.db import migrations


def forget_drift(apps, schema_editor):
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    TOTPDevice.objects.exclude(drift=0).update(drift=0)


class Migration(migrations.Migration):

    dependencies = [
        ("recovery", "0002_question_bank"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(forget_drift, migrations.RunPython.noop)]
