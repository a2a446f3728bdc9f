"""The admin site as an organisation admin uses it: a code-verified client, rows of every model,
the changelist table, the CSV import steps, the report's tables."""

import re

from allauth.idp.oidc.models import Client
from django.core.files.uploadedfile import SimpleUploadedFile
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

import audit
from accounts.models import TenantGroup, User
from audit.models import AuditEvent
from outbox.models import OutboxEmail
from recovery.models import SecurityQuestion
from sso.access import save_assignment
from sso.models import BackchannelLogout
from sso.oidc import register_client
from tenants.models import Tenant, TenantBranding, TenantPolicy

from .clients import client_for

IMPORT = "/admin/accounts/user/import/"


def verified_client(user, host, **defaults):
    """A client signed in as `user` on `host` with an authenticator code entered this session."""
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    client = client_for(host, **defaults)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def make_rows(tenant, prefix):
    """One object of every registered model for `tenant`; every text carries `prefix`."""
    owner = User.objects.get(email=f"{prefix}-owner@{prefix}.example")
    email = OutboxEmail.objects.create(
        tenant=tenant, user=owner, to_email=owner.email, kind="invitation",
        state=OutboxEmail.State.FAILED, last_error=f"{prefix} smtp down",
    )
    question = SecurityQuestion.objects.create(
        tenant=tenant, text_ja=f"{prefix} 最初のペットの名前は？", text_en=f"{prefix} first pet?"
    )
    event = audit.record("signin.succeeded", user=owner, note=f"{prefix} event")
    tenant.branding.sign_in_text = f"{prefix} accounts desk"
    tenant.branding.save()
    client, _secret = register_client(
        tenant=tenant, name=f"{prefix} app", redirect_uris=["http://127.0.0.1:8765/callback"]
    )
    group = TenantGroup.objects.create(tenant=tenant, name=f"{prefix} group")
    group.members.add(owner)
    save_assignment(client, required=True, groups=[group], users=[owner], roles=[(group, f"{prefix}-role")])
    logout = BackchannelLogout.objects.create(
        tenant=tenant, client=client, sub=owner.subject_identifier, jti=f"{prefix}-jti",
        reason="signed_out", state=BackchannelLogout.State.FAILED, last_error=f"{prefix} app down",
    )
    return {
        BackchannelLogout: logout,
        TenantGroup: group,
        Client: client,
        Tenant: tenant,
        TenantPolicy: tenant.policy,
        TenantBranding: tenant.branding,
        User: owner,
        AuditEvent: event,
        OutboxEmail: email,
        SecurityQuestion: question,
    }


def result_table(page):
    """The rows of a changelist (not the filters beside it)."""
    match = re.search(r'<table id="result_list">.*?</table>', page.text, re.S)
    return match.group(0) if match else ""


def csv_file(text, encoding="utf-8", name="users.csv"):
    data = text.encode(encoding) if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def preview(client, upload):
    return client.post(IMPORT, {"import_file": upload, "format": "0", "resource": "0"})


def confirm(client, page):
    form = page.context["confirm_form"]
    return client.post("/admin/accounts/user/process_import/", {
        name: form.initial.get(name, "") for name in form.fields
    })


def table_numbers(page, table_id, attr):
    table = re.search(rf'<table id="{table_id}">.*?</table>', page.text, re.S).group(0)
    rows = re.findall(rf'<tr {attr}="([^"]+)">(.*?)</tr>', table, re.S)
    return {key: [int(n) for n in re.findall(r'<td class="count">(\d+)</td>', cells)] for key, cells in rows}
