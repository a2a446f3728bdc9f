"""E-mails about recovery registration: the reminder after a skip, and the mail kinds recovery owns.

As accounts.notifications does for the account's own e-mails: each function records the e-mail
in the outbox (outbox.mail) in the caller's transaction and hands delivery to Celery after
commit, returning the OutboxEmail row or None when nothing is owed. The periodic ones (the
never-signed-in nudge, the admin digest) are queued by recovery.tasks.
"""

from datetime import timedelta

from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from outbox import kinds, mail

from .models import RecoveryProfile


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
        return mail.queue(kinds.REMINDER, user=user)


# --- What the outbox needs to know about these e-mails (registered by RecoveryConfig.ready) ---

def registration_path(row):
    """Where the reminder e-mail sends the user: the page to register recovery methods."""
    try:
        return reverse("recovery_security_info")
    except NoReverseMatch:  # the registration pages are not mounted in this build
        return "/security-info/"


def _sign_in_path(row):
    return reverse("account_login")


def _digest_wanted(row):
    return row.user is None or (row.user.is_active and row.user.is_staff)


def register_mail_kinds():
    kinds.register(kinds.REMINDER, link_path=registration_path)
    kinds.register(kinds.NEVER_SIGNED_IN, link_path=_sign_in_path)
    kinds.register(kinds.ADMIN_DIGEST, link_path=lambda row: reverse("admin:index"),
                   still_wanted=_digest_wanted)
