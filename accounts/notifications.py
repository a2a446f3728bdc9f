"""E-mails the portal owes users. The one entry point for every flow that must tell someone.

Each function records the e-mail in the outbox (accounts.mail) in the caller's transaction and
hands delivery to Celery after commit. Each returns the OutboxEmail row, or None when nothing
is owed (reminders switched off, sent recently, inactive user).
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from recovery.models import RecoveryProfile

from . import mail


def remind_to_register(user):
    """The user skipped the registration nudge: remind them (at most once per policy interval)."""
    tenant = user.tenant
    if not user.is_active or tenant is None or not tenant.is_active:
        return None
    policy = tenant.policy
    if not policy.reminders_enabled:
        return None
    with transaction.atomic():
        RecoveryProfile.objects.get_or_create(user=user)
        # Locked so that two skips at the same moment (two tabs) queue one reminder.
        profile = RecoveryProfile.objects.select_for_update().get(user=user)
        now = timezone.now()
        interval = timedelta(hours=policy.reminder_interval_hours)
        if profile.last_reminder_at is not None and profile.last_reminder_at > now - interval:
            return None
        profile.last_reminder_at = now
        profile.save(update_fields=["last_reminder_at"])
        return mail.queue(mail.REMINDER, user=user)


def notify_password_changed(user, *, how="reset"):
    """The user's password was changed (how: "reset" self-service, "admin" reset, "change")."""
    if not user.is_active:
        return None
    return mail.queue(
        mail.PASSWORD_CHANGED, user=user,
        context={"how": how, "changed_at": timezone.now().isoformat()},
    )


def invite_user(user, *, dedupe_key=None):
    """A new account was created by an admin: invite the user to set a first password.

    The link (made when the e-mail is sent) opens /accounts/invite/<uidb64>/<token>/ on the
    user's tenant host; it stops working once a password is set.
    """
    if not user.is_active or user.tenant_id is None:
        return None
    return mail.queue(mail.INVITE, user=user, dedupe_key=dedupe_key)
