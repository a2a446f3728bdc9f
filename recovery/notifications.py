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

from . import app_settings
from .models import RecoveryProfile

# The kinds of e-mail recovery owns beside outbox.kinds' shared ones.
RECOVERY_CODES_GENERATED = "recovery_codes_generated"
RECOVERY_CODES_LOW = "recovery_codes_low"


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


def recovery_codes_generated(user, *, regenerated):
    """A new set of recovery codes was made (regenerated: an earlier set stopped working), so a
    set made by someone else with the password is not a secret from the user."""
    if not user.is_active:
        return None
    return mail.queue(
        RECOVERY_CODES_GENERATED, user=user,
        context={"regenerated": regenerated, "count": app_settings.RECOVERY_CODES_COUNT},
    )


def recovery_codes_used(device):
    """A code of the set was used: when few are left, tell the user (once per set)."""
    user = device.user
    left = device.codes.count()
    if not user.is_active or left > app_settings.RECOVERY_CODES_LOW:
        return None
    # A new set is a new device: its own key, so each set can warn once.
    return mail.queue(
        RECOVERY_CODES_LOW, user=user, context={"left": left},
        dedupe_key=f"{RECOVERY_CODES_LOW}:{device.pk}",
    )


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
    kinds.register(RECOVERY_CODES_GENERATED, link_path=registration_path)
    kinds.register(RECOVERY_CODES_LOW, link_path=registration_path)
    kinds.register(kinds.ADMIN_DIGEST, link_path=lambda row: reverse("admin:index"),
                   still_wanted=_digest_wanted)
