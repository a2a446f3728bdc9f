"""E-mails the portal owes users. The one entry point for every flow that must tell someone.

Each function records the e-mail in the outbox (outbox.mail) in the caller's transaction and
hands delivery to Celery after commit. Each returns the OutboxEmail row, or None when nothing
is owed (reminders switched off, sent recently, inactive user).
"""

from datetime import timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from outbox import kinds, mail
from recovery.models import RecoveryProfile

from .invites import invite_path


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


def notify_password_changed(user, *, how="reset"):
    """The user's password was changed (how: "reset" self-service, "admin" reset, "change")."""
    if not user.is_active:
        return None
    return mail.queue(
        kinds.PASSWORD_CHANGED, user=user,
        context={"how": how, "changed_at": timezone.now().isoformat()},
    )


def invite_user(user, *, dedupe_key=None):
    """A new account was created by an admin: invite the user to set a first password.

    The link (made when the e-mail is sent) opens /accounts/invite/<uidb64>/<token>/ on the
    user's tenant host; it stops working once a password is set.
    """
    if not user.is_active or user.tenant_id is None:
        return None
    return mail.queue(kinds.INVITE, user=user, dedupe_key=dedupe_key)


# --- What the outbox needs to know about these e-mails (registered by AccountsConfig.ready) ---

def _sign_in_path(row):
    return reverse("account_login")


def _invitation_wanted(row):
    # Once a password is set the invitation has done its job; its link would be a reset.
    return kinds.recipient_active(row) and not row.user.has_usable_password()


def _digest_wanted(row):
    return row.user is None or (row.user.is_active and row.user.is_staff)


def register_mail_kinds():
    kinds.register(kinds.INVITE, link_path=lambda row: invite_path(row.user),
                   still_wanted=_invitation_wanted)
    kinds.register(kinds.PASSWORD_CHANGED, link_path=_sign_in_path)
    kinds.register(kinds.NEVER_SIGNED_IN, link_path=_sign_in_path)
    kinds.register(kinds.ADMIN_DIGEST, link_path=lambda row: reverse("admin:index"),
                   still_wanted=_digest_wanted)
