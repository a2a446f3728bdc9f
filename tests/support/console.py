"""The organisation admin's side: a verified admin session, CSV upload and confirmation."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.support.clients import client_for

USER_IMPORT = "/admin/accounts/user/import/"


def verified_client(user, host=None, **defaults):
    """Signed in as `user` on their tenant's host (or `host`), past the admin's authenticator step."""
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    client = client_for(host or user.tenant, **defaults)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def csv_file(text, name="users.csv"):
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def preview_import(client, text):
    return client.post(USER_IMPORT, {"import_file": csv_file(text), "format": "0", "resource": "0"})


def confirm_import(client, page):
    form = page.context["confirm_form"]
    return client.post("/admin/accounts/user/process_import/", {
        name: form.initial.get(name, "") for name in form.fields
    })
