"""Migrations carry a populated database forward.

A database migrated by the code from before audit events and the outbox had apps of their own
(both models in accounts) is migrated from that state to the latest: what was written then is
read, and sent, by today's code, and the content types, permissions and admin log entries that
named accounts.auditevent / accounts.outboxemail name the models where they live now.
"""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core import mail as django_mail
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

import audit
from audit.models import AuditEvent
from outbox.models import OutboxEmail
from outbox.tasks import deliver_email

pytestmark = pytest.mark.django_db(transaction=True)

# Where a database can come from: the last migration of accounts before the move (audit and
# outbox had none), with the other apps as they are now, or as main was when the move began
# (5eee708: no sso app yet), a deploy that skips the releases in between.
BEFORE_THE_MOVE = {
    "just before": [
        ("accounts", "0004_user_language_from_settings"),
        ("audit", None),
        ("outbox", None),
    ],
    "main at 5eee708": [
        ("tenants", "0004_signing_keys_for_existing_tenants"),
        ("accounts", "0004_user_language_from_settings"),
        ("recovery", "0002_question_bank"),
        ("audit", None),
        ("outbox", None),
        ("sso", None),
    ],
}
MOVED = {"auditevent": "audit", "outboxemail": "outbox"}


def migrate(targets=None):
    """Migrate the test database to targets (default: the latest); the historical models."""
    executor = MigrationExecutor(connection)
    return executor.migrate(targets or executor.loader.graph.leaf_nodes()).apps


def write_as_before_the_move(models):
    """Rows as the code before the move wrote them, through that code's models."""
    Tenant = models.get_model("tenants", "Tenant")
    User = models.get_model("accounts", "User")
    ContentType = models.get_model("contenttypes", "ContentType")
    Permission = models.get_model("auth", "Permission")
    LogEntry = models.get_model("admin", "LogEntry")
    tenant = Tenant.objects.create(slug="moved", name="Moved Ltd.")
    models.get_model("tenants", "TenantHost").objects.create(tenant=tenant, host="moved.localhost")
    # "!" is how Django marks an unusable password: this user is still to accept the invitation.
    newcomer = User.objects.create(tenant=tenant, email="new@moved.example", password="!",
                                   name="New Comer", language="en")
    admin = User.objects.create(tenant=tenant, email="admin@moved.example", password="!",
                                is_staff=True)
    event = models.get_model("accounts", "AuditEvent").objects.create(
        tenant=tenant, user=newcomer, kind="user.created", ip_address="203.0.113.7",
        user_agent="Mozilla/5.0", data={"actor": "admin@moved.example"},
    )
    email = models.get_model("accounts", "OutboxEmail").objects.create(
        tenant=tenant, user=newcomer, to_email=newcomer.email, kind="invite", language="en",
        dedupe_key="invite:before-the-move",
    )
    types = {
        model: ContentType.objects.get_or_create(app_label="accounts", model=model)[0]
        for model in MOVED
    }
    permission, _created = Permission.objects.get_or_create(
        content_type=types["auditevent"], codename="view_auditevent",
        defaults={"name": "Can view audit event"},
    )
    entry = LogEntry.objects.create(
        action_time=timezone.now(), user=admin, content_type=types["outboxemail"],
        object_id=str(email.pk), object_repr=str(email.pk), action_flag=CHANGE,
    )
    return {
        "tenant": tenant.pk, "newcomer": newcomer.pk, "event": event.pk, "email": email.pk,
        "types": {model: content_type.pk for model, content_type in types.items()},
        "permission": permission.pk, "entry": entry.pk,
    }


@pytest.mark.parametrize("start", BEFORE_THE_MOVE)
def test_audit_events_and_outbox_rows_written_before_the_move_live_on_after_it(start, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    try:
        before = migrate(BEFORE_THE_MOVE[start])
        applied = MigrationRecorder(connection).applied_migrations()
        assert ("accounts", "0004_user_language_from_settings") in applied
        assert not {key for key in applied if key[0] in ("audit", "outbox")}
        assert ("accounts", "0005_audit_and_outbox_moved_to_their_apps") not in applied
        written = write_as_before_the_move(before)
    finally:
        migrate()  # whatever happened, the next test finds the latest schema
    ContentType.objects.clear_cache()  # it cached the ids under the labels the test DB began with

    event = AuditEvent.objects.get(pk=written["event"])
    assert (event.tenant_id, event.user_id, event.kind) == (
        written["tenant"], written["newcomer"], "user.created")
    assert (event.ip_address, event.user_agent, event.data) == (
        "203.0.113.7", "Mozilla/5.0", {"actor": "admin@moved.example"})
    assert event.user.audit_events.get() == event
    # The table's id sequence came along: a new event does not collide with an old one.
    assert audit.record("signin.succeeded", user=event.user).pk > event.pk

    # The OpenID Connect subject applications already stored for this user is kept.
    assert get_user_model().objects.get(pk=written["newcomer"]).subject_identifier == str(written["newcomer"])

    email = OutboxEmail.objects.get(pk=written["email"])
    assert (email.kind, email.state, email.dedupe_key, email.user_id) == (
        "invite", OutboxEmail.State.PENDING, "invite:before-the-move", written["newcomer"])
    # Queued by the old code, sent by today's: the invitation's link is made at sending time.
    assert deliver_email(email.pk) == "sent"
    [sent] = django_mail.outbox
    assert sent.to == ["new@moved.example"]
    assert "http://moved.localhost/accounts/invite/" in sent.body

    # The same content type rows, relabelled: what pointed at them follows the models.
    for model, app_label in MOVED.items():
        content_type = ContentType.objects.get(pk=written["types"][model])
        assert (content_type.app_label, content_type.model) == (app_label, model)
        assert not ContentType.objects.filter(app_label="accounts", model=model).exists()
    assert ContentType.objects.get_for_model(AuditEvent).pk == written["types"]["auditevent"]
    permission = Permission.objects.get(pk=written["permission"])
    assert permission.content_type.model_class() is AuditEvent
    entry = LogEntry.objects.get(pk=written["entry"])
    assert entry.get_edited_object() == email
    assert entry.get_admin_url() == f"/admin/outbox/outboxemail/{email.pk}/change/"
